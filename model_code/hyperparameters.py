"""Typed, validated training hyperparameters.

SageMaker writes /opt/ml/input/config/hyperparameters.json with every value as a string
(`{"epochs": "30"}`); JSON numbers are accepted too for local runs. Every problem is collected
and reported at once as `key: expected ... (got "value")`.

`trainer` picks the model: `softmax` (the numpy softmax regression, the default) or `gbt`
(XGBoost gradient-boosted trees, model_code/trainers/gbt.py). Keys shared by both (label,
seed, the holdout split and the data gates) apply to either; a key of the other trainer is an
error rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_code.failure import UserError

# Keys SageMaker or its SDK may add on their own (e.g. `sagemaker_program`,
# `_tuning_objective_metric`); they are not ours to validate.
_IGNORED_PREFIXES = ("sagemaker_", "_")


TRAINERS = ("softmax", "gbt")


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 30
    learning_rate: float = 0.05
    batch_size: int = 64
    l2: float = 1e-4
    momentum: float = 0.9
    seed: int = 0
    label: str = "target"
    holdout_fraction: float = 0.2
    checkpoint_every_epochs: int = 1
    # Data gates: a label with more distinct values than this is refused (a continuous label
    # would otherwise train into one class per value), and each class must get at least
    # `min_holdout_rows_per_class` rows of the stratified holdout, so the holdout accuracy
    # that gates registration measures every class.
    max_classes: int = 100
    min_holdout_rows_per_class: int = 5
    trainer: str = "softmax"
    # Gradient-boosted trees (trainer gbt), in XGBoost's terms: `gbt_rounds` boosting rounds of
    # trees at most `gbt_max_depth` deep, shrunk by `gbt_learning_rate` (XGBoost's eta), with
    # XGBoost's regularisers (min_child_weight, lambda, alpha, gamma) and `max_bin` histogram bins
    # per feature. Row and column subsampling are not offered: XGBoost's samplers keep random
    # state that a booster reloaded from a checkpoint does not carry, so a resumed run would
    # differ from an uninterrupted one.
    gbt_rounds: int = 100
    gbt_max_depth: int = 6
    gbt_learning_rate: float = 0.3
    gbt_min_child_weight: float = 1.0
    gbt_reg_lambda: float = 1.0
    gbt_reg_alpha: float = 0.0
    gbt_gamma: float = 0.0
    gbt_max_bin: int = 256
    gbt_checkpoint_every_rounds: int = 10

    def as_dict(self) -> dict[str, Any]:
        """The values that apply to this run's trainer (shared keys, then the trainer's own)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if trainer_of(k) in (None, self.trainer)}


@dataclass(frozen=True)
class Rule:
    """The legal values of one hyperparameter."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()  # a string rule with choices accepts only these

    def describe(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.kind is str:
            return "a non-empty string"
        noun = "an integer" if self.kind is int else "a number"
        low = f"greater than {self.low}" if self.low_open else f"at least {self.low}"
        high = f"less than {self.high}" if self.high_open else f"at most {self.high}"
        return f"{noun} {low} and {high}"

    def parse(self, raw: str) -> Any:
        """Return the typed value; raise ValueError if `raw` is not legal."""
        if self.kind is str:
            if not raw.strip() or (self.choices and raw.strip() not in self.choices):
                raise ValueError
            return raw.strip()
        value = int(raw) if self.kind is int else float(raw)
        if not math.isfinite(value):
            raise ValueError
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise ValueError
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            raise ValueError
        return value


RULES: dict[str, Rule] = {
    "epochs": Rule(int, 1, 10_000),
    "learning_rate": Rule(float, 0, 10, low_open=True),
    "batch_size": Rule(int, 1, 1_000_000),
    "l2": Rule(float, 0, 10),
    "momentum": Rule(float, 0, 1, high_open=True),
    "seed": Rule(int, 0, 2**32 - 1),
    "label": Rule(str),
    "holdout_fraction": Rule(float, 0, 0.5, low_open=True),
    "checkpoint_every_epochs": Rule(int, 1, 10_000),
    "max_classes": Rule(int, 2, 10_000),
    "min_holdout_rows_per_class": Rule(int, 1, 1_000_000),
    "trainer": Rule(str, choices=TRAINERS),
    "gbt_rounds": Rule(int, 1, 10_000),
    # XGBoost's hist method grows trees depth-wise; beyond 16 levels a tree can hold 2^16 leaves
    # per round, which is a memorised table rather than a model.
    "gbt_max_depth": Rule(int, 1, 16),
    "gbt_learning_rate": Rule(float, 0, 1, low_open=True),
    "gbt_min_child_weight": Rule(float, 0, 1_000_000),
    "gbt_reg_lambda": Rule(float, 0, 1_000_000),
    "gbt_reg_alpha": Rule(float, 0, 1_000_000),
    "gbt_gamma": Rule(float, 0, 1_000_000),
    "gbt_max_bin": Rule(int, 2, 65_536),
    "gbt_checkpoint_every_rounds": Rule(int, 1, 10_000),
}
assert set(RULES) == {f.name for f in dataclasses.fields(Hyperparameters)}

# Keys that only one trainer reads; every other key applies to both.
SOFTMAX_ONLY = ("epochs", "learning_rate", "batch_size", "l2", "momentum", "checkpoint_every_epochs")


def trainer_of(key: str) -> str | None:
    """The trainer a key belongs to, or None for a key both trainers read."""
    if key.startswith("gbt_"):
        return "gbt"
    return "softmax" if key in SOFTMAX_ONLY else None


def parse_hyperparameters(raw: dict[str, Any]) -> Hyperparameters:
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        rule = RULES.get(key)
        if rule is None:
            problems.append(f"{key}: unknown hyperparameter (allowed: {', '.join(sorted(RULES))})")
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(f"{key}: expected {rule.describe()} (got {text})")
            continue
        try:
            values[key] = rule.parse(text)
        except ValueError:
            problems.append(f"{key}: expected {rule.describe()} (got {json.dumps(text)})")
    trainer = values.get("trainer", Hyperparameters.trainer)
    if "trainer" in values or not any(p.startswith("trainer:") for p in problems):
        problems += [
            f"{key}: applies to trainer {trainer_of(key)} only, and trainer is {trainer} (remove it, "
            f"or set trainer to {trainer_of(key)})"
            for key in values
            if trainer_of(key) not in (None, trainer)
        ]
    if problems:
        raise UserError("bad hyperparameters: " + "; ".join(problems))
    return Hyperparameters(**values)


def read_hyperparameters(path: Path) -> Hyperparameters:
    """Read SageMaker's hyperparameters.json; a missing file means all defaults."""
    if not path.exists():
        return Hyperparameters()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"bad hyperparameters: {path} is not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise UserError(
            f"bad hyperparameters: {path} must hold a JSON object of key/value pairs (got {type(raw).__name__})"
        )
    return parse_hyperparameters(raw)
