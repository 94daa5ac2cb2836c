"""The quality job for a regression model: RMSE, MAE and R² of captured predictions against late
ground truth (`python -m model_code quality`, chosen when the baseline says `"task": "regression"`).

Ground truth is uploaded as for a classifier (model_code/quality.py), with a number as the label:

    {"inferenceId": "order-42", "label": 183.0, "timestamp": "2024-05-02T08:13:00Z"}

(a numeric string, "183.0", is read too). The join, the windows and the counts are the
classifier's; `malformed_label_lines` also counts labels that are not finite numbers (there
are no unknown classes). The report has `"task": "regression"` and the metrics `rmse`, `mae`
and `r2` (model_code/metrics.py, as `evaluate` computes them), published to CloudWatch as RMSE,
MAE and R2 beside the classifier's counts.
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from typing import Any

import numpy as np

from model_code.drift.cli import aws_client
from model_code.drift.cloudwatch import _datum, publish, quality_metric_data
from model_code.drift.events import Event
from model_code.drift.job import capture_files, default_report
from model_code.drift.regression import prediction_value
from model_code.drift.schema import Schema
from model_code.drift.storage import Storage
from model_code.drift.window import Window
from model_code.exit_codes import EXIT_OK
from model_code.metrics import regression_metrics
from model_code.quality_join import (
    FORMAT_VERSION,
    GROUND_TRUTH_PREFIX,
    REPORT_PREFIX,
    UsageError,
    join_predictions,
    read_labels,
)


def run_regression(args: argparse.Namespace, window: Window, storage: Storage, baseline: dict[str, Any]) -> int:
    if args.positive_class is not None:
        raise UsageError(f"argument --positive-class: only for classification models (got {args.positive_class!r})")
    schema = Schema(tuple(baseline["features"]), ())
    ground_truth = args.ground_truth or args.capture.bucket_root().child(GROUND_TRUTH_PREFIX, args.endpoint_name)
    labels = read_labels(storage, ground_truth, window, numeric_label)
    prediction_window = window.earlier_by(args.prediction_lookback_hours)
    files = capture_files(storage, args.capture, args.endpoint_name, prediction_window)
    joined = join_predictions(storage, files, labels, schema, predicted_value)
    true, predicted = joined.true, joined.predicted
    metrics = regression_metrics(np.array(true), np.array(predicted)) if true else dict.fromkeys(("rmse", "mae", "r2"))
    report = {
        "format_version": FORMAT_VERSION,
        "kind": "quality",
        "task": "regression",
        "status": "ok" if true else "no_data",
        "endpoint_name": args.endpoint_name,
        "window": window.as_dict(),
        "prediction_window": prediction_window.as_dict(),
        "ground_truth": str(ground_truth),
        "capture": str(args.capture),
        "counts": {
            "label_files": labels.files,
            "label_lines": labels.lines,
            "malformed_label_lines": labels.malformed,
            "unknown_class_labels": 0,
            "duplicate_label_ids": labels.duplicate_ids,
            "duplicate_prediction_ids": joined.duplicate_prediction_ids,
            "orphan_labels": joined.orphan_labels,
            "unreadable_predictions": joined.unreadable_predictions,
            "joined": len(true),
        },
        "metrics": metrics,
    }
    destination = args.report or default_report(args.capture, REPORT_PREFIX, args.endpoint_name, window)
    storage.write_json(destination, report)
    published = 0
    if not args.no_metrics:
        data = regression_metric_data(report, window.end)
        published = publish(aws_client("cloudwatch", args.region), args.metrics_namespace, data)
    figures = "no data" if not true else f"rmse {metrics['rmse']:.6g} mae {metrics['mae']:.6g} r2 {metrics['r2']:.4f}"
    print(
        f"quality: {figures} on {len(true)} joined records; report {destination}; "
        + (f"{published} metrics to {args.metrics_namespace}" if published else "no metrics")
    )
    return EXIT_OK


def regression_metric_data(report: dict[str, Any], timestamp: datetime) -> list[dict[str, Any]]:
    data = quality_metric_data(report, timestamp)
    endpoint = {"EndpointName": report["endpoint_name"]}
    for metric, key in (("RMSE", "rmse"), ("MAE", "mae"), ("R2", "r2")):
        value = report["metrics"].get(key)
        if value is not None:
            data.append(_datum(metric, value, endpoint, timestamp, "None"))
    return data


def numeric_label(label: Any) -> tuple[float | None, str | None]:
    """A regression label: a finite number (or its decimal text); anything else is `malformed`."""
    if isinstance(label, bool) or not isinstance(label, int | float | str):
        return None, "malformed"
    try:
        value = float(label)
    except ValueError:
        return None, "malformed"
    return (value, None) if math.isfinite(value) else (None, "malformed")


def predicted_value(event: Event) -> float | None:
    """The one predicted value of a captured regression answer; None unless there is exactly one."""
    items = event.output.items if event.output is not None else []
    return prediction_value(items[0]) if len(items) == 1 else None
