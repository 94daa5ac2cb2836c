"""`python -m model_code drift`: feature and prediction drift of an endpoint's captured traffic.

    python -m model_code drift --endpoint-name NAME --capture s3://BUCKET/PREFIX|DIR
        [--baseline PATH|s3://...] [--start ISO --end ISO | --lookback-hours N]
        [--psi-threshold 0.2] [--report PATH|s3://...]
        (--metrics-namespace NS [--region REGION] | --no-metrics)

Runs as a SageMaker Processing job (the monitoring pipeline's Drift step) or locally on files.
It reads `<capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl` for every variant and every hour
of the window (format: model_code/drift/capture.py), compares feature values and predictions
with the training baseline (statistics: model_code/drift/stats.py), writes a JSON report and
publishes CloudWatch metrics (names: model_code/drift/cloudwatch.py).

The baseline defaults to `<root>/processing/baseline` (a Processing input holding baseline.json
or the training job's model.tar.gz). The report defaults to
`<capture bucket>/drift-reports/<endpoint>/<window>.json` (the bucket's root, or the local
capture directory), `<window>` like `20240501T10Z-20240501T11Z`. Report layout:

    {"format_version": 1, "kind": "drift", "status": "ok" | "no_data", "endpoint_name": ...,
     "window": {"start", "end"}, "capture": ..., "baseline": ..., "files": 3, "psi_threshold": 0.2,
     "counts": {"lines", "records", "skipped": {"malformed_line", "bad_encoding",
                "wrong_feature_count", "bad_value"}, "predictions", "predictions_skipped"},
     "features": {"<name>": {"psi", "js_distance", "missing_rate", "out_of_range_rate", "flagged",
                             "counts", "missing", "out_of_range"}},
     "flagged_features": [...], "max_feature_drift": {"feature", "psi"} | null,
     "prediction": {"classes", "predictions", "psi", "js_distance", "class_counts",
                    "probability": {"<class>": {"psi", "js_distance", "counts"}}} | null}

"no_data" (no usable feature row in the window) has empty `features`, null drift figures and
publishes only the record counts. Exit codes as for the other commands (0, 1 with the reason in
the failure file, 2 for bad arguments).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from model_code.drift.capture import Counts, Schema, decode_block
from model_code.drift.cli import (
    add_common_arguments,
    aws_client,
    default_baseline,
    parse_job_arguments,
    positive_number,
)
from model_code.drift.cloudwatch import drift_metric_data, publish
from model_code.drift.stats import FeatureDrift, PredictionDrift
from model_code.drift.storage import Location, Storage, load_baseline
from model_code.drift.window import Window, hour_prefix, now_utc
from model_code.exit_codes import EXIT_OK
from model_code.failure import run_command
from model_code.paths import OptMl

REPORT_PREFIX = "drift-reports"
DEFAULT_PSI_THRESHOLD = 0.2
FORMAT_VERSION = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_code drift", description="Feature and prediction drift of captured endpoint traffic."
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--psi-threshold",
        type=positive_number,
        default=DEFAULT_PSI_THRESHOLD,
        help=f"flag a feature whose PSI exceeds this (default {DEFAULT_PSI_THRESHOLD})",
    )
    return parser


def main(argv: list[str], now: datetime | None = None) -> int:
    parsed = parse_job_arguments(build_parser(), argv, now or now_utc())
    if isinstance(parsed, int):
        return parsed
    args, window = parsed
    return run_command(lambda paths: run(paths, args, window))


def run(paths: OptMl, args: argparse.Namespace, window: Window) -> int:
    storage = Storage(aws_client("s3", args.region))
    baseline_location = args.baseline or default_baseline(paths)
    baseline = load_baseline(storage, baseline_location)
    files = capture_files(storage, args.capture, args.endpoint_name, window)
    result = measure(baseline, (block for f in files for block in storage.blocks(f)))
    report = build_report(
        result,
        endpoint_name=args.endpoint_name,
        window=window,
        capture=str(args.capture),
        baseline=str(baseline_location),
        files=len(files),
        psi_threshold=args.psi_threshold,
    )
    destination = args.report or default_report(args.capture, REPORT_PREFIX, args.endpoint_name, window)
    storage.write_json(destination, report)
    published = 0
    if not args.no_metrics:
        published = publish(
            aws_client("cloudwatch", args.region), args.metrics_namespace, drift_metric_data(report, window.end)
        )
    print(summary_line(report, destination, published, args.metrics_namespace))
    return EXIT_OK


def capture_files(storage: Storage, capture: Location, endpoint_name: str, window: Window) -> list[Location]:
    """Every `.jsonl` of every variant of the endpoint in the window's hours, in variant then hour order."""
    return [
        file
        for variant in storage.list_dirs(capture.child(endpoint_name))
        for hour in window.hours()
        for file in storage.list_files(variant.child(hour_prefix(hour)))
    ]


