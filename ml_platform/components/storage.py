"""S3 storage: the datasets, artifacts and capture buckets of a region, their access log,
and replication.

Every data bucket: SSE-KMS with the region key and S3 Bucket Keys, versioning, ACLs disabled,
a full public-access block, a TLS-only bucket policy that also refuses puts asking for another
encryption or another key, lifecycle tiers from config, and S3 server access logging into the
region's `AccessLogBucket`. `BucketReplication` copies a bucket to its replica in the
secondary region, re-encrypting with the secondary key.

Why server access logs, not a CloudTrail trail with S3 data events: they record every request
(requester, operation, key, status, bytes) at no charge beyond storage, whereas data events
cost per event on buckets written by every training run and every captured invocation; they
stay in the region with the data; and they need no change to the region key's policy. Their
delivery is best effort (AWS: "most log records are delivered within a few hours"), which is
what an access record for audit needs; a trail would be the choice for alerting on reads in
near real time.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/logging-with-S3.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from ml_platform.components.iam import allow, document, kms_via_s3, trust_json

# S3 storage classes and Intelligent-Tiering access tiers this module writes
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Transition.html, StorageClass;
# API_Tiering.html, AccessTier).
STANDARD_IA = "STANDARD_IA"
GLACIER_IR = "GLACIER_IR"
GLACIER = "GLACIER"
DEEP_ARCHIVE = "DEEP_ARCHIVE"
INTELLIGENT_TIERING = "INTELLIGENT_TIERING"
ARCHIVE_ACCESS = "ARCHIVE_ACCESS"
DEEP_ARCHIVE_ACCESS = "DEEP_ARCHIVE_ACCESS"

# ---------------------------------------------------------------------------------------------
# Args of the lifecycle builders


@dataclass(frozen=True)
class NoncurrentVersionArgs:
    """What happens to an object version once a newer one replaces it; None leaves a step out.

    standard_ia_days / glacier_days: days after becoming noncurrent to move to STANDARD_IA /
        GLACIER_IR. expiration_days: days after becoming noncurrent to delete the version.
    keep_newest: noncurrent versions always kept, whatever their age (NewerNoncurrentVersions).
    """

    standard_ia_days: int | None = None
    glacier_days: int | None = None
    expiration_days: int | None = None
    keep_newest: int | None = None


@dataclass(frozen=True)
class LifecycleTierArgs:
    """The lifecycle of one bucket, in S3's terms; None leaves a transition or expiry out.

    mode: `tiered` (fixed-age transitions) or `intelligent_tiering` (INTELLIGENT_TIERING on
        day 0; S3 tiers objects by access, optionally into the archive tiers below).
    standard_ia_days / glacier_days / deep_archive_days: days to STANDARD_IA, to
        `glacier_storage_class` (GLACIER_IR or GLACIER) and to DEEP_ARCHIVE (tiered mode).
    expiration_days: days until current objects expire; None keeps them (and removes only
        expired delete markers).
    archive_access_days / deep_archive_access_days: Intelligent-Tiering archive tiers.
    noncurrent: noncurrent-version transitions and expiry.
    abort_incomplete_multipart_upload_days: days before incomplete uploads are aborted.
    transition_default_minimum_object_size: objects smaller than this are not transitioned.
    """

    mode: Literal["tiered", "intelligent_tiering"] = "tiered"
    standard_ia_days: int | None = None
    glacier_days: int | None = None
    glacier_storage_class: Literal["GLACIER_IR", "GLACIER"] = GLACIER_IR
    deep_archive_days: int | None = None
    expiration_days: int | None = None
    archive_access_days: int | None = None
    deep_archive_access_days: int | None = None
    noncurrent: NoncurrentVersionArgs = field(default_factory=NoncurrentVersionArgs)
    abort_incomplete_multipart_upload_days: int = 7
    transition_default_minimum_object_size: Literal["all_storage_classes_128K", "varies_by_storage_class"] = (
        "all_storage_classes_128K"
    )


# ---------------------------------------------------------------------------------------------
# Pure builders


def lifecycle_rules(tiers: LifecycleTierArgs) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules, as `BucketLifecycleConfiguration` rule inputs."""
    rule: dict[str, Any] = {
        "id": "tiers",
        "status": "Enabled",
        "filter": {},
        "abort_incomplete_multipart_upload": {"days_after_initiation": tiers.abort_incomplete_multipart_upload_days},
    }
    if tiers.mode == "intelligent_tiering":
        transitions = [(0, INTELLIGENT_TIERING)]
    else:
        transitions = [
            (tiers.standard_ia_days, STANDARD_IA),
            (tiers.glacier_days, tiers.glacier_storage_class),
            (tiers.deep_archive_days, DEEP_ARCHIVE),
        ]
    rule["transitions"] = [{"days": days, "storage_class": cls} for days, cls in transitions if days is not None]
    # A delete marker with no versions behind it is clutter; remove it when nothing else expires.
    rule["expiration"] = (
        {"days": tiers.expiration_days} if tiers.expiration_days is not None else {"expired_object_delete_marker": True}
    )
    noncurrent = tiers.noncurrent
    keep = {"newer_noncurrent_versions": noncurrent.keep_newest} if noncurrent.keep_newest else {}
    rule["noncurrent_version_transitions"] = [
        {"noncurrent_days": days, "storage_class": cls, **keep}
        for days, cls in ((noncurrent.standard_ia_days, STANDARD_IA), (noncurrent.glacier_days, GLACIER_IR))
        if days is not None
    ]
    if noncurrent.expiration_days is not None:
        rule["noncurrent_version_expiration"] = {"noncurrent_days": noncurrent.expiration_days, **keep}
    return [{k: v for k, v in rule.items() if v != []}]


