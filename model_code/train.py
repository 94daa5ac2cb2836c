"""`python -m model_code train`: the SageMaker training job.

Reads hyperparameters and the `train` channel, resumes from the newest valid checkpoint,
trains (checkpointing every `checkpoint_every_epochs` epochs and on SIGTERM) and writes
model.npz, metrics.json and baseline.json to /opt/ml/model.

The `trainer` hyperparameter picks the model: `softmax` (this module's numpy softmax
regression) or `gbt` (gradient-boosted trees, model_code/trainers/gbt.py). Both go through
the same data checks and stratified split here, and the same report writers
(model_code/trainers/prepared.py).
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

from model_code.checkpoints import resume_latest, save_checkpoint
from model_code.data import Table, read_channel
from model_code.exit_codes import EXIT_OK, EXIT_USAGE
from model_code.failure import UserError, run_command
from model_code.hyperparameters import Hyperparameters, read_hyperparameters
from model_code.metrics import log_loss
from model_code.model import Model, save_model
from model_code.paths import TRAIN_CHANNEL, OptMl
from model_code.signals import StopRequest
from model_code.softmax_regression import (
    Optimizer,
    TrainState,
    run_epochs,
    softmax,
    split_order,
)
from model_code.trainers.hosts import check_single_host
from model_code.trainers.prepared import Prepared, write_reports

NOT_FINGERPRINTED = (
    "checkpoint_every_epochs",
    "gbt_checkpoint_every_rounds",
    "max_classes",
    "min_holdout_rows_per_class",
)


def main(argv: list[str]) -> int:
    if argv:
        print(f"usage: python -m model_code train (takes no arguments; got {argv})", file=sys.stderr)
        return EXIT_USAGE
    stop = StopRequest().install()
    return run_command(lambda paths: train(paths, stop))


def train(paths: OptMl, stop: StopRequest) -> int:
    hp = read_hyperparameters(paths.hyperparameters)
    check_single_host(paths, hp.trainer)
    check_input_data_config(paths)
    table = read_channel(paths.channel(TRAIN_CHANNEL), hp.label)
    data = prepare(table, hp)
    fingerprint = run_fingerprint(table, hp)
    if hp.trainer == "gbt":
        from model_code.trainers.gbt import train_gbt  # imports XGBoost only when chosen

        return train_gbt(paths, stop, table, hp, data, fingerprint)
    resumed = resume_latest(paths.checkpoints, fingerprint)
    if resumed:
        state = resumed.state
        print(f"resuming from {resumed.path} (epoch {state.epoch}, batch {state.batch})")
    else:
        state = TrainState.initial(len(table.feature_names), len(data.classes))
        print(f"no usable checkpoint in {paths.checkpoints}; starting from epoch 0")

    def after_epoch(state: TrainState) -> None:
        proba = softmax(data.holdout_x @ state.weights + state.bias)
        print(f"epoch={state.epoch}/{hp.epochs} holdout_log_loss={log_loss(data.holdout_y, proba):.6f}")
        if state.epoch % hp.checkpoint_every_epochs == 0 or state.epoch == hp.epochs:
            save_checkpoint(paths.checkpoints, state, fingerprint)

    optimizer = Optimizer(hp.learning_rate, hp.momentum, hp.l2, hp.batch_size)
    one_hot = np.eye(len(data.classes))[data.train_y]
    finished = run_epochs(
        state,
        data.train_x,
        one_hot,
        optimizer,
        seed=hp.seed,
        epochs=hp.epochs,
        should_stop=stop.requested,
        after_epoch=after_epoch,
    )
    if not finished:
        path = save_checkpoint(paths.checkpoints, state, fingerprint)
        print(
            f"stopped by {stop.name()} at epoch {state.epoch}, batch {state.batch}; checkpoint saved to {path}",
            file=sys.stderr,
        )
        return stop.exit_code()
    write_outputs(paths, table, hp, data, state)
    return EXIT_OK


def check_input_data_config(paths: OptMl) -> None:
    """If SageMaker described the channels, the `train` channel must be CSV in File mode."""
    path = paths.input_data_config
    if not path.exists():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or not isinstance(config.get(TRAIN_CHANNEL, {}), dict):
        raise UserError(f"{path} must map channel names to JSON objects")
    if TRAIN_CHANNEL not in config:
        raise UserError(
            f"{path} has no '{TRAIN_CHANNEL}' channel (channels: {', '.join(config) or 'none'}); "
            f"name the training data channel '{TRAIN_CHANNEL}'"
        )
    channel = config[TRAIN_CHANNEL]
    content_type = channel.get("ContentType", "text/csv")
    if not content_type.lower().startswith("text/csv"):
        raise UserError(f"channel '{TRAIN_CHANNEL}' has ContentType '{content_type}'; only text/csv is supported")
    mode = channel.get("TrainingInputMode", "File")
    if mode not in ("File", "FastFile"):
        raise UserError(f"channel '{TRAIN_CHANNEL}' has TrainingInputMode '{mode}'; use File or FastFile")


def prepare(table: Table, hp: Hyperparameters) -> Prepared:
    classes, label_index = np.unique(table.labels, return_inverse=True)
    check_classes(table.label_name, classes, hp.max_classes)
    rows = len(table.labels)
    holdout_rows = round(rows * hp.holdout_fraction)
    if holdout_rows < 1 or rows - holdout_rows < 2:
        raise UserError(
            f"holdout_fraction {hp.holdout_fraction} of {rows} rows leaves {holdout_rows} holdout "
            f"and {rows - holdout_rows} training rows; need at least 1 and 2 (add rows or raise "
            f"holdout_fraction)"
        )
    holdout, train = stratified_split(label_index, len(classes), holdout_rows, hp.seed)
    check_holdout_per_class(table, classes, label_index, holdout, hp)
    train_raw, holdout_raw = table.features[train], table.features[holdout]
    mean = train_raw.mean(axis=0)
    std = train_raw.std(axis=0)
    scale = np.where(std > 0, std, 1.0)  # a constant feature is left unscaled
    return Prepared(
        classes=tuple(str(c) for c in classes),
        mean=mean,
        scale=scale,
        train_raw=train_raw,
        train_x=(train_raw - mean) / scale,
        train_y=label_index[train],
        holdout_raw=holdout_raw,
        holdout_x=(holdout_raw - mean) / scale,
        holdout_y=label_index[holdout],
    )


def check_classes(label_name: str, classes: np.ndarray, max_classes: int) -> None:
    if len(classes) < 2:
        raise UserError(f"label column '{label_name}' has a single class ('{classes[0]}'); training needs at least 2")
    if len(classes) > max_classes:
        shown = ", ".join(f"'{c}'" for c in classes[:5])
        raise UserError(
            f"label column '{label_name}' has {len(classes)} distinct values, more than max_classes "
            f"{max_classes} (first values: {shown}, ...); a continuous label is not a class: bin it into "
            f"classes, pick the right label column, or raise the hyperparameter max_classes"
        )


def stratified_split(
    label_index: np.ndarray, classes: int, holdout_rows: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(holdout, train) row indices: `holdout_rows` rows in all, each class in proportion.

    Each class gets floor(its share) rows, and the rows left over go to the classes with the
    largest remainders (ties: the class that sorts first), so the total is exact. Within a
    class the rows are taken in the order of the seeded permutation `split_order(seed, rows)`,
    so the split is a function of (seed, labels) and a resumed run sees the same one. Both
    index arrays keep that permutation's order.
    """
    rows = len(label_index)
    counts = np.bincount(label_index, minlength=classes)
    shares = counts * holdout_rows / rows
    quota = np.floor(shares).astype(np.int64)
    leftover = holdout_rows - int(quota.sum())
    by_remainder = sorted(range(classes), key=lambda c: (-(shares[c] - quota[c]), c))
    for c in by_remainder[:leftover]:
        quota[c] += 1
    order = split_order(seed, rows)
    rank_in_class = np.empty(rows, dtype=np.int64)
    seen = np.zeros(classes, dtype=np.int64)
    for position in order:
        c = label_index[position]
        rank_in_class[position] = seen[c]
        seen[c] += 1
    in_holdout = rank_in_class[order] < quota[label_index[order]]
    return order[in_holdout], order[~in_holdout]


