"""The blind-spot alarms of drift monitoring (ml_platform/components/drift_alarms.py): the builder's exact
arguments, validity against CloudWatch's PutMetricAlarm model, and what each stack declares.
What mocks cannot prove: CloudWatch's own evaluation of missing data and of the metric math
(documented behaviour cited in the module)."""

from __future__ import annotations

import pytest

from ml_platform.components.drift_alarms import CaptureAlarmsArgs, capture_alarm_args
from tests.aws_shapes import request
from tests.test_config import problems

NAMESPACE = "ml-platform/Drift"
ENDPOINT = "ml-platform-prod"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


PERIOD = 6 * 3600  # prod's monitoring interval


def prod_like(**alarms) -> CaptureAlarmsArgs:
    """The config's default thresholds, with prod's no-traffic floor."""
    return CaptureAlarmsArgs(
        **{
            "missing_rate_threshold": 0.05,
            "out_of_range_rate_threshold": 0.05,
            "prediction_psi_threshold": 0.2,
            "skipped_rate_threshold": 0.01,
            "min_records_per_run": 200,
            **alarms,
        }
    )


def test_every_alarm_pages_the_topic_with_its_metric_threshold_and_missing_data_rule():
    specs = capture_alarm_args(prod_like(), PERIOD, NAMESPACE, ENDPOINT, TOPIC)
    assert list(specs) == [
        "feature-missing-rate", "feature-out-of-range-rate", "prediction-drift", "capture-unreadable",
        "capture-skipped", "no-traffic",
    ]  # fmt: skip
    summary = {
        suffix: (
            spec["name"],
            spec.get("metric_name"),
            spec.get("statistic"),
            spec["comparison_operator"],
            spec["threshold"],
            spec["evaluation_periods"],
            spec["datapoints_to_alarm"],
            spec["treat_missing_data"],
        )
        for suffix, spec in specs.items()
    }
    assert summary == {
        "feature-missing-rate": (
            f"{ENDPOINT}-feature-missing-rate", "MaxFeatureMissingRate", "Maximum", "GreaterThanThreshold", 0.05,
            1, 1, "notBreaching",
        ),
        "feature-out-of-range-rate": (
            f"{ENDPOINT}-feature-out-of-range-rate", "MaxFeatureOutOfRangeRate", "Maximum", "GreaterThanThreshold",
            0.05, 1, 1, "notBreaching",
        ),
        "prediction-drift": (
            f"{ENDPOINT}-prediction-drift", "PredictionPSI", "Maximum", "GreaterThanThreshold", 0.2, 1, 1,
            "notBreaching",
        ),
        "capture-unreadable": (
            f"{ENDPOINT}-capture-unreadable", "CaptureFilesUnreadable", "Maximum", "GreaterThanThreshold", 0, 1, 1,
            "notBreaching",
        ),
        "capture-skipped": (
            f"{ENDPOINT}-capture-skipped", None, None, "GreaterThanThreshold", 0.01, 1, 1, "notBreaching",
        ),
        # A run that published nothing is as blind as one without traffic: missing data breaches.
        "no-traffic": (
            f"{ENDPOINT}-no-traffic", "CaptureRecords", "Sum", "LessThanThreshold", 200, 2, 2, "breaching",
        ),
    }  # fmt: skip
    for spec in specs.values():
        assert (spec["alarm_actions"], spec["ok_actions"]) == ([TOPIC], [TOPIC])
        if "metric_name" in spec:
            assert (spec["namespace"], spec["dimensions"], spec["period"]) == (
                NAMESPACE, {"EndpointName": ENDPOINT}, 21600
            )  # fmt: skip


def test_the_skipped_share_is_one_when_every_row_is_bad_and_zero_without_traffic():
    spec = capture_alarm_args(prod_like(), PERIOD, NAMESPACE, ENDPOINT, TOPIC)["capture-skipped"]
    records, skipped, share = spec["metric_queries"]
    assert records == {
        "id": "records",
        "metric": {
            "namespace": NAMESPACE, "metric_name": "CaptureRecords", "stat": "Sum", "period": 21600,
            "dimensions": {"EndpointName": ENDPOINT},
        },
        "return_data": False,
    }  # fmt: skip
    assert (skipped["metric"]["metric_name"], skipped["return_data"]) == ("CaptureRecordsSkipped", False)
    assert share == {
        "id": "share",
        "expression": "IF(records + skipped > 0, skipped / (records + skipped), 0)",
        "label": "share of captured rows skipped",
        "return_data": True,
    }


def test_without_min_records_per_run_there_is_no_no_traffic_alarm():
    alarms = prod_like(min_records_per_run=None)
    assert "no-traffic" not in capture_alarm_args(alarms, PERIOD, NAMESPACE, ENDPOINT, TOPIC)


