"""The model interface every model format implements (model_code/model.py: the built-in
`model.npz`; model_code/onnx_model.py: ONNX graphs), and the helpers they share. Importable by
each format without importing the others; `load_model` (model_code/model.py) chooses between them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

CLASSIFICATION = "classification"
REGRESSION = "regression"


class ModelFormatError(ValueError):
    """The model file is missing, unreadable, unsafe or inconsistent."""


class TabularModel(Protocol):
    """What serve, evaluate, baseline, drift, quality and fetch-model use of a model, and nothing more."""

    feature_names: tuple[str, ...]
    label_name: str
    task: str  # CLASSIFICATION or REGRESSION
    classes: tuple[str, ...]  # classification: the probability columns' class names; regression: ()
    accepts_missing: bool  # True: NaN in a feature is a missing value the model handles

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Classification: probabilities (n, len(classes)); regression: values (n,)."""
        ...


def label_of(model: TabularModel, output: np.ndarray) -> np.ndarray:
    """Class names of the most probable class per row (the first on a tie)."""
    return np.asarray(model.classes)[output.argmax(axis=1)]


def feature_rows(rows: np.ndarray, feature_names: tuple[str, ...], dtype: type) -> np.ndarray:
    """`rows` as a 2-D `dtype` array with one column per feature (a 1-D row is one row), or
    ValueError naming the shape expected and the one received."""
    x = np.asarray(rows, dtype=dtype)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != len(feature_names):
        raise ValueError(
            f"rows must have shape (n, {len(feature_names)}), one column per feature "
            f"in model.feature_names order; got shape {np.shape(rows)}"
        )
    return x
