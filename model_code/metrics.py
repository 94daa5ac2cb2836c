"""Classification metrics on class-index labels and predicted probabilities; regression metrics
(RMSE, MAE, R²) on true and predicted values.

A true index of -1 marks a row whose label the model does not know (a champion scored on a
newer label set): it is never the predicted class, and its probability counts as 0.
"""

from __future__ import annotations

import numpy as np

# Probabilities are clipped to [EPSILON, 1] before the log so one confident mistake gives a
# large but finite loss (the same convention as scikit-learn's log_loss).
EPSILON = 1e-15


UNKNOWN_CLASS = -1


def accuracy(true_index: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == true_index))


def log_loss(true_index: np.ndarray, proba: np.ndarray) -> float:
    known = true_index != UNKNOWN_CLASS
    picked = np.where(known, proba[np.arange(len(true_index)), np.where(known, true_index, 0)], 0.0)
    return float(-np.mean(np.log(np.clip(picked, EPSILON, 1.0))))


def confusion_matrix(true_index: np.ndarray, proba: np.ndarray, classes: int) -> list[list[int]]:
    """Row = true class, column = predicted class, both in model.classes order."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true_index, proba.argmax(axis=1)), 1)
    return matrix.tolist()


def summary(true_index: np.ndarray, proba: np.ndarray) -> dict[str, float | int]:
    return {
        "accuracy": accuracy(true_index, proba),
        "log_loss": log_loss(true_index, proba),
        "rows": len(true_index),
    }


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² (1 - residual sum of squares / total sum of squares), as scikit-learn's
    r2_score: with a constant true value, 1.0 for exact predictions and 0.0 otherwise."""
    true = np.asarray(true, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    error = predicted - true
    total = float(np.sum((true - true.mean()) ** 2))
    residual = float(np.sum(error**2))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0),
    }
