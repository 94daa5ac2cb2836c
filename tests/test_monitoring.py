"""Dashboard and budget: the pure builders and what each stack declares."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from ml_platform.components.dashboard import budget_filter_expression, dashboard_body
from tests.test_config import problems


def body():
    return dashboard_body(
        endpoint_name="ml-platform-prod",
        variant_name="primary",
        region="us-east-1",
        drift_namespace="ml-platform/Drift",
        drift_metric="FeaturePSI",
    )


def test_dashboard_shows_what_operators_look_at_first():
    widgets = body()["widgets"]
    assert [w["properties"]["title"] for w in widgets] == [
        "Invocations",
        "Model latency (ms)",
        "Error rates (% of invocations)",
        "Instances",
        "CPU and memory (%)",
        "Drift per feature (PSI)",
    ]
    assert [(w["x"], w["y"]) for w in widgets] == [(0, 0), (12, 0), (0, 6), (12, 6), (0, 12), (12, 12)]
    latency = widgets[1]["properties"]["metrics"]
    assert [m[-1]["stat"] for m in latency[:3]] == ["p50", "p90", "p99"]
    assert [m[0]["expression"] for m in latency[3:]] == ["lp50 / 1000", "lp90 / 1000", "lp99 / 1000"]
    assert widgets[0]["properties"]["metrics"][0][:6] == [
        "AWS/SageMaker",
        "Invocations",
        "EndpointName",
        "ml-platform-prod",
        "VariantName",
        "primary",
    ]
    assert widgets[5]["properties"]["metrics"][0][0]["expression"] == (
        """SEARCH('{ml-platform/Drift,EndpointName,Feature} MetricName="FeaturePSI" """
        """EndpointName="ml-platform-prod"', 'Maximum', 3600)"""
    )


def test_dashboard_is_accepted_by_put_dashboard():
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        cloudwatch.put_dashboard(DashboardName="d", DashboardBody=json.dumps(body()))
        assert json.loads(cloudwatch.get_dashboard(DashboardName="d")["DashboardBody"]) == body()


def test_budget_filters_on_project_and_environment_tags():
    assert budget_filter_expression("ml-platform", "prod") == {
        "ands": [
            {"tags": {"key": "project", "values": ["ml-platform"], "match_options": ["EQUALS"]}},
            {"tags": {"key": "environment", "values": ["prod"], "match_options": ["EQUALS"]}},
        ]
    }


def test_budget_config_rules():
    assert problems(monitoring={"budget": {"monthly_limit_usd": 0}}) == [
        "monitoring.budget.monthly_limit_usd: out of range (got 0; expected > 0)"
    ]


def test_prod_budget_and_dashboard(stack):
    prod = stack("prod")
    topic = prod.one("aws:sns/topic:Topic", "alerts-primary").outputs["arn"]
    budget = prod.one("aws:budgets/budget:Budget", "budget")
    assert budget.inputs == {
        "budgetType": "COST",
        "timeUnit": "MONTHLY",
        "limitAmount": "4000.00",
        "limitUnit": "USD",
        "metrics": "UnblendedCost",
        "filterExpression": {
            "ands": [
                {"tags": {"key": "project", "values": ["ml-platform"], "matchOptions": ["EQUALS"]}},
                {"tags": {"key": "environment", "values": ["prod"], "matchOptions": ["EQUALS"]}},
            ]
        },
        "notifications": [
            {
                "comparisonOperator": "GREATER_THAN",
                "threshold": 80,
                "thresholdType": "PERCENTAGE",
                "notificationType": "ACTUAL",
                "subscriberSnsTopicArns": [topic],
            },
            {
                "comparisonOperator": "GREATER_THAN",
                "threshold": 100,
                "thresholdType": "PERCENTAGE",
                "notificationType": "FORECASTED",
                "subscriberSnsTopicArns": [topic],
            },
        ],
    }
    dashboard = prod.one("aws:cloudwatch/dashboard:Dashboard", "dashboard-primary")
    assert dashboard.inputs["dashboardName"] == "ml-platform-prod"
    assert json.loads(dashboard.inputs["dashboardBody"]) == body()
