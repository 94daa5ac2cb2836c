"""The storage policy rules (policy/rules_storage.py: S3 buckets, access records, AWS Backup) on
real synthesized stacks: a passing case, and failing cases that are mutations of the real
resources, asserting the exact message. What these cannot prove: see test_policy_rules.py.
"""

from __future__ import annotations

import pytest

from policy import policies
from policy.policies import UNKNOWN, Resource
from tests.policy_support import mutated, resources

SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
BUCKET = "aws:s3/bucket:Bucket"


@pytest.fixture(scope="module")
def prod(stack):
    return stack("prod")


# ---------------------------------------------------------------------------------------------
# S3


def test_buckets_pass(prod):
    assert policies.s3_buckets_hardened(resources(prod), "prod") == []


def test_bucket_without_its_encryption_configuration(prod):
    broken = mutated(prod, SSE, "primary-datasets", drop=True)
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket primary-datasets: no server-side encryption configuration with aws:kms"
    ]


def test_bucket_encrypted_with_aes256(prod):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
    broken = mutated(prod, SSE, "secondary-capture", inputs={"rules": rules})
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket secondary-capture: server-side encryption is not SSE-KMS "
        "(got sseAlgorithm 'AES256'; expected 'aws:kms')"
    ]


def test_bucket_on_the_aws_managed_key(prod):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}]
    broken = mutated(prod, SSE, "primary-artifacts", inputs={"rules": rules})
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket primary-artifacts: SSE-KMS without kmsMasterKeyId uses the AWS-managed key "
        "(expected the region's key)"
    ]


def test_bucket_versioning_suspended_or_missing(prod):
    suspended = mutated(
        prod, VERSIONING, "primary-datasets", inputs={"versioningConfiguration": {"status": "Suspended"}}
    )
    assert policies.s3_buckets_hardened(resources(suspended), "prod") == [
        "aws:s3/bucket:Bucket primary-datasets: versioning is not enabled (got status 'Suspended'; expected 'Enabled')"
    ]
    missing = mutated(prod, VERSIONING, "primary-datasets", drop=True)
    assert policies.s3_buckets_hardened(resources(missing), "prod") == [
        "aws:s3/bucket:Bucket primary-datasets: versioning is not enabled (no aws:s3/bucketVersioning:BucketVersioning)"
    ]


def test_bucket_public_access_block_partial_or_missing(prod):
    partial = mutated(
        prod, BLOCK, "primary-capture", inputs={"blockPublicPolicy": False}, without=("restrictPublicBuckets",)
    )
    assert policies.s3_buckets_hardened(resources(partial), "prod") == [
        "aws:s3/bucket:Bucket primary-capture: public-access block is not full "
        "(blockPublicPolicy, restrictPublicBuckets not true)"
    ]
    missing = mutated(prod, BLOCK, "primary-capture", drop=True)
    assert policies.s3_buckets_hardened(resources(missing), "prod") == [
        "aws:s3/bucket:Bucket primary-capture: no public-access block "
        "(no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock)"
    ]


def test_bucket_without_lifecycle_rules(prod):
    missing = mutated(prod, LIFECYCLE, "secondary-artifacts", drop=True)
    assert policies.s3_buckets_hardened(resources(missing), "prod") == [
        "aws:s3/bucket:Bucket secondary-artifacts: no lifecycle rules "
        "(no aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration)"
    ]
    lifecycle = prod.one(LIFECYCLE, "secondary-artifacts")
    disabled = [rule | {"status": "Disabled"} for rule in lifecycle.inputs["rules"]]
    off = mutated(prod, LIFECYCLE, "secondary-artifacts", inputs={"rules": disabled})
    assert policies.s3_buckets_hardened(resources(off), "prod") == [
        "aws:s3/bucket:Bucket secondary-artifacts: lifecycle configuration has no enabled rule "
        "(got statuses ['Disabled'])"
    ]


