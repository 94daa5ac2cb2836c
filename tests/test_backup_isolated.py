"""`BackupVault` and `RegionBackup` built alone, with plain Args (no stack file, no
StackConfig): children, names, the inputs that matter, and the branches that leave copies and
restore tests out. tests/test_backup.py keeps the whole-stack wiring.

What mocks cannot prove: that AWS Backup accepts the plan (tests/test_backup.py sends it to
moto and botocore's model), and that a COMPLIANCE lock really becomes permanent.
"""

from __future__ import annotations

import pytest

from ml_platform.components.backup import (
    BACKUP_ROLE_POLICIES,
    VAULT_EVENTS,
    BackupRulesArgs,
    BackupVault,
    BackupVaultArgs,
    RegionBackup,
    RegionBackupArgs,
    RestoreTestingArgs,
    VaultLockArgs,
    plan_rules,
)
from tests.harness import in_region, run_component

KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"
TOPIC = "arn:aws:sns:eu-west-1:111122223333:alerts"
RULES = BackupRulesArgs(
    daily_schedule="cron(0 3 * * ? *)",
    daily_retention_days=10,
    monthly_schedule="cron(0 3 1 * ? *)",
    monthly_retention_days=200,
    monthly_cold_storage_after_days=None,
    continuous_retention_days=7,
    copy_retention_days=20,
)
BUCKETS = ["arn:aws:s3:::raw", "arn:aws:s3:::models"]


def test_a_compliance_vault_is_locked_encrypted_protected_and_notifies():
    lock = VaultLockArgs(mode="compliance", min_retention_days=7, max_retention_days=400, changeable_for_days=3)
    run = run_component(
        lambda: BackupVault(
            "vault",
            BackupVaultArgs(key_arn=KEY, topic_arn=TOPIC, vault_lock=lock, protect=True),
            opts=in_region("eu-west-1"),
        )
    )
    assert {(r.type, r.name) for r in run.children(run.one("ml-platform:backup:BackupVault", "vault"))} == {
        ("aws:backup/vault:Vault", "vault"),
        ("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "vault"),
        ("aws:backup/vaultNotifications:VaultNotifications", "vault"),
    }
    vault = run.one("aws:backup/vault:Vault", "vault")
    assert vault.inputs == {"kmsKeyArn": KEY, "forceDestroy": False}
    lock_config = run.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "vault")
    assert lock_config.inputs == {
        "backupVaultName": vault.outputs["name"],
        "minRetentionDays": 7,
        "maxRetentionDays": 400,
        "changeableForDays": 3,
    }
    assert {(r.protect, r.retain_on_delete) for r in (vault, lock_config)} == {(True, True)}
    notifications = run.one("aws:backup/vaultNotifications:VaultNotifications", "vault")
    assert notifications.inputs == {
        "backupVaultName": vault.outputs["name"],
        "snsTopicArn": TOPIC,
        "backupVaultEvents": list(VAULT_EVENTS),
    }


def test_a_governance_vault_has_no_grace_period_and_is_not_protected_unless_asked():
    lock = VaultLockArgs(mode="governance", min_retention_days=1, max_retention_days=30)
    run = run_component(
        lambda: BackupVault(
            "vault", BackupVaultArgs(key_arn=KEY, topic_arn=TOPIC, vault_lock=lock), opts=in_region("eu-west-1")
        )
    )
    lock_config = run.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "vault")
    assert "changeableForDays" not in lock_config.inputs
    assert (lock_config.protect, run.one("aws:backup/vault:Vault", "vault").protect) == (False, False)


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        (
            {"mode": "compliance", "min_retention_days": 30, "max_retention_days": 7},
            "VaultLockArgs: max_retention_days: below min_retention_days (got 7; expected >= 30); "
            "changeable_for_days: compliance mode needs a grace period of 3 or more days before the lock is "
            "permanent (got None)",
        ),
        (
            {"mode": "governance", "min_retention_days": 1, "max_retention_days": 7, "changeable_for_days": 3},
            "VaultLockArgs: changeable_for_days: only used in compliance mode (got 3; expected None)",
        ),
        (
            {"mode": "legal-hold", "min_retention_days": 1, "max_retention_days": 7},
            "VaultLockArgs: mode: not a lock mode (got 'legal-hold'; expected 'governance' or 'compliance')",
        ),
    ],
)
def test_vault_lock_args_report_every_problem(lock, message):
    with pytest.raises(ValueError) as caught:
        VaultLockArgs(**lock)
    assert str(caught.value) == message


