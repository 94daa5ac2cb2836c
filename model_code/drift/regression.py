"""Drift of a regression model's captured traffic: the features as for a classifier, and the
distribution of the predicted values against the baseline's (baseline.json's
`prediction.value`: quantile bins of the holdout predictions, see model_code/baseline.py).

A regression model answers `{"predictions": [{"value": 182.5}, ...]}` (JSON) or one value per
line (CSV). Lines are decoded one by one with the capture module's event decoder (the fast path
there reads classifier answers only); the counts mean what they mean for a classifier
(model_code/drift/capture.py). The prediction summary keeps the classifier's `psi` and
`js_distance` keys, so the same CloudWatch metrics (PredictionPSI, PredictionJSDistance) are
published.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from model_code.drift.events import decode_event
from model_code.drift.measurement import Measurement
from model_code.drift.rows import parse_csv_rows, parse_json_rows
from model_code.drift.schema import Schema
from model_code.drift.stats import FeatureDrift, compare
from model_code.failure import UserError

REGRESSION = "regression"


def is_regression(baseline: dict[str, Any]) -> bool:
    return baseline.get("prediction", {}).get("task") == REGRESSION


def measurement_for(baseline: dict[str, Any]) -> Measurement:
    """The drift job's accumulator for the baseline's task."""
    return RegressionMeasurement(baseline) if is_regression(baseline) else Measurement(baseline)


class ValueDrift:
    """Histogram of live predicted values on the baseline's bins (continuous or discrete, as for a
    feature: stats.FeatureDrift over the one column), and their sum, min and max."""

    def __init__(self, baseline_prediction: dict[str, Any]):
        value = baseline_prediction.get("value")
        try:
            bins = len(value["bin_edges"]) - 1 if value.get("kind") != "discrete" else len(value["values"]) + 1
            consistent = bins == len(value["proportions"]) >= 1
        except (KeyError, TypeError, AttributeError):
            consistent = False
        if not consistent:
            raise UserError("the regression baseline's prediction.value lacks consistent bins and proportions")
        self._expected = np.asarray(value["proportions"], dtype=np.float64)
        self._histogram = FeatureDrift({"value": value})
        self._sum = 0.0
        self._min, self._max = math.inf, -math.inf

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        self._histogram.add(values.reshape(-1, 1))
        self._sum += float(values.sum())
        self._min, self._max = min(self._min, float(values.min())), max(self._max, float(values.max()))

    def state(self) -> dict[str, Any]:
        return {
            "value": self._histogram.state(),
            "sum": self._sum,
            "min": self._min if math.isfinite(self._min) else None,
            "max": self._max if math.isfinite(self._max) else None,
        }

    def merge_state(self, state: dict[str, Any]) -> None:
        """Add another accumulator's `state()` (same baseline, other rows)."""
        self._histogram.merge_state(state["value"])
        self._sum += float(state["sum"])
        if state["min"] is not None:
            self._min, self._max = min(self._min, state["min"]), max(self._max, state["max"])

    def summary(self) -> dict[str, Any]:
        counts = self._histogram.counts[0]
        n = int(counts.sum())
        return {
            "task": REGRESSION,
            "classes": [],
            "predictions": n,
            **compare(self._expected, counts),
            "counts": counts.tolist(),
            "mean": self._sum / n if n else None,
            "min": self._min if n else None,
            "max": self._max if n else None,
        }


class RegressionMeasurement(Measurement):
    """The drift job's Measurement (model_code/drift/measurement.py) for a regression baseline: the same
    features, counts, files and shard states; the predicted values instead of classes."""

    def __init__(self, baseline: dict[str, Any]):
        super().__init__(baseline)
        self.schema = Schema(tuple(baseline["features"]), ())
        self.prediction = ValueDrift(baseline["prediction"])  # type: ignore[assignment]

    def add_block(self, block: bytes) -> None:
        csv_inputs: list[bytes] = []
        json_rows: list[Any] = []
        values: list[float] = []
        for line in block.split(b"\n"):
            if not line.strip():
                continue
            self.counts.lines += 1
            event = decode_event(line, self.schema)
            if isinstance(event.inputs, str):
                self.counts.skipped[event.inputs] += 1
            elif event.inputs.kind == "csv":
                csv_inputs.extend(event.inputs.items)
            else:
                json_rows.extend(event.inputs.items)
            if event.output_error:
                self.counts.predictions_skipped += 1
            elif event.output is not None:
                for item in event.output.items:
                    value = prediction_value(item)
                    if value is None:
                        self.counts.predictions_skipped += 1
                    else:
                        self.counts.predictions += 1
                        values.append(value)
        features = [parse_csv_rows(csv_inputs, self.schema.width, self.counts)]
        features.append(parse_json_rows(json_rows, self.schema, self.counts))
        rows = np.vstack(features)
        self.counts.records += len(rows)
        self.features.add(rows)
        self.prediction.add(np.array(values, dtype=np.float64))


def prediction_value(item: Any) -> float | None:
    """A finite predicted value from a CSV answer line (bytes) or a JSON prediction; else None."""
    if isinstance(item, bytes | str):
        try:
            value = float(item)
        except ValueError:
            return None
    elif isinstance(item, dict):
        value = item.get("value")
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        value = float(value)
    elif isinstance(item, int | float) and not isinstance(item, bool):
        value = float(item)
    else:
        return None
    return value if math.isfinite(value) else None