def intelligent_tiering_tierings(tiers: LifecycleTierArgs) -> list[dict[str, Any]]:
    """Opt-in archive tiers of Intelligent-Tiering (empty when none is configured)."""
    return [
        {"access_tier": tier, "days": days}
        for days, tier in (
            (tiers.archive_access_days, ARCHIVE_ACCESS),
            (tiers.deep_archive_access_days, DEEP_ARCHIVE_ACCESS),
        )
        if days is not None
    ]


def bucket_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    """TLS only, and no put may ask for another encryption or another key.

    Default encryption (SSE-KMS with this key) encrypts every put that names no encryption,
    so a put without the header is still encrypted with the right key; what the policy stops
    is a caller downgrading to SSE-S3 or encrypting with a key the stack does not control.
    """
    objects = f"{bucket_arn}/*"
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyPutsWithoutKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        },
        {
            "Sid": "DenyPutsWithAnotherKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
            },
        },
    )


def replication_policy(
    source_bucket_arn: str,
    replica_bucket_arn: str,
    source_key_arn: str,
    replica_key_arn: str,
    source_region: str,
    replica_region: str,
) -> dict[str, Any]:
    """Least privilege for S3 replication: read versions of the source bucket, write replicas
    into the replica bucket, decrypt with the source key and encrypt with the replica key,
    each key only through S3 in its own region and only for these two buckets."""
    return document(
        allow("ReadSourceConfiguration", ["s3:GetReplicationConfiguration", "s3:ListBucket"], source_bucket_arn),
        allow(
            "ReadSourceVersions",
            ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
            f"{source_bucket_arn}/*",
        ),
        allow(
            "WriteReplicas",
            ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
            f"{replica_bucket_arn}/*",
        ),
        kms_via_s3(source_key_arn, source_region, ["kms:Decrypt"], [source_bucket_arn], "DecryptSource"),
        kms_via_s3(
            replica_key_arn,
            replica_region,
            ["kms:Encrypt", "kms:GenerateDataKey"],
            [replica_bucket_arn],
            "EncryptReplicas",
        ),
    )


def replication_rule(replica_bucket_arn: str, replica_key_arn: str, time_control: bool) -> dict[str, Any]:
    """One rule replicating every object and delete marker, re-encrypted with the replica key."""
    destination: dict[str, Any] = {
        "bucket": replica_bucket_arn,
        "encryption_configuration": {"replica_kms_key_id": replica_key_arn},
    }
    if time_control:
        destination["replication_time"] = {"status": "Enabled", "time": {"minutes": 15}}
        destination["metrics"] = {"status": "Enabled", "event_threshold": {"minutes": 15}}
    return {
        "id": "to-secondary",
        "status": "Enabled",
        "priority": 1,
        "filter": {},
        "delete_marker_replication": {"status": "Enabled"},
        "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
        "destination": destination,
    }


