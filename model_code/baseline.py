"""baseline.json: the training-time statistics the drift job compares live traffic against.

Layout (format_version 2):

    {"format_version": 2,
     "features": {"<name>": {"rows", "kind": "continuous", "bin_edges", "counts", "proportions",
                             "quantiles", "min", "max", "mean", "std", "missing_rate"}
                 | {"rows", "kind": "discrete", "values", "counts", "proportions",
                    "quantiles", "min", "max", "mean", "std", "missing_rate"}, ...},
     "label": {"name", "rows", "classes", "counts", "proportions"},
     "prediction": {"rows", "classes", "predicted_counts", "predicted_proportions",
                    "probability_bin_edges", "probability_counts"}}

A regression model's baseline (format_version 1, `"task": "regression"` in label and prediction)
describes the label and the predicted values like a feature (bins, quantiles, moments):

     "label": {"name", "task": "regression", "rows", "bin_edges", "counts", ...},
     "prediction": {"task": "regression", "rows", "value": {"bin_edges", "counts", ...},
                    "classes": [], "predicted_proportions": [], "probability_counts": {}, ...}

Features and the label are described on the training split, predictions on the holdout.
A feature with at most MAX_DISCRETE_VALUES distinct values in the training data (a flag, a
one-hot column, a small code) is `discrete`: one bin per value (`values`, ascending), then one
"other" bin for any value training never saw (its baseline count is 0). Quantile bins would
merge such values (a 30%-ones flag has one bin, and a shift to 90% ones scores PSI 0). Every
other feature is `continuous`, with quantile bins (up to BINS; fewer when quantiles coincide).
Use `bin_counts` / `discrete_counts` to bin new values the same way: the first and last
continuous bins are open-ended, so values outside the training range still land in a bin.
format_version 1 (continuous features only, no `kind`) is still read by the drift job.
`missing_rate` is 0.0 because training rejects missing values; the drift job computes it on
captured data, where any missing value is drift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FORMAT_VERSION = 2
BINS = 10
MAX_DISCRETE_VALUES = 20
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
# i / BINS rather than linspace: the JSON shows 0.3, not 0.30000000000000004.
PROBABILITY_BIN_EDGES = np.array([i / BINS for i in range(BINS + 1)])


def quantile_bin_edges(values: np.ndarray, bins: int = BINS) -> np.ndarray:
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    return np.repeat(edges, 2) if len(edges) == 1 else edges


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin [edges[i], edges[i+1]); the outer bins take everything beyond them."""
    edges = np.asarray(edges, dtype=np.float64)
    index = np.searchsorted(edges[1:-1], values, side="right")
    return np.bincount(index, minlength=len(edges) - 1)


def discrete_counts(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Counts per known value (ascending), then of every other value; missing values (NaN) are left out."""
    values = values[~np.isnan(values)]
    index = np.searchsorted(known, values)
    found = index < len(known)
    found[found] &= known[index[found]] == values[found]
    return np.bincount(np.where(found, index, len(known)), minlength=len(known) + 1)


def _proportions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * len(counts)


def feature_baseline(values: np.ndarray) -> dict[str, Any]:
    distinct = np.unique(values)
    if len(distinct) <= MAX_DISCRETE_VALUES:
        counts = discrete_counts(values, distinct)
        binning: dict[str, Any] = {"kind": "discrete", "values": distinct.tolist()}
    else:
        edges = quantile_bin_edges(values)
        counts = bin_counts(values, edges)
        binning = {"kind": "continuous", "bin_edges": edges.tolist()}
    return {
        "rows": len(values),
        **binning,
        "counts": counts.tolist(),
        "proportions": _proportions(counts),
        "quantiles": {name: float(np.quantile(values, q)) for name, q in QUANTILES.items()},
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "missing_rate": float(np.mean(np.isnan(values))),
    }


def build_baseline(
    feature_names: tuple[str, ...],
    label_name: str,
    classes: tuple[str, ...],
    train_features: np.ndarray,
    train_label_index: np.ndarray,
    holdout_proba: np.ndarray,
) -> dict[str, Any]:
    label_counts = np.bincount(train_label_index, minlength=len(classes))
    predicted = np.bincount(holdout_proba.argmax(axis=1), minlength=len(classes))
    return {
        "format_version": FORMAT_VERSION,
        "features": {name: feature_baseline(train_features[:, i]) for i, name in enumerate(feature_names)},
        "label": {
            "name": label_name,
            "rows": len(train_label_index),
            "classes": list(classes),
            "counts": label_counts.tolist(),
            "proportions": _proportions(label_counts),
        },
        "prediction": {
            "rows": len(holdout_proba),
            "classes": list(classes),
            "predicted_counts": predicted.tolist(),
            "predicted_proportions": _proportions(predicted),
            "probability_bin_edges": PROBABILITY_BIN_EDGES.tolist(),
            "probability_counts": {
                name: bin_counts(holdout_proba[:, i], PROBABILITY_BIN_EDGES).tolist() for i, name in enumerate(classes)
            },
        },
    }


def build_regression_baseline(
    feature_names: tuple[str, ...],
    label_name: str,
    train_features: np.ndarray,
    train_values: np.ndarray,
    holdout_predictions: np.ndarray,
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "features": {name: feature_baseline(train_features[:, i]) for i, name in enumerate(feature_names)},
        "label": {"name": label_name, "task": "regression", **feature_baseline(train_values)},
        "prediction": {
            "task": "regression",
            "rows": len(holdout_predictions),
            "value": feature_baseline(holdout_predictions),
            # No classes: the classifier's keys, empty, so a reader checking them finds them
            # consistent (model_code/drift/storage.py) and the jobs take the regression path.
            "classes": [],
            "predicted_proportions": [],
            "probability_bin_edges": PROBABILITY_BIN_EDGES.tolist(),
            "probability_counts": {},
        },
    }
