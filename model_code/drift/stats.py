"""Drift statistics against baseline.json, accumulated block by block in constant memory.

Definitions (p = baseline proportions per bin, q = live proportions per bin, same bins):
- PSI = sum_i (q_i - p_i) * ln(q_i / p_i), with every proportion floored at PSI_FLOOR first so
  an empty bin gives a large but finite term (the usual convention; no renormalisation).
  Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant drift.
- Jensen-Shannon distance = sqrt(JSD(p, q)) with base-2 logarithms, so it lies in [0, 1]; the
  same as `scipy.spatial.distance.jensenshannon(p, q, base=2)`.
- missing rate = rows with the value missing / rows; out-of-range rate = rows whose value is
  below the baseline's `min` or above its `max` / rows. Both are fractions in [0, 1].

Live values are binned exactly as `model_code.baseline` bins the training data: a continuous
feature by the baseline's bin edges (outer bins open-ended), a discrete one by its training
values plus an "other" bin. Missing values are left out of the histogram. A feature whose
values are all missing has no PSI or JS distance (null), only its missing rate.

The decision (calibrated to the window's size)
----------------------------------------------
PSI has a sampling spread that grows as the window shrinks: at 100 rows, ten bins of pure
noise often score over 0.2. So a feature is flagged only when its PSI exceeds both
- the effect size that matters, `psi_threshold` (0.2 by default), and
- its critical value at the window's size: the (1 - false_alarm_rate / features) quantile of
  the PSI between a baseline-sized sample and a window-sized sample both drawn from the
  baseline's own proportions (a parametric bootstrap, `critical_psi`; it includes the floor,
  the bin count and the baseline's own sampling noise). Dividing the false-alarm rate by the
  number of features (Bonferroni) bounds the chance that a window without drift flags any
  feature by the false-alarm rate, however the features are correlated.
A window with fewer than `min_records` rows is "insufficient data": it has figures, but flags
nothing. Measured false-alarm and detection rates: tests/model_code/test_drift_calibration.py
and the README.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from model_code.baseline import discrete_counts

PSI_FLOOR = 1e-4
DEFAULT_FALSE_ALARM_RATE = 0.01
DEFAULT_MIN_RECORDS = 200
BOOTSTRAP_SEED = 20240501
# Enough draws that the tail quantile rests on >= 20 draws beyond it, within a bounded cost.
MIN_DRAWS, MAX_DRAWS, TAIL_DRAWS = 20_000, 200_000, 20


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


def psi_rows(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """`psi` of each row of `actual` (proportions) against `expected` (the same bins)."""
    p = np.maximum(expected, PSI_FLOOR)
    q = np.maximum(actual, PSI_FLOOR)
    return np.sum((q - p) * np.log(q / p), axis=-1)


def critical_psi(
    expected: np.ndarray, baseline_rows: int, rows: int, alpha: float, seed: int = BOOTSTRAP_SEED
) -> float:
    """The PSI that `rows` live values drawn from the baseline's own distribution exceed with
    probability `alpha`, the baseline itself being a sample of `baseline_rows` values.

    Fixed seed: a window's decision is reproducible, and the same however its rows were split.
    About 80 ms per feature at alpha 0.001 (20,000 draws); cached per (proportions, sizes, alpha).
    """
    return _critical_psi(tuple(np.asarray(expected, dtype=np.float64).tolist()), baseline_rows, rows, alpha, seed)


@functools.lru_cache(maxsize=4096)
def _critical_psi(expected_values: tuple[float, ...], baseline_rows: int, rows: int, alpha: float, seed: int) -> float:
    expected = np.array(expected_values)
    rng = np.random.default_rng([seed, rows, baseline_rows])
    draws = int(min(MAX_DRAWS, max(MIN_DRAWS, np.ceil(TAIL_DRAWS / alpha))))
    base = rng.multinomial(baseline_rows, expected / expected.sum(), size=draws) / baseline_rows
    live = rng.multinomial(rows, expected / expected.sum(), size=draws) / rows
    return float(np.quantile(psi_rows(base, live), 1.0 - alpha, method="higher"))


def compare(expected: np.ndarray, counts: np.ndarray) -> dict[str, float | None]:
    actual = proportions(counts)
    if actual is None:
        return {"psi": None, "js_distance": None}
    return {"psi": psi(expected, actual), "js_distance": js_distance(expected, actual)}


class FeatureDrift:
    """Per-feature histograms, missing and out-of-range counts of live rows.

    Continuous features: binning counts, for every inner edge e, the values >= e (one vectorised
    comparison per edge over the whole block), and takes differences: the same bins as
    `np.searchsorted(inner, value, side="right")` in `bin_counts`, without its per-value
    branching, which costs more than the rest of the job's arithmetic put together. Missing
    values (NaN) compare False everywhere and are subtracted from the first bin. Discrete
    features: `discrete_counts`, one column at a time.

    Histograms and counts are plain integer sums, so partial results of disjoint shares of the
    rows add up exactly (`merge`) to the result over all of them.
    """

    def __init__(self, baseline_features: dict[str, dict[str, Any]]):
        self.names = tuple(baseline_features)
        stats = [baseline_features[name] for name in self.names]
        self._bins = [len(s["proportions"]) for s in stats]
        self._expected = [np.asarray(s["proportions"], dtype=np.float64) for s in stats]
        self._baseline_rows = [int(s.get("rows") or sum(s.get("counts", [])) or 1) for s in stats]
        self._discrete = [i for i, s in enumerate(stats) if s.get("kind") == "discrete"]
        self._values = {i: np.asarray(stats[i]["values"], dtype=np.float64) for i in self._discrete}
        continuous = [i for i, s in enumerate(stats) if s.get("kind") != "discrete"]
        self._continuous = np.array(continuous, dtype=np.int64)
        # Inner edges, one row per continuous feature, padded with NaN (never <= a value).
        width = max([self._bins[i] - 1 for i in continuous], default=0)
        self._edges = np.full((len(continuous), width), np.nan)
        for row, index in enumerate(continuous):
            inner = np.asarray(stats[index]["bin_edges"], dtype=np.float64)[1:-1]
            self._edges[row, : len(inner)] = inner
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
        if len(self._continuous):
            part = columns[self._continuous] if len(self._continuous) < len(columns) else columns
            at_least = np.zeros((len(part), self._edges.shape[1] + 2), dtype=np.int64)
            at_least[:, 0] = len(rows) - missing[self._continuous]
            for k in range(self._edges.shape[1]):
                at_least[:, k + 1] = (part >= self._edges[:, k : k + 1]).sum(axis=1)
            self._counts[self._continuous, : self._edges.shape[1] + 1] += at_least[:, :-1] - at_least[:, 1:]
        for index in self._discrete:
            self._counts[index, : self._bins[index]] += discrete_counts(columns[index], self._values[index])

    def merge(self, other: FeatureDrift) -> None:
        """Add another accumulator's counts (same baseline, other rows)."""
        self._counts += other._counts
        self.missing += other.missing
        self.out_of_range += other.out_of_range
        self.rows += other.rows

    def state(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "counts": self._counts.tolist(),
            "missing": self.missing.tolist(),
            "out_of_range": self.out_of_range.tolist(),
        }

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add the counts of another accumulator's `state()` (same baseline, other rows)."""
        self._counts += np.asarray(state["counts"], dtype=np.int64).reshape(self._counts.shape)
        self.missing += np.asarray(state["missing"], dtype=np.int64).reshape(self.missing.shape)
        self.out_of_range += np.asarray(state["out_of_range"], dtype=np.int64).reshape(self.out_of_range.shape)
        self.rows += int(state["rows"])

    def load(self, state: dict[str, Any]) -> None:
        self._counts = np.asarray(state["counts"], dtype=np.int64).reshape(self._counts.shape)
        self.missing = np.asarray(state["missing"], dtype=np.int64).reshape(self.missing.shape)
        self.out_of_range = np.asarray(state["out_of_range"], dtype=np.int64).reshape(self.out_of_range.shape)
        self.rows = int(state["rows"])

    def summary(
        self,
        psi_threshold: float,
        false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
        min_records: int = DEFAULT_MIN_RECORDS,
        every_critical: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Per feature; empty when no row was added (a window with no data has no drift figures).

        The critical value (about 0.1 s of bootstrap per feature) is computed only for features
        whose PSI exceeds `psi_threshold`, the only ones it can flag; `critical_psi` is null for the
        others, unless `every_critical` (the calibration tool's "critical PSI only" rule)."""
        features: dict[str, dict[str, Any]] = {}
        if not self.rows:
            return features
        alpha = false_alarm_rate / len(self.names)
        for index, (name, counts) in enumerate(zip(self.names, self.counts, strict=True)):
            scores = compare(self._expected[index], counts)
            present = int(counts.sum())
            needed = scores["psi"] is not None and (every_critical or scores["psi"] > psi_threshold)
            critical = (
                critical_psi(self._expected[index], self._baseline_rows[index], present, alpha) if needed else None
            )
            judged = self.rows >= min_records and scores["psi"] is not None and critical is not None
            features[name] = {
                **scores,
                "critical_psi": critical,
                "missing_rate": float(self.missing[index] / self.rows),
                "out_of_range_rate": float(self.out_of_range[index] / self.rows),
                "flagged": bool(judged and scores["psi"] > max(psi_threshold, critical)),
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

    def state(self) -> dict[str, Any]:
        return {"class_counts": self.class_counts.tolist(), "probability_counts": self.probability_counts.tolist()}

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add the counts of another accumulator's `state()` (same baseline, other rows)."""
        self.class_counts += np.asarray(state["class_counts"], dtype=np.int64).reshape(self.class_counts.shape)
        self.probability_counts += np.asarray(state["probability_counts"], dtype=np.int64).reshape(
            self.probability_counts.shape
        )

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
