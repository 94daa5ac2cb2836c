"""`Storage`, `DataBucket`, `AccessLogBucket` and `BucketReplication` built alone, with plain
Args (no stack file, no StackConfig): children, names, the inputs that matter, and the
branches that leave a child out. tests/test_storage.py keeps the whole-stack wiring.

What mocks cannot prove: that S3 accepts the inputs (tests/test_storage.py sends them to moto
and botocore's model) and which changes replace a bucket.
"""

from __future__ import annotations

import pytest

from ml_platform.assembly_serving import versioned_arn, versioned_name
from ml_platform.components.storage import (
    BucketReplication,
    BucketReplicationArgs,
    DataBucket,
    DataBucketArgs,
    LifecycleTierArgs,
    NoncurrentVersionArgs,
    Storage,
    StorageArgs,
    access_log_bucket_policy,
    bucket_policy,
    replication_policy,
)
from tests.harness import decoded, in_region, run_component

KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"
TIERED = LifecycleTierArgs(standard_ia_days=30, glacier_days=90, noncurrent=NoncurrentVersionArgs(expiration_days=60))
ARCHIVED = LifecycleTierArgs(mode="intelligent_tiering", archive_access_days=90)
BASE = {
    ("aws:s3/bucket:Bucket", "raw"),
    ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "raw"),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "raw"),
    ("aws:s3/bucketVersioning:BucketVersioning", "raw"),
    ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "raw"),
    ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "raw"),
    ("aws:s3/bucketPolicy:BucketPolicy", "raw"),
}


def children(run, type_token: str, name: str) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in run.children(run.one(type_token, name))}


def build_bucket(tiers: LifecycleTierArgs, protect: bool = False):
    return run_component(
        lambda: DataBucket(
            "raw", DataBucketArgs(key_arn=KEY, tiers=tiers, protect=protect), opts=in_region("eu-west-1")
        )
    )


def test_a_tiered_data_bucket_is_encrypted_versioned_private_and_tiered():
    run = build_bucket(TIERED)
    assert children(run, "ml-platform:storage:DataBucket", "raw") == BASE
    bucket = run.one("aws:s3/bucket:Bucket", "raw")
    assert (bucket.inputs, bucket.protect, bucket.retain_on_delete) == ({"forceDestroy": False}, False, False)
    encryption = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "raw"
    )
    assert encryption.inputs["rules"] == [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY},
            "bucketKeyEnabled": True,
        }
    ]
    assert run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "raw").inputs == {
        "bucket": bucket.outputs["bucket"],
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "raw")
    assert lifecycle.inputs["rules"] == [
        {
            "id": "tiers",
            "status": "Enabled",
            "filter": {},
            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
            "transitions": [{"days": 30, "storageClass": "STANDARD_IA"}, {"days": 90, "storageClass": "GLACIER_IR"}],
            "expiration": {"expiredObjectDeleteMarker": True},
            "noncurrentVersionExpiration": {"noncurrentDays": 60},
        }
    ]
    assert lifecycle.inputs["transitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    versioning = run.one("aws:s3/bucketVersioning:BucketVersioning", "raw")
    assert versioning.urn in lifecycle.depends_on
    policy = run.one("aws:s3/bucketPolicy:BucketPolicy", "raw")
    assert decoded(policy.inputs["policy"]) == bucket_policy(bucket.outputs["arn"], KEY)
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "raw")
    assert block.urn in policy.depends_on


def test_intelligent_tiering_with_archive_tiers_adds_the_tiering_configuration():
    run = build_bucket(ARCHIVED, protect=True)
    assert children(run, "ml-platform:storage:DataBucket", "raw") == BASE | {
        ("aws:s3/bucketIntelligentTieringConfiguration:BucketIntelligentTieringConfiguration", "raw")
    }
    tiering = run.one("aws:s3/bucketIntelligentTieringConfiguration:BucketIntelligentTieringConfiguration", "raw")
    assert (tiering.inputs["name"], tiering.inputs["status"], tiering.inputs["tierings"]) == (
        "archive",
        "Enabled",
        [{"accessTier": "ARCHIVE_ACCESS", "days": 90}],
    )
    bucket = run.one("aws:s3/bucket:Bucket", "raw")
    assert (bucket.protect, bucket.retain_on_delete) == (True, True)


def test_intelligent_tiering_without_archive_tiers_declares_no_tiering_configuration():
    run = build_bucket(LifecycleTierArgs(mode="intelligent_tiering"))
    assert children(run, "ml-platform:storage:DataBucket", "raw") == BASE