def access_log_lifecycle_rules(expiration_days: int) -> list[dict[str, Any]]:
    """Access logs: Standard-IA after 30 days (S3's minimum), Glacier Instant Retrieval after 90
    (still readable at once for an investigation), deleted after `expiration_days`."""
    if expiration_days <= 90:
        raise ValueError(f"access log expiration_days must be above 90, after the tiers (got {expiration_days})")
    return [
        {
            "id": "access-log-tiers",
            "status": "Enabled",
            "filter": {},
            "transitions": [
                {"days": 30, "storage_class": STANDARD_IA},
                {"days": 90, "storage_class": GLACIER_IR},
            ],
            "expiration": {"days": expiration_days},
            "noncurrent_version_expiration": {"noncurrent_days": 30},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
    ]


def access_log_bucket_policy(bucket_arn: str, source_bucket_arns: list[str], account_id: str) -> dict[str, Any]:
    """TLS only; S3's logging service may put log objects, only on behalf of the source buckets
    of this account. With ACLs disabled (BucketOwnerEnforced) the grant must be a bucket policy.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general"""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": sorted(source_bucket_arns)},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
    )


# ---------------------------------------------------------------------------------------------
# Components


def stateful(parent: pulumi.Resource, protect: bool, **extra) -> pulumi.ResourceOptions:
    """Options for a resource holding data: protected and retained when `protect` is on."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect, **extra)


@dataclass(frozen=True)
class DataBucketArgs:
    """Inputs of `DataBucket`.

    key_arn: the region's KMS key; default encryption and the bucket policy use it.
    tiers: the bucket's lifecycle.
    protect: `protect` and `retain_on_delete` on the bucket (its settings are recreatable).
    """

    key_arn: pulumi.Input[str]
    tiers: LifecycleTierArgs
    protect: bool = False


def private_versioned_bucket(
    owner: pulumi.ComponentResource, name: str, protect: bool
) -> tuple[aws.s3.Bucket, aws.s3.BucketPublicAccessBlock, aws.s3.BucketVersioning]:
    """The base every bucket of the stack shares, as children of `owner`: the bucket (protected
    when `protect`), ACLs disabled (BucketOwnerEnforced), a full public-access block, and
    versioning. Returns the bucket, the block (a bucket policy waits for it) and the versioning
    (lifecycle rules, replication and Backup wait for it)."""
    child = pulumi.ResourceOptions(parent=owner)
    bucket = aws.s3.Bucket(name, force_destroy=False, opts=stateful(owner, protect))
    aws.s3.BucketOwnershipControls(name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child)
    access_block = aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    versioning = aws.s3.BucketVersioning(
        name, bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
    )
    return bucket, access_block, versioning


class DataBucket(pulumi.ComponentResource):
    """One bucket with encryption, versioning, public-access block, policy and lifecycle."""

    def __init__(self, name: str, args: DataBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:storage:DataBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket, access_block, self.versioning = private_versioned_bucket(self, name, args.protect)
        bucket_id = self.bucket.id
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket_id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": args.key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=bucket_id,
            rules=lifecycle_rules(args.tiers),
            transition_default_minimum_object_size=args.tiers.transition_default_minimum_object_size,
            # Lifecycle rules on noncurrent versions need versioning in place first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        tierings = intelligent_tiering_tierings(args.tiers)
        if args.tiers.mode == "intelligent_tiering" and tierings:
            aws.s3.BucketIntelligentTieringConfiguration(
                name, bucket=bucket_id, name="archive", status="Enabled", tierings=tierings, opts=child
            )
        policy = pulumi.Output.all(bucket_arn=self.bucket.arn, key_arn=args.key_arn).apply(
            lambda v: json.dumps(bucket_policy(v["bucket_arn"], v["key_arn"]))
        )
        aws.s3.BucketPolicy(
            name,
            bucket=bucket_id,
            policy=policy,
            # S3 rejects a policy while the public-access block is being changed.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block]),
        )
        self.arn = self.bucket.arn
        self.bucket_name = self.bucket.bucket
        self.register_outputs({"arn": self.arn, "bucket_name": self.bucket_name})


@dataclass(frozen=True)
class AccessLogBucketArgs:
    """Inputs of `AccessLogBucket`.

    source_bucket_arns: the buckets that log into it (the policy admits only their logs).
    account_id: the account owning them.
    expiration_days: how long log objects are kept.
    protect: `protect` and `retain_on_delete` on the bucket.
    """

    source_bucket_arns: list[pulumi.Input[str]]
    account_id: pulumi.Input[str]
    expiration_days: int = 365
    protect: bool = False


class AccessLogBucket(pulumi.ComponentResource):
    """A region's S3 server access log bucket. SSE-S3, not SSE-KMS: S3 delivers server access
    logs only to a target bucket whose default encryption is SSE-S3 (AES256). It has no logging
    of its own (a bucket logging to itself loops), no Object Lock (a target cannot have it),
    versioning, a full public-access block, ACLs disabled, and lifecycle tiers.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"""

    def __init__(self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:storage:AccessLogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket, access_block, self.versioning = private_versioned_bucket(self, name, args.protect)
        bucket_id = self.bucket.id
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket_id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=bucket_id,
            rules=access_log_lifecycle_rules(args.expiration_days),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        policy = pulumi.Output.all(
            bucket_arn=self.bucket.arn, account_id=args.account_id, sources=pulumi.Output.all(*args.source_bucket_arns)
        ).apply(lambda v: json.dumps(access_log_bucket_policy(v["bucket_arn"], list(v["sources"]), v["account_id"])))
        self.policy = aws.s3.BucketPolicy(
            name, bucket=bucket_id, policy=policy, opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block])
        )
        self.arn = self.bucket.arn
        self.bucket_name = self.bucket.bucket
        self.register_outputs({"arn": self.arn, "bucket_name": self.bucket_name})


BUCKET_CLASS_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


@dataclass(frozen=True)
class StorageArgs:
    """Inputs of `Storage`.

    key_arn: the region's KMS key; every data bucket is encrypted with it.
    buckets: one data bucket per entry, bucket class -> its lifecycle, in this order (e.g.
        `datasets`, `artifacts`, `capture`). The class names the bucket's logical name and its
        access-log prefix `<class>/`: lower-case letters, digits and hyphens.
    protect: `protect` and `retain_on_delete` on every bucket.
    account_id: the account (the access log bucket admits logs only on its behalf); None reads
        it from the provider's credentials.
    access_log_expiration_days: how long the region's S3 server access logs are kept (> 90).
    """

    key_arn: pulumi.Input[str]
    buckets: Mapping[str, LifecycleTierArgs]
    protect: bool = False
    account_id: pulumi.Input[str] | None = None
    access_log_expiration_days: int = 365

    def __post_init__(self) -> None:
        problems = []
        if not self.buckets:
            problems.append("buckets: at least one bucket class is needed (got none)")
        bad = [cls for cls in self.buckets if not BUCKET_CLASS_PATTERN.match(cls)]
        if bad:
            problems.append(f"buckets: bucket classes must match {BUCKET_CLASS_PATTERN.pattern} (got {bad!r})")
        if self.access_log_expiration_days <= 90:
            problems.append(
                "access_log_expiration_days: must be above 90, after the log tiers "
                f"(got {self.access_log_expiration_days})"
            )
        if problems:
            raise ValueError("StorageArgs: " + "; ".join(problems))


def renamed_from(parent: pulumi.Resource, old_name: str, **extra) -> pulumi.ResourceOptions:
    """A child of `parent` formerly named `old_name`: the alias keeps its URN and state (never remove
    it while a stack may hold the old name). The engine carries it to the child's own children,
    named `<its name>[-<purpose>]`, swapping that prefix for `old_name` (`generateAliases` and
    `inheritedChildAlias` in pulumi/pkg/resource/deploy/step_generator.go; CLI 3.272.0 here)."""
    return pulumi.ResourceOptions(parent=parent, aliases=[pulumi.Alias(name=old_name)], **extra)


class Storage(pulumi.ComponentResource):
    """The data buckets of one region (one per bucket class: datasets, artifacts and capture in
    this program), each logging its requests (S3 server access logs) into the region's access
    log bucket under `<class>/`. Children: `<name>-<class>` (bucket and its logging) and
    `<name>-access-logs`, aliased to their former `<class>-<name>` / `access-logs-<name>`."""

    buckets: dict[str, DataBucket]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:storage:Storage", name, None, opts)
        self.buckets = {
            cls: DataBucket(
                f"{name}-{cls}",
                DataBucketArgs(key_arn=args.key_arn, tiers=tiers, protect=args.protect),
                opts=renamed_from(self, f"{cls}-{name}"),
            )
            for cls, tiers in args.buckets.items()
        }
        account_id = args.account_id
        if account_id is None:
            account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        self.access_logs = AccessLogBucket(
            f"{name}-access-logs",
            AccessLogBucketArgs(
                source_bucket_arns=[bucket.arn for bucket in self.buckets.values()],
                account_id=account_id,
                expiration_days=args.access_log_expiration_days,
                protect=args.protect,
            ),
            opts=renamed_from(self, f"access-logs-{name}"),
        )
        for cls, bucket in self.buckets.items():
            aws.s3.BucketLogging(
                f"{name}-{cls}",
                bucket=bucket.bucket.id,
                target_bucket=self.access_logs.bucket.id,
                target_prefix=f"{cls}/",
                # Keys partitioned by the time of the request: <prefix><account>/<region>/<bucket>/yyyy/mm/dd/.
                target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
                # S3 checks the target's policy when logging is switched on.
                opts=renamed_from(self, f"{cls}-{name}", depends_on=[self.access_logs.policy]),
            )
        self.register_outputs(
            {
                **{cls: bucket.bucket_name for cls, bucket in self.buckets.items()},
                "access_logs": self.access_logs.bucket_name,
            }
        )


@dataclass(frozen=True)
class BucketReplicationArgs:
    """Inputs of `BucketReplication` (declared in the source bucket's region).

    source_bucket_name / source_bucket_arn / replica_bucket_arn: the two buckets. Both must be
        versioned before replication is configured (S3 refuses it otherwise): pass ARNs that
        resolve once versioning is on (`versioned_arn`), so the configuration waits for it.
    source_key_arn / replica_key_arn: the keys of the two regions.
    source_region / replica_region: where each bucket and key live.
    account_id: the account that owns both; the role trusts S3 only on its behalf.
    time_control: S3 Replication Time Control with replication metrics.
    """

    source_bucket_name: pulumi.Input[str]
    source_bucket_arn: pulumi.Input[str]
    replica_bucket_arn: pulumi.Input[str]
    source_key_arn: pulumi.Input[str]
    replica_key_arn: pulumi.Input[str]
    source_region: str
    replica_region: str
    account_id: pulumi.Input[str]
    time_control: bool = False


class BucketReplication(pulumi.ComponentResource):
    """Replicates one bucket to its replica, with a role scoped to the two buckets and keys."""

    def __init__(self, name: str, args: BucketReplicationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:storage:BucketReplication", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            name,
            description=f"S3 replication {name}",
            assume_role_policy=trust_json("s3.amazonaws.com", args.account_id),
            opts=child,
        )
        policy = pulumi.Output.all(
            source=args.source_bucket_arn,
            replica=args.replica_bucket_arn,
            source_key=args.source_key_arn,
            replica_key=args.replica_key_arn,
        ).apply(
            lambda v: json.dumps(
                replication_policy(
                    source_bucket_arn=v["source"],
                    replica_bucket_arn=v["replica"],
                    source_key_arn=v["source_key"],
                    replica_key_arn=v["replica_key"],
                    source_region=args.source_region,
                    replica_region=args.replica_region,
                )
            )
        )
        role_policy = aws.iam.RolePolicy(name, role=self.role.id, policy=policy, opts=child)
        self.configuration = aws.s3.BucketReplicationConfig(
            name,
            bucket=args.source_bucket_name,
            role=self.role.arn,
            rules=[
                pulumi.Output.all(replica=args.replica_bucket_arn, replica_key=args.replica_key_arn).apply(
                    lambda v: replication_rule(v["replica"], v["replica_key"], args.time_control)
                )
            ],
            # Replication needs versioning on both sides (the bucket ARNs above resolve only once it
            # is on) and a role that can already act.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.register_outputs({"role_arn": self.role.arn})
