"""`python -m model_code drift`: feature and prediction drift of an endpoint's captured traffic.

    python -m model_code drift --endpoint-name NAME --capture s3://BUCKET/PREFIX|DIR
        [--baseline PATH|s3://...] [--start ISO --end ISO | --lookback-hours N]
        [--psi-threshold 0.2] [--false-alarm-rate 0.01] [--min-records 200] [--report PATH|s3://...]
        (--metrics-namespace NS [--region REGION] | --no-metrics)
        [--plan-out DIR | --partial-out DIR | --merge DIR]   (several instances: sharding.py)

Runs as a SageMaker Processing job (the monitoring pipeline's Drift step) or locally on files.
It reads `<capture>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl` for every variant and every hour
of the window (format: model_code/drift/capture.py), compares feature values and predictions
with the training baseline (statistics: model_code/drift/stats.py), writes a JSON report and
publishes CloudWatch metrics (names: model_code/drift/cloudwatch.py).

The baseline defaults to `<root>/processing/baseline` (a Processing input holding baseline.json
or the training job's model.tar.gz). The report defaults to
`<capture bucket>/drift-reports/<endpoint>/<window>.json` (the bucket's root, or the local
capture directory), `<window>` like `20240501T10Z-20240501T11Z`. Report layout:

    {"format_version": 2, "kind": "drift", "status": "ok" | "insufficient_data" | "no_data",
     "endpoint_name": ..., "window": {"start", "end"}, "capture": ..., "baseline": ..., "files": 3,
     "unreadable_files": [...], "psi_threshold": 0.2, "false_alarm_rate": 0.01, "min_records": 200,
     "counts": {"lines", "records", "skipped": {"malformed_line", "bad_encoding",
                "wrong_feature_count", "bad_value", "line_too_long"}, "predictions",
                "predictions_skipped"},
     "features": {"<name>": {"psi", "js_distance", "critical_psi", "missing_rate",
                             "out_of_range_rate", "flagged", "counts", "missing", "out_of_range"}},
     "flagged_features": [...], "max_feature_drift": {"feature", "psi"} | null,
     "max_significant_drift": {"feature", "psi"} | null,
     "prediction": {"classes", "predictions", "psi", "js_distance", "class_counts",
                    "probability": {"<class>": {"psi", "js_distance", "counts"}}} | null}

A feature is flagged when its PSI exceeds both --psi-threshold and its `critical_psi`, the PSI
that sampling noise alone exceeds with probability --false-alarm-rate / features at this window's
size (model_code/drift/stats.py; computed only for features over --psi-threshold, null for the
others). `max_feature_drift` is the largest PSI of any feature; `max_significant_drift` the
largest PSI over both --psi-threshold and its critical value (null if none; set even under
--min-records, where nothing is flagged).
"insufficient_data" (fewer than --min-records usable rows) has all the figures but flags nothing
and publishes no drift decision; "no_data" (no usable feature row in the window) has empty
`features`, null drift figures and publishes only the record counts. Exit codes as for the
other commands (0, 1 with the reason in the failure file, 2 for bad arguments).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from model_code.drift import sharding
from model_code.drift.cli import (
    add_common_arguments,
    aws_client,
    default_baseline,
    new_directory,
    parse_job_arguments,
    positive_number,
    probability,
    whole_number,
)
from model_code.drift.cloudwatch import drift_metric_data, publish
from model_code.drift.measurement import Measurement
from model_code.drift.regression import measurement_for
from model_code.drift.report_html import render_html
from model_code.drift.stats import DEFAULT_FALSE_ALARM_RATE, DEFAULT_MIN_RECORDS
from model_code.drift.storage import Location, Storage, load_baseline
from model_code.drift.window import Window, hour_prefix, now_utc
from model_code.exit_codes import EXIT_OK
from model_code.failure import run_command
from model_code.paths import OptMl

REPORT_PREFIX = "drift-reports"
DEFAULT_PSI_THRESHOLD = 0.2
FORMAT_VERSION = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_code drift", description="Feature and prediction drift of captured endpoint traffic."
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--psi-threshold",
        type=positive_number,
        default=DEFAULT_PSI_THRESHOLD,
        help=f"flag a feature whose PSI exceeds this (default {DEFAULT_PSI_THRESHOLD}) and its critical value",
    )
    parser.add_argument(
        "--false-alarm-rate",
        type=probability,
        default=DEFAULT_FALSE_ALARM_RATE,
        help="chance that a window without drift flags any feature (default "
        f"{DEFAULT_FALSE_ALARM_RATE}); sets each feature's critical PSI at the window's size",
    )
    parser.add_argument(
        "--min-records",
        type=whole_number,
        default=DEFAULT_MIN_RECORDS,
        help=f"fewer usable rows than this is insufficient data: nothing is flagged (default {DEFAULT_MIN_RECORDS})",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--plan-out",
        type=new_directory,
        help="sharded runs, first step: write the window's capture files as a SageMaker manifest "
        "(manifest.json) and the window (plan.json) to this directory, and stop",
    )
    mode.add_argument(
        "--partial-out",
        type=new_directory,
        help="sharded runs, one instance: write this instance's counts and histograms to <dir>/<host>.json "
        "instead of a report",
    )
    mode.add_argument(
        "--merge",
        type=new_directory,
        help="sharded runs, last step: add up the partial results in this directory, then report and "
        "publish as a one-instance run would",
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
    if args.plan_out is not None:
        files_found = capture_files(storage, args.capture, args.endpoint_name, window)
        return sharding.write_plan(storage, args.capture, args.plan_out, window, files_found)
    baseline_location = args.baseline or default_baseline(paths)
    baseline = load_baseline(storage, baseline_location)
    if args.merge is not None:
        result, files = sharding.merge_partials(measurement_for(baseline), args.merge, window)
    else:
        files = len(found := capture_files(storage, args.capture, args.endpoint_name, window))
        result = measure_files(storage, baseline, found)
    if args.partial_out is not None:
        return sharding.write_partial(result, args.partial_out, window, files)
    report = build_report(
        result,
        endpoint_name=args.endpoint_name,
        window=window,
        capture=str(args.capture),
        baseline=str(baseline_location),
        files=files,
        decision=Decision(args.psi_threshold, args.false_alarm_rate, args.min_records),
    )
    destination = args.report or default_report(args.capture, REPORT_PREFIX, args.endpoint_name, window)
    storage.write_json(destination, report)
    storage.write_text(html_location(destination), render_html(report, baseline), "text/html; charset=utf-8")
    published = 0
    if not args.no_metrics:
        published = publish(
            aws_client("cloudwatch", args.region), args.metrics_namespace, drift_metric_data(report, window.end)
        )
    print(summary_line(report, destination, published, args.metrics_namespace))
    return EXIT_OK


def capture_files(storage: Storage, capture: Location, endpoint_name: str, window: Window) -> list[Location]:
    """Every `.jsonl` and `.jsonl.gz` of every variant of the endpoint in the window's hours, in
    variant then hour order."""
    return [
        file
        for variant in storage.list_dirs(capture.child(endpoint_name))
        for hour in window.hours()
        for file in storage.list_files(variant.child(hour_prefix(hour)))
    ]


def default_report(capture: Location, prefix: str, endpoint_name: str, window: Window) -> Location:
    return capture.bucket_root().child(prefix, endpoint_name, f"{window.label}.json")


def html_location(report: Location) -> Location:
    """The HTML report beside the JSON one: `<window>.json` -> `<window>.html`."""
    stem = str(report.key).removesuffix(".json")
    return Location(report.bucket, f"{stem}.html")


@dataclass(frozen=True)
class Decision:
    """When a feature counts as drifted (model_code/drift/stats.py)."""

    psi_threshold: float = DEFAULT_PSI_THRESHOLD
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE
    min_records: int = DEFAULT_MIN_RECORDS


def measure(baseline: dict[str, Any], blocks: Iterable[bytes]) -> Measurement:
    measurement = measurement_for(baseline)
    for block in blocks:
        measurement.add_block(block)
    return measurement


def measure_files(storage: Storage, baseline: dict[str, Any], files: list[Location]) -> Measurement:
    measurement = measurement_for(baseline)
    for file in files:
        measurement.add_file(storage, file)
    return measurement


def build_report(
    result: Measurement,
    *,
    endpoint_name: str,
    window: Window,
    capture: str,
    baseline: str,
    files: int,
    decision: Decision | None = None,
) -> dict[str, Any]:
    decision = decision or Decision()
    records = result.counts.records
    status = "no_data" if not records else "insufficient_data" if records < decision.min_records else "ok"
    features = result.features.summary(decision.psi_threshold, decision.false_alarm_rate, decision.min_records)
    scored = [(stats["psi"], name) for name, stats in features.items() if stats["psi"] is not None]
    significant = [
        (stats["psi"], name)
        for name, stats in features.items()
        if stats["psi"] is not None and stats["critical_psi"] is not None and stats["psi"] > stats["critical_psi"]
    ]
    worst, worst_significant = max(scored, default=None), max(significant, default=None)
    return {
        "format_version": FORMAT_VERSION,
        "kind": "drift",
        "status": status,
        "endpoint_name": endpoint_name,
        "window": window.as_dict(),
        "capture": capture,
        "baseline": baseline,
        "files": files,
        "unreadable_files": list(result.unreadable),
        "psi_threshold": decision.psi_threshold,
        "false_alarm_rate": decision.false_alarm_rate,
        "min_records": decision.min_records,
        "counts": result.counts.as_dict(),
        "features": features,
        "flagged_features": [name for name, stats in features.items() if stats["flagged"]],
        "max_feature_drift": {"feature": worst[1], "psi": worst[0]} if worst else None,
        "max_significant_drift": (
            {"feature": worst_significant[1], "psi": worst_significant[0]} if worst_significant else None
        ),
        "prediction": result.prediction.summary() if records else None,
    }


def summary_line(report: dict[str, Any], destination: Location, published: int, namespace: str | None) -> str:
    counts = report["counts"]
    skipped = sum(counts["skipped"].values())
    where = f"report {destination}; " + (f"{published} metrics to {namespace}" if published else "no metrics")
    unreadable = f", {len(report['unreadable_files'])} unreadable files" if report["unreadable_files"] else ""
    if report["status"] == "no_data":
        return (
            f"drift: no data in {report['window']['start']}..{report['window']['end']} "
            f"({skipped} skipped{unreadable}); {where}"
        )
    if report["status"] == "insufficient_data":
        return (
            f"drift: insufficient data, {counts['records']} records ({skipped} skipped{unreadable}) of the "
            f"{report['min_records']} needed; nothing flagged; {where}"
        )
    worst = report["max_feature_drift"]
    worst_text = f"max PSI {worst['psi']:.4f} ({worst['feature']})" if worst else "no PSI"
    return (
        f"drift: {counts['records']} records ({skipped} skipped) from {report['files']} files{unreadable}; "
        f"{len(report['flagged_features'])} of {len(report['features'])} features over PSI "
        f"{report['psi_threshold']}; {worst_text}; {where}"
    )
