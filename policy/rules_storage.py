"""Policy rules: S3 buckets and AWS Backup: encryption, versioning, public access, lifecycle,
access records, vaults and selections.

Plain functions over `policy_types.Resource`; `policies.py` names them in `RULES`. It imports
its siblings relatively (see `policies.py`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from .policy_types import (
    BUCKET_LOGGING_TYPES,
    BUCKET_TYPES,
    ENCRYPTION_TYPES,
    LIFECYCLE_TYPES,
    PUBLIC_ACCESS_BLOCK_TYPE,
    PUBLIC_ACCESS_FLAGS,
    SELECTION_TYPE,
    UNKNOWN,
    VAULT_LOCK_TYPE,
    VAULT_TYPE,
    VERSIONING_TYPES,
    Resource,
    as_list,
    dig,
    known,
    of_types,
    quoted,
)

# ---------------------------------------------------------------------------------------------
# S3 (stack rule: in pulumi-aws v7 a bucket's settings are separate resources naming it)


def _log_target_encryption(bucket: Resource, configs: list[Resource]) -> list[str]:
    """S3 delivers server access logs only to a target whose default encryption is SSE-S3:
    with SSE-KMS the logs are silently not written.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"""
    defaults = [dig(rule, "applyServerSideEncryptionByDefault") for c in configs for rule in as_list(c.get("rules"))]
    if any(not known(d) for d in defaults):
        return []
    found = sorted({str(dig(d, "sseAlgorithm")) for d in defaults if dig(d, "sseAlgorithm") is not None})
    if found == ["AES256"]:
        return []
    return [
        f"{bucket.label}: a server access log target must use SSE-S3, which S3 log delivery requires "
        f"(got sseAlgorithm {', '.join(map(repr, found)) or 'none'}; expected 'AES256')"
    ]


def _bucket_encryption(bucket: Resource, configs: list[Resource]) -> list[str]:
    defaults = [dig(rule, "applyServerSideEncryptionByDefault") for c in configs for rule in as_list(c.get("rules"))]
    if any(not known(d) for d in defaults):
        return []
    kms = [d for d in defaults if dig(d, "sseAlgorithm") in ("aws:kms", "aws:kms:dsse")]
    if not kms:
        found = sorted({str(dig(d, "sseAlgorithm")) for d in defaults if dig(d, "sseAlgorithm") is not None})
        if not found:
            return [f"{bucket.label}: no server-side encryption configuration with aws:kms"]
        return [
            f"{bucket.label}: server-side encryption is not SSE-KMS "
            f"(got sseAlgorithm {', '.join(map(repr, found))}; expected 'aws:kms')"
        ]
    if not any(dig(d, "kmsMasterKeyId") for d in kms):
        return [f"{bucket.label}: SSE-KMS without kmsMasterKeyId uses the AWS-managed key (expected the region's key)"]
    return []


def _bucket_versioning(bucket: Resource, configs: list[Resource]) -> list[str]:
    statuses = [dig(c.get("versioningConfiguration"), "status") for c in configs]
    if "Enabled" in statuses or UNKNOWN in statuses:
        return []
    if not statuses:
        return [f"{bucket.label}: versioning is not enabled (no aws:s3/bucketVersioning:BucketVersioning)"]
    return [f"{bucket.label}: versioning is not enabled (got status {quoted(statuses[0])}; expected 'Enabled')"]


def _bucket_public_access(bucket: Resource, blocks: list[Resource]) -> list[str]:
    if not blocks:
        return [f"{bucket.label}: no public-access block (no {PUBLIC_ACCESS_BLOCK_TYPE})"]
    best = min(
        (
            [flag for flag in PUBLIC_ACCESS_FLAGS if block.get(flag) is not True and known(block.get(flag))]
            for block in blocks
        ),
        key=len,
    )
    if best:
        return [f"{bucket.label}: public-access block is not full ({', '.join(best)} not true)"]
    return []


def _bucket_lifecycle(bucket: Resource, configs: list[Resource]) -> list[str]:
    if not configs:
        return [
            f"{bucket.label}: no lifecycle rules (no aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration)"
        ]
    statuses = [dig(rule, "status") for c in configs for rule in as_list(c.get("rules"))]
    if "Enabled" in statuses or UNKNOWN in statuses or any(not known(c.get("rules")) for c in configs):
        return []
    return [f"{bucket.label}: lifecycle configuration has no enabled rule (got statuses {sorted(map(str, statuses))})"]


def log_targets(resources: Sequence[Resource]) -> list[Resource]:
    """Buckets some bucket delivers its S3 server access logs to."""
    loggings = of_types(resources, BUCKET_LOGGING_TYPES)
    return [b for b in of_types(resources, BUCKET_TYPES) if any(lg.refers_to("targetBucket", b) for lg in loggings)]


def s3_buckets_hardened(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every bucket has SSE-KMS (SSE-S3 for a server access log target, the only encryption S3
    log delivery accepts), versioning Enabled, a full public-access block and lifecycle rules.
    Settings inline on the bucket (deprecated in pulumi-aws v7) do not count."""
    problems: list[str] = []
    targets = {b.urn or b.name for b in log_targets(resources)}
    for bucket in of_types(resources, BUCKET_TYPES):

        def attached(types: Iterable[str] | str, bucket: Resource = bucket) -> list[Resource]:
            return [r for r in of_types(resources, types) if r.refers_to("bucket", bucket)]

        if (bucket.urn or bucket.name) in targets:
            problems += _log_target_encryption(bucket, attached(ENCRYPTION_TYPES))
        else:
            problems += _bucket_encryption(bucket, attached(ENCRYPTION_TYPES))
        problems += _bucket_versioning(bucket, attached(VERSIONING_TYPES))
        problems += _bucket_public_access(bucket, attached(PUBLIC_ACCESS_BLOCK_TYPE))
        problems += _bucket_lifecycle(bucket, attached(LIFECYCLE_TYPES))
    return problems


