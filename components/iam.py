"""Pure builders for IAM documents shared by every component."""

from __future__ import annotations

import json
from typing import Any


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(sid: str, actions: list[str], resources: list[str] | str, condition: dict | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def service_trust_policy(service: str, account_id: str) -> dict[str, Any]:
    """Trust `service` to assume the role, only on behalf of this account (confused deputy guard)."""
    return document(
        {
            "Sid": "ServiceAssumesRoleForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


def trust_json(service: str, account_id: Any) -> Any:
    """`service_trust_policy` as the JSON text an `aws.iam.Role` takes, once the account is known."""
    import pulumi

    return pulumi.Output.from_input(account_id).apply(
        lambda account: json.dumps(service_trust_policy(service, account))
    )


def kms_via_s3(key_arn: str, region: str, actions: list[str], bucket_arns: list[str], sid: str) -> dict[str, Any]:
    """Use of a key only through S3 in `region`, for objects of the given buckets. With S3
    Bucket Keys the encryption context is the bucket ARN; without, the object ARN."""
    return allow(
        sid,
        actions,
        key_arn,
        {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [arn for b in bucket_arns for arn in (b, f"{b}/*")]},
        },
    )


def use_key(key_arn: str) -> dict[str, Any]:
    """What a SageMaker job or model needs of the region key (grants for its volumes)."""
    return allow("UseRegionKey", ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"], key_arn)


def pull_image(repository_arn: str) -> list[dict[str, Any]]:
    """Pull from one ECR repository; the registry login has no resource-level permissions."""
    return [
        allow(
            "PullImage",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            repository_arn,
        ),
        allow("AuthenticateToRegistry", ["ecr:GetAuthorizationToken"], "*"),
    ]


def write_logs(region: str, account_id: str, log_groups: list[str]) -> dict[str, Any]:
    """Write to the named SageMaker log groups (e.g. `/aws/sagemaker/TrainingJobs`)."""
    return allow(
        "WriteLogs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        [f"arn:aws:logs:{region}:{account_id}:log-group:{group}:*" for group in log_groups],
    )


def attach_to_vpc(region: str) -> dict[str, Any]:
    """Network interfaces in the caller's subnets. Describe* and interface creation cannot be
    scoped to ARNs before the interface exists, so this is limited to the region instead."""
    return allow(
        "AttachToVpc",
        [
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
        ],
        "*",
        {"StringEquals": {"aws:RequestedRegion": region}},
    )
