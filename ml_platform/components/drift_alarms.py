"""Alarms on what the drift alarm cannot see: the blind spots of drift monitoring.

The drift alarm (ml_platform/components/retraining.py) judges feature distributions, and only in runs with
enough usable rows. These alarms page people (the alerts topic) when the data itself is wrong or
missing; none of them starts retraining, which cannot fix a broken client or a broken capture:

| alarm `<endpoint>-...` | metric (EndpointName) | breaches when | missing data |
| --- | --- | --- | --- |
| `feature-missing-rate` | MaxFeatureMissingRate, Maximum | > missing_rate_threshold | notBreaching |
| `feature-out-of-range-rate`| MaxFeatureOutOfRangeRate, Maximum | > out_of_range_rate_threshold | notBreaching |
| `prediction-drift` | PredictionPSI, Maximum | > prediction_psi_threshold | notBreaching |
| `capture-skipped` | skipped / (records + skipped), Sums | > skipped_rate_threshold | notBreaching |
| `capture-unreadable` | CaptureFilesUnreadable, Maximum | > 0 | notBreaching |
| `no-traffic` (optional) | CaptureRecords, Sum | < min_records_per_run, 2 of 2 | breaching |
(thresholds: `CaptureAlarmsArgs`, from the stack's `retraining.capture_alarms`; period: the monitoring
interval)

Why these shapes:
- The per-feature rates are published per Feature, and feature names live in the model's
  baseline, unknown when the stack deploys. The job also publishes their maximum over features
  under EndpointName alone (model_code/drift/cloudwatch.py), which one alarm can watch. (A Metrics
  Insights query alarm would need no extra metric, but it reads only the last three hours, less
  than a monitoring interval may be.)
- A run where every record is bad (a model served with a new feature count) has no drift figures
  at all: the skipped share is 1, so `capture-skipped` pages instead of silence.
- Rates and PSI are missing when a run had no data; that is `no-traffic`'s business, so they
  treat missing data as not breaching. `no-traffic` treats it as breaching, because a run that
  published nothing (the job failed, the schedule stopped) is as blind as one without traffic;
  two runs of two, so the minutes between a period's start and its run's publishing never page.
  It exists only where the stack says traffic is expected (`min_records_per_run`, set in prod,
  left out in dev where an idle endpoint is normal).
CloudWatch missing-data semantics:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
Evaluation range limit (period x evaluation periods <= 7 days for periods of an hour or more):
botocore's cloudwatch PutMetricAlarm `Period` documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

NO_TRAFFIC_RUNS = 2


@dataclass(frozen=True)
class CaptureAlarmsArgs:
    """Thresholds of the blind-spot alarms (shares are 0..1, per monitoring run).

    missing_rate_threshold: any feature's missing-value rate above this pages.
    out_of_range_rate_threshold: any feature's share of values outside its training range above this pages.
    prediction_psi_threshold: the predicted-class distribution's PSI above this pages.
    skipped_rate_threshold: the share of captured rows the drift job could not use above this pages.
    min_records_per_run: fewer captured rows than this in two runs in a row pages; None: no
        no-traffic alarm is declared (an idle endpoint is normal).
    """

    missing_rate_threshold: float
    out_of_range_rate_threshold: float
    prediction_psi_threshold: float
    skipped_rate_threshold: float
    min_records_per_run: int | None = None


def _metric(namespace: str, name: str, stat: str, period: int, endpoint_name: str) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "metric_name": name,
        "stat": stat,
        "period": period,
        "dimensions": {"EndpointName": endpoint_name},
    }


def _simple(
    name: str, description: str, metric: str, threshold: float, *, namespace: str, endpoint_name: str, period: int
) -> dict[str, Any]:
    return {
        "name": name,
        "alarm_description": description,
        "namespace": namespace,
        "metric_name": metric,
        "dimensions": {"EndpointName": endpoint_name},
        "statistic": "Maximum",
        "period": period,
        "threshold": threshold,
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        "treat_missing_data": "notBreaching",
    }


def capture_alarm_args(
    alarms: CaptureAlarmsArgs, period_seconds: int, namespace: str, endpoint_name: str, topic_arn: Any
) -> dict[str, dict[str, Any]]:
    """MetricAlarm arguments by resource-name suffix (see the module's table); `period_seconds`
    is the monitoring interval (one datapoint per run)."""
    period = period_seconds
    where = {"namespace": namespace, "endpoint_name": endpoint_name, "period": period}
    specs = {
        "feature-missing-rate": _simple(
            f"{endpoint_name}-feature-missing-rate",
            f"a feature of {endpoint_name} is missing in more than {alarms.missing_rate_threshold:.0%} of a run's "
            "rows: a client stopped sending it (report: drift-reports/, per-feature FeatureMissingRate)",
            "MaxFeatureMissingRate",
            alarms.missing_rate_threshold,
            **where,
        ),
        "feature-out-of-range-rate": _simple(
            f"{endpoint_name}-feature-out-of-range-rate",
            f"more than {alarms.out_of_range_rate_threshold:.0%} of a feature's values in a run on {endpoint_name} "
            "lie outside its training range: units or encoding changed upstream (per-feature FeatureOutOfRangeRate)",
            "MaxFeatureOutOfRangeRate",
            alarms.out_of_range_rate_threshold,
            **where,
        ),
        "prediction-drift": _simple(
            f"{endpoint_name}-prediction-drift",
            f"the predicted-class distribution of {endpoint_name} moved (PSI > {alarms.prediction_psi_threshold:g}) "
            "against the holdout's",
            "PredictionPSI",
            alarms.prediction_psi_threshold,
            **where,
        ),
        "capture-unreadable": _simple(
            f"{endpoint_name}-capture-unreadable",
            f"capture files of {endpoint_name} exist but could not be read or inflated (the drift report lists "
            "them under unreadable_files)",
            "CaptureFilesUnreadable",
            0,
            **where,
        ),
        "capture-skipped": {
            "name": f"{endpoint_name}-capture-skipped",
            "alarm_description": (
                f"more than {alarms.skipped_rate_threshold:.0%} of the captured rows of {endpoint_name} could not be "
                "used (wrong feature count, bad values, unreadable lines): drift is blind to them"
            ),
            "metric_queries": [
                {
                    "id": "records",
                    "metric": _metric(namespace, "CaptureRecords", "Sum", period, endpoint_name),
                    "return_data": False,
                },
                {
                    "id": "skipped",
                    "metric": _metric(namespace, "CaptureRecordsSkipped", "Sum", period, endpoint_name),
                    "return_data": False,
                },
                {
                    # Every row bad scores 1; a run with no rows at all scores 0 (no traffic is not skipping).
                    "id": "share",
                    "expression": "IF(records + skipped > 0, skipped / (records + skipped), 0)",
                    "label": "share of captured rows skipped",
                    "return_data": True,
                },
            ],
            "threshold": alarms.skipped_rate_threshold,
            "comparison_operator": "GreaterThanThreshold",
            "evaluation_periods": 1,
            "datapoints_to_alarm": 1,
            "treat_missing_data": "notBreaching",
        },
    }
    if alarms.min_records_per_run is not None:
        specs["no-traffic"] = {
            **_simple(
                f"{endpoint_name}-no-traffic",
                f"fewer than {alarms.min_records_per_run} captured rows in {NO_TRAFFIC_RUNS} monitoring runs in a "
                f"row on {endpoint_name}, or no run published at all: no traffic, capture off, or the drift job "
                "not running",
                "CaptureRecords",
                alarms.min_records_per_run,
                **where,
            ),
            "statistic": "Sum",
            "comparison_operator": "LessThanThreshold",
            "evaluation_periods": NO_TRAFFIC_RUNS,
            "datapoints_to_alarm": NO_TRAFFIC_RUNS,
            "treat_missing_data": "breaching",
        }
    for spec in specs.values():
        spec["alarm_actions"] = [topic_arn]
        spec["ok_actions"] = [topic_arn]
    return specs


def capture_alarms(
    name: str,
    alarms: CaptureAlarmsArgs,
    period_seconds: int,
    namespace: str,
    endpoint_name: str,
    topic_arn: pulumi.Input[str],
    parent: pulumi.Resource,
) -> list[aws.cloudwatch.MetricAlarm]:
    """The alarms above, children of `parent` (the Retraining component), named `<name>-<suffix>`."""
    return [
        aws.cloudwatch.MetricAlarm(f"{name}-{suffix}", **args, opts=pulumi.ResourceOptions(parent=parent))
        for suffix, args in capture_alarm_args(alarms, period_seconds, namespace, endpoint_name, topic_arn).items()
    ]
