"""Grants for data: S3 buckets and objects, KMS keys, the image repositories, AWS Backup.

Rows of the table in `grants.py`; see its docstring for what each field means.
"""

from __future__ import annotations

from grants_base import THIS_ACCOUNT, Grant

BUCKETS = Grant(
    "Buckets",
    "s3",
    manage=(
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:PutBucketTagging",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "s3:PutBucketVersioning",
        # DeleteBucketLifecycle, DeleteBucketEncryption, DeleteBucketReplication,
        # DeletePublicAccessBlock and DeleteBucketOwnershipControls are authorized by the Put
        # action of the same configuration.
        "s3:PutLifecycleConfiguration",
        "s3:PutEncryptionConfiguration",
        "s3:PutReplicationConfiguration",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketLogging",
        "s3:PutBucketNotification",
        "s3:PutIntelligentTieringConfiguration",
    ),
    # What the provider's Bucket read (refresh) calls, and the configurations' reads.
    read=(
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:GetBucketLocation",
        "s3:GetBucketTagging",
        "s3:GetBucketPolicy",
        "s3:GetBucketPolicyStatus",
        "s3:GetBucketAcl",
        "s3:GetBucketCORS",
        "s3:GetBucketWebsite",
        "s3:GetBucketVersioning",
        "s3:GetAccelerateConfiguration",
        "s3:GetBucketRequestPayment",
        "s3:GetBucketLogging",
        "s3:GetBucketNotification",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketOwnershipControls",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:GetIntelligentTieringConfiguration",
    ),
    # Bucket names are global and mostly auto-named: any bucket, of this account only.
    arns=("arn:{partition}:s3:::*",),
    condition=THIS_ACCOUNT,
)


BUCKET_REPLICATION = Grant(
    "BucketReplication", "s3", manage=BUCKETS.manage[:1], arns=BUCKETS.arns, passes_role_to="s3.amazonaws.com"
)


OBJECTS = Grant(
    "Objects",
    "s3",
    manage=("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"),
    read=("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"),
    arns=("arn:{partition}:s3:::*/*",),
    condition=THIS_ACCOUNT,
)


KEYS = Grant(
    "Keys",
    "kms",
    manage=(
        "kms:CreateAlias",
        "kms:DeleteAlias",
        "kms:UpdateAlias",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateKeyDescription",
        # Creating encrypted resources (SNS, logs, SageMaker, Backup) and writing to encrypted buckets.
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    ),
    read=("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"),
    arns=("arn:{partition}:kms:{region}:{account}:key/*", "arn:{partition}:kms:{region}:{account}:alias/ml-platform-*"),
    unscoped=("kms:CreateKey",),
    unscoped_read=("kms:ListAliases",),
)


IMAGES = Grant(
    "PushModelImage",
    "models",
    manage=(
        "ecr:BatchCheckLayerAvailability",
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    ),
    read=(
        "ecr:BatchGetImage",
        "ecr:DescribeImageReplicationStatus",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
    ),
    # Only the stack's own repository (created by the bootstrap).
    arns=("arn:{partition}:ecr:{region}:{account}:repository/ml-platform/{stack}/model",),
    unscoped=("ecr:GetAuthorizationToken",),
)


# The program's one dynamic resource (ml_platform/components/image_check.py: the served digest present in
# the secondary region's replica repository before its Model is created) runs in the deploy
# process with the deploy role's credentials and only reads the stack's repositories. A new
# dynamic provider must extend this row.
IMAGE_CHECK = Grant(
    "CheckReplicaImage",
    "models",
    read=("ecr:DescribeImages",),
    arns=IMAGES.arns,
)


BACKUP = Grant(
    "Backup",
    "backup",
    manage=(
        "backup:CreateBackupVault",
        "backup:DeleteBackupVault",
        "backup:PutBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultAccessPolicy",
        "backup:PutBackupVaultLockConfiguration",
        "backup:DeleteBackupVaultLockConfiguration",
        "backup:PutBackupVaultNotifications",
        "backup:DeleteBackupVaultNotifications",
        "backup:CreateBackupPlan",
        "backup:UpdateBackupPlan",
        "backup:DeleteBackupPlan",
        "backup:CreateBackupSelection",
        "backup:DeleteBackupSelection",
        "backup:CreateRestoreTestingPlan",
        "backup:UpdateRestoreTestingPlan",
        "backup:DeleteRestoreTestingPlan",
        "backup:CreateRestoreTestingSelection",
        "backup:UpdateRestoreTestingSelection",
        "backup:DeleteRestoreTestingSelection",
        "backup:TagResource",
        "backup:UntagResource",
    ),
    read=(
        "backup:DescribeBackupVault",
        "backup:GetBackupVaultAccessPolicy",
        "backup:GetBackupVaultNotifications",
        "backup:GetBackupPlan",
        "backup:GetBackupSelection",
        "backup:GetRestoreTestingPlan",
        "backup:GetRestoreTestingSelection",
        "backup:ListTags",
    ),
    arns=("arn:{partition}:backup:{region}:{account}:*",),
    # CreateBackupVault also needs this; it takes no resource ARN.
    unscoped=("backup-storage:MountCapsule",),
    passes_role_to="backup.amazonaws.com",
)
