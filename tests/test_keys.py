"""The per-region KMS key: pure policy builder, args checks, and the component under mocks."""

from __future__ import annotations

import pytest

from ml_platform.components.keys import RegionKey, RegionKeyArgs, key_policy
from tests.harness import decoded, in_region, run_component


def test_key_policy_delegates_to_the_account_only():
    assert key_policy("111122223333", "aws") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def test_key_policy_lets_topic_publishers_use_the_key_in_the_form_sns_documents():
    policy = key_policy("111122223333", "aws-us-gov", ("events.amazonaws.com", "cloudwatch.amazonaws.com"))
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws-us-gov:iam::111122223333:root"}
    # No aws:SourceAccount: EventBridge does not send it to KMS, so a condition would drop its
    # notifications silently; the topic policy carries the confused-deputy guard instead.
    assert policy["Statement"][1] == {
        "Sid": "ServicesPublishToEncryptedTopics",
        "Effect": "Allow",
        "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


def test_args_report_every_problem():
    with pytest.raises(ValueError) as caught:
        RegionKeyArgs(
            alias_name="alias/aws/s3",
            account_id="1",
            partition="aws",
            rotation_period_in_days=30,
            deletion_window_in_days=45,
        )
    assert str(caught.value) == (
        "RegionKeyArgs: alias_name: must start with 'alias/' and not 'alias/aws/' (got 'alias/aws/s3'); "
        "rotation_period_in_days: out of range (got 30; expected 90 to 2560); "
        "deletion_window_in_days: out of range (got 45; expected 7 to 30)"
    )


def build(protect: bool, services: tuple[str, ...] = ()):
    def program():
        RegionKey(
            "data",
            RegionKeyArgs(
                alias_name="alias/ml-platform-test",
                account_id="111122223333",
                partition="aws",
                service_principals=services,
                rotation_period_in_days=180,
                protect=protect,
            ),
            opts=in_region("eu-west-1"),
        )

    return run_component(program)


def test_component_declares_a_rotating_key_and_alias_in_its_provider_region():
    run = build(protect=False)
    component = run.one("ml-platform:keys:RegionKey", "data")
    key = run.one("aws:kms/key:Key", "data")
    alias = run.one("aws:kms/alias:Alias", "data")
    assert key.parent == component.urn and alias.parent == component.urn
    assert {component.region, key.region, alias.region} == {"eu-west-1"}
    assert {k: v for k, v in key.inputs.items() if k != "policy"} == {
        "description": "ml-platform data key (alias/ml-platform-test)",
        "enableKeyRotation": True,
        "rotationPeriodInDays": 180,
        "deletionWindowInDays": 30,
    }
    assert decoded(key.inputs["policy"]) == key_policy("111122223333", "aws")
    assert alias.inputs == {
        "name": "alias/ml-platform-test",
        "targetKeyId": key.outputs["keyId"],
    }
    assert (key.protect, key.retain_on_delete) == (False, False)


def test_protection_applies_to_the_key_not_the_alias():
    run = build(protect=True, services=("cloudwatch.amazonaws.com",))
    key = run.one("aws:kms/key:Key", "data")
    alias = run.one("aws:kms/alias:Alias", "data")
    assert (key.protect, key.retain_on_delete) == (True, True)
    assert (alias.protect, alias.retain_on_delete) == (False, False)
    assert decoded(key.inputs["policy"]) == key_policy("111122223333", "aws", ("cloudwatch.amazonaws.com",))


def test_logs_may_use_the_key_only_when_a_logs_region_is_given_and_only_in_the_partition_given():
    def program():
        RegionKey(
            "data",
            RegionKeyArgs(
                alias_name="alias/team-data",
                account_id="111122223333",
                partition="aws-cn",
                logs_region="cn-north-1",
            ),
            opts=in_region("cn-north-1"),
        )

    run = run_component(program)
    component = run.one("ml-platform:keys:RegionKey", "data")
    assert sorted((r.type, r.name) for r in run.children(component)) == [
        ("aws:kms/alias:Alias", "data"),
        ("aws:kms/key:Key", "data"),
    ]
    policy = decoded(run.one("aws:kms/key:Key", "data").inputs["policy"])
    assert policy == key_policy("111122223333", "aws-cn", (), "cn-north-1")
    assert [s["Sid"] for s in policy["Statement"]] == [
        "AccountAdministersKeyThroughIam",
        "LogsEncryptThisAccountsLogGroups",
    ]
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws-cn:iam::111122223333:root"}
    assert policy["Statement"][1]["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws-cn:logs:cn-north-1:111122223333:log-group:*"}
    }
    # Defaults: rotation yearly, a 30-day deletion window, no protection.
    key = run.one("aws:kms/key:Key", "data")
    assert (key.inputs["rotationPeriodInDays"], key.inputs["deletionWindowInDays"], key.protect) == (365, 30, False)
