"""One KMS customer key per region: rotation on, an alias, and a policy scoped to the account.

Every other component encrypts with the key of the region it lands in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def key_policy(
    account_id: str, partition: str, service_principals: tuple[str, ...] = (), logs_region: str | None = None
) -> dict:
    """The key policy: this account administers the key through IAM, and the named AWS
    services (the alerts topic's publishers) may use it to publish to the encrypted topic.

    The root statement is AWS's default key policy; without it the key can become
    unmanageable. It delegates to IAM, so who may use the key is decided by IAM policies
    scoped to the key's ARN.
    """
    statements: list[dict] = [
        {
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if service_principals:
        # The form SNS documents for AWS services publishing to an encrypted topic, with no
        # condition: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
        # ("Enable compatibility between event sources from AWS services and encrypted topics").
        # No aws:SourceAccount/aws:SourceArn here: EventBridge documents that those keys are not
        # supported in the KMS key policy for delivery to an encrypted topic
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions),
        # and a condition on a key the service does not send drops every notification
        # silently. The confused-deputy guard is the topic policy's aws:SourceAccount
        # (ml_platform/components/monitoring.py), which SNS evaluates on every Publish.
        statements.append(
            {
                "Sid": "ServicesPublishToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": sorted(service_principals)},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
    if logs_region is not None:
        # CloudWatch Logs encrypts log groups of this account in this region (access logs).
        statements.append(
            {
                "Sid": "LogsEncryptThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{logs_region}.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{partition}:logs:{logs_region}:{account_id}:log-group:*"
                        )
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class RegionKeyArgs:
    """Inputs of `RegionKey`.

    alias_name: stable alias, e.g. `alias/ml-platform-prod` (aliases are per region, so the
        same alias can name each region's key).
    account_id, partition: the account that owns the key, and its partition (`aws`).
    service_principals: AWS services allowed to use the key to publish to a topic it
        encrypts, e.g. `cloudwatch.amazonaws.com` for alarms. None by default.
    rotation_period_in_days: automatic rotation period, 90-2560 days; rotation is always on.
    deletion_window_in_days: waiting period before a deleted key is destroyed, 7-30 days.
    logs_region: the key's region, to let CloudWatch Logs encrypt this account's log groups
        there; None leaves Logs out.
    protect: set `protect` and `retain_on_delete` on the key (the alias is recreatable).
    """

    alias_name: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    service_principals: tuple[str, ...] = ()
    rotation_period_in_days: int = 365
    deletion_window_in_days: int = 30
    logs_region: str | None = None
    protect: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not self.alias_name.startswith("alias/") or self.alias_name.startswith("alias/aws/"):
            problems.append(f"alias_name: must start with 'alias/' and not 'alias/aws/' (got {self.alias_name!r})")
        if not 90 <= self.rotation_period_in_days <= 2560:
            problems.append(
                f"rotation_period_in_days: out of range (got {self.rotation_period_in_days}; expected 90 to 2560)"
            )
        if not 7 <= self.deletion_window_in_days <= 30:
            problems.append(
                f"deletion_window_in_days: out of range (got {self.deletion_window_in_days}; expected 7 to 30)"
            )
        if problems:
            raise ValueError("RegionKeyArgs: " + "; ".join(problems))


class RegionKey(pulumi.ComponentResource):
    """A customer-managed KMS key and its alias, in the region of the provider in `opts`."""

    arn: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: RegionKeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:keys:RegionKey", name, None, opts)
        policy = pulumi.Output.all(account_id=args.account_id, partition=args.partition).apply(
            lambda ids: json.dumps(
                key_policy(**ids, service_principals=args.service_principals, logs_region=args.logs_region)
            )
        )
        self.key = aws.kms.Key(
            name,
            description=f"ml-platform data key ({args.alias_name})",
            enable_key_rotation=True,
            rotation_period_in_days=args.rotation_period_in_days,
            deletion_window_in_days=args.deletion_window_in_days,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self.alias = aws.kms.Alias(
            name,
            name=args.alias_name,
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.key_id = self.key.key_id
        self.register_outputs({"arn": self.arn, "key_id": self.key_id, "alias": self.alias.name})
