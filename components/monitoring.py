"""Alerting: the encrypted SNS topic every alarm, backup event and budget notifies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

# Services that publish to the topic, each only on behalf of this account.
PUBLISHERS = (
    "backup.amazonaws.com",
    "budgets.amazonaws.com",
    "cloudwatch.amazonaws.com",
    "events.amazonaws.com",
)


def topic_policy(topic_arn: str, account_id: str) -> dict[str, Any]:
    """CloudWatch, EventBridge, AWS Backup and Budgets may publish, for this account only;
    the account itself manages the topic."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountManagesTopic",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
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
    account_id: the account whose services may publish.
    emails: email subscribers (each confirms by mail once).
    webhooks: HTTPS endpoints; kept as secrets in state.
    """

    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
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
            policy=pulumi.Output.all(self.topic.arn, args.account_id).apply(lambda a: json.dumps(topic_policy(*a))),
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
