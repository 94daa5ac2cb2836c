"""Typed, validated training hyperparameters.

SageMaker writes /opt/ml/input/config/hyperparameters.json with every value as a string
(`{"epochs": "30"}`); JSON numbers are accepted too for local runs. Every problem is collected
and reported at once as `key: expected ... (got "value")`.
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

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Rule:
    """The legal values of one hyperparameter."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        if self.kind is str:
            return "a non-empty string"
        noun = "an integer" if self.kind is int else "a number"
        low = f"greater than {self.low}" if self.low_open else f"at least {self.low}"
        high = f"less than {self.high}" if self.high_open else f"at most {self.high}"
        return f"{noun} {low} and {high}"

    def parse(self, raw: str) -> Any:
        """Return the typed value; raise ValueError if `raw` is not legal."""
        if self.kind is str:
            if not raw.strip():
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
}
assert set(RULES) == {f.name for f in dataclasses.fields(Hyperparameters)}


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
