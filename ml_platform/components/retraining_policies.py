"""IAM documents of the retraining component's roles (pure builders): the model-build jobs, the
monitoring jobs, SageMaker Pipelines acting for both pipelines, and the starters (EventBridge
Scheduler, EventBridge rules). ARNs are built with the partition the caller passes."""

from __future__ import annotations

from typing import Any

from ml_platform.components.iam import (
    TRAINING_METRICS_NAMESPACE,
    allow,
    document,
    kms_via_s3,
    pull_image,
    put_metric_data,
    sagemaker_job_output_key,
    write_logs,
)
from ml_platform.components.pipelines import (
    CHAMPION_NONE_PREFIX,
    CHECKPOINTS_PREFIX,
    EVALUATION_OUTPUT,
    MODELS_PREFIX,
    RESOLVED_OUTPUT,
)


def _pull_and_log(key_arn: str, repository_arn: str, region: str, account_id: str, kinds: tuple[str, ...]) -> list:
    # Every step passes the region key for its output (OutputDataConfig / ProcessingOutputConfig
    # KmsKeyId), which needs kms:Encrypt in the job's role (ml_platform/components/iam.py).
    return [
        *sagemaker_job_output_key(key_arn),
        *pull_image(repository_arn),
        write_logs(region, account_id, [f"/aws/sagemaker/{kind}" for kind in kinds]),
    ]


def retraining_jobs_policy(
    *,
    datasets_bucket_arn: str,
    dataset_prefixes: list[str],
    artifacts_bucket_arn: str,
    key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
    partition: str,
    group_name: str,
) -> dict[str, Any]:
    """The model-build pipeline's jobs (resolve-dataset, training, evaluation): read every version
    under the dataset and holdout prefixes (and nothing else there), read and write their run's
    models/ and checkpoints/, read the no-champion placeholder, read the registry group (to find
    the champion), use the region key, pull the image, write logs."""
    roots = [p.rstrip("/") + "/" for p in dataset_prefixes]
    own = [f"{MODELS_PREFIX}/", f"{CHECKPOINTS_PREFIX}/"]
    registry = f"arn:{partition}:sagemaker:{region}:{account_id}"
    return document(
        allow("ReadDatasetVersions", ["s3:GetObject"], [f"{datasets_bucket_arn}/{p}*" for p in roots]),
        allow(
            "ListDatasetVersions",
            ["s3:ListBucket"],
            datasets_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in roots]}},
        ),
        allow(
            "ReadWriteRuns",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [f"{artifacts_bucket_arn}/{p}*" for p in own],
        ),
        allow("ReadNoChampion", ["s3:GetObject"], f"{artifacts_bucket_arn}/{CHAMPION_NONE_PREFIX}/*"),
        allow(
            "ListRuns",
            ["s3:ListBucket"],
            artifacts_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in (*own, f"{CHAMPION_NONE_PREFIX}/")]}},
        ),
        # ListModelPackages is not resource-scoped (Service Authorization Reference, SageMaker).
        allow("FindChampion", ["sagemaker:ListModelPackages"], "*"),
        allow("ReadChampion", ["sagemaker:DescribeModelPackage"], f"{registry}:model-package/{group_name}/*"),
        # SageMaker publishes the training step's metrics with the job's role.
        put_metric_data(TRAINING_METRICS_NAMESPACE),
        *_pull_and_log(key_arn, repository_arn, region, account_id, ("TrainingJobs", "ProcessingJobs")),
    )


def monitoring_jobs_policy(
    *,
    capture_bucket_arn: str,
    capture_prefix: str,
    artifacts_bucket_arn: str,
    endpoint_name: str,
    metrics_namespace: str,
    key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """The drift and quality jobs: read this endpoint's capture (under the endpoint config's
    capture prefix) and ground truth and the model's baseline, write their reports, publish
    metrics only into the stack's namespace."""
    # drift-reports/<endpoint>/runs/: a sharded drift run's manifest and partial results, read back
    # by its later steps (ProcessingInputs are downloaded with the job's role).
    reads = [
        f"{capture_prefix}/{endpoint_name}/",
        f"ground-truth/{endpoint_name}/",
        f"drift-reports/{endpoint_name}/runs/",
    ]
    writes = [f"drift-reports/{endpoint_name}/", f"quality-reports/{endpoint_name}/"]
    return document(
        allow("ReadCaptureAndLabels", ["s3:GetObject"], [f"{capture_bucket_arn}/{p}*" for p in reads]),
        allow(
            "ListCaptureAndLabels",
            ["s3:ListBucket"],
            capture_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in reads]}},
        ),
        allow("WriteReports", ["s3:PutObject"], [f"{capture_bucket_arn}/{p}*" for p in writes]),
        allow("ReadBaseline", ["s3:GetObject"], f"{artifacts_bucket_arn}/models/*"),
        allow(
            "PublishDriftMetrics",
            ["cloudwatch:PutMetricData"],
            "*",
            {"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
        ),
        *_pull_and_log(key_arn, repository_arn, region, account_id, ("ProcessingJobs",)),
    )


def pipeline_role_policy(
    *,
    region: str,
    account_id: str,
    partition: str,
    group_name: str,
    job_role_arns: list[str],
    artifacts_bucket_arn: str,
    key_arn: str,
) -> dict[str, Any]:
    """What SageMaker Pipelines does on the pipelines' behalf: start and watch their jobs,
    register into this group, pass only the job roles, and read the property files its
    conditions and arguments evaluate (`Std:JsonGet` reads them with this role; they are
    SSE-KMS objects, so the key is needed too, through S3 only)."""
    prefix = f"arn:{partition}:sagemaker:{region}:{account_id}"
    property_files = [f"{artifacts_bucket_arn}/{MODELS_PREFIX}/*/{d}/*" for d in (RESOLVED_OUTPUT, EVALUATION_OUTPUT)]
    return document(
        allow(
            "RunPipelineJobs",
            [
                "sagemaker:AddTags",
                "sagemaker:CreateProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:StopTrainingJob",
            ],
            [f"{prefix}:training-job/pipelines-*", f"{prefix}:processing-job/pipelines-*"],
        ),
        allow(
            "RegisterModels",
            ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            [f"{prefix}:model-package/{group_name}/*", f"{prefix}:model-package-group/{group_name}"],
        ),
        allow("ReadPropertyFiles", ["s3:GetObject"], property_files),
        kms_via_s3(key_arn, region, ["kms:Decrypt"], [artifacts_bucket_arn], "DecryptPropertyFiles"),
        allow(
            "PassJobRoles",
            ["iam:PassRole"],
            job_role_arns,
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    )


def start_pipelines_policy(pipeline_arns: list[str]) -> dict[str, Any]:
    return document(allow("StartThesePipelines", ["sagemaker:StartPipelineExecution"], pipeline_arns))