def test_preview_joins_a_bucket_whose_id_is_not_known_yet_through_dependencies():
    """In `pulumi preview` a new bucket's id is unknown; the engine's property dependencies
    still tie its settings to it."""
    bucket = Resource(BUCKET, "new", urn="urn:bucket")
    settings = [
        Resource(SSE, "new", {"bucket": UNKNOWN, "rules": [{"applyServerSideEncryptionByDefault": UNKNOWN}]}),
        Resource(VERSIONING, "new", {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Enabled"}}),
        Resource(BLOCK, "new", {"bucket": UNKNOWN} | dict.fromkeys(policies.PUBLIC_ACCESS_FLAGS, True)),
        Resource(LIFECYCLE, "new", {"bucket": UNKNOWN, "rules": [{"status": "Enabled"}]}),
    ]
    joined = [dataclass_with(r, dependencies={"bucket": ("urn:bucket",)}) for r in settings]
    assert policies.s3_buckets_hardened([bucket, *joined], "prod") == []
    unrelated = [dataclass_with(r, dependencies={"bucket": ("urn:other",)}) for r in settings]
    assert policies.s3_buckets_hardened([bucket, *unrelated], "prod") == [
        f"{BUCKET} new: no server-side encryption configuration with aws:kms",
        f"{BUCKET} new: versioning is not enabled (no {VERSIONING})",
        f"{BUCKET} new: no public-access block (no {BLOCK})",
        f"{BUCKET} new: no lifecycle rules (no {LIFECYCLE})",
    ]


def dataclass_with(resource: Resource, **changes) -> Resource:
    import dataclasses

    return dataclasses.replace(resource, **changes)


# ---------------------------------------------------------------------------------------------
# Access records


LOGGING = "aws:s3/bucketLogging:BucketLogging"


def test_access_log_target_passes_with_sse_s3_and_is_exempt_from_backup(prod):
    # The committed prod stack: SSE-S3 log buckets, not in any backup selection, no violation.
    assert policies.s3_buckets_hardened(resources(prod), "prod") == []
    assert policies.prod_buckets_in_backup_selection(resources(prod), "prod") == []
    assert policies.buckets_have_access_records(resources(prod), "prod") == []
    assert sorted(b.name for b in policies.log_targets(resources(prod))) == [
        "primary-access-logs",
        "secondary-access-logs",
    ]


def test_access_log_target_on_sse_kms_loses_its_logs(prod):
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}}]
    broken = mutated(prod, SSE, "primary-access-logs", inputs={"rules": rules})
    assert policies.s3_buckets_hardened(resources(broken), "prod") == [
        "aws:s3/bucket:Bucket primary-access-logs: a server access log target must use SSE-S3, which S3 log "
        "delivery requires (got sseAlgorithm 'aws:kms'; expected 'AES256')"
    ]


def test_bucket_without_an_access_record_or_logging_to_itself(prod):
    unlogged = mutated(prod, LOGGING, "secondary-capture", drop=True)
    assert policies.buckets_have_access_records(resources(unlogged), "prod") == [
        f"{BUCKET} secondary-capture: no access record of who read or changed it (no {LOGGING} names it)"
    ]
    to_itself = mutated(prod, LOGGING, "primary-datasets", inputs={"targetBucket": "primary-datasets-mock"})
    assert policies.buckets_have_access_records(resources(to_itself), "prod") == [
        f"{BUCKET} primary-datasets: logs its server access records to itself (expected another bucket)"
    ]


# ---------------------------------------------------------------------------------------------
# Backup


VAULT = "aws:backup/vault:Vault"

LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"

SELECTION = "aws:backup/selection:Selection"


def test_backup_vault_kms(prod):
    assert [m for r in resources(prod) for m in policies.backup_vaults_use_kms(r, "prod")] == []
    broken = mutated(prod, VAULT, "vault-secondary", without=("kmsKeyArn",))
    assert [m for r in resources(broken) for m in policies.backup_vaults_use_kms(r, "prod")] == [
        f"{VAULT} vault-secondary: no kmsKeyArn (recovery points would use the AWS-managed key)"
    ]


def test_backup_vault_locked_in_prod_only(prod):
    assert policies.backup_vaults_locked_in_prod(resources(prod), "prod") == []
    unlocked = resources(mutated(prod, LOCK, "vault-primary", drop=True))
    assert policies.backup_vaults_locked_in_prod(unlocked, "prod") == [
        f"{VAULT} vault-primary: not locked in prod (no {LOCK} for it)"
    ]
    assert policies.backup_vaults_locked_in_prod(unlocked, "dev") == []


def test_prod_buckets_in_a_backup_selection(prod):
    assert policies.prod_buckets_in_backup_selection(resources(prod), "prod") == []
    listed = prod.one(SELECTION, "backup-primary").inputs["resources"]
    assert listed[0] == "arn:aws:s3:::primary-datasets-mock"
    partial = mutated(prod, SELECTION, "backup-primary", inputs={"resources": listed[1:]})
    assert policies.prod_buckets_in_backup_selection(resources(partial), "prod") == [
        f"{BUCKET} primary-datasets: not in any backup selection in prod "
        f"(no {SELECTION} lists arn:aws:s3:::primary-datasets-mock)"
    ]
    assert policies.prod_buckets_in_backup_selection(resources(partial), "dev") == []
    wildcard = mutated(partial, SELECTION, "backup-primary", inputs={"resources": ["arn:aws:s3:::*"]})
    assert policies.prod_buckets_in_backup_selection(resources(wildcard), "prod") == []
