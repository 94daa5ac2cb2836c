"""`python -m model_code quality`: accuracy of an endpoint's predictions against late ground truth.

    python -m model_code quality --endpoint-name NAME --capture s3://BUCKET/PREFIX|DIR
        [--ground-truth s3://...|DIR] [--baseline PATH|s3://...]
        [--start ISO --end ISO | --lookback-hours N] [--prediction-lookback-hours 24]
        [--positive-class NAME] [--report PATH|s3://...]
        (--metrics-namespace NS [--region REGION] | --no-metrics)

Ground truth
------------
Whoever learns the true outcome uploads JSON Lines, one label per line, under
`<ground truth>/yyyy/mm/dd/hh/*.jsonl` (the UTC hour of the upload):

    {"inferenceId": "order-42", "label": "1", "timestamp": "2024-05-02T08:13:00Z"}

`inferenceId` is the `InferenceId` the caller passed to InvokeEndpoint (the server echoes it
and SageMaker records it in the capture's `eventMetadata.inferenceId`); `label` is a class name
(numbers are normalised as in training: 1, 1.0 and "1" are class "1"); `timestamp` (when the
outcome was observed) is informational. The default ground-truth location is
`<capture bucket>/ground-truth/<endpoint>/` (the bucket's root, or the local capture directory).

Join
----
The labels uploaded in the window [start, end) are joined with the predictions captured in
[start - prediction-lookback-hours, end), so each label is counted in exactly one window however
late it arrives (up to the lookback). Nothing here is fatal; the report counts:
- `label_lines`, `malformed_label_lines` (not JSON, no string `inferenceId`, no `label`),
  `unknown_class_labels` (a label that is not one of the model's classes);
- `duplicate_label_ids`: ids labelled more than once; all their labels are left out;
- `duplicate_prediction_ids`: labelled ids captured more than once; left out;
- `orphan_labels`: labels with no captured prediction in the lookback window;
- `unreadable_predictions`: the capture exists but holds no single readable prediction;
- `joined`: the (label, prediction) pairs the metrics are computed on.

Metrics: accuracy; with two classes, precision and recall of the positive class (the baseline's
last class, e.g. "1", or --positive-class); with more, their macro averages over the classes
present in the window (as a true label or a prediction), a class with a zero denominator
counting 0: scikit-learn's default (`precision_score(average="macro", zero_division=0)`), so a
class the model never predicts pulls macro precision down instead of being left out. A binary
figure with a zero denominator is null and not published. `per_class` gives, per class, its
support (true labels), predicted count, precision and recall (null where the denominator is 0).
CloudWatch names: model_code/drift/cloudwatch.py. The report goes to
`<capture bucket>/quality-reports/<endpoint>/<window>.json` unless --report says otherwise.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

import numpy as np

from model_code.drift.cli import (
    add_common_arguments,
    aws_client,
    default_baseline,
    hours_or_zero,
    location,
    parse_job_arguments,
)
from model_code.drift.cloudwatch import publish, quality_metric_data
from model_code.drift.job import capture_files, default_report
from model_code.drift.schema import Schema
from model_code.drift.storage import Storage, load_baseline
from model_code.drift.window import Window, now_utc
from model_code.exit_codes import EXIT_OK, EXIT_USAGE
from model_code.failure import run_command
from model_code.paths import OptMl
from model_code.quality_join import (
    FORMAT_VERSION,
    GROUND_TRUTH_PREFIX,
    REPORT_PREFIX,
    Joined,
    Labels,
    UsageError,
    class_label,
    join_predictions,
    read_labels,
)
from model_code.quality_regression import run_regression

DEFAULT_PREDICTION_LOOKBACK_HOURS = 24


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_code quality", description="Accuracy of captured predictions against ground truth."
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--ground-truth",
        type=location,
        help="labels root (s3:// or local) holding yyyy/mm/dd/hh/*.jsonl; "
        "default: <capture bucket>/ground-truth/<endpoint>",
    )
    parser.add_argument(
        "--prediction-lookback-hours",
        type=hours_or_zero,
        default=DEFAULT_PREDICTION_LOOKBACK_HOURS,
        help=f"how long before the window a labelled prediction may have been made "
        f"(default {DEFAULT_PREDICTION_LOOKBACK_HOURS})",
    )
    parser.add_argument("--positive-class", help="binary models: the class precision and recall are about")
    return parser


def main(argv: list[str], now: datetime | None = None) -> int:
    parser = build_parser()
    parsed = parse_job_arguments(parser, argv, now or now_utc())
    if isinstance(parsed, int):
        return parsed
    args, window = parsed

    def command(paths: OptMl) -> int:
        try:
            return run(paths, args, window)
        except UsageError as exc:
            parser.print_usage(sys.stderr)
            print(f"{parser.prog}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return run_command(command)


def run(paths: OptMl, args: argparse.Namespace, window: Window) -> int:
    storage = Storage(aws_client("s3", args.region))
    baseline = load_baseline(storage, args.baseline or default_baseline(paths))
    if baseline.get("prediction", {}).get("task") == "regression":  # RMSE, MAE, R²: quality_regression.py
        return run_regression(args, window, storage, baseline)
    schema = Schema(tuple(baseline["features"]), tuple(baseline["prediction"]["classes"]))
    positive = positive_class(schema, args.positive_class)
    ground_truth = args.ground_truth or args.capture.bucket_root().child(GROUND_TRUTH_PREFIX, args.endpoint_name)
    labels = read_labels(storage, ground_truth, window, class_label(schema))
    prediction_window = window.earlier_by(args.prediction_lookback_hours)
    files = capture_files(storage, args.capture, args.endpoint_name, prediction_window)
    joined = join_predictions(storage, files, labels, schema)
    report = build_report(
        labels,
        joined,
        schema,
        positive,
        endpoint_name=args.endpoint_name,
        window=window,
        prediction_window=prediction_window,
        ground_truth=str(ground_truth),
        capture=str(args.capture),
    )
    destination = args.report or default_report(args.capture, REPORT_PREFIX, args.endpoint_name, window)
    storage.write_json(destination, report)
    published = 0
    if not args.no_metrics:
        data = quality_metric_data(report, window.end)
        published = publish(aws_client("cloudwatch", args.region), args.metrics_namespace, data)
    metrics = report["metrics"]
    accuracy = "no data" if metrics["accuracy"] is None else f"accuracy {metrics['accuracy']:.4f}"
    print(
        f"quality: {accuracy} on {report['counts']['joined']} joined records; report {destination}; "
        + (f"{published} metrics to {args.metrics_namespace}" if published else "no metrics")
    )
    return EXIT_OK


def positive_class(schema: Schema, requested: str | None) -> int | None:
    """Index of the positive class for binary models; None (macro averages) otherwise."""
    if len(schema.classes) != 2:
        if requested is not None:
            raise UsageError(
                f"argument --positive-class: only for binary models (got {requested!r}; "
                f"the model has {len(schema.classes)} classes: {', '.join(schema.classes)})"
            )
        return None
    if requested is None:
        return 1
    index = schema.class_index(requested)
    if index is None:
        raise UsageError(
            f"argument --positive-class: not a class of the model (got {requested!r}; "
            f"expected one of {', '.join(schema.classes)})"
        )
    return index


# ---------------------------------------------------------------------------------------------
# Metrics and report


def classification_metrics(
    true: np.ndarray, predicted: np.ndarray, classes: int, positive: int | None
) -> tuple[dict[str, float | None], list[list[int]]]:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    total = int(matrix.sum())
    if not total:
        return {"accuracy": None, "precision": None, "recall": None}, matrix.tolist()
    hits = np.diag(matrix).astype(np.float64)
    predicted_per_class = matrix.sum(axis=0)
    true_per_class = matrix.sum(axis=1)
    if positive is not None:
        precision = _ratio(hits[positive], predicted_per_class[positive])
        recall = _ratio(hits[positive], true_per_class[positive])
    else:
        present = (predicted_per_class > 0) | (true_per_class > 0)
        precision = _macro(hits[present], predicted_per_class[present])
        recall = _macro(hits[present], true_per_class[present])
    return {"accuracy": float(hits.sum() / total), "precision": precision, "recall": recall}, matrix.tolist()


def _ratio(numerator: float, denominator: int) -> float | None:
    return float(numerator / denominator) if denominator else None


def _macro(hits: np.ndarray, denominators: np.ndarray) -> float:
    """Mean over the classes given; a zero denominator counts 0 (scikit-learn's zero_division=0)."""
    ratios = np.divide(hits, denominators, out=np.zeros_like(hits), where=denominators > 0)
    return float(ratios.mean())


def per_class_metrics(matrix: list[list[int]], classes: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per class: support (true labels), predicted, precision and recall (null with a zero denominator)."""
    counts = np.asarray(matrix, dtype=np.int64)
    hits, predicted, support = np.diag(counts), counts.sum(axis=0), counts.sum(axis=1)
    return {
        name: {
            "support": int(support[i]),
            "predicted": int(predicted[i]),
            "precision": _ratio(float(hits[i]), int(predicted[i])),
            "recall": _ratio(float(hits[i]), int(support[i])),
        }
        for i, name in enumerate(classes)
    }


def build_report(
    labels: Labels,
    joined: Joined,
    schema: Schema,
    positive: int | None,
    *,
    endpoint_name: str,
    window: Window,
    prediction_window: Window,
    ground_truth: str,
    capture: str,
) -> dict[str, Any]:
    metrics, confusion = classification_metrics(
        np.array(joined.true, dtype=np.int64), np.array(joined.predicted, dtype=np.int64), len(schema.classes), positive
    )
    return {
        "format_version": FORMAT_VERSION,
        "kind": "quality",
        "status": "ok" if joined.true else "no_data",
        "endpoint_name": endpoint_name,
        "window": window.as_dict(),
        "prediction_window": prediction_window.as_dict(),
        "ground_truth": ground_truth,
        "capture": capture,
        "classes": list(schema.classes),
        "averaging": "binary" if positive is not None else "macro",
        "positive_class": schema.classes[positive] if positive is not None else None,
        "counts": {
            "label_files": labels.files,
            "label_lines": labels.lines,
            "malformed_label_lines": labels.malformed,
            "unknown_class_labels": labels.unknown_class,
            "duplicate_label_ids": labels.duplicate_ids,
            "duplicate_prediction_ids": joined.duplicate_prediction_ids,
            "orphan_labels": joined.orphan_labels,
            "unreadable_predictions": joined.unreadable_predictions,
            "joined": len(joined.true),
        },
        "metrics": metrics,
        "per_class": per_class_metrics(confusion, schema.classes),
        "confusion_matrix": confusion,
    }
