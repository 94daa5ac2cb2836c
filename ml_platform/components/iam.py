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


# Service principals whose documented role trust policy has no aws:SourceAccount condition.
# A condition on a key the service does not send when it assumes the role makes AssumeRole
# fail (for API Gateway: every request through the integration, and the stage's logging).
# API Gateway: the trust policies AWS documents for the CloudWatch logging role and for an
# integration's credentials role name only the principal
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html,
# https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-request-basic-setup.html).
# Every other service keeps the aws:SourceAccount guard
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount);
# check a new service's own documented trust policy before adding it here or relying on it.
UNCONDITIONED_TRUST = frozenset({"apigateway.amazonaws.com"})


def service_trust_policy(service: str, account_id: str) -> dict[str, Any]:
    """Trust `service` to assume the role, only on behalf of this account (confused deputy
    guard) where the service documents `aws:SourceAccount` (see UNCONDITIONED_TRUST)."""
    statement: dict[str, Any] = {
        "Sid": "ServiceAssumesRoleForThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if service in UNCONDITIONED_TRUST:
        statement["Sid"] = "ServiceAssumesRole"
    else:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return document(statement)


def trust_json(service: str, account_id: Any) -> Any:
    """`service_trust_policy` as the JSON text an `aws.iam.Role` takes, once the account is known."""
    import pulumi  # here, so the pure builders above import without the Pulumi SDK

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


def sagemaker_job_output_key(key_arn: str) -> list[dict[str, Any]]:
    """For the role a SageMaker training or processing job runs as when the job passes a KMS
    key for its output (OutputDataConfig.KmsKeyId / ProcessingOutputConfig.KmsKeyId):
    "If you use a KMS key ID or an alias of your KMS key, the Amazon SageMaker execution role
    must include permissions to call kms:Encrypt"
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_OutputDataConfig.html), on top
    of what the job needs to read (Decrypt), write S3 objects under SSE-KMS (GenerateDataKey)
    and encrypt its volumes (DescribeKey, and CreateGrant for AWS resources only)."""
    return [
        allow("UseJobOutputKey", ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"], key_arn),
        allow(
            "GrantJobVolumesTheKey",
            ["kms:CreateGrant"],
            key_arn,
            {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ),
    ]


# Where SageMaker publishes a training job's metrics (its MetricDefinitions) with the job's
# role: CreateTrainingJob's execution role needs cloudwatch:PutMetricData
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html, CreateTrainingJob API:
# execution role permissions; https://docs.aws.amazon.com/sagemaker/latest/dg/training-metrics.html).
TRAINING_METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"


def put_metric_data(namespace: str) -> dict[str, Any]:
    """Publish CloudWatch metrics into one namespace only. PutMetricData has no resource-level
    permissions; `cloudwatch:namespace` is the condition key AWS provides to scope it
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
    A SageMaker training job that publishes its own metrics needs this in its role."""
    return allow(
        "PutMetricsInNamespace",
        ["cloudwatch:PutMetricData"],
        "*",
        {"StringEquals": {"cloudwatch:namespace": namespace}},
    )


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


def write_logs(region: str, account_id: str, log_groups: list[str], partition: str = "aws") -> dict[str, Any]:
    """Write to the named SageMaker log groups (e.g. `/aws/sagemaker/TrainingJobs`) of this
    account in `region`. `partition`: the account's partition (`aws`, `aws-cn`, `aws-us-gov`);
    callers with the fetched partition at hand pass it."""
    return allow(
        "WriteLogs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        [f"arn:{partition}:logs:{region}:{account_id}:log-group:{group}:*" for group in log_groups],
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
