"""S3 storage: the datasets, artifacts and capture buckets of a region, and replication.

Every bucket: SSE-KMS with the region key and S3 Bucket Keys, versioning, ACLs disabled, a
full public-access block, a TLS-only bucket policy that also refuses puts asking for another
encryption or another key, and lifecycle tiers from config. `BucketReplication` copies a
bucket to its replica in the secondary region, re-encrypting with the secondary key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import BUCKET_CLASSES, LifecycleTiers, StorageConfig
from components.iam import allow, document, kms_via_s3, trust_json

# ---------------------------------------------------------------------------------------------
# Pure builders


def lifecycle_rules(tiers: LifecycleTiers) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules, as `BucketLifecycleConfiguration` rule inputs."""
    rule: dict[str, Any] = {
        "id": "tiers",
        "status": "Enabled",
        "filter": {},
        "abort_incomplete_multipart_upload": {"days_after_initiation": tiers.abort_incomplete_multipart_upload_days},
    }
    if tiers.mode == "intelligent_tiering":
        transitions = [(0, "INTELLIGENT_TIERING")]
    else:
        transitions = [
            (tiers.standard_ia_days, "STANDARD_IA"),
            (tiers.glacier_days, tiers.glacier_storage_class),
            (tiers.deep_archive_days, "DEEP_ARCHIVE"),
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
        for days, cls in ((noncurrent.standard_ia_days, "STANDARD_IA"), (noncurrent.glacier_days, "GLACIER_IR"))
        if days is not None
    ]
    if noncurrent.expiration_days is not None:
        rule["noncurrent_version_expiration"] = {"noncurrent_days": noncurrent.expiration_days, **keep}
    return [{k: v for k, v in rule.items() if v != []}]


def intelligent_tiering_tierings(tiers: LifecycleTiers) -> list[dict[str, Any]]:
    """Opt-in archive tiers of Intelligent-Tiering (empty when none is configured)."""
    return [
        {"access_tier": tier, "days": days}
        for days, tier in (
            (tiers.archive_access_days, "ARCHIVE_ACCESS"),
            (tiers.deep_archive_access_days, "DEEP_ARCHIVE_ACCESS"),
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


# ---------------------------------------------------------------------------------------------
# Components


def stateful(parent: pulumi.Resource, protect: bool, **extra) -> pulumi.ResourceOptions:
    """Options for a resource holding data: protected and retained when `protect` is on."""
    return pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect, **extra)


@dataclass(frozen=True)
class DataBucketArgs:
    """Inputs of `DataBucket`.

    key_arn: the region's KMS key; default encryption and the bucket policy use it.
    tiers: lifecycle of this bucket's class.
    protect: `protect` and `retain_on_delete` on the bucket (its settings are recreatable).
    """

    key_arn: pulumi.Input[str]
    tiers: LifecycleTiers
    protect: bool = False


class DataBucket(pulumi.ComponentResource):
    """One bucket with encryption, versioning, public-access block, policy and lifecycle."""

    def __init__(self, name: str, args: DataBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:storage:DataBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, force_destroy=False, opts=stateful(self, args.protect))
        bucket_id = self.bucket.id
        aws.s3.BucketOwnershipControls(
            name, bucket=bucket_id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        access_block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.versioning = aws.s3.BucketVersioning(
            name, bucket=bucket_id, versioning_configuration={"status": "Enabled"}, opts=child
        )
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
        policy = pulumi.Output.all(self.bucket.arn, args.key_arn).apply(lambda a: json.dumps(bucket_policy(a[0], a[1])))
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
class StorageArgs:
    """Inputs of `Storage`: the region key, the lifecycle config, and protection."""

    key_arn: pulumi.Input[str]
    config: StorageConfig
    protect: bool = False


class Storage(pulumi.ComponentResource):
    """The datasets, artifacts and capture buckets of one region."""

    buckets: dict[str, DataBucket]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:storage:Storage", name, None, opts)
        self.buckets = {
            cls: DataBucket(
                f"{cls}-{name}",
                DataBucketArgs(key_arn=args.key_arn, tiers=getattr(args.config, cls), protect=args.protect),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for cls in BUCKET_CLASSES
        }
        self.register_outputs({cls: bucket.bucket_name for cls, bucket in self.buckets.items()})


@dataclass(frozen=True)
class BucketReplicationArgs:
    """Inputs of `BucketReplication` (declared in the source bucket's region).

    source / replica: the two buckets; both must be versioned (DataBucket always is).
    source_key_arn / replica_key_arn: the keys of the two regions.
    source_region / replica_region: where each bucket and key live.
    account_id: the account that owns both; the role trusts S3 only on its behalf.
    time_control: S3 Replication Time Control with replication metrics.
    """

    source: DataBucket
    replica: DataBucket
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
        policy = pulumi.Output.all(args.source.arn, args.replica.arn, args.source_key_arn, args.replica_key_arn).apply(
            lambda a: json.dumps(replication_policy(a[0], a[1], a[2], a[3], args.source_region, args.replica_region))
        )
        role_policy = aws.iam.RolePolicy(name, role=self.role.id, policy=policy, opts=child)
        self.configuration = aws.s3.BucketReplicationConfig(
            name,
            bucket=args.source.bucket.id,
            role=self.role.arn,
            rules=[
                pulumi.Output.all(args.replica.arn, args.replica_key_arn).apply(
                    lambda a: replication_rule(a[0], a[1], args.time_control)
                )
            ],
            # Replication needs versioning on both sides and a role that can already act.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.source.versioning, args.replica.versioning, role_policy]
            ),
        )
        self.register_outputs({"role_arn": self.role.arn})