def check_holdout_per_class(
    table: Table, classes: np.ndarray, label_index: np.ndarray, holdout: np.ndarray, hp: Hyperparameters
) -> None:
    """Every class needs `min_holdout_rows_per_class` holdout rows and at least one training row."""
    counts = np.bincount(label_index, minlength=len(classes))
    in_holdout = np.bincount(label_index[holdout], minlength=len(classes))
    short = [
        f"'{classes[c]}' {in_holdout[c]} of {counts[c]}"
        for c in range(len(classes))
        if in_holdout[c] < hp.min_holdout_rows_per_class or in_holdout[c] == counts[c]
    ]
    if short:
        raise UserError(
            f"label column '{table.label_name}': the stratified holdout (holdout_fraction {hp.holdout_fraction}) "
            f"gives these classes fewer than min_holdout_rows_per_class {hp.min_holdout_rows_per_class} holdout "
            f"rows, or no training row (class: holdout rows of rows): {', '.join(short)}; add rows of those "
            f"classes, raise holdout_fraction, or lower min_holdout_rows_per_class"
        )


def run_fingerprint(table: Table, hp: Hyperparameters) -> str:
    """Identifies the data and the hyperparameters that shape training, so a checkpoint
    written for another run is never resumed. checkpoint_every_epochs and the data gates
    (max_classes, min_holdout_rows_per_class) do not shape training and do not count."""
    settings = {k: v for k, v in hp.as_dict().items() if k not in NOT_FINGERPRINTED}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update("\x1f".join(table.feature_names).encode())
    digest.update(np.ascontiguousarray(table.features).tobytes())
    digest.update("\x1f".join(table.labels.tolist()).encode())
    return digest.hexdigest()


def write_outputs(paths: OptMl, table: Table, hp: Hyperparameters, data: Prepared, state: TrainState) -> None:
    model = Model(
        feature_names=table.feature_names,
        label_name=table.label_name,
        classes=data.classes,
        mean=data.mean,
        scale=data.scale,
        weights=state.weights,
        bias=state.bias,
    )
    save_model(model, paths.model_dir)
    holdout_proba = model.predict_proba(data.holdout_raw)
    metrics = write_reports(
        paths, table, hp, data, model.predict_proba(data.train_raw), holdout_proba, {"epochs": state.epoch}
    )
    print(
        f"done: holdout accuracy={metrics['holdout']['accuracy']:.4f} "
        f"log_loss={metrics['holdout']['log_loss']:.6f}; wrote {paths.model_dir}"
    )