def default_report(capture: Location, prefix: str, endpoint_name: str, window: Window) -> Location:
    return capture.bucket_root().child(prefix, endpoint_name, f"{window.label}.json")


class Measurement:
    """Counts and accumulated statistics of one pass over the captured lines."""

    def __init__(self, baseline: dict[str, Any]):
        self.schema = Schema(tuple(baseline["features"]), tuple(baseline["prediction"]["classes"]))
        self.counts = Counts()
        self.features = FeatureDrift(baseline["features"])
        self.prediction = PredictionDrift(baseline["prediction"])

    def add_block(self, block: bytes) -> None:
        decoded = decode_block(block, self.schema, self.counts)
        self.features.add(decoded.features)
        self.prediction.add(decoded.predicted, decoded.probabilities)


def measure(baseline: dict[str, Any], blocks: Iterable[bytes]) -> Measurement:
    from model_code.drift.regression import RegressionMeasurement, is_regression

    measurement = RegressionMeasurement(baseline) if is_regression(baseline) else Measurement(baseline)
    for block in blocks:
        measurement.add_block(block)
    return measurement


def build_report(
    result: Measurement,
    *,
    endpoint_name: str,
    window: Window,
    capture: str,
    baseline: str,
    files: int,
    psi_threshold: float,
) -> dict[str, Any]:
    has_data = result.counts.records > 0
    features = result.features.summary(psi_threshold)
    scored = [(stats["psi"], name) for name, stats in features.items() if stats["psi"] is not None]
    worst = max(scored, default=None)
    return {
        "format_version": FORMAT_VERSION,
        "kind": "drift",
        "status": "ok" if has_data else "no_data",
        "endpoint_name": endpoint_name,
        "window": window.as_dict(),
        "capture": capture,
        "baseline": baseline,
        "files": files,
        "psi_threshold": psi_threshold,
        "counts": result.counts.as_dict(),
        "features": features,
        "flagged_features": [name for name, stats in features.items() if stats["flagged"]],
        "max_feature_drift": {"feature": worst[1], "psi": worst[0]} if worst else None,
        "prediction": result.prediction.summary() if has_data else None,
    }


def summary_line(report: dict[str, Any], destination: Location, published: int, namespace: str | None) -> str:
    counts = report["counts"]
    skipped = sum(counts["skipped"].values())
    where = f"report {destination}; " + (f"{published} metrics to {namespace}" if published else "no metrics")
    if report["status"] == "no_data":
        return f"drift: no data in {report['window']['start']}..{report['window']['end']} ({skipped} skipped); {where}"
    worst = report["max_feature_drift"]
    worst_text = f"max PSI {worst['psi']:.4f} ({worst['feature']})" if worst else "no PSI"
    return (
        f"drift: {counts['records']} records ({skipped} skipped) from {report['files']} files; "
        f"{len(report['flagged_features'])} of {len(report['features'])} features over PSI "
        f"{report['psi_threshold']}; {worst_text}; {where}"
    )
