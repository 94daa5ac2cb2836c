"""CloudWatch metrics of the drift and quality jobs: names, dimensions, publishing.

Alarms are written against these names; change them only together with the alarms.
Every datum is stamped with the window's end and published to the namespace given by
`--metrics-namespace`. Rates and distances are plain numbers (unit None); counts are Count.

drift, dimensions EndpointName + Feature (one series per feature):
    FeaturePSI, FeatureJSDistance, FeatureMissingRate (0..1), FeatureOutOfRangeRate (0..1)
drift, dimension EndpointName:
    MaxFeatureDrift          the largest FeaturePSI that exceeds both --psi-threshold and its
                             critical value at the window's size (sampling noise alone exceeds
                             it with probability false-alarm-rate / features), 0 when none
                             does: it exceeds --psi-threshold exactly when a feature is flagged
    DriftedFeatures          features flagged: PSI over --psi-threshold and over its critical value (Count)
    PredictionPSI, PredictionJSDistance   predicted-class distribution vs the holdout's
    MaxFeatureMissingRate, MaxFeatureOutOfRangeRate   the largest of the per-feature rates (an
                             alarm can watch them without knowing the feature names)
    CaptureRecords           feature rows read (Count)
    CaptureRecordsSkipped    malformed lines, bad encodings, wrong feature counts, bad values,
                             lines over the size limit (Count)
    CaptureFilesUnreadable   capture files that exist but could not be read or inflated (Count)
quality, dimension EndpointName:
    Accuracy, Precision, Recall (0..1)
    JoinedRecords, OrphanLabels, DuplicateIds (Count)

A window with no data, or fewer records than --min-records ("insufficient_data"), publishes only
the counts (CaptureRecords / CaptureRecordsSkipped / CaptureFilesUnreadable, or JoinedRecords /
OrphanLabels / DuplicateIds), never a drift or accuracy figure, so an alarm sees missing data
rather than a misleading zero; the counts have their own alarms (ml_platform/components/drift_alarms.py).
A figure that is undefined (e.g. precision with no
positive prediction) is not published either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from model_code.failure import UserError

# PutMetricData takes up to 1,000 data and 1 MB per call.
BATCH = 500

FEATURE_METRICS = {
    "FeaturePSI": "psi",
    "FeatureJSDistance": "js_distance",
    "FeatureMissingRate": "missing_rate",
    "FeatureOutOfRangeRate": "out_of_range_rate",
}


def _datum(name: str, value: float, dimensions: dict[str, str], timestamp: datetime, unit: str) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Timestamp": timestamp,
        "Value": float(value),
        "Unit": unit,
    }


def drift_metric_data(report: dict[str, Any], timestamp: datetime) -> list[dict[str, Any]]:
    endpoint = {"EndpointName": report["endpoint_name"]}
    counts = report["counts"]
    data = [
        _datum("CaptureRecords", counts["records"], endpoint, timestamp, "Count"),
        _datum("CaptureRecordsSkipped", sum(counts["skipped"].values()), endpoint, timestamp, "Count"),
        _datum("CaptureFilesUnreadable", len(report["unreadable_files"]), endpoint, timestamp, "Count"),
    ]
    if report["status"] != "ok":
        return data
    for feature, stats in report["features"].items():
        dimensions = {**endpoint, "Feature": feature}
        for metric, key in FEATURE_METRICS.items():
            if stats[key] is not None:
                data.append(_datum(metric, stats[key], dimensions, timestamp, "None"))
    for metric, key in (("MaxFeatureMissingRate", "missing_rate"), ("MaxFeatureOutOfRangeRate", "out_of_range_rate")):
        data.append(_datum(metric, max(s[key] for s in report["features"].values()), endpoint, timestamp, "None"))
    significant = report["max_significant_drift"]
    data.append(_datum("MaxFeatureDrift", significant["psi"] if significant else 0.0, endpoint, timestamp, "None"))
    data.append(_datum("DriftedFeatures", len(report["flagged_features"]), endpoint, timestamp, "Count"))
    prediction = report["prediction"]
    for metric, key in (("PredictionPSI", "psi"), ("PredictionJSDistance", "js_distance")):
        if prediction[key] is not None:
            data.append(_datum(metric, prediction[key], endpoint, timestamp, "None"))
    return data


def quality_metric_data(report: dict[str, Any], timestamp: datetime) -> list[dict[str, Any]]:
    endpoint = {"EndpointName": report["endpoint_name"]}
    counts = report["counts"]
    data = [
        _datum("JoinedRecords", counts["joined"], endpoint, timestamp, "Count"),
        _datum("OrphanLabels", counts["orphan_labels"], endpoint, timestamp, "Count"),
        _datum(
            "DuplicateIds",
            counts["duplicate_label_ids"] + counts["duplicate_prediction_ids"],
            endpoint,
            timestamp,
            "Count",
        ),
    ]
    for metric, key in (("Accuracy", "accuracy"), ("Precision", "precision"), ("Recall", "recall")):
        value = report["metrics"].get(key)
        if value is not None:
            data.append(_datum(metric, value, endpoint, timestamp, "None"))
    return data


def publish(client_factory: Callable[[], Any], namespace: str, data: list[dict[str, Any]]) -> int:
    """Put `data` in batches; returns the number of data published."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = client_factory()
    for start in range(0, len(data), BATCH):
        try:
            client.put_metric_data(Namespace=namespace, MetricData=data[start : start + BATCH])
        except (ClientError, BotoCoreError) as exc:
            raise UserError(
                f"cannot publish metrics to CloudWatch namespace {namespace!r}: {exc}; "
                f"check the region and that the job's role may call cloudwatch:PutMetricData"
            ) from exc
    return len(data)
