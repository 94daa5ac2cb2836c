"""`VariantAlarms`, `Alerts`, `CostBudget` and `EndpointDashboard` built alone, with plain Args
(no stack file, no StackConfig): children, names, the inputs that matter, and the branches
that leave a child out. tests/test_alarms.py and tests/test_monitoring.py keep the wiring.

What mocks cannot prove: that CloudWatch, SNS and Budgets accept the inputs (the whole-stack
tests send the prod alarm to moto), and that the topic's publishers really deliver.
"""

from __future__ import annotations

import json

import pytest

from ml_platform.components.alarms import (
    AlarmThresholds,
    VariantAlarms,
    VariantAlarmsArgs,
    health_check_alarm_specs,
    variant_alarm_specs,
)
from ml_platform.components.dashboard import dashboard_body
from ml_platform.components.monitoring import (
    DRIFT_FEATURE_METRIC,
    Alerts,
    AlertsArgs,
    CostBudget,
    CostBudgetArgs,
    EndpointDashboard,
    EndpointDashboardArgs,
    topic_policy,
)
from tests.harness import decoded, in_region, run_component

TOPIC = "arn:aws:sns:eu-west-1:111122223333:alerts"
THRESHOLDS = AlarmThresholds(
    model_latency_p99_ms=250,
    overhead_latency_p99_ms=50,
    error_5xx_percent=2,
    error_4xx_percent=20,
    cpu_percent=70,
    memory_percent=80,
    disk_percent=90,
    period_seconds=300,
    evaluation_periods=4,
    datapoints_to_alarm=2,
)


def children(run, type_token: str, name: str) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in run.children(run.one(type_token, name))}


def test_variant_alarms_declare_each_spec_and_the_composite_over_the_unhealthy_ones():
    specs = variant_alarm_specs(endpoint_name="scoring", variant_name="main", thresholds=THRESHOLDS, vcpus=None)
    run = run_component(
        lambda: VariantAlarms(
            "alarms",
            VariantAlarmsArgs(specs=specs, topic_arn=TOPIC, unhealthy_name="scoring-unhealthy"),
            opts=in_region("eu-west-1"),
        )
    )
    # Serverless (no vCPUs): no instance alarms; no no-traffic threshold: no no-traffic alarm.
    assert children(run, "ml-platform:alarms:VariantAlarms", "alarms") == {
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-error_5xx_rate"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-error_4xx_rate"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-model_latency_p99"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-overhead_latency_p99"),
        ("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alarms-unhealthy"),
    }
    latency = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "alarms-model_latency_p99")
    assert latency.inputs == {
        "name": "scoring-main-model_latency_p99",
        "alarmDescription": "p99 ModelLatency above 250 ms on scoring/main",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 250_000,
        "evaluationPeriods": 4,
        "datapointsToAlarm": 2,
        "metricQueries": [
            {
                "id": "latency",
                "metric": {
                    "namespace": "AWS/SageMaker",
                    "metricName": "ModelLatency",
                    "stat": "p99",
                    "period": 300,
                    "dimensions": {"EndpointName": "scoring", "VariantName": "main"},
                    "unit": "Microseconds",
                },
                "returnData": True,
            }
        ],
        "treatMissingData": "notBreaching",
        "alarmActions": [TOPIC],
        "okActions": [TOPIC],
    }
    composite = run.one("aws:cloudwatch/compositeAlarm:CompositeAlarm", "alarms-unhealthy")
    assert composite.inputs["alarmName"] == "scoring-unhealthy"
    assert composite.inputs["alarmRule"] == (
        'ALARM("scoring-main-error_5xx_rate") OR ALARM("scoring-main-model_latency_p99")'
    )
    assert (composite.inputs["alarmActions"], composite.inputs["okActions"]) == ([TOPIC], [TOPIC])
    assert {r.urn for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")} <= set(composite.depends_on)


def test_variant_alarms_without_an_unhealthy_name_declare_no_composite():
    specs = health_check_alarm_specs(
        endpoint_name="scoring",
        variant_name="main",
        evaluation_periods=3,
        datapoints_to_alarm=3,
        max_5xx_per_minute=5,
        max_average_latency_ms=80,
    )
    run = run_component(
        lambda: VariantAlarms("health", VariantAlarmsArgs(specs=specs, topic_arn=TOPIC), opts=in_region("eu-west-1"))
    )
    assert children(run, "ml-platform:alarms:VariantAlarms", "health") == {
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "health-health_5xx"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "health-health_latency"),
    }
    latency = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "health-health_latency")
    # A single standard-resolution metric (what Route 53 can follow): no metric math.
    assert "metricQueries" not in latency.inputs
    assert {k: latency.inputs[k] for k in ("metricName", "statistic", "period", "threshold", "treatMissingData")} == {
        "metricName": "ModelLatency",
        "statistic": "Average",
        "period": 60,
        "threshold": 80_000,
        "treatMissingData": "missing",
    }