# ---------------------------------------------------------------------------------------------
# Access records


def buckets_have_access_records(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every bucket that is not itself a log target logs its requests (S3 server access
    logging) to another bucket of its region; no bucket logs to itself (an endless loop of
    log objects logging their own delivery)."""
    loggings = of_types(resources, BUCKET_LOGGING_TYPES)
    targets = {b.urn or b.name for b in log_targets(resources)}
    problems = []
    for bucket in of_types(resources, BUCKET_TYPES):
        own = [lg for lg in loggings if lg.refers_to("bucket", bucket)]
        if any(lg.refers_to("targetBucket", bucket) for lg in own):
            problems.append(f"{bucket.label}: logs its server access records to itself (expected another bucket)")
            continue
        if (bucket.urn or bucket.name) in targets:
            continue
        if not own:
            problems.append(
                f"{bucket.label}: no access record of who read or changed it "
                f"(no aws:s3/bucketLogging:BucketLogging names it)"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# AWS Backup


def backup_vaults_use_kms(resource: Resource, environment: str) -> list[str]:
    if resource.type != VAULT_TYPE or resource.get("kmsKeyArn"):
        return []
    return [f"{resource.label}: no kmsKeyArn (recovery points would use the AWS-managed key)"]


def backup_vaults_locked_in_prod(resources: Sequence[Resource], environment: str) -> list[str]:
    if environment != "prod":
        return []
    locks = of_types(resources, VAULT_LOCK_TYPE)
    return [
        f"{vault.label}: not locked in prod (no {VAULT_LOCK_TYPE} for it)"
        for vault in of_types(resources, VAULT_TYPE)
        if not any(lock.refers_to("backupVaultName", vault) for lock in locks)
    ]


def _selection_covers(selection: Resource, bucket: Resource) -> bool:
    """Whether the selection lists the bucket's ARN (wildcards allowed), or, where the list is
    not known yet, was computed from the bucket. AWS Backup backs up resources of its own
    region only."""
    if not selection.same_region(bucket):
        return False
    arns = [i for i in bucket.ids() if i.startswith("arn:")]
    listed = selection.get("resources")
    for item in as_list(listed) if known(listed) else [UNKNOWN]:
        if isinstance(item, str) and any(fnmatch.fnmatchcase(arn, item) for arn in arns):
            return True
        if item is UNKNOWN and bucket.urn in selection.dependencies.get("resources", selection.depends_on):
            return True
    return False


def prod_buckets_in_backup_selection(resources: Sequence[Resource], environment: str) -> list[str]:
    """In prod every bucket (but an access log target) is listed in an AWS Backup selection."""
    if environment != "prod":
        return []
    selections = of_types(resources, SELECTION_TYPE)
    # Access log targets hold a record of requests, not data to restore; they are protected,
    # versioned and kept by their lifecycle instead.
    targets = {b.urn or b.name for b in log_targets(resources)}
    problems = []
    for bucket in of_types(resources, BUCKET_TYPES):
        if (bucket.urn or bucket.name) in targets:
            continue
        if not any(_selection_covers(selection, bucket) for selection in selections):
            arn = min((i for i in bucket.ids() if i.startswith("arn:")), default="its ARN")
            problems.append(f"{bucket.label}: not in any backup selection in prod (no {SELECTION_TYPE} lists {arn})")
    return problems
