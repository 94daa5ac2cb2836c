"""What every trainer receives (`Prepared`: the split, standardised data that
model_code/train.py makes) and what every trainer writes from its predictions (`write_reports`:
metrics.json and baseline.json). Kept apart from train.py so a trainer module
(model_code/trainers/gbt.py) depends on it without depending on the command that picks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model_code.atomic import write_json_atomic
from model_code.baseline import build_baseline
from model_code.data import Table
from model_code.hyperparameters import Hyperparameters
from model_code.metrics import summary
from model_code.paths import OptMl


@dataclass(frozen=True)
class Prepared:
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    train_raw: np.ndarray
    train_x: np.ndarray  # standardised
    train_y: np.ndarray  # class index
    holdout_raw: np.ndarray
    holdout_x: np.ndarray
    holdout_y: np.ndarray


def write_reports(
    paths: OptMl,
    table: Table,
    hp: Hyperparameters,
    data: Prepared,
    train_proba: np.ndarray,
    holdout_proba: np.ndarray,
    progress: dict[str, int],
) -> dict[str, Any]:
    """metrics.json and baseline.json of any trainer, from its class probabilities on the
    training and holdout rows (columns in `data.classes` order); returns the metrics.
    `progress` says how far training went (`{"epochs": 30}`, `{"rounds": 100}`)."""
    metrics = {
        "holdout": summary(data.holdout_y, holdout_proba),
        "train": summary(data.train_y, train_proba),
        **progress,
        "rows": len(table.labels),
        "features": len(table.feature_names),
        "classes": list(data.classes),
        "holdout_rows_per_class": dict(
            zip(data.classes, np.bincount(data.holdout_y, minlength=len(data.classes)).tolist(), strict=True)
        ),
        "hyperparameters": hp.as_dict(),
    }
    write_json_atomic(paths.model_dir / "metrics.json", metrics)
    baseline = build_baseline(
        table.feature_names,
        table.label_name,
        data.classes,
        data.train_raw,
        data.train_y,
        holdout_proba,
    )
    write_json_atomic(paths.model_dir / "baseline.json", baseline)
    return metrics
