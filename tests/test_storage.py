"""Storage: lifecycle builders and rules, bucket and replication policies, and the buckets
each stack declares."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from moto.iam.policy_validation import BaseIAMPolicyValidator, IAMPolicyDocumentValidator

from ml_platform.assembly_serving import lifecycle_tier_args
from ml_platform.components.storage import (
    access_log_bucket_policy,
    access_log_lifecycle_rules,
    bucket_policy,
    intelligent_tiering_tierings,
    lifecycle_rules,
    replication_policy,
    replication_rule,
)
from ml_platform.config import LifecycleTiers, StorageConfig
from tests.aws_shapes import request
from tests.test_config import problems

DEFAULTS = StorageConfig.model_validate({})
BUCKET = "arn:aws:s3:::datasets-primary-x"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
REPLICA = "arn:aws:s3:::datasets-secondary-x"
REPLICA_KEY = "arn:aws:kms:us-west-2:123456789012:key/66666666-7777-8888-9999-000000000000"


# --------------------------------------------------------------------------------------------
# Lifecycle builders


def test_datasets_default_lifecycle():
    assert lifecycle_rules(lifecycle_tier_args(DEFAULTS.datasets)) == [
        {
            "id": "tiers",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
            "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 180, "storage_class": "GLACIER_IR"}],
            "expiration": {"expired_object_delete_marker": True},
            "noncurrent_version_transitions": [
                {"noncurrent_days": 30, "storage_class": "STANDARD_IA", "newer_noncurrent_versions": 3}
            ],
            "noncurrent_version_expiration": {"noncurrent_days": 365, "newer_noncurrent_versions": 3},
        }
    ]


def test_capture_default_lifecycle_tiers_down_to_deep_archive_and_expires():
    (rule,) = lifecycle_rules(lifecycle_tier_args(DEFAULTS.capture))
    assert rule["transitions"] == [
        {"days": 30, "storage_class": "STANDARD_IA"},
        {"days": 90, "storage_class": "GLACIER"},
        {"days": 180, "storage_class": "DEEP_ARCHIVE"},
    ]
    assert rule["expiration"] == {"days": 730}
    assert rule["noncurrent_version_expiration"] == {"noncurrent_days": 30}
    assert "noncurrent_version_transitions" not in rule


def test_artifacts_default_lifecycle_keeps_models_instant():
    (rule,) = lifecycle_rules(lifecycle_tier_args(DEFAULTS.artifacts))
    assert rule["transitions"] == [
        {"days": 30, "storage_class": "STANDARD_IA"},
        {"days": 90, "storage_class": "GLACIER_IR"},
    ]
    assert rule["noncurrent_version_expiration"] == {"noncurrent_days": 90, "newer_noncurrent_versions": 5}


def test_intelligent_tiering_mode_drops_default_tiers_and_adds_archive_tiers():
    tiers = StorageConfig.model_validate(
        {"capture": {"mode": "intelligent_tiering", "archive_access_days": 90, "deep_archive_access_days": 180}}
    ).capture
    tiers = lifecycle_tier_args(tiers)
    (rule,) = lifecycle_rules(tiers)
    assert rule["transitions"] == [{"days": 0, "storage_class": "INTELLIGENT_TIERING"}]
    assert rule["expiration"] == {"days": 730}
    assert intelligent_tiering_tierings(tiers) == [
        {"access_tier": "ARCHIVE_ACCESS", "days": 90},
        {"access_tier": "DEEP_ARCHIVE_ACCESS", "days": 180},
    ]


def test_stack_keys_lay_over_class_defaults():
    config = StorageConfig.model_validate({"datasets": {"glacier_days": 365, "noncurrent": {"expiration_days": 400}}})
    assert (config.datasets.standard_ia_days, config.datasets.glacier_days) == (30, 365)
    assert config.datasets.noncurrent.model_dump() == {
        "standard_ia_days": 30,
        "glacier_days": None,
        "expiration_days": 400,
        "keep_newest": 3,
    }


@pytest.mark.parametrize("cls", ["datasets", "artifacts", "capture"])
def test_lifecycle_is_a_valid_s3_request_and_moto_accepts_it(cls):
    tiers = lifecycle_tier_args(getattr(DEFAULTS, cls))
    params = request(
        "s3",
        "PutBucketLifecycleConfiguration",
        {
            "bucket": "lifecycle-test",
            "lifecycle_configuration": {"rules": lifecycle_rules(tiers)},
            "transition_default_minimum_object_size": tiers.transition_default_minimum_object_size,
        },
    )
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lifecycle-test")
        s3.put_bucket_lifecycle_configuration(**params)
        stored = s3.get_bucket_lifecycle_configuration(Bucket="lifecycle-test")["Rules"]
    assert [t["StorageClass"] for t in stored[0].get("Transitions", [])] == [
        t["storage_class"] for t in lifecycle_rules(tiers)[0].get("transitions", [])
    ]


# --------------------------------------------------------------------------------------------
# Lifecycle rules: one message per violation


def test_standard_ia_needs_thirty_days():
    assert problems(storage={"datasets": {"standard_ia_days": 10}}) == [
        "storage.datasets.standard_ia_days: STANDARD_IA needs objects at least 30 days old (got 10; expected >= 30)"
    ]


def test_tiers_out_of_order_each_get_a_message():
    assert problems(storage={"capture": {"standard_ia_days": 60, "glacier_days": 40, "deep_archive_days": 30}}) == [
        "storage.capture.glacier_days: tiers must come in order: after standard_ia_days (got 40; expected > 60)",
        "storage.capture.deep_archive_days: tiers must come in order: after glacier_days (got 30; expected > 40)",
    ]


def test_glacier_ir_needs_thirty_days_in_standard_ia():
    assert problems(storage={"artifacts": {"standard_ia_days": 30, "glacier_days": 45}}) == [
        "storage.artifacts.glacier_days: tiers must come in order: at least 30 days after standard_ia_days "
        "(got 45; expected >= 60)"
    ]


def test_expiry_before_last_transition():
    assert problems(storage={"capture": {"expiration_days": 100}}) == [
        "storage.capture.expiration_days: expiry must come after the last transition (deep_archive_days) "
        "(got 100; expected > 180)"
    ]


def test_noncurrent_rules():
    assert problems(storage={"artifacts": {"noncurrent": {"standard_ia_days": 5, "expiration_days": 3}}}) == [
        "storage.artifacts.noncurrent.standard_ia_days: STANDARD_IA needs objects at least 30 days old "
        "(got 5; expected >= 30)",
        "storage.artifacts.noncurrent.expiration_days: expiry must come after the last transition "
        "(standard_ia_days) (got 3; expected > 5)",
    ]


def test_modes_keep_their_own_keys():
    assert problems(
        storage={
            "datasets": {"archive_access_days": 90},
            "capture": {
                "mode": "intelligent_tiering",
                "glacier_days": 90,
                "archive_access_days": 200,
                "deep_archive_access_days": 180,
            },
        }
    ) == [
        "storage.datasets.archive_access_days: only used in intelligent_tiering mode (got 90; expected no value "
        "when mode is tiered)",
        "storage.capture.glacier_days: only used in tiered mode (got 90; expected no value when mode is "
        "intelligent_tiering)",
        "storage.capture.deep_archive_access_days: tiers must come in order: after archive_access_days "
        "(got 180; expected > 200)",
    ]


def test_unknown_lifecycle_key_and_bad_mode():
    assert problems(storage={"capture": {"mode": "cold", "glacier_dayz": 3}}) == [
        "storage.capture.mode: not an allowed value (got 'cold'; expected one of 'tiered' or 'intelligent_tiering')",
        "storage.capture.glacier_dayz: unknown key; did you mean 'glacier_days'? (got 3; expected one of: "
        + ", ".join(sorted(LifecycleTiers.model_fields))
        + ")",
    ]


# --------------------------------------------------------------------------------------------
# Policies


def test_bucket_policy_exact_and_accepted_by_validators_and_moto():
    policy = bucket_policy(BUCKET, KEY)
    assert [s["Sid"] for s in policy["Statement"]] == [
        "DenyInsecureTransport",
        "DenyPutsWithoutKms",
        "DenyPutsWithAnotherKey",
    ]
    assert policy["Statement"][0] == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET, f"{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert policy["Statement"][2]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY},
        "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
    }
    BaseIAMPolicyValidator(json.dumps(policy)).validate()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="datasets-primary-x")
        s3.put_bucket_policy(Bucket="datasets-primary-x", Policy=json.dumps(policy))
        assert json.loads(s3.get_bucket_policy(Bucket="datasets-primary-x")["Policy"]) == policy


def test_replication_policy_is_scoped_to_the_two_buckets_and_keys():
    policy = replication_policy(BUCKET, REPLICA, KEY, REPLICA_KEY, "us-east-1", "us-west-2")
    resources = {json.dumps(s["Resource"]) for s in policy["Statement"]}
    assert resources == {json.dumps(r) for r in (BUCKET, f"{BUCKET}/*", f"{REPLICA}/*", KEY, REPLICA_KEY)}
    decrypt, encrypt = policy["Statement"][3:]
    assert decrypt == {
        "Sid": "DecryptSource",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": KEY,
        "Condition": {
            "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [BUCKET, f"{BUCKET}/*"]},
        },
    }
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    assert all("*" not in action for s in policy["Statement"] for action in s["Action"])
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()
    with mock_aws():
        boto3.client("iam", region_name="us-east-1").create_policy(PolicyName="r", PolicyDocument=json.dumps(policy))


@pytest.mark.parametrize("time_control", [False, True])
def test_replication_rule_is_a_valid_s3_request(time_control):
    rule = replication_rule(REPLICA, REPLICA_KEY, time_control)
    params = request(
        "s3",
        "PutBucketReplication",
        {"bucket": "b", "replication_configuration": {"role": "arn:aws:iam::123456789012:role/r", "rules": [rule]}},
    )
    destination = params["ReplicationConfiguration"]["Rules"][0]["Destination"]
    assert destination["EncryptionConfiguration"] == {"ReplicaKmsKeyID": REPLICA_KEY}
    assert ("ReplicationTime" in destination) is time_control
    assert params["ReplicationConfiguration"]["Rules"][0]["DeleteMarkerReplication"] == {"Status": "Enabled"}


# --------------------------------------------------------------------------------------------
# The stacks


def buckets_of(synthesis, region):
    return {b.name for b in synthesis.of_type("aws:s3/bucket:Bucket") if b.region == region}


def data_buckets(synthesis):
    return [b for b in synthesis.of_type("aws:s3/bucket:Bucket") if not b.name.endswith("-access-logs")]


def attached(synthesis, type_, bucket_name):
    """The settings resource of `type_` pointing at the bucket named `bucket_name`."""
    bucket_id = synthesis.one("aws:s3/bucket:Bucket", bucket_name).outputs["bucket"]
    (found,) = [r for r in synthesis.of_type(type_) if r.inputs.get("bucket") == bucket_id]
    return found


def test_dev_has_three_buckets_and_no_replication(stack):
    dev = stack("dev")
    assert buckets_of(dev, "us-east-1") == {
        "primary-datasets",
        "primary-artifacts",
        "primary-capture",
        "primary-access-logs",
    }
    assert dev.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert {(b.protect, b.retain_on_delete) for b in dev.of_type("aws:s3/bucket:Bucket")} == {(False, False)}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_bucket_is_encrypted_versioned_blocked_and_tiered(stack, name):
    synthesis = stack(name)
    keys = {k.region: k.outputs["arn"] for k in synthesis.of_type("aws:kms/key:Key")}
    for bucket in data_buckets(synthesis):
        sse = attached(
            synthesis,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            bucket.name,
        )
        assert sse.inputs["rules"] == [
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms",
                    "kmsMasterKeyId": keys[bucket.region],
                },
                "bucketKeyEnabled": True,
            }
        ]
        versioning = attached(synthesis, "aws:s3/bucketVersioning:BucketVersioning", bucket.name)
        assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
        block = attached(synthesis, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket.name)
        assert {k: v for k, v in block.inputs.items() if k != "bucket"} == {
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }
        policy = attached(synthesis, "aws:s3/bucketPolicy:BucketPolicy", bucket.name)
        assert json.loads(policy.inputs["policy"]) == bucket_policy(bucket.outputs["arn"], keys[bucket.region])
        lifecycle = attached(synthesis, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket.name)
        assert lifecycle.inputs["transitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
        assert versioning.urn in lifecycle.depends_on


def test_dev_capture_expiry_comes_from_the_stack_file(stack):
    lifecycle = attached(
        stack("dev"), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "primary-capture"
    )
    assert lifecycle.inputs["rules"][0]["expiration"] == {"days": 365}


def test_prod_replicates_datasets_and_artifacts_to_secondary_with_the_secondary_key(stack):
    prod = stack("prod")
    assert buckets_of(prod, "us-west-2") == {
        "secondary-datasets",
        "secondary-artifacts",
        "secondary-capture",
        "secondary-access-logs",
    }
    secondary_key = prod.one("aws:kms/key:Key", "key-secondary").outputs["arn"]
    configs = {c.name: c for c in prod.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")}
    assert set(configs) == {"datasets-replication", "artifacts-replication"}
    for cls in ("datasets", "artifacts"):
        config = configs[f"{cls}-replication"]
        assert config.region == "us-east-1"
        assert config.inputs["bucket"] == prod.one("aws:s3/bucket:Bucket", f"primary-{cls}").outputs["bucket"]
        replica_arn = prod.one("aws:s3/bucket:Bucket", f"secondary-{cls}").outputs["arn"]
        assert config.inputs["rules"] == [
            {
                "id": "to-secondary",
                "status": "Enabled",
                "priority": 1,
                "filter": {},
                "deleteMarkerReplication": {"status": "Enabled"},
                "sourceSelectionCriteria": {"sseKmsEncryptedObjects": {"status": "Enabled"}},
                "destination": {
                    "bucket": replica_arn,
                    "encryptionConfiguration": {"replicaKmsKeyId": secondary_key},
                    "replicationTime": {"status": "Enabled", "time": {"minutes": 15}},
                    "metrics": {"status": "Enabled", "eventThreshold": {"minutes": 15}},
                },
            }
        ]
        role = prod.one("aws:iam/role:Role", f"{cls}-replication")
        assert config.inputs["role"] == role.outputs["arn"]
        role_policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", f"{cls}-replication").inputs["policy"])
        assert role_policy == replication_policy(
            prod.one("aws:s3/bucket:Bucket", f"primary-{cls}").outputs["arn"],
            replica_arn,
            prod.one("aws:kms/key:Key", "key-primary").outputs["arn"],
            secondary_key,
            "us-east-1",
            "us-west-2",
        )


def test_prod_protects_every_bucket(stack):
    assert {(b.protect, b.retain_on_delete) for b in stack("prod").of_type("aws:s3/bucket:Bucket")} == {(True, True)}


def test_access_log_lifecycle_tiers_and_expiry():
    assert access_log_lifecycle_rules(365) == [
        {
            "id": "access-log-tiers",
            "status": "Enabled",
            "filter": {},
            "transitions": [
                {"days": 30, "storage_class": "STANDARD_IA"},
                {"days": 90, "storage_class": "GLACIER_IR"},
            ],
            "expiration": {"days": 365},
            "noncurrent_version_expiration": {"noncurrent_days": 30},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
    ]
    with pytest.raises(ValueError) as caught:
        access_log_lifecycle_rules(60)
    assert str(caught.value) == "access log expiration_days must be above 90, after the tiers (got 60)"
    params = {"Bucket": "access-logs-x", "LifecycleConfiguration": {"Rules": access_log_lifecycle_rules(365)}}
    mapped = request("s3", "PutBucketLifecycleConfiguration", params)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="access-logs-x")
        s3.put_bucket_lifecycle_configuration(**mapped)
        assert s3.get_bucket_lifecycle_configuration(Bucket="access-logs-x")["Rules"][0]["Expiration"] == {"Days": 365}


def test_access_log_bucket_policy_admits_only_s3_logging_for_the_stacks_buckets():
    policy = access_log_bucket_policy("arn:aws:s3:::access-logs-x", [REPLICA, BUCKET], "123456789012")
    assert policy["Statement"][1] == {
        "Sid": "S3ServerAccessLogsPolicy",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::access-logs-x/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": [BUCKET, REPLICA]},
            "StringEquals": {"aws:SourceAccount": "123456789012"},
        },
    }
    assert policy["Statement"][0]["Sid"] == "DenyInsecureTransport"
    BaseIAMPolicyValidator(json.dumps(policy)).validate()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="access-logs-x")
        s3.put_bucket_policy(Bucket="access-logs-x", Policy=json.dumps(policy))
        assert json.loads(s3.get_bucket_policy(Bucket="access-logs-x")["Policy"]) == policy


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_data_bucket_logs_its_requests_to_its_regions_sse_s3_log_bucket(stack, name):
    synthesis = stack(name)
    account = "123456789012"
    for region in {b.region for b in synthesis.of_type("aws:s3/bucket:Bucket")}:
        role = "primary" if region == "us-east-1" else "secondary"
        log_bucket = synthesis.one("aws:s3/bucket:Bucket", f"{role}-access-logs")
        assert log_bucket.region == region
        assert (log_bucket.protect, log_bucket.retain_on_delete) == ((name == "prod"),) * 2
        sse = attached(
            synthesis,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            log_bucket.name,
        )
        # SSE-S3: S3 server access log delivery does not write to an SSE-KMS target.
        assert sse.inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        assert attached(synthesis, "aws:s3/bucketVersioning:BucketVersioning", log_bucket.name).inputs[
            "versioningConfiguration"
        ] == {"status": "Enabled"}
        ownership = attached(synthesis, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", log_bucket.name)
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        lifecycle = attached(
            synthesis, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", log_bucket.name
        )
        assert lifecycle.inputs["rules"][0]["expiration"] == {"days": 365}
        sources = [f"{role}-{cls}" for cls in ("datasets", "artifacts", "capture")]
        policy = attached(synthesis, "aws:s3/bucketPolicy:BucketPolicy", log_bucket.name)
        assert json.loads(policy.inputs["policy"]) == access_log_bucket_policy(
            log_bucket.outputs["arn"],
            [synthesis.one("aws:s3/bucket:Bucket", source).outputs["arn"] for source in sources],
            account,
        )
        target = log_bucket.outputs["bucket"]
        for source in sources:
            logging = attached(synthesis, "aws:s3/bucketLogging:BucketLogging", source)
            assert logging.region == region
            assert {k: v for k, v in logging.inputs.items() if k != "bucket"} == {
                "targetBucket": target,
                "targetPrefix": f"{source.removeprefix(f'{role}-')}/",
                "targetObjectKeyFormat": {"partitionedPrefix": {"partitionDateSource": "EventTime"}},
            }
            assert policy.urn in logging.depends_on
        # The log bucket never logs to itself (or anywhere).
        assert [
            r for r in synthesis.of_type("aws:s3/bucketLogging:BucketLogging") if r.inputs["bucket"] == target
        ] == []


def test_bucket_logging_is_a_valid_s3_request_and_moto_delivers_to_the_target():
    params = {
        "Bucket": "datasets-primary-x",
        "BucketLoggingStatus": {
            "LoggingEnabled": {
                "TargetBucket": "access-logs-x",
                "TargetPrefix": "datasets/",
                "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}},
            }
        },
    }
    mapped = request("s3", "PutBucketLogging", params)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("datasets-primary-x", "access-logs-x"):
            s3.create_bucket(Bucket=bucket)
        policy = access_log_bucket_policy("arn:aws:s3:::access-logs-x", [BUCKET], "123456789012")
        # moto checks that the target's policy grants logging.s3.amazonaws.com before it turns
        # logging on, but it reads every statement's Principal as an object: give it the grant
        # alone (the TLS deny's Principal "*" is a string).
        grant = {**policy, "Statement": [policy["Statement"][1]]}
        s3.put_bucket_policy(Bucket="access-logs-x", Policy=json.dumps(grant))
        s3.put_bucket_logging(**mapped)
        enabled = s3.get_bucket_logging(Bucket="datasets-primary-x")["LoggingEnabled"]
        assert (enabled["TargetBucket"], enabled["TargetPrefix"]) == ("access-logs-x", "datasets/")
