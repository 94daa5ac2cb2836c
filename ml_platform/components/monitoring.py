"""Alerting: the encrypted SNS topic every alarm, backup event and budget notifies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.dashboard import budget_filter_expression, dashboard_body

# Metric the drift job publishes per feature (dimensions EndpointName, Feature).
DRIFT_FEATURE_METRIC = "FeaturePSI"

# Services that publish to the topic, each only on behalf of this account.
PUBLISHERS = (
    "backup.amazonaws.com",
    "budgets.amazonaws.com",
    "cloudwatch.amazonaws.com",
    "events.amazonaws.com",
)


def topic_policy(topic_arn: str, account_id: str, partition: str) -> dict[str, Any]:
    """CloudWatch, EventBridge, AWS Backup and Budgets may publish, for this account only;
    the account itself manages the topic. `partition`: the account's (`aws`, `aws-cn`, ...)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountManagesTopic",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                    "sns:SetTopicAttributes",
                    "sns:Subscribe",
                ],
                "Resource": topic_arn,
            },
            {
                # SNS evaluates aws:SourceAccount on a service's Publish (confused-deputy guard):
                # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
                # #source-account-versus-source-owner
                "Sid": "ServicesPublishForThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": list(PUBLISHERS)},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@dataclass(frozen=True)
class AlertsArgs:
    """Inputs of `Alerts`.

    key_arn: the region key; the topic is encrypted with it (its policy must let the
        publishing services use it: see `PUBLISHERS`).
    account_id / partition: the account whose services may publish, and its partition (`aws`).
    emails: email subscribers (each confirms by mail once); none by default.
    webhooks: HTTPS endpoints; kept as secrets in state; none by default.
    """

    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()


class Alerts(pulumi.ComponentResource):
    """The alerts topic of one region and its subscriptions."""

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:monitoring:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(name, kms_master_key_id=args.key_arn, opts=child)
        aws.sns.TopicPolicy(
            name,
            arn=self.topic.arn,
            policy=pulumi.Output.all(
                topic_arn=self.topic.arn, account_id=args.account_id, partition=args.partition
            ).apply(lambda v: json.dumps(topic_policy(v["topic_arn"], v["account_id"], v["partition"]))),
            opts=child,
        )
        for index, email in enumerate(args.emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}", topic=self.topic.arn, protocol="email", endpoint=email, opts=child
            )
        for index, url in enumerate(args.webhooks):
            aws.sns.TopicSubscription(
                f"{name}-webhook-{index}",
                topic=self.topic.arn,
                protocol="https",
                endpoint=pulumi.Output.secret(url),
                opts=child,
            )
        self.topic_arn = self.topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})


@dataclass(frozen=True)
class CostBudgetArgs:
    """Inputs of `CostBudget`.

    project / environment: the cost-allocation tag values whose spend the budget counts.
    monthly_limit_usd: the monthly limit (USD, unblended cost).
    topic_arn: the alerts topic that hears.
    actual_alert_percent / forecast_alert_percent: alert when actual / forecast spend passes
        this share of the limit (80% actual, 100% forecast by default).
    """

    project: str
    environment: str
    monthly_limit_usd: float
    topic_arn: pulumi.Input[str]
    actual_alert_percent: float = 80
    forecast_alert_percent: float = 100


class CostBudget(pulumi.ComponentResource):
    """A monthly cost budget on the stack's tags, alerting on actual and forecast spend."""

    def __init__(self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:monitoring:CostBudget", name, None, opts)
        notify = [args.topic_arn]
        self.budget = aws.budgets.Budget(
            name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.monthly_limit_usd:.2f}",
            limit_unit="USD",
            metrics="UnblendedCost",
            filter_expression=budget_filter_expression(args.project, args.environment),
            notifications=[
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": args.actual_alert_percent,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": "ACTUAL",
                    "subscriber_sns_topic_arns": notify,
                },
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": args.forecast_alert_percent,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": "FORECASTED",
                    "subscriber_sns_topic_arns": notify,
                },
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"budget_name": self.budget.name})


@dataclass(frozen=True)
class EndpointDashboardArgs:
    """Inputs of `EndpointDashboard`.

    endpoint_name / variant_name: the variant charted; the dashboard is named after the endpoint
        (dashboard names are unique per account and region, as endpoint names are).
    region: the region of the endpoint's metrics.
    drift_namespace: the CloudWatch namespace the drift job publishes `DRIFT_FEATURE_METRIC` to.
    period_seconds: the period of the invocation, latency and error widgets.
    """

    endpoint_name: str
    variant_name: str
    region: str
    drift_namespace: str
    period_seconds: int = 60


class EndpointDashboard(pulumi.ComponentResource):
    """The endpoint's CloudWatch dashboard (`dashboard_body`)."""

    def __init__(self, name: str, args: EndpointDashboardArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:monitoring:EndpointDashboard", name, None, opts)
        body = dashboard_body(
            endpoint_name=args.endpoint_name,
            variant_name=args.variant_name,
            region=args.region,
            drift_namespace=args.drift_namespace,
            drift_metric=DRIFT_FEATURE_METRIC,
            period_seconds=args.period_seconds,
        )
        # Dashboard names are unique per account and region: the endpoint name is.
        self.dashboard = aws.cloudwatch.Dashboard(
            name,
            dashboard_name=args.endpoint_name,
            dashboard_body=json.dumps(body),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"dashboard_name": self.dashboard.dashboard_name})
