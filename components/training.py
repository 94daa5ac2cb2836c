"""Managed spot training that checkpoints and resumes, and the model registry.

A model version is the triple (image digest, dataset version, hyperparameters). The training
job's name is derived from a hash of that triple, so changing any of the three declares a new
job (and a new model), and the job name in git history and stack state records the lineage.
Reverting the config brings back the old name and with it the old model's artifact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import TrainingConfig
from components.iam import allow, attach_to_vpc, document, pull_image, trust_json, use_key, write_logs

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"

# ---------------------------------------------------------------------------------------------
# Pure builders


def hyperparameter_strings(hyperparameters: dict[str, Any]) -> dict[str, str]:
    """SageMaker passes hyperparameters as strings; booleans in the form the code parses."""
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in sorted(hyperparameters.items())
    }


def model_version(image_uri: str, dataset_version: str, hyperparameters: dict[str, Any]) -> str:
    """A short hash of (image digest, dataset version, hyperparameters)."""
    digest = image_uri.rpartition("@")[2]
    lineage = json.dumps(
        {"image": digest, "dataset": dataset_version, "hyperparameters": hyperparameter_strings(hyperparameters)},
        sort_keys=True,
    )
    return hashlib.sha256(lineage.encode()).hexdigest()[:12]


def training_job_name(prefix: str, image_uri: str, dataset_version: str, hyperparameters: dict[str, Any]) -> str:
    """`<prefix>-<version hash>`, within SageMaker's 63 characters."""
    return f"{prefix[:50].rstrip('-')}-{model_version(image_uri, dataset_version, hyperparameters)}"


def training_role_policy(
    *,
    datasets_bucket_arn: str,
    dataset_prefix: str,
    artifacts_bucket_arn: str,
    job_name: str,
    key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
    vpc: bool,
) -> dict[str, Any]:
    """Least privilege for one training job: read its dataset version, write its model and
    checkpoints, use the region key, pull the image, write its logs."""
    model_prefix = f"models/{job_name}/"
    checkpoint_prefix = f"checkpoints/{job_name}/"
    statements = [
        allow("ReadDatasetVersion", ["s3:GetObject"], f"{datasets_bucket_arn}/{dataset_prefix}*"),
        allow(
            "ListDatasetVersion",
            ["s3:ListBucket"],
            datasets_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{dataset_prefix}*"]}},
        ),
        allow("WriteModel", ["s3:PutObject"], f"{artifacts_bucket_arn}/{model_prefix}*"),
        allow(
            "ReadWriteCheckpoints",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            f"{artifacts_bucket_arn}/{checkpoint_prefix}*",
        ),
        allow(
            "ListOwnPrefixes",
            ["s3:ListBucket"],
            artifacts_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{model_prefix}*", f"{checkpoint_prefix}*"]}},
        ),
        use_key(key_arn),
        *pull_image(repository_arn),
        write_logs(region, account_id, ["/aws/sagemaker/TrainingJobs"]),
    ]
    if vpc:
        statements.append(attach_to_vpc(region))
    return document(*statements)


# ---------------------------------------------------------------------------------------------
# Components


@dataclass(frozen=True)
class SpotTrainingArgs:
    """Inputs of `SpotTraining`.

    config: the stack's training section (instance, stopping condition, dataset, ...).
    name_prefix: prefix of the deterministic job name, e.g. `ml-platform-prod`.
    image_uri: the digest-pinned image.
    datasets_bucket / artifacts_bucket: (name, ARN) of the region's buckets.
    key_arn: the region key, for the volume and the output.
    repository_arn: the ECR repository the image is pulled from.
    region / account_id: where the job runs, for log and key scoping.
    """

    config: TrainingConfig
    name_prefix: str
    image_uri: pulumi.Input[str]
    datasets_bucket: tuple[pulumi.Input[str], pulumi.Input[str]]
    artifacts_bucket: tuple[pulumi.Input[str], pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]