def test_alarm_thresholds_refuse_more_datapoints_than_periods():
    with pytest.raises(ValueError) as caught:
        AlarmThresholds(**{**THRESHOLDS.__dict__, "datapoints_to_alarm": 5})
    assert str(caught.value) == (
        "AlarmThresholds: datapoints_to_alarm: cannot exceed evaluation_periods (got 5; expected <= 4)"
    )


def test_alerts_topic_is_encrypted_and_its_policy_names_the_partition():
    run = run_component(
        lambda: Alerts(
            "alerts",
            AlertsArgs(key_arn="arn:k", account_id="111122223333", partition="aws-cn", emails=("a@example.com",)),
            opts=in_region("eu-west-1"),
        )
    )
    assert children(run, "ml-platform:monitoring:Alerts", "alerts") == {
        ("aws:sns/topic:Topic", "alerts"),
        ("aws:sns/topicPolicy:TopicPolicy", "alerts"),
        ("aws:sns/topicSubscription:TopicSubscription", "alerts-email-0"),
    }
    topic = run.one("aws:sns/topic:Topic", "alerts")
    assert topic.inputs == {"kmsMasterKeyId": "arn:k"}
    policy = decoded(run.one("aws:sns/topicPolicy:TopicPolicy", "alerts").inputs["policy"])
    assert policy == topic_policy(topic.outputs["arn"], "111122223333", "aws-cn")
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws-cn:iam::111122223333:root"}


def test_alerts_without_subscribers_declare_only_the_topic_and_its_policy():
    run = run_component(
        lambda: Alerts(
            "alerts", AlertsArgs(key_arn="arn:k", account_id="1", partition="aws"), opts=in_region("eu-west-1")
        )
    )
    assert children(run, "ml-platform:monitoring:Alerts", "alerts") == {
        ("aws:sns/topic:Topic", "alerts"),
        ("aws:sns/topicPolicy:TopicPolicy", "alerts"),
    }


def test_cost_budget_alerts_the_topic_at_the_given_shares():
    run = run_component(
        lambda: CostBudget(
            "budget",
            CostBudgetArgs(
                project="scoring",
                environment="staging",
                monthly_limit_usd=123.456,
                topic_arn=TOPIC,
                actual_alert_percent=50,
                forecast_alert_percent=90,
            ),
            opts=in_region("us-east-1"),
        )
    )
    assert children(run, "ml-platform:monitoring:CostBudget", "budget") == {("aws:budgets/budget:Budget", "budget")}
    budget = run.one("aws:budgets/budget:Budget", "budget")
    assert budget.inputs["limitAmount"] == "123.46"
    assert budget.inputs["filterExpression"]["ands"][1] == {
        "tags": {"key": "environment", "values": ["staging"], "matchOptions": ["EQUALS"]}
    }
    assert [
        (n["notificationType"], n["threshold"], n["subscriberSnsTopicArns"]) for n in budget.inputs["notifications"]
    ] == [
        ("ACTUAL", 50, [TOPIC]),
        ("FORECASTED", 90, [TOPIC]),
    ]


def test_the_dashboard_is_named_after_the_endpoint_and_charts_its_region():
    run = run_component(
        lambda: EndpointDashboard(
            "board",
            EndpointDashboardArgs(
                endpoint_name="scoring",
                variant_name="main",
                region="eu-west-1",
                drift_namespace="Team/Drift",
                period_seconds=300,
            ),
            opts=in_region("eu-west-1"),
        )
    )
    assert children(run, "ml-platform:monitoring:EndpointDashboard", "board") == {
        ("aws:cloudwatch/dashboard:Dashboard", "board")
    }
    dashboard = run.one("aws:cloudwatch/dashboard:Dashboard", "board")
    assert dashboard.inputs["dashboardName"] == "scoring"
    assert json.loads(dashboard.inputs["dashboardBody"]) == dashboard_body(
        endpoint_name="scoring",
        variant_name="main",
        region="eu-west-1",
        drift_namespace="Team/Drift",
        drift_metric=DRIFT_FEATURE_METRIC,
        period_seconds=300,
    )
