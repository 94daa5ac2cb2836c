"""AWS Backup: config rules, plan rules, and the vaults, plans and selections per stack."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ml_platform.assembly_serving import backup_rules_args
from ml_platform.components.backup import BACKUP_ROLE_POLICIES, VAULT_EVENTS, plan_rules
from ml_platform.config import BackupConfig
from tests.aws_shapes import request
from tests.test_config import problems

LOCK = {"mode": "governance", "min_retention_days": 7, "max_retention_days": 400}
PROD = {
    "vault_lock": {"mode": "compliance", "min_retention_days": 7, "max_retention_days": 400, "changeable_for_days": 3},
    "continuous_retention_days": 35,
}


def test_compliance_lock_needs_a_grace_period_and_governance_takes_none():
    assert problems(backup={"vault_lock": {"mode": "compliance"}}) == [
        "backup.vault_lock.changeable_for_days: compliance mode needs a grace period before the lock is permanent "
        "(got null; expected 3 or more days)"
    ]
    assert problems(backup={"vault_lock": {**LOCK, "changeable_for_days": 3}}) == [
        "backup.vault_lock.changeable_for_days: only used in compliance mode (it makes the lock permanent) "
        "(got 3; expected no value in governance mode)"
    ]
    assert problems(backup={"vault_lock": {**PROD["vault_lock"], "changeable_for_days": 1}}) == [
        "backup.vault_lock.changeable_for_days: out of range (got 1; expected >= 3)"
    ]


def test_every_retention_must_fit_the_lock_and_cold_storage_lasts_ninety_days():
    assert problems(
        backup={
            "vault_lock": {**LOCK, "min_retention_days": 10, "max_retention_days": 100},
            "daily_retention_days": 5,
            "monthly_retention_days": 120,
            "monthly_cold_storage_after_days": 60,
        }
    ) == [
        "backup.daily_retention_days: outside the vault lock's retention range (got 5; expected 10 to 100)",
        "backup.monthly_retention_days: outside the vault lock's retention range (got 120; expected 10 to 100)",
        "backup.monthly_retention_days: recovery points stay at least 90 days in cold storage (got 120; expected "
        ">= monthly_cold_storage_after_days + 90 (150))",
    ]


def test_prod_needs_backup_locked_in_compliance_mode():
    assert problems(environment="prod", protect_stateful=True) == [
        "backup: required in prod (got null; expected a backup section)"
    ]
    assert problems(environment="prod", protect_stateful=True, backup={"vault_lock": LOCK}) == [
        "backup.vault_lock.mode: prod vaults are locked in compliance mode (got 'governance'; expected compliance)"
    ]


def test_plan_rules_exact_with_copies():
    config = backup_rules_args(BackupConfig.model_validate(PROD))
    assert plan_rules(config, "vault-a", "arn:aws:backup:us-west-2:123456789012:backup-vault:vault-b") == [
        {
            "rule_name": "daily",
            "target_vault_name": "vault-a",
            "schedule": "cron(0 5 * * ? *)",
            "start_window": 60,
            "completion_window": 360,
            "lifecycle": {"delete_after": 35},
            "copy_actions": [
                {
                    "destination_vault_arn": "arn:aws:backup:us-west-2:123456789012:backup-vault:vault-b",
                    "lifecycle": {"delete_after": 35},
                }
            ],
        },
        {
            "rule_name": "monthly",
            "target_vault_name": "vault-a",
            "schedule": "cron(0 5 1 * ? *)",
            "start_window": 60,
            "completion_window": 720,
            "lifecycle": {
                "delete_after": 365,
                "cold_storage_after": 90,
                "opt_in_to_archive_for_supported_resources": True,
            },
            "copy_actions": [
                {
                    "destination_vault_arn": "arn:aws:backup:us-west-2:123456789012:backup-vault:vault-b",
                    "lifecycle": {"delete_after": 35},
                }
            ],
        },
        {
            "rule_name": "continuous",
            "target_vault_name": "vault-a",
            "enable_continuous_backup": True,
            "lifecycle": {"delete_after": 35},
        },
    ]


def test_plan_without_a_second_region_has_no_copy_actions():
    rules = plan_rules(backup_rules_args(BackupConfig.model_validate({"vault_lock": LOCK})), "v", None)
    assert all("copy_actions" not in rule for rule in rules)


# pulumi-aws's names for Backup plan fields that the API spells differently.
API_NAMES = {
    "target_vault_name": "target_backup_vault_name",
    "schedule": "schedule_expression",
    "start_window": "start_window_minutes",
    "completion_window": "completion_window_minutes",
    "delete_after": "delete_after_days",
    "cold_storage_after": "move_to_cold_storage_after_days",
    "destination_vault_arn": "destination_backup_vault_arn",
}


def api_names(value):
    if isinstance(value, dict):
        return {API_NAMES.get(k, k): api_names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_names(v) for v in value]
    return value


def test_plan_is_a_valid_create_backup_plan_request_that_moto_accepts():
    rules = plan_rules(
        backup_rules_args(BackupConfig.model_validate(PROD)), "vault-a", "arn:aws:backup:us-west-2:1:backup-vault:b"
    )
    params = request(
        "backup", "CreateBackupPlan", {"backup_plan": {"backup_plan_name": "p", "rules": api_names(rules)}}
    )
    assert params["BackupPlan"]["Rules"][1]["Lifecycle"] == {
        "DeleteAfterDays": 365,
        "MoveToColdStorageAfterDays": 90,
        "OptInToArchiveForSupportedResources": True,
    }
    assert params["BackupPlan"]["Rules"][2]["EnableContinuousBackup"] is True
    with mock_aws():
        backup = boto3.client("backup", region_name="us-east-1")
        backup.create_backup_vault(BackupVaultName="vault-a")
        plan_id = backup.create_backup_plan(**params)["BackupPlanId"]
        stored = backup.get_backup_plan(BackupPlanId=plan_id)["BackupPlan"]["Rules"]
    assert [rule["RuleName"] for rule in stored] == ["daily", "monthly", "continuous"]


def vault_of(synthesis, role):
    return synthesis.one("aws:backup/vault:Vault", f"vault-{role}")


@pytest.mark.parametrize(
    ("name", "lock"),
    [
        ("dev", {"minRetentionDays": 1, "maxRetentionDays": 120}),
        ("prod", {"minRetentionDays": 7, "maxRetentionDays": 400, "changeableForDays": 3}),
    ],
)
def test_vaults_are_encrypted_with_the_region_key_and_locked(stack, name, lock):
    synthesis = stack(name)
    for vault in synthesis.of_type("aws:backup/vault:Vault"):
        role = vault.name.removeprefix("vault-")
        assert vault.inputs == {
            "kmsKeyArn": synthesis.one("aws:kms/key:Key", f"key-{role}").outputs["arn"],
            "forceDestroy": False,
        }
        config = synthesis.one("aws:backup/vaultLockConfiguration:VaultLockConfiguration", vault.name)
        assert config.inputs == {"backupVaultName": vault.outputs["name"], **lock}
        assert (vault.protect, config.protect) == ((name == "prod"),) * 2
        notifications = synthesis.one("aws:backup/vaultNotifications:VaultNotifications", vault.name)
        assert notifications.inputs == {
            "backupVaultName": vault.outputs["name"],
            "snsTopicArn": synthesis.one("aws:sns/topic:Topic", f"alerts-{role}").outputs["arn"],
            "backupVaultEvents": list(VAULT_EVENTS),
        }


def test_prod_copies_each_region_to_the_other_vault(stack):
    prod = stack("prod")
    for role, other in (("primary", "secondary"), ("secondary", "primary")):
        plan = prod.one("aws:backup/plan:Plan", f"backup-{role}")
        assert plan.region == vault_of(prod, role).region
        other_arn = vault_of(prod, other).outputs["arn"]
        copies = [rule.get("copyActions") for rule in plan.inputs["rules"]]
        assert copies == [
            [{"destinationVaultArn": other_arn, "lifecycle": {"deleteAfter": 35}}],
            [{"destinationVaultArn": other_arn, "lifecycle": {"deleteAfter": 35}}],
            None,
        ]


def test_dev_plan_has_no_copies_and_nothing_in_a_second_region(stack):
    dev = stack("dev")
    (plan,) = dev.of_type("aws:backup/plan:Plan")
    assert all("copyActions" not in rule for rule in plan.inputs["rules"])
    assert {v.region for v in dev.of_type("aws:backup/vault:Vault")} == {"us-east-1"}
    assert dev.of_type("aws:backup/restoreTestingPlan:RestoreTestingPlan") == []


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_bucket_is_selected_by_arn_plus_the_backup_tag(stack, name):
    synthesis = stack(name)
    for selection in synthesis.of_type("aws:backup/selection:Selection"):
        role = selection.name.removeprefix("backup-")
        # Every data bucket; the S3 server access log bucket holds a record, not data to restore.
        buckets = [
            b
            for b in synthesis.of_type("aws:s3/bucket:Bucket")
            if b.name.startswith(f"{role}-") and not b.name.endswith("-access-logs")
        ]
        assert sorted(selection.inputs["resources"]) == sorted(b.outputs["arn"] for b in buckets)
        assert selection.inputs["selectionTags"] == [{"type": "STRINGEQUALS", "key": "backup", "value": "true"}]
        assert selection.inputs["planId"] == synthesis.one("aws:backup/plan:Plan", selection.name).outputs["name"]
        role_resource = synthesis.one("aws:iam/role:Role", selection.name)
        assert selection.inputs["iamRoleArn"] == role_resource.outputs["arn"]
        attached = sorted(
            a.inputs["policyArn"]
            for a in synthesis.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.name.startswith(f"{selection.name}-")
        )
        assert attached == sorted(f"arn:aws:iam::aws:policy/{p}" for p in BACKUP_ROLE_POLICIES)


def test_prod_restore_tests_restore_the_artifacts_bucket(stack):
    prod = stack("prod")
    for role in ("primary", "secondary"):
        plan = prod.one("aws:backup/restoreTestingPlan:RestoreTestingPlan", f"backup-{role}")
        assert plan.inputs == {
            "name": f"backup_{role}",
            "scheduleExpression": "cron(0 6 ? * SUN *)",
            "recoveryPointSelection": {
                "algorithm": "LATEST_WITHIN_WINDOW",
                "includeVaults": [vault_of(prod, role).outputs["arn"]],
                "recoveryPointTypes": ["CONTINUOUS", "SNAPSHOT"],
                "selectionWindowDays": 7,
            },
        }
        selection = prod.one("aws:backup/restoreTestingSelection:RestoreTestingSelection", f"backup-{role}")
        assert selection.inputs == {
            "name": f"backup_{role}_buckets",
            "restoreTestingPlanName": f"backup_{role}",
            "protectedResourceType": "S3",
            "protectedResourceArns": [prod.one("aws:s3/bucket:Bucket", f"{role}-artifacts").outputs["arn"]],
            "iamRoleArn": prod.one("aws:iam/role:Role", f"backup-{role}").outputs["arn"],
            "validationWindowHours": 24,
        }


def test_lock_retention_range_comes_in_order():
    assert problems(backup={"vault_lock": {**LOCK, "min_retention_days": 30, "max_retention_days": 20}}) == [
        "backup.vault_lock.max_retention_days: below min_retention_days (got 20; expected >= 30)"
    ]
