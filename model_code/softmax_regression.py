"""Multinomial logistic regression trained by mini-batch SGD with momentum.

Hand-written in numpy on purpose: exact, deterministic checkpoint/resume needs the whole
optimizer state in our hands (weights, momentum buffers, the position inside the epoch) and
the batch order derived from (seed, epoch) alone. scikit-learn's SGDClassifier keeps part of
that state internal, so a resumed run would not reproduce an uninterrupted one bit for bit.

Inputs are already standardised; the loss is mean cross-entropy + (l2 / 2) * ||weights||^2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# SeedSequence keys that keep the holdout split and each epoch's shuffle independent.
_SPLIT_STREAM = 0
_EPOCH_STREAM = 1


@dataclass
class TrainState:
    """Everything needed to continue training exactly where it stopped."""

    weights: np.ndarray  # (features, classes)
    bias: np.ndarray  # (classes,)
    velocity_weights: np.ndarray
    velocity_bias: np.ndarray
    epoch: int  # epochs fully completed
    batch: int  # batches completed inside epoch `epoch` (0 at an epoch boundary)

    @classmethod
    def initial(cls, features: int, classes: int) -> TrainState:
        zeros = np.zeros((features, classes))
        return cls(zeros, np.zeros(classes), zeros.copy(), np.zeros(classes), 0, 0)


@dataclass(frozen=True)
class Optimizer:
    learning_rate: float
    momentum: float
    l2: float
    batch_size: int


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def split_order(seed: int, rows: int) -> np.ndarray:
    return np.random.default_rng([seed, _SPLIT_STREAM]).permutation(rows)


def epoch_order(seed: int, epoch: int, rows: int) -> np.ndarray:
    """The batch order of `epoch`: a function of (seed, epoch) only, so a resume replays it."""
    return np.random.default_rng([seed, _EPOCH_STREAM, epoch]).permutation(rows)


def sgd_step(state: TrainState, x: np.ndarray, y: np.ndarray, opt: Optimizer) -> None:
    """One momentum-SGD step on a batch (`y` one-hot); updates `state` in place."""
    gradient = softmax(x @ state.weights + state.bias)
    gradient -= y
    gradient /= len(x)
    grad_weights = x.T @ gradient + opt.l2 * state.weights
    state.velocity_weights *= opt.momentum
    state.velocity_weights -= opt.learning_rate * grad_weights
    state.velocity_bias *= opt.momentum
    state.velocity_bias -= opt.learning_rate * gradient.sum(axis=0)
    state.weights += state.velocity_weights
    state.bias += state.velocity_bias


def run_epochs(
    state: TrainState,
    x: np.ndarray,
    y: np.ndarray,
    opt: Optimizer,
    *,
    seed: int,
    epochs: int,
    should_stop: Callable[[], bool],
    after_epoch: Callable[[TrainState], None],
) -> bool:
    """Train from `state` up to `epochs`; return False if `should_stop()` ended it early.

    `should_stop` is checked after every batch, so a stop costs at most one batch of work and
    leaves `state` at a batch boundary that a checkpoint can record exactly.
    """
    batches = -(-len(x) // opt.batch_size)
    while state.epoch < epochs:
        order = epoch_order(seed, state.epoch, len(x))
        for batch in range(state.batch, batches):
            rows = order[batch * opt.batch_size : (batch + 1) * opt.batch_size]
            sgd_step(state, x[rows], y[rows], opt)
            state.batch = batch + 1
            if should_stop():
                return False
        state.epoch += 1
        state.batch = 0
        after_epoch(state)
    return True
