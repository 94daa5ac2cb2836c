"""Drift statistics against baseline.json, accumulated block by block in constant memory.

Definitions (p = baseline proportions per bin, q = live proportions per bin, same bins):
- PSI = sum_i (q_i - p_i) * ln(q_i / p_i), with every proportion floored at PSI_FLOOR first so
  an empty bin gives a large but finite term (the usual convention; no renormalisation).
  Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant drift.
- Jensen-Shannon distance = sqrt(JSD(p, q)) with base-2 logarithms, so it lies in [0, 1]; the
  same as `scipy.spatial.distance.jensenshannon(p, q, base=2)`.
- missing rate = rows with the value missing / rows; out-of-range rate = rows whose value is
  below the baseline's `min` or above its `max` / rows. Both are fractions in [0, 1].

Live values are binned exactly as `model_code.baseline.bin_counts` bins the training data: the
baseline's bin edges, outer bins open-ended. Missing values are left out of the histogram. A
feature whose values are all missing has no PSI or JS distance (null), only its missing rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PSI_FLOOR = 1e-4


def proportions(counts: np.ndarray) -> np.ndarray | None:
    total = counts.sum()
    return counts / total if total else None


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    p = np.maximum(np.asarray(expected, dtype=np.float64), PSI_FLOOR)
    q = np.maximum(np.asarray(actual, dtype=np.float64), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(expected: np.ndarray, actual: np.ndarray) -> float:
    p = np.asarray(expected, dtype=np.float64)
    q = np.asarray(actual, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    divergence = (_kl(p, m) + _kl(q, m)) / 2
    return float(np.sqrt(max(divergence, 0.0)))


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    present = p > 0
    return float(np.sum(p[present] * np.log2(p[present] / m[present])))


def compare(expected: np.ndarray, counts: np.ndarray) -> dict[str, float | None]:
    actual = proportions(counts)
    if actual is None:
        return {"psi": None, "js_distance": None}
    return {"psi": psi(expected, actual), "js_distance": js_distance(expected, actual)}


class FeatureDrift:
    """Per-feature histograms, missing and out-of-range counts of live rows.

    Binning counts, for every inner edge e, the values >= e (one vectorised comparison per edge
    over the whole block), and takes differences: the same bins as `np.searchsorted(inner,
    value, side="right")` in `bin_counts`, without its per-value branching, which costs more
    than the rest of the job's arithmetic put together. Missing values (NaN) compare False
    everywhere and are subtracted from the first bin.
    """

    def __init__(self, baseline_features: dict[str, dict[str, Any]]):
        self.names = tuple(baseline_features)
        stats = [baseline_features[name] for name in self.names]
        self._bins = [len(s["proportions"]) for s in stats]
        self._expected = [np.asarray(s["proportions"], dtype=np.float64) for s in stats]
        # Inner edges, one row per feature, padded with NaN (never <= a value) to the longest.
        self._edges = np.full((len(stats), max(self._bins) - 1), np.nan)
        for index, s in enumerate(stats):
            inner = np.asarray(s["bin_edges"], dtype=np.float64)[1:-1]
            self._edges[index, : len(inner)] = inner
        self._low = np.array([s["min"] for s in stats], dtype=np.float64)[:, None]
        self._high = np.array([s["max"] for s in stats], dtype=np.float64)[:, None]
        self._counts = np.zeros((len(stats), max(self._bins)), dtype=np.int64)
        self.missing = np.zeros(len(stats), dtype=np.int64)
        self.out_of_range = np.zeros(len(stats), dtype=np.int64)
        self.rows = 0

    @property
    def counts(self) -> list[np.ndarray]:
        return [row[:bins] for row, bins in zip(self._counts, self._bins, strict=True)]

    def add(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        self.rows += len(rows)
        columns = np.ascontiguousarray(rows.T)
        missing = np.isnan(columns).sum(axis=1)
        self.missing += missing
        # NaN compares False, so missing values are never out of range.
        self.out_of_range += (columns < self._low).sum(axis=1) + (columns > self._high).sum(axis=1)
        at_least = np.zeros((len(columns), self._edges.shape[1] + 2), dtype=np.int64)
        at_least[:, 0] = len(rows) - missing
        for k in range(self._edges.shape[1]):
            at_least[:, k + 1] = (columns >= self._edges[:, k : k + 1]).sum(axis=1)
        self._counts += at_least[:, :-1] - at_least[:, 1:]

    def summary(self, psi_threshold: float) -> dict[str, dict[str, Any]]:
        """Per feature; empty when no row was added (a window with no data has no drift figures)."""
        features: dict[str, dict[str, Any]] = {}
        if not self.rows:
            return features
        for index, (name, counts) in enumerate(zip(self.names, self.counts, strict=True)):
            scores = compare(self._expected[index], counts)
            features[name] = {
                **scores,
                "missing_rate": float(self.missing[index] / self.rows),
                "out_of_range_rate": float(self.out_of_range[index] / self.rows),
                "flagged": scores["psi"] is not None and scores["psi"] > psi_threshold,
                "counts": counts.tolist(),
                "missing": int(self.missing[index]),
                "out_of_range": int(self.out_of_range[index]),
            }
        return features


class PredictionDrift:
    """Predicted-class counts and per-class probability histograms of live predictions."""

    def __init__(self, baseline_prediction: dict[str, Any]):
        self.classes = tuple(baseline_prediction["classes"])
        self._expected = np.asarray(baseline_prediction["predicted_proportions"], dtype=np.float64)
        edges = np.asarray(baseline_prediction["probability_bin_edges"], dtype=np.float64)
        self._inner_edges = edges[1:-1]
        self._expected_probability = {
            name: np.asarray(counts, dtype=np.float64) / max(sum(counts), 1)
            for name, counts in baseline_prediction["probability_counts"].items()
        }
        self.class_counts = np.zeros(len(self.classes), dtype=np.int64)
        self.probability_counts = np.zeros((len(self.classes), len(edges) - 1), dtype=np.int64)

    def add(self, predicted: np.ndarray, probabilities: np.ndarray) -> None:
        self.class_counts += np.bincount(predicted, minlength=len(self.classes))
        for index in range(len(self.classes)):
            bins = np.searchsorted(self._inner_edges, probabilities[:, index], side="right")
            self.probability_counts[index] += np.bincount(bins, minlength=self.probability_counts.shape[1])

    def summary(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "predictions": int(self.class_counts.sum()),
            **compare(self._expected, self.class_counts),
            "class_counts": self.class_counts.tolist(),
            "probability": {
                name: {**compare(self._expected_probability[name], self.probability_counts[i]), "counts": counts}
                for i, (name, counts) in enumerate(zip(self.classes, self.probability_counts.tolist(), strict=True))
            },
        }
