"""AWS Backup: a locked, KMS-encrypted vault per region; a plan per region with daily,
monthly and continuous (point-in-time) rules whose recovery points are copied to the other
region's vault; a selection of every stateful bucket by ARN plus anything tagged
`backup=true`; vault notifications to the alerts topic; and scheduled restore tests.

Vault Lock in COMPLIANCE mode is permanent once its grace period (`changeable_for_days`) has
passed: retention can then never be shortened and the vault never deleted, by anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from ml_platform.components.iam import trust_json

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


@dataclass(frozen=True)
class BackupRulesArgs:
    """The plan's rules (AWS Backup cron expressions are UTC).

    daily_schedule / daily_retention_days: the daily snapshot and how long it is kept.
    monthly_schedule / monthly_retention_days: the monthly snapshot and how long it is kept.
    monthly_cold_storage_after_days: days before a monthly recovery point moves to cold storage
        (resources that support it only); None keeps it warm.
    continuous_retention_days: the point-in-time restore window of the continuous S3 backup.
    copy_retention_days: how long a copy in the other region's vault is kept.
    """

    daily_schedule: str
    daily_retention_days: int
    monthly_schedule: str
    monthly_retention_days: int
    monthly_cold_storage_after_days: int | None
    continuous_retention_days: int
    copy_retention_days: int


def plan_rules(rules: BackupRulesArgs, vault_name: str, copy_vault_arn: str | None) -> list[dict[str, Any]]:
    """Daily and monthly snapshot rules and a continuous rule, as `aws.backup.Plan` rules."""

    def copies(days: int) -> dict[str, Any]:
        if copy_vault_arn is None:
            return {}
        return {"copy_actions": [{"destination_vault_arn": copy_vault_arn, "lifecycle": {"delete_after": days}}]}

    monthly_lifecycle: dict[str, Any] = {"delete_after": rules.monthly_retention_days}
    if rules.monthly_cold_storage_after_days is not None:
        monthly_lifecycle["cold_storage_after"] = rules.monthly_cold_storage_after_days
        # Cold storage applies only where AWS Backup supports it; others stay warm.
        monthly_lifecycle["opt_in_to_archive_for_supported_resources"] = True
    return [
        {
            "rule_name": "daily",
            "target_vault_name": vault_name,
            "schedule": rules.daily_schedule,
            "start_window": 60,
            "completion_window": 360,
            "lifecycle": {"delete_after": rules.daily_retention_days},
            **copies(rules.copy_retention_days),
        },
        {
            "rule_name": "monthly",
            "target_vault_name": vault_name,
            "schedule": rules.monthly_schedule,
            "start_window": 60,
            "completion_window": 720,
            "lifecycle": monthly_lifecycle,
            **copies(rules.copy_retention_days),
        },
        {
            "rule_name": "continuous",
            "target_vault_name": vault_name,
            "enable_continuous_backup": True,
            "lifecycle": {"delete_after": rules.continuous_retention_days},
        },
    ]


@dataclass(frozen=True)
class RestoreTestingArgs:
    """Scheduled restore tests: AWS Backup restores the latest recovery points to prove they work.

    schedule: when (a `cron(...)` expression, UTC).
    selection_window_days: recovery points from this many recent days are eligible.
    validation_window_hours: hours a restored copy is kept for validation before cleanup.
    """

    schedule: str
    selection_window_days: int
    validation_window_hours: int


@dataclass(frozen=True)
class RegionBackupArgs:
    """Inputs of `RegionBackup`.

    vault_name / vault_arn: the region's vault (`BackupVault`), where the plan's rules write
        and whose recovery points restore tests pick.
    rules: the plan's schedules and retention.
    bucket_arns: the stateful buckets of this region, selected by ARN (with everything tagged
        `backup=true`). AWS Backup of S3 needs versioning on: pass ARNs that resolve once it is.
    restore_test_arns: the buckets whose latest recovery points restore tests restore (the
        artifacts bucket: the model must always be recoverable).
    account_id / partition: the account (for the role's trust) and its partition (`aws`).
    copy_vault_arn: the other region's vault, for copies; None makes no copies.
    restore_testing: scheduled restore tests; None declares none.
    """

    vault_name: pulumi.Input[str]
    vault_arn: pulumi.Input[str]
    rules: BackupRulesArgs
    bucket_arns: Sequence[pulumi.Input[str]]
    restore_test_arns: Sequence[pulumi.Input[str]]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    copy_vault_arn: pulumi.Input[str] | None = None
    restore_testing: RestoreTestingArgs | None = None


@dataclass(frozen=True)
class VaultLockArgs:
    """AWS Backup Vault Lock. `compliance` is permanent once `changeable_for_days` have passed:
    retention can then never be shortened and the vault never deleted, by anyone; `governance`
    can still be removed by privileged users and takes no `changeable_for_days`.
    min_retention_days / max_retention_days: the retention range every recovery point must fit.
    """

    mode: Literal["governance", "compliance"]
    min_retention_days: int
    max_retention_days: int
    changeable_for_days: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("governance", "compliance"):
            problems.append(f"mode: not a lock mode (got {self.mode!r}; expected 'governance' or 'compliance')")
        if self.max_retention_days < self.min_retention_days:
            problems.append(
                f"max_retention_days: below min_retention_days (got {self.max_retention_days}; "
                f"expected >= {self.min_retention_days})"
            )
        if self.mode == "compliance" and (self.changeable_for_days is None or self.changeable_for_days < 3):
            problems.append(
                f"changeable_for_days: compliance mode needs a grace period of 3 or more days before the lock is "
                f"permanent (got {self.changeable_for_days!r})"
            )
        if self.mode == "governance" and self.changeable_for_days is not None:
            problems.append(
                f"changeable_for_days: only used in compliance mode (got {self.changeable_for_days}; expected None)"
            )
        if problems:
            raise ValueError("VaultLockArgs: " + "; ".join(problems))


@dataclass(frozen=True)
class BackupVaultArgs:
    """Inputs of `BackupVault`.

    key_arn: the region key; the vault encrypts recovery points with it.
    topic_arn: the region's alerts topic, for vault events (`VAULT_EVENTS`).
    vault_lock: the vault's lock.
    protect: `protect` and `retain_on_delete` on the vault and its lock.
    """

    key_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    vault_lock: VaultLockArgs
    protect: bool = False


class BackupVault(pulumi.ComponentResource):
    """A locked vault of one region, encrypted with the region key, notifying the topic."""

    arn: pulumi.Output[str]
    vault_name: pulumi.Output[str]

    def __init__(self, name: str, args: BackupVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:backup:BackupVault", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lock, protect = args.vault_lock, args.protect
        self.vault = aws.backup.Vault(
            name,
            kms_key_arn=args.key_arn,
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
            sns_topic_arn=args.topic_arn,
            backup_vault_events=list(VAULT_EVENTS),
            opts=child,
        )
        self.arn = self.vault.arn
        self.vault_name = self.vault.name
        self.register_outputs({"arn": self.arn, "name": self.vault_name})


class RegionBackup(pulumi.ComponentResource):
    """The backup plan, selection, role and restore tests of one region, into its vault."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegionBackupArgs, opts: pulumi.ResourceOptions | None = None):
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
                policy_arn=pulumi.Output.concat("arn:", args.partition, ":iam::aws:policy/", policy),
                opts=child,
            )
            for policy in BACKUP_ROLE_POLICIES
        ]
        rules = pulumi.Output.all(vault_name=args.vault_name, copy_vault_arn=args.copy_vault_arn).apply(
            lambda v: plan_rules(args.rules, v["vault_name"], v["copy_vault_arn"])
        )
        self.plan = aws.backup.Plan(name, rules=rules, opts=child)
        self.selection = aws.backup.Selection(
            name,
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=list(args.bucket_arns),
            selection_tags=[SELECTION_TAG],
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        testing = args.restore_testing
        if testing is not None:
            # Restore-testing plan names allow only letters, digits and underscores.
            plan_name = name.replace("-", "_")
            restore_plan = aws.backup.RestoreTestingPlan(
                name,
                name=plan_name,
                schedule_expression=testing.schedule,
                recovery_point_selection={
                    "algorithm": "LATEST_WITHIN_WINDOW",
                    "include_vaults": [args.vault_arn],
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
                protected_resource_arns=list(args.restore_test_arns),
                iam_role_arn=self.role.arn,
                validation_window_hours=testing.validation_window_hours,
                opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
            )
        self.role_arn = self.role.arn
        self.register_outputs({"plan_id": self.plan.id, "role_arn": self.role_arn})
