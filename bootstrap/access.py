"""Config and pure builders of the CI bootstrap: trust policies, role policies, bucket policy.

Everything here returns plain data; `__main__.py` declares the resources.

Who may do what:
- GitHub's OIDC provider (`token.actions.githubusercontent.com`, audience `sts.amazonaws.com`).
  No thumbprint: IAM verifies GitHub's certificate against its own trusted root CAs.
- Deploy role per environment: trusted only by this repository's jobs that run in that GitHub
  environment (`sub` = `repo:<owner>/<repo>:environment:<env>`). It may run `pulumi up` for
  the program: manage the resource types the program declares, in the configured regions and
  this account, plus read and write the state and use the secrets key.
- Preview role per environment: trusted only by this repository's pull_request jobs
  (`sub` = `repo:<owner>/<repo>:pull_request`). Read-only: it reads the state, takes the
  state lock, and decrypts stack secrets; a preview calls no AWS API that changes anything.

Why the deploy role is as broad as it is: it creates the program's resources, most of which
are auto-named (buckets, roles, alarms), so their ARNs are not known in advance. Each grant
is therefore an explicit list of actions (never a service's `*`, never `*FullAccess`) on ARNs
of this account and the stack regions; only actions AWS does not scope to resources use
Resource `*`, and then with `aws:RequestedRegion` pinned to the stack regions. It cannot
touch the CI roles, the OIDC provider, the state bucket's configuration or the secrets key's
policy. What remains: a role that can create IAM roles can grant them more than it has
itself. Put a permissions boundary on the program's roles to close that, when the
components set one.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
PROJECT = "ml-platform"
CI_ROLE_PREFIX = f"{PROJECT}-ci-"
# Stack state in an S3 (DIY) backend: `.pulumi/stacks/<project>/<stack>.json` and friends.
STATE_PREFIX = ".pulumi"

NAME = r"^[A-Za-z0-9_.-]+$"


class BootstrapConfig(BaseModel):
    """Config of the bootstrap stack, under the `ml-platform-bootstrap:` namespace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    github_owner: str = Field(pattern=r"^[A-Za-z0-9-]+$", description="GitHub user or organization.")
    github_repo: str = Field(pattern=NAME, description="Repository name.")
    environments: tuple[str, ...] = Field(
        default=("dev", "prod"),
        min_length=1,
        description="GitHub environments (and stacks) that get a deploy and a preview role. No ':' "
        "(GitHub would escape it in the subject claim).",
    )
    region: str = Field(description="Region of the state bucket and the secrets key.")
    stack_regions: tuple[str, ...] = Field(
        min_length=1, description="Regions the program's stacks deploy into; the deploy roles act only there."
    )
    owner: str = Field(description="`owner` tag.")
    cost_center: str = Field(description="`cost-center` tag.")

    @field_validator("environments")
    @classmethod
    def _environment_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [env for env in value if not re.match(NAME, env)]
        if bad:
            raise ValueError(f"not a GitHub environment name without ':' (got {bad}; expected letters, digits, _ . -)")
        return value

    @property
    def repository(self) -> str:
        return f"{self.github_owner}/{self.github_repo}"

    def default_tags(self) -> dict[str, str]:
        return {
            "project": PROJECT,
            "environment": "ci",
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def statement(
    sid: str, actions: list[str], resources: list[str] | str, condition: dict | None = None, effect: str = "Allow"
) -> dict[str, Any]:
    found: dict[str, Any] = {"Sid": sid, "Effect": effect, "Action": sorted(actions), "Resource": resources}
    if condition:
        found["Condition"] = condition
    return found


def environment_subject(repository: str, environment: str) -> str:
    """The `sub` claim of a job running in a GitHub environment."""
    return f"repo:{repository}:environment:{environment}"


def pull_request_subject(repository: str) -> str:
    """The `sub` claim of a job triggered by a pull_request event."""
    return f"repo:{repository}:pull_request"


def github_trust_policy(provider_arn: str, subject: str) -> dict[str, Any]:
    """Trust GitHub's OIDC tokens for exactly one subject, with AWS STS as the audience."""
    return document(
        {
            "Sid": "GitHubActionsOidc",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{GITHUB_ISSUER_HOST}:aud": GITHUB_AUDIENCE,
                    f"{GITHUB_ISSUER_HOST}:sub": subject,
                }
            },
        }
    )