def test_storage_declares_one_logged_bucket_per_class_and_the_region_log_bucket():
    run = run_component(
        lambda: Storage(
            "eu",
            StorageArgs(
                key_arn=KEY,
                buckets={"raw": TIERED, "models": ARCHIVED},
                account_id="111122223333",
                access_log_expiration_days=400,
            ),
            opts=in_region("eu-west-1"),
        )
    )
    assert children(run, "ml-platform:storage:Storage", "eu") == {
        ("ml-platform:storage:DataBucket", "eu-raw"),
        ("ml-platform:storage:DataBucket", "eu-models"),
        ("ml-platform:storage:AccessLogBucket", "eu-access-logs"),
        ("aws:s3/bucketLogging:BucketLogging", "eu-raw"),
        ("aws:s3/bucketLogging:BucketLogging", "eu-models"),
    }
    logs = run.one("aws:s3/bucket:Bucket", "eu-access-logs")
    log_policy = run.one("aws:s3/bucketPolicy:BucketPolicy", "eu-access-logs")
    sources = [run.one("aws:s3/bucket:Bucket", name).outputs["arn"] for name in ("eu-raw", "eu-models")]
    assert decoded(log_policy.inputs["policy"]) == access_log_bucket_policy(
        logs.outputs["arn"], sources, "111122223333"
    )
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "eu-access-logs")
    assert lifecycle.inputs["rules"][0]["expiration"] == {"days": 400}
    assert run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "eu-access-logs"
    ).inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    for cls in ("raw", "models"):
        logging = run.one("aws:s3/bucketLogging:BucketLogging", f"eu-{cls}")
        assert logging.inputs == {
            "bucket": run.one("aws:s3/bucket:Bucket", f"eu-{cls}").outputs["bucket"],
            "targetBucket": logs.outputs["bucket"],
            "targetPrefix": f"{cls}/",
            "targetObjectKeyFormat": {"partitionedPrefix": {"partitionDateSource": "EventTime"}},
        }
        assert log_policy.urn in logging.depends_on


def test_storage_without_an_account_reads_it_from_the_provider():
    run = run_component(
        lambda: Storage("eu", StorageArgs(key_arn=KEY, buckets={"raw": TIERED}), opts=in_region("eu-west-1"))
    )
    policy = decoded(run.one("aws:s3/bucketPolicy:BucketPolicy", "eu-access-logs").inputs["policy"])
    # offline/engine.py's getCallerIdentity answers with its mock account.
    assert policy["Statement"][1]["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_storage_args_report_every_problem():
    with pytest.raises(ValueError) as caught:
        StorageArgs(key_arn=KEY, buckets={"Raw Data": TIERED}, access_log_expiration_days=90)
    assert str(caught.value) == (
        "StorageArgs: buckets: bucket classes must match ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ (got ['Raw Data']); "
        "access_log_expiration_days: must be above 90, after the log tiers (got 90)"
    )
    with pytest.raises(ValueError) as caught:
        StorageArgs(key_arn=KEY, buckets={})
    assert str(caught.value) == "StorageArgs: buckets: at least one bucket class is needed (got none)"


def test_replication_waits_for_versioning_on_both_sides_and_scopes_its_role():
    def program():
        source = DataBucket("src", DataBucketArgs(key_arn=KEY, tiers=TIERED), opts=in_region("eu-west-1"))
        replica = DataBucket("dst", DataBucketArgs(key_arn="arn:k2", tiers=TIERED), opts=in_region("eu-central-1"))
        BucketReplication(
            "copy",
            BucketReplicationArgs(
                source_bucket_name=versioned_name(source),
                source_bucket_arn=versioned_arn(source),
                replica_bucket_arn=versioned_arn(replica),
                source_key_arn=KEY,
                replica_key_arn="arn:k2",
                source_region="eu-west-1",
                replica_region="eu-central-1",
                account_id="111122223333",
            ),
            opts=in_region("eu-west-1"),
        )

    run = run_component(program)
    assert children(run, "ml-platform:storage:BucketReplication", "copy") == {
        ("aws:iam/role:Role", "copy"),
        ("aws:iam/rolePolicy:RolePolicy", "copy"),
        ("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "copy"),
    }
    source, replica = (run.one("aws:s3/bucket:Bucket", name).outputs for name in ("src", "dst"))
    config = run.one("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "copy")
    assert config.region == "eu-west-1"
    assert config.inputs["bucket"] == source["bucket"]
    # Without Replication Time Control: no replication time or metrics in the destination.
    assert config.inputs["rules"][0]["destination"] == {
        "bucket": replica["arn"],
        "encryptionConfiguration": {"replicaKmsKeyId": "arn:k2"},
    }
    versionings = {run.one("aws:s3/bucketVersioning:BucketVersioning", name).urn for name in ("src", "dst")}
    role_policy = run.one("aws:iam/rolePolicy:RolePolicy", "copy")
    assert versionings | {role_policy.urn} <= set(config.depends_on)
    assert decoded(role_policy.inputs["policy"]) == replication_policy(
        source["arn"], replica["arn"], KEY, "arn:k2", "eu-west-1", "eu-central-1"
    )