class SpotTraining(pulumi.ComponentResource):
    """A managed spot TrainingJob with checkpoints in S3, and its execution role."""

    job_name: pulumi.Output[str]
    model_data_url: pulumi.Output[str]

    def __init__(self, name: str, args: SpotTrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:training:SpotTraining", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        dataset_prefix = f"{config.dataset.prefix}/{config.dataset.version}/"
        self.job_name = pulumi.Output.from_input(args.image_uri).apply(
            lambda uri: training_job_name(args.name_prefix, uri, config.dataset.version, config.hyperparameters)
        )
        datasets_name, datasets_arn = args.datasets_bucket
        artifacts_name, artifacts_arn = args.artifacts_bucket

        self.role = aws.iam.Role(
            name,
            description="SageMaker training execution role",
            assume_role_policy=trust_json("sagemaker.amazonaws.com", args.account_id),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            name,
            role=self.role.id,
            policy=pulumi.Output.all(
                datasets_arn, artifacts_arn, self.job_name, args.key_arn, args.repository_arn, args.account_id
            ).apply(
                lambda a: json.dumps(
                    training_role_policy(
                        datasets_bucket_arn=a[0],
                        dataset_prefix=dataset_prefix,
                        artifacts_bucket_arn=a[1],
                        job_name=a[2],
                        key_arn=a[3],
                        repository_arn=a[4],
                        region=args.region,
                        account_id=a[5],
                        vpc=config.vpc is not None,
                    )
                )
            ),
            opts=child,
        )
        self.job = aws.sagemaker.TrainingJob(
            name,
            training_job_name=self.job_name,
            role_arn=self.role.arn,
            algorithm_specification={"training_image": args.image_uri, "training_input_mode": "File"},
            hyper_parameters=hyperparameter_strings(config.hyperparameters),
            input_data_configs=[
                {
                    "channel_name": config.dataset.channel,
                    "content_type": "text/csv",
                    "data_source": {
                        "s3_data_source": {
                            "s3_data_type": "S3Prefix",
                            "s3_uri": pulumi.Output.concat("s3://", datasets_name, "/", dataset_prefix),
                            "s3_data_distribution_type": "FullyReplicated",
                        }
                    },
                }
            ],
            output_data_config={
                "s3_output_path": pulumi.Output.concat("s3://", artifacts_name, "/models/"),
                "kms_key_id": args.key_arn,
            },
            resource_config={
                "instance_type": config.instance_type,
                "instance_count": config.instance_count,
                "volume_size_in_gb": config.volume_size_gb,
                "volume_kms_key_id": args.key_arn,
            },
            enable_managed_spot_training=True,
            stopping_condition={
                "max_runtime_in_seconds": config.max_runtime_seconds,
                "max_wait_time_in_seconds": config.max_wait_seconds,
            },
            checkpoint_config={
                "s3_uri": pulumi.Output.concat("s3://", artifacts_name, "/checkpoints/", self.job_name, "/"),
                "local_path": CHECKPOINT_LOCAL_PATH,
            },
            retry_strategy={"maximum_retry_attempts": config.max_retry_attempts},
            enable_network_isolation=config.network_isolation,
            enable_inter_container_traffic_encryption=config.inter_container_encryption,
            vpc_config=(
                {"subnets": config.vpc.subnet_ids, "security_group_ids": config.vpc.security_group_ids}
                if config.vpc
                else None
            ),
            # The role must be able to act before SageMaker validates it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.model_data_url = pulumi.Output.concat(
            "s3://", artifacts_name, "/models/", self.job_name, "/output/model.tar.gz"
        )
        self.register_outputs({"job_name": self.job_name, "model_data_url": self.model_data_url})


class ModelRegistry(pulumi.ComponentResource):
    """The environment's SageMaker Model Registry group."""

    def __init__(self, name: str, group_name: str, description: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:training:ModelRegistry", name, None, opts)
        # Pipelines and operators address the group by name, so the name is stable.
        self.group = aws.sagemaker.ModelPackageGroup(
            name,
            model_package_group_name=group_name,
            model_package_group_description=description,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.group.arn
        self.register_outputs({"arn": self.arn})
