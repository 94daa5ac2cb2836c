"""Per-variant alarms and the alerts topic: exact specs, the stacks' alarms, and AWS shapes."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from ml_platform.assembly_serving import alarm_thresholds
from ml_platform.components.alarms import unhealthy_rule, variant_alarm_specs
from ml_platform.components.monitoring import topic_policy
from ml_platform.config import AlarmsConfig
from tests.aws_shapes import request
from tests.test_config import problems


def specs(**thresholds):
    return {
        s.key: s
        for s in variant_alarm_specs(
            endpoint_name="ml-platform-prod",
            variant_name="primary",
            thresholds=alarm_thresholds(AlarmsConfig(**thresholds)),
            vcpus=4,
        )
    }


def test_error_rate_is_metric_math_over_invocations():
    spec = specs(error_5xx_percent=0.5)["error_5xx_rate"]
    dims = {"EndpointName": "ml-platform-prod", "VariantName": "primary"}
    assert spec.name == "ml-platform-prod-primary-error_5xx_rate"
    assert (spec.threshold, spec.comparison, spec.treat_missing_data) == (0.5, "GreaterThanThreshold", "notBreaching")
    assert spec.metric_queries == [
        {
            "id": "errors",
            "metric": {
                "namespace": "AWS/SageMaker",
                "metric_name": "Invocation5XXErrors",
                "stat": "Sum",
                "period": 60,
                "dimensions": dims,
            },
            "return_data": False,
        },
        {
            "id": "invocations",
            "metric": {
                "namespace": "AWS/SageMaker",
                "metric_name": "Invocations",
                "stat": "Sum",
                "period": 60,
                "dimensions": dims,
            },
            "return_data": False,
        },
        {
            "id": "rate",
            "expression": "IF(invocations > 0, 100 * errors / invocations, 0)",
            "label": "5XX errors (%)",
            "return_data": True,
        },
    ]


def test_latency_thresholds_convert_milliseconds_to_microseconds():
    model = specs(model_latency_p99_ms=300)["model_latency_p99"]
    assert model.threshold == 300_000
    assert model.metric_queries[0]["metric"]["stat"] == "p99"
    assert model.metric_queries[0]["metric"]["unit"] == "Microseconds"
    assert specs(overhead_latency_p99_ms=25.5)["overhead_latency_p99"].threshold == 25_500


def test_cpu_is_normalised_by_vcpus_and_memory_is_not():
    all_specs = specs()
    cpu = all_specs["cpu_utilization"]
    assert cpu.metric_queries[1] == {
        "id": "per_vcpu",
        "expression": "used / 4",
        "label": "CPUUtilization per vCPU (%)",
        "return_data": True,
    }
    assert cpu.metric_queries[0]["metric"]["namespace"] == "/aws/sagemaker/Endpoints"
    memory = all_specs["memory_utilization"]
    assert len(memory.metric_queries) == 1 and memory.metric_queries[0]["return_data"] is True
    assert memory.treat_missing_data == "missing"


def test_no_traffic_alarm_only_when_configured_and_breaching_on_silence():
    assert "no_traffic" not in specs()
    spec = specs(no_traffic_minutes=15)["no_traffic"]
    assert (spec.threshold, spec.comparison, spec.treat_missing_data) == (1, "LessThanThreshold", "breaching")
    assert (spec.evaluation_periods, spec.datapoints_to_alarm) == (15, 15)


def test_serverless_variants_have_no_instance_alarms():
    keys = [
        s.key
        for s in variant_alarm_specs(
            endpoint_name="e", variant_name="v", thresholds=alarm_thresholds(AlarmsConfig()), vcpus=None
        )
    ]
    assert keys == ["error_5xx_rate", "error_4xx_rate", "model_latency_p99", "overhead_latency_p99"]


def test_m_of_n_rule():
    assert problems(alarms={"evaluation_periods": 3, "datapoints_to_alarm": 5}) == [
        "alarms.datapoints_to_alarm: cannot exceed evaluation_periods (got 5; expected <= 3)"
    ]


def test_notification_rules():
    assert problems(notifications={"emails": ["oncall@example.com", "not-an-address"], "webhooks": ["http://x"]}) == [
        "notifications.emails[1]: not an email address (got 'not-an-address'; expected name@domain)",
        "notifications.webhooks[0]: webhooks must use https (got '<secret>'; expected https://...)",
    ]


def test_prod_alarms_have_both_dimensions_and_actions_to_the_topic(stack):
    prod = stack("prod")
    topic = prod.one("aws:sns/topic:Topic", "alerts-primary").outputs["arn"]
    component = prod.one("ml-platform:alarms:VariantAlarms", "alarms-primary")
    alarms = {
        a.inputs["name"]: a for a in prod.children(component) if a.type == "aws:cloudwatch/metricAlarm:MetricAlarm"
    }
    assert sorted(alarms) == sorted(
        f"ml-platform-prod-primary-{key}"
        for key in (
            "error_5xx_rate",
            "error_4xx_rate",
            "model_latency_p99",
            "overhead_latency_p99",
            "cpu_utilization",
            "memory_utilization",
            "disk_utilization",
            "no_traffic",
        )
    )
    for alarm in alarms.values():
        assert alarm.region == "us-east-1"
        assert alarm.inputs["alarmActions"] == [topic] and alarm.inputs["okActions"] == [topic]
        for query in alarm.inputs["metricQueries"]:
            if "metric" in query:
                assert query["metric"]["dimensions"] == {"EndpointName": "ml-platform-prod", "VariantName": "primary"}
    latency = alarms["ml-platform-prod-primary-model_latency_p99"]
    assert latency.inputs["threshold"] == 300_000
    cpu = alarms["ml-platform-prod-primary-cpu_utilization"]
    assert cpu.inputs["metricQueries"][1]["expression"] == "used / 4"  # ml.c5.xlarge has 4 vCPUs


def test_prod_composite_alarm_is_endpoint_unhealthy(stack):
    prod = stack("prod")
    composite = prod.one("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alarms-primary-unhealthy")
    assert composite.inputs["alarmRule"] == (
        'ALARM("ml-platform-prod-primary-error_5xx_rate") OR ALARM("ml-platform-prod-primary-model_latency_p99")'
    )
    topic = prod.one("aws:sns/topic:Topic", "alerts-primary").outputs["arn"]
    assert composite.inputs["alarmActions"] == [topic]
    assert unhealthy_rule(["a"]) == 'ALARM("a")'


def metric_data_query(query: dict) -> dict:
    """Pulumi's flattened `metricQueries[]` entry in the API's MetricDataQuery shape."""
    out = {k: v for k, v in query.items() if k != "metric"}
    if "metric" in query:
        metric = query["metric"]
        out["metric_stat"] = {
            "metric": {
                "namespace": metric["namespace"],
                "metric_name": metric["metricName"],
                "dimensions": [{"name": k, "value": v} for k, v in metric["dimensions"].items()],
            },
            "period": metric["period"],
            "stat": metric["stat"],
            **({"unit": metric["unit"]} if "unit" in metric else {}),
        }
    return out


def test_prod_alarm_is_a_valid_put_metric_alarm_that_moto_accepts(stack):
    alarm = stack("prod").one("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-primary-error_5xx_rate")
    inputs = dict(alarm.inputs)
    inputs["alarm_name"] = inputs.pop("name")
    inputs["metrics"] = [metric_data_query(q) for q in inputs.pop("metricQueries")]
    params = request("cloudwatch", "PutMetricAlarm", inputs)
    assert sorted(params["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "EndpointName", "Value": "ml-platform-prod"},
        {"Name": "VariantName", "Value": "primary"},
    ]
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        cloudwatch.put_metric_alarm(**params)
        (described,) = cloudwatch.describe_alarms(AlarmNames=[params["AlarmName"]])["MetricAlarms"]
    assert described["Threshold"] == 0.5
    assert described["TreatMissingData"] == "notBreaching"


def test_topic_is_encrypted_and_only_this_accounts_services_publish(stack):
    prod = stack("prod")
    for role, region in (("primary", "us-east-1"), ("secondary", "us-west-2")):
        topic = prod.one("aws:sns/topic:Topic", f"alerts-{role}")
        key = prod.one("aws:kms/key:Key", f"key-{role}").outputs["arn"]
        assert topic.region == region and topic.inputs["kmsMasterKeyId"] == key
        policy = prod.one("aws:sns/topicPolicy:TopicPolicy", f"alerts-{role}")
        assert json.loads(policy.inputs["policy"]) == topic_policy(topic.outputs["arn"], "123456789012", "aws")
        email = prod.one("aws:sns/topicSubscription:TopicSubscription", f"alerts-{role}-email-0")
        assert email.inputs == {
            "topic": topic.outputs["arn"],
            "protocol": "email",
            "endpoint": "ml-platform-oncall@example.com",
        }


def test_webhooks_must_be_stack_secrets():
    from ml_platform.config import StackConfigError, check_secrets, parse_stack_config
    from tests.test_config import VALID

    config = parse_stack_config({**VALID, "notifications": {"webhooks": ["https://hooks.example.com/x"]}})
    with pytest.raises(StackConfigError) as caught:
        check_secrets(config, secret_keys=[])
    assert caught.value.lines == [
        "notifications.webhooks: must be stored as a secret (got plain text; expected "
        "`pulumi config set --secret --path 'notifications.webhooks[0]' https://...`)"
    ]
    check_secrets(config, secret_keys=["ml-platform:notifications"])  # a secret: accepted


def test_webhook_subscriptions_keep_the_url_secret():
    from ml_platform.components.monitoring import Alerts, AlertsArgs
    from tests.harness import in_region, run_component

    run = run_component(
        lambda: Alerts(
            "alerts",
            AlertsArgs(
                key_arn="arn:k", account_id="123456789012", partition="aws", webhooks=("https://hooks.example.com/x",)
            ),
            opts=in_region("eu-west-1"),
        )
    )
    hook = run.one("aws:sns/topicSubscription:TopicSubscription", "alerts-webhook-0")
    assert hook.inputs["protocol"] == "https"
    assert hook.inputs["endpoint"] == "https://hooks.example.com/x"
    assert hook.secret_inputs == ("endpoint",)


def test_health_alarms_never_read_missing_data_as_healthy():
    from ml_platform.components.alarms import (
        INSUFFICIENT_DATA_HEALTH,
        _single_metric,
        health_check_alarm_specs,
        stage_health_alarm_specs,
    )

    endpoint = health_check_alarm_specs(
        endpoint_name="e",
        variant_name="v",
        evaluation_periods=4,
        datapoints_to_alarm=2,
        max_5xx_per_minute=7,
        max_average_latency_ms=120,
    )
    stage = stage_health_alarm_specs(
        name_prefix="e-primary",
        api_name="e",
        stage_name="v1",
        max_5xx_per_minute=9,
        max_integration_latency_ms=1500,
        evaluation_periods=4,
        datapoints_to_alarm=2,
    )
    # SageMaker metrics exist only with traffic: silence is INSUFFICIENT_DATA, never OK. The
    # stage's metrics are fed by Route 53's own /ping calls: silence is a failing stage.
    assert [
        (s.name, s.treat_missing_data, INSUFFICIENT_DATA_HEALTH[s.treat_missing_data]) for s in endpoint + stage
    ] == [
        ("e-v-health_5xx", "missing", "LastKnownStatus"),
        ("e-v-health_latency", "missing", "LastKnownStatus"),
        ("e-primary-api_5xx", "breaching", "Unhealthy"),
        ("e-primary-api_integration_latency", "breaching", "Unhealthy"),
    ]
    assert [(s.threshold, s.extra) for s in endpoint] == [
        (
            7,
            {
                "namespace": "AWS/SageMaker",
                "metric_name": "Invocation5XXErrors",
                "statistic": "Sum",
                "dimensions": {"EndpointName": "e", "VariantName": "v"},
                "period": 60,
            },
        ),
        (
            120_000,
            {
                "namespace": "AWS/SageMaker",
                "metric_name": "ModelLatency",
                "statistic": "Average",
                "dimensions": {"EndpointName": "e", "VariantName": "v"},
                "unit": "Microseconds",
                "period": 60,
            },
        ),
    ]
    assert [(s.threshold, s.extra["metric_name"], s.extra["statistic"], s.extra["dimensions"]) for s in stage] == [
        (9, "5XXError", "Sum", {"ApiName": "e", "Stage": "v1"}),
        (1500, "IntegrationLatency", "Average", {"ApiName": "e", "Stage": "v1"}),
    ]
    assert {(s.evaluation_periods, s.datapoints_to_alarm) for s in endpoint + stage} == {(4, 2)}
    with pytest.raises(ValueError) as caught:
        _single_metric("k", "n", "d", 1, "notBreaching", 1, 1, {})
    assert str(caught.value) == (
        "health alarm k: treat_missing_data must be one of ['breaching', 'missing'] (got 'notBreaching'); "
        "a health alarm never reads missing data as healthy"
    )
