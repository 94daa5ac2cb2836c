"""AWS Backup: a locked, KMS-encrypted vault per region; a plan per region with daily,
monthly and continuous (point-in-time) rules whose recovery points are copied to the other
region's vault; a selection of every stateful bucket by ARN plus anything tagged
`backup=true`; vault notifications to the alerts topic; and scheduled restore tests.

Vault Lock in COMPLIANCE mode is permanent once its grace period (`changeable_for_days`) has
passed: retention can then never be shortened and the vault never deleted, by anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.iam import trust_json
from ml_platform.config import BackupConfig

# Vault events sent to the alerts topic: failures, and restores finishing.
VAULT_EVENTS = (
    "BACKUP_JOB_FAILED",
    "COPY_JOB_FAILED",
    "RESTORE_JOB_COMPLETED",
    "RESTORE_JOB_FAILED",
    "S3_BACKUP_OBJECT_FAILED",
    "S3_RESTORE_OBJECT_FAILED",
    "CONTINUOUS_BACKUP_INTERRUPTED",
)

# AWS-managed service-role policies for backing up and restoring S3 (not *FullAccess).
BACKUP_ROLE_POLICIES = (
    "service-role/AWSBackupServiceRolePolicyForBackup",
    "service-role/AWSBackupServiceRolePolicyForRestores",
    "AWSBackupServiceRolePolicyForS3Backup",
    "AWSBackupServiceRolePolicyForS3Restore",
)

SELECTION_TAG = {"type": "STRINGEQUALS", "key": "backup", "value": "true"}


def plan_rules(config: BackupConfig, vault_name: str, copy_vault_arn: str | None) -> list[dict[str, Any]]:
    """Daily and monthly snapshot rules and a continuous rule, as `aws.backup.Plan` rules."""

    def copies(days: int) -> dict[str, Any]:
        if copy_vault_arn is None:
            return {}
        return {"copy_actions": [{"destination_vault_arn": copy_vault_arn, "lifecycle": {"delete_after": days}}]}

    monthly_lifecycle: dict[str, Any] = {"delete_after": config.monthly_retention_days}
    if config.monthly_cold_storage_after_days is not None:
        monthly_lifecycle["cold_storage_after"] = config.monthly_cold_storage_after_days
        # Cold storage applies only where AWS Backup supports it; others stay warm.
        monthly_lifecycle["opt_in_to_archive_for_supported_resources"] = True
    return [
        {
            "rule_name": "daily",
            "target_vault_name": vault_name,
            "schedule": config.daily_schedule,
            "start_window": 60,
            "completion_window": 360,
            "lifecycle": {"delete_after": config.daily_retention_days},
            **copies(config.copy_retention_days),
        },
        {
            "rule_name": "monthly",
            "target_vault_name": vault_name,
            "schedule": config.monthly_schedule,
            "start_window": 60,
            "completion_window": 720,
            "lifecycle": monthly_lifecycle,
            **copies(config.copy_retention_days),
        },
        {
            "rule_name": "continuous",
            "target_vault_name": vault_name,
            "enable_continuous_backup": True,
            "lifecycle": {"delete_after": config.continuous_retention_days},
        },
    ]


@dataclass(frozen=True)
class RegionBackupArgs:
    """Inputs of `RegionBackup`.

    config: the stack's backup section.
    key_arn: the region key; the vault encrypts recovery points with it.
    topic_arn: the region's alerts topic, for vault events.
    bucket_arns: the stateful buckets of this region, selected by ARN.
    restore_test_arns: the buckets whose latest recovery points restore tests restore (the
        artifacts bucket: the model must always be recoverable).
    copy_vault_arn: the other region's vault, for copies; None when there is none.
    account_id: the account (for the role's trust).
    protect: `protect` and `retain_on_delete` on the vault.
    """

    config: BackupConfig
    key_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    bucket_arns: list[pulumi.Input[str]]
    restore_test_arns: list[pulumi.Input[str]]
    account_id: pulumi.Input[str]
    copy_vault_arn: pulumi.Input[str] | None = None
    protect: bool = False


class BackupVault(pulumi.ComponentResource):
    """A locked vault of one region, encrypted with the region key, notifying the topic."""

    def __init__(
        self,
        name: str,
        config: BackupConfig,
        key_arn: pulumi.Input[str],
        topic_arn: pulumi.Input[str],
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("ml-platform:backup:BackupVault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lock = config.vault_lock
        self.vault = aws.backup.Vault(
            name,
            kms_key_arn=key_arn,
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        aws.backup.VaultLockConfiguration(
            name,
            backup_vault_name=self.vault.name,
            min_retention_days=lock.min_retention_days,
            max_retention_days=lock.max_retention_days,
            # Present: COMPLIANCE mode, permanent after these days. Absent: GOVERNANCE mode.
            changeable_for_days=lock.changeable_for_days if lock.mode == "compliance" else None,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        aws.backup.VaultNotifications(
            name,
            backup_vault_name=self.vault.name,
            sns_topic_arn=topic_arn,
            backup_vault_events=list(VAULT_EVENTS),
            opts=child,
        )
        self.arn = self.vault.arn
        self.vault_name = self.vault.name
        self.register_outputs({"arn": self.arn, "name": self.vault_name})


class RegionBackup(pulumi.ComponentResource):
    """The backup plan, selection, role and restore tests of one region, into its vault."""

    def __init__(
        self, name: str, vault: BackupVault, args: RegionBackupArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("ml-platform:backup:RegionBackup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            description="AWS Backup backs up and restores the stack's buckets",
            assume_role_policy=trust_json("backup.amazonaws.com", args.account_id),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy.rsplit('/', 1)[-1]}",
                role=self.role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy}",
                opts=child,
            )
            for policy in BACKUP_ROLE_POLICIES
        ]
        rules = pulumi.Output.all(vault.vault_name, args.copy_vault_arn).apply(
            lambda a: plan_rules(args.config, a[0], a[1])
        )
        self.plan = aws.backup.Plan(name, rules=rules, opts=child)
        self.selection = aws.backup.Selection(
            name,
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=args.bucket_arns,
            selection_tags=[SELECTION_TAG],
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        testing = args.config.restore_testing
        if testing is not None:
            # Restore-testing plan names allow only letters, digits and underscores.
            plan_name = name.replace("-", "_")
            restore_plan = aws.backup.RestoreTestingPlan(
                name,
                name=plan_name,
                schedule_expression=testing.schedule,
                recovery_point_selection={
                    "algorithm": "LATEST_WITHIN_WINDOW",
                    "include_vaults": [vault.arn],
                    "recovery_point_types": ["CONTINUOUS", "SNAPSHOT"],
                    "selection_window_days": testing.selection_window_days,
                },
                opts=child,
            )
            aws.backup.RestoreTestingSelection(
                name,
                name=f"{plan_name}_buckets",
                restore_testing_plan_name=restore_plan.name,
                protected_resource_type="S3",
                protected_resource_arns=args.restore_test_arns,
                iam_role_arn=self.role.arn,
                validation_window_hours=testing.validation_window_hours,
                opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
            )
        self.register_outputs({"plan_id": self.plan.id, "role_arn": self.role.arn})