def state_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """TLS only."""
    return document(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def _state_access(bucket_arn: str, key_arn: str, write: bool) -> list[dict[str, Any]]:
    """Read the state (and write it when `write`), take the lock, use the secrets key."""
    objects = f"{bucket_arn}/{STATE_PREFIX}/*"
    statements = [
        statement("ListState", ["s3:ListBucket", "s3:GetBucketLocation"], bucket_arn),
        statement("ReadState", ["s3:GetObject", "s3:GetObjectVersion"], objects),
    ]
    if write:
        statements.append(statement("WriteState", ["s3:PutObject", "s3:DeleteObject"], objects))
        statements.append(
            statement("UseStateKey", ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], key_arn)
        )
    else:
        # Every operation, preview included, takes the stack's lock.
        statements.append(
            statement("TakeStateLock", ["s3:PutObject", "s3:DeleteObject"], f"{bucket_arn}/{STATE_PREFIX}/locks/*")
        )
        statements.append(statement("UseStateKey", ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"], key_arn))
    return statements


def preview_role_policy(bucket_arn: str, key_arn: str) -> dict[str, Any]:
    return document(*_state_access(bucket_arn, key_arn, write=False))


def deploy_role_policy(
    *,
    account_id: str,
    partition: str,
    regions: tuple[str, ...],
    bucket_arn: str,
    key_arn: str,
    oidc_provider_arn: str,
) -> dict[str, Any]:
    """What `pulumi up` of the program needs, and no more than the module docstring says."""
    in_regions = {"StringEquals": {"aws:RequestedRegion": sorted(regions)}}

    def arns(service: str, resource: str) -> list[str]:
        return [f"arn:{partition}:{service}:{region}:{account_id}:{resource}" for region in sorted(regions)]

    role_arns = f"arn:{partition}:iam::{account_id}:role/*"
    statements = [
        *_state_access(bucket_arn, key_arn, write=True),
        statement(
            "ManageBuckets",
            [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:GetBucket*",
                "s3:PutBucket*",
                "s3:DeleteBucketPolicy",
                "s3:DeleteBucketOwnershipControls",
                "s3:GetAccelerateConfiguration",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:GetReplicationConfiguration",
                "s3:PutReplicationConfiguration",
                "s3:GetIntelligentTieringConfiguration",
                "s3:PutIntelligentTieringConfiguration",
                "s3:GetAnalyticsConfiguration",
                "s3:GetInventoryConfiguration",
                "s3:GetMetricsConfiguration",
            ],
            f"arn:{partition}:s3:::*",
            # Bucket names are global: only this account's buckets.
            {"StringEquals": {"aws:ResourceAccount": account_id}},
        ),
        statement(
            "ManageKeys",
            [
                "kms:CreateAlias",
                "kms:DeleteAlias",
                "kms:UpdateAlias",
                "kms:DescribeKey",
                "kms:EnableKeyRotation",
                "kms:GetKeyPolicy",
                "kms:GetKeyRotationStatus",
                "kms:ListResourceTags",
                "kms:PutKeyPolicy",
                "kms:ScheduleKeyDeletion",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:UpdateKeyDescription",
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:GenerateDataKey",
            ],
            [*arns("kms", "key/*"), *arns("kms", f"alias/{PROJECT}-*")],
        ),
        statement("CreateKeys", ["kms:CreateKey", "kms:ListAliases"], "*", in_regions),
        statement(
            "ManageRoles",
            [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:ListRoleTags",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
            ],
            role_arns,
        ),
        statement(
            "PassRolesToTheServicesThatRunThem",
            ["iam:PassRole"],
            role_arns,
            {
                "StringEquals": {
                    "iam:PassedToService": [
                        "backup.amazonaws.com",
                        "events.amazonaws.com",
                        "s3.amazonaws.com",
                        "sagemaker.amazonaws.com",
                    ]
                }
            },
        ),
        statement(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            f"arn:{partition}:iam::{account_id}:role/aws-service-role/*",
            {
                "StringEquals": {
                    "iam:AWSServiceName": [
                        "sagemaker.application-autoscaling.amazonaws.com",
                        "replication.ecr.amazonaws.com",
                    ]
                }
            },
        ),
        statement(
            "ManageSageMaker",
            [
                "sagemaker:AddTags",
                "sagemaker:Create*",
                "sagemaker:Delete*",
                "sagemaker:DeleteTags",
                "sagemaker:Describe*",
                "sagemaker:List*",
                "sagemaker:Stop*",
                "sagemaker:Update*",
            ],
            arns("sagemaker", "*"),
        ),
        statement(
            "ManageRepositories",
            [
                "ecr:CreateRepository",
                "ecr:DeleteRepository",
                "ecr:DescribeRepositories",
                "ecr:DescribeImages",
                "ecr:ListTagsForResource",
                "ecr:TagResource",
                "ecr:UntagResource",
                "ecr:GetLifecyclePolicy",
                "ecr:PutLifecyclePolicy",
                "ecr:DeleteLifecyclePolicy",
                "ecr:GetRepositoryPolicy",
                "ecr:SetRepositoryPolicy",
                "ecr:DeleteRepositoryPolicy",
                "ecr:PutImageTagMutability",
                "ecr:PutImageScanningConfiguration",
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            arns("ecr", "repository/*"),
        ),
        statement(
            "ManageRegistrySettings",
            [
                "ecr:GetAuthorizationToken",
                "ecr:DescribeRegistry",
                "ecr:PutReplicationConfiguration",
                "ecr:CreateRepositoryCreationTemplate",
                "ecr:DeleteRepositoryCreationTemplate",
                "ecr:DescribeRepositoryCreationTemplates",
                "ecr:UpdateRepositoryCreationTemplate",
            ],
            "*",
            in_regions,
        ),
        statement(
            "ManageAlarmsAndDashboards",
            [
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:ListTagsForResource",
                "cloudwatch:PutDashboard",
                "cloudwatch:GetDashboard",
                "cloudwatch:DeleteDashboards",
            ],
            [*arns("cloudwatch", "alarm:*"), f"arn:{partition}:cloudwatch::{account_id}:dashboard/*"],
        ),
        statement(
            "ReadAlarmsAndScaling",
            [
                "cloudwatch:DescribeAlarms",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:DescribeScalableTargets",
                "application-autoscaling:DescribeScalingPolicies",
                "application-autoscaling:ListTagsForResource",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:TagResource",
                "application-autoscaling:UntagResource",
            ],
            # Application Auto Scaling and DescribeAlarms do not scope to resource ARNs.
            "*",
            in_regions,
        ),
        statement(
            "ManageBackup",
            [
                "backup:CreateBackupPlan",
                "backup:CreateBackupSelection",
                "backup:CreateBackupVault",
                "backup:DeleteBackupPlan",
                "backup:DeleteBackupSelection",
                "backup:DeleteBackupVault",
                "backup:DeleteBackupVaultAccessPolicy",
                "backup:DeleteBackupVaultNotifications",
                "backup:DescribeBackupVault",
                "backup:GetBackupPlan",
                "backup:GetBackupSelection",
                "backup:GetBackupVaultAccessPolicy",
                "backup:GetBackupVaultNotifications",
                "backup:ListTags",
                "backup:PutBackupVaultAccessPolicy",
                "backup:PutBackupVaultLockConfiguration",
                "backup:PutBackupVaultNotifications",
                "backup:TagResource",
                "backup:UntagResource",
                "backup:UpdateBackupPlan",
                "backup-storage:MountCapsule",
            ],
            [*arns("backup", "*"), *arns("backup-storage", "*")],
        ),
        statement(
            "ManageNotificationsAndEvents",
            [
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:Subscribe",
                "sns:Unsubscribe",
                "sns:GetSubscriptionAttributes",
                "sns:ListTagsForResource",
                "sns:TagResource",
                "sns:UntagResource",
                "events:PutRule",
                "events:DeleteRule",
                "events:DescribeRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:ListTargetsByRule",
                "events:ListTagsForResource",
                "events:TagResource",
                "events:UntagResource",
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:DescribeLogGroups",
                "logs:PutRetentionPolicy",
                "logs:ListTagsForResource",
                "logs:TagResource",
                "logs:UntagResource",
            ],
            [*arns("sns", "*"), *arns("events", "rule/*"), *arns("logs", "log-group:*")],
        ),
        # The deploy role must not widen its own access or the CI's trust.
        statement(
            "KeepCiAccessAsBootstrapped",
            ["iam:*"],
            [f"arn:{partition}:iam::{account_id}:role/{CI_ROLE_PREFIX}*", oidc_provider_arn],
            effect="Deny",
        ),
        statement(
            "KeepStateBucketAndKeyAsBootstrapped",
            [
                "s3:DeleteBucket",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "kms:PutKeyPolicy",
                "kms:ScheduleKeyDeletion",
                "kms:DisableKey",
            ],
            [bucket_arn, key_arn],
            effect="Deny",
        ),
    ]
    return document(*statements)