@pytest.mark.parametrize("suffix", ["feature-missing-rate", "capture-skipped", "no-traffic"])
def test_alarms_are_valid_put_metric_alarm_requests(suffix: str):
    spec = capture_alarm_args(prod_like(), PERIOD, NAMESPACE, ENDPOINT, TOPIC)[suffix]
    params = {key: value for key, value in spec.items() if key != "name"} | {"alarm_name": spec["name"]}
    params["dimensions"] = [{"name": k, "value": v} for k, v in params.get("dimensions", {}).items()]
    for query in params.get("metric_queries", []):
        if "metric" in query:
            metric = query.pop("metric")
            query["metric_stat"] = {
                "metric": {
                    "namespace": metric["namespace"],
                    "metric_name": metric["metric_name"],
                    "dimensions": [{"name": k, "value": v} for k, v in metric["dimensions"].items()],
                },
                "period": metric["period"],
                "stat": metric["stat"],
            }
    params["metrics"] = params.pop("metric_queries", None)
    if not params["dimensions"]:
        del params["dimensions"]
    mapped = request("cloudwatch", "PutMetricAlarm", params)
    assert mapped["AlarmName"] == spec["name"]
    # CloudWatch: period x evaluation periods <= 7 days for periods of an hour or more.
    assert 21600 * spec["evaluation_periods"] <= 604800


def test_capture_alarm_config_rules():
    assert problems(
        retraining={
            "holdout_prefix": "tabular/x",
            "drift_min_records": 0,
            "drift_false_alarm_rate": 1,
            "capture_alarms": {"missing_rate_threshold": 1.5, "min_records_per_run": 0, "skipped_rate": 0.1},
        },
        monitoring={"drift_instance_count": 0},
    ) == [
        "retraining.drift_min_records: out of range (got 0; expected >= 1)",
        "retraining.drift_false_alarm_rate: out of range (got 1; expected < 1)",
        "retraining.capture_alarms.missing_rate_threshold: out of range (got 1.5; expected <= 1)",
        "retraining.capture_alarms.min_records_per_run: out of range (got 0; expected >= 1)",
        "retraining.capture_alarms.skipped_rate: unknown key (got 0.1; expected one of: min_records_per_run, "
        "missing_rate_threshold, out_of_range_rate_threshold, prediction_psi_threshold, skipped_rate_threshold)",
        "monitoring.drift_instance_count: out of range (got 0; expected >= 1)",
    ]


def test_prod_declares_every_blind_spot_alarm_as_a_child_of_retraining(stack):
    prod = stack("prod")
    topic = prod.one("aws:sns/topic:Topic", "alerts-primary").outputs["arn"]
    traffic = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", "retraining-no-traffic")
    assert traffic.inputs == {
        "name": "ml-platform-prod-no-traffic",
        "alarmDescription": (
            "fewer than 200 captured rows in 2 monitoring runs in a row on ml-platform-prod, or no run published "
            "at all: no traffic, capture off, or the drift job not running"
        ),
        "namespace": "ml-platform/Drift",
        "metricName": "CaptureRecords",
        "dimensions": {"EndpointName": "ml-platform-prod"},
        "statistic": "Sum",
        "period": 21600,
        "threshold": 200,
        "comparisonOperator": "LessThanThreshold",
        "evaluationPeriods": 2,
        "datapointsToAlarm": 2,
        "treatMissingData": "breaching",
        "alarmActions": [topic],
        "okActions": [topic],
    }
    assert prod.component_of(traffic).type == "ml-platform:retraining:Retraining"


def test_dev_has_the_data_alarms_but_no_no_traffic_alarm(stack):
    dev = stack("dev")
    names = sorted(a.name for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.name.startswith("retr"))
    assert names == [
        "retraining-capture-skipped", "retraining-capture-unreadable", "retraining-drift",
        "retraining-feature-missing-rate", "retraining-feature-out-of-range-rate", "retraining-prediction-drift",
    ]  # fmt: skip
    skipped = dev.one("aws:cloudwatch/metricAlarm:MetricAlarm", "retraining-capture-skipped")
    assert skipped.inputs["threshold"] == 0.05


def test_blind_spot_alarms_do_not_start_retraining(stack):
    prod = stack("prod")
    rule = prod.one("aws:cloudwatch/eventRule:EventRule", "retraining-on-alarm")
    watched = rule.inputs["eventPattern"]
    for suffix in ("no-traffic", "capture-skipped", "feature-missing-rate"):
        arn = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"retraining-{suffix}").outputs["arn"]
        assert arn not in watched
