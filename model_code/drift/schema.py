"""What a capture record must look like (from baseline.json), and what decoding counted.

Shared by the slow path (model_code/drift/events.py), the row and prediction parsers
(rows.py, predictions.py) and the fast path (fast_path.py); the format itself is described in
model_code/drift/capture.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_code.data import _label_name as class_name

SKIP_REASONS = ("malformed_line", "bad_encoding", "wrong_feature_count", "bad_value", "line_too_long")


@dataclass(frozen=True)
class Schema:
    """What a row and a prediction must look like: from baseline.json."""

    feature_names: tuple[str, ...]
    classes: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.feature_names)

    def class_index(self, label: Any) -> int | None:
        try:
            return self.classes.index(class_name(label))
        except ValueError:
            return None


@dataclass
class Counts:
    lines: int = 0
    records: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    predictions: int = 0
    predictions_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.records,
            "skipped": dict(self.skipped),
            "predictions": self.predictions,
            "predictions_skipped": self.predictions_skipped,
        }


def is_number(value: Any) -> bool:
    """A JSON number (bool is an int in Python, not a number in JSON)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def stack(parts: list[np.ndarray], empty_shape: tuple[int, int]) -> np.ndarray:
    """The non-empty parts one under the other; an empty array of `empty_shape` if none."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.empty(empty_shape)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