def build_plan(**changes):
    args = {
        "vault_name": "vault-eu",
        "vault_arn": "arn:aws:backup:eu-west-1:111122223333:backup-vault:vault-eu",
        "rules": RULES,
        "bucket_arns": BUCKETS,
        "restore_test_arns": BUCKETS[1:],
        "account_id": "111122223333",
        "partition": "aws-eu",
        **changes,
    }
    return run_component(lambda: RegionBackup("plan", RegionBackupArgs(**args), opts=in_region("eu-west-1")))


def test_a_plan_with_copies_and_restore_tests_declares_every_child():
    copy_vault = "arn:aws:backup:eu-central-1:111122223333:backup-vault:vault-de"
    run = build_plan(
        copy_vault_arn=copy_vault,
        restore_testing=RestoreTestingArgs(
            schedule="cron(0 6 ? * MON *)", selection_window_days=3, validation_window_hours=12
        ),
    )
    attachments = {
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"plan-{p.rsplit('/', 1)[-1]}")
        for p in BACKUP_ROLE_POLICIES
    }
    assert {(r.type, r.name) for r in run.children(run.one("ml-platform:backup:RegionBackup", "plan"))} == {
        ("aws:iam/role:Role", "plan"),
        ("aws:backup/plan:Plan", "plan"),
        ("aws:backup/selection:Selection", "plan"),
        ("aws:backup/restoreTestingPlan:RestoreTestingPlan", "plan"),
        ("aws:backup/restoreTestingSelection:RestoreTestingSelection", "plan"),
        *attachments,
    }
    # The partition comes from the Args: AWS's managed policies live in the account's partition.
    assert sorted(
        r.inputs["policyArn"] for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    ) == sorted(f"arn:aws-eu:iam::aws:policy/{policy}" for policy in BACKUP_ROLE_POLICIES)
    plan = run.one("aws:backup/plan:Plan", "plan")
    assert plan.inputs["rules"] == [
        {
            "ruleName": "daily",
            "targetVaultName": "vault-eu",
            "schedule": "cron(0 3 * * ? *)",
            "startWindow": 60,
            "completionWindow": 360,
            "lifecycle": {"deleteAfter": 10},
            "copyActions": [{"destinationVaultArn": copy_vault, "lifecycle": {"deleteAfter": 20}}],
        },
        {
            "ruleName": "monthly",
            "targetVaultName": "vault-eu",
            "schedule": "cron(0 3 1 * ? *)",
            "startWindow": 60,
            "completionWindow": 720,
            "lifecycle": {"deleteAfter": 200},
            "copyActions": [{"destinationVaultArn": copy_vault, "lifecycle": {"deleteAfter": 20}}],
        },
        {
            "ruleName": "continuous",
            "targetVaultName": "vault-eu",
            "enableContinuousBackup": True,
            "lifecycle": {"deleteAfter": 7},
        },
    ]
    role = run.one("aws:iam/role:Role", "plan")
    selection = run.one("aws:backup/selection:Selection", "plan")
    assert (selection.inputs["resources"], selection.inputs["iamRoleArn"]) == (BUCKETS, role.outputs["arn"])
    assert selection.inputs["selectionTags"] == [{"type": "STRINGEQUALS", "key": "backup", "value": "true"}]
    attachment_urns = {r.urn for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attachment_urns <= set(selection.depends_on)
    testing = run.one("aws:backup/restoreTestingPlan:RestoreTestingPlan", "plan")
    assert testing.inputs["name"] == "plan"
    assert testing.inputs["recoveryPointSelection"] == {
        "algorithm": "LATEST_WITHIN_WINDOW",
        "includeVaults": ["arn:aws:backup:eu-west-1:111122223333:backup-vault:vault-eu"],
        "recoveryPointTypes": ["CONTINUOUS", "SNAPSHOT"],
        "selectionWindowDays": 3,
    }
    restore = run.one("aws:backup/restoreTestingSelection:RestoreTestingSelection", "plan")
    assert (
        restore.inputs["name"],
        restore.inputs["protectedResourceArns"],
        restore.inputs["validationWindowHours"],
    ) == (
        "plan_buckets",
        BUCKETS[1:],
        12,
    )


def test_a_plan_without_a_copy_vault_or_restore_tests_declares_neither():
    run = build_plan()
    types = {r.type for r in run.children(run.one("ml-platform:backup:RegionBackup", "plan"))}
    assert types == {
        "aws:iam/role:Role",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:backup/plan:Plan",
        "aws:backup/selection:Selection",
    }
    rules = run.one("aws:backup/plan:Plan", "plan").inputs["rules"]
    assert [("copyActions" in rule) for rule in rules] == [False, False, False]
    assert plan_rules(RULES, "v", None)[1]["lifecycle"] == {"delete_after": 200}
