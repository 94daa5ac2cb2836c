"""The SageMaker real-time endpoint: model, endpoint configuration with data capture, the
endpoint with guarded blue/green (or rolling) rollouts and automatic rollback, and
Application Auto Scaling.

The endpoint has a fixed name: its alarms name it in their dimensions and the endpoint names
the alarms for rollback, so neither can wait for the other's generated name. The variant
name is fixed too: blue/green deployments and the scalable target both key on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.iam import allow, attach_to_vpc, document, pull_image, trust_json, use_key, write_logs
from ml_platform.config import AutoscalingConfig, DataCaptureConfig, RolloutConfig, ServingConfig

CAPTURE_PREFIX = "datacapture"

# ---------------------------------------------------------------------------------------------
# Pure builders


def deployment_config(rollout: RolloutConfig, rollback_alarm_names: list[str]) -> dict[str, Any]:
    """`Endpoint.deployment_config`: the update policy and the alarms that roll it back."""
    config: dict[str, Any] = {
        "auto_rollback_configuration": {"alarms": [{"alarm_name": name} for name in rollback_alarm_names]}
    }
    if rollout.strategy == "rolling":
        batch = {"type": "CAPACITY_PERCENT", "value": rollout.rolling_batch_percent}
        config["rolling_update_policy"] = {
            "maximum_batch_size": batch,
            "rollback_maximum_batch_size": batch,
            "wait_interval_in_seconds": rollout.wait_interval_seconds,
            "maximum_execution_timeout_in_seconds": rollout.maximum_execution_timeout_seconds,
        }
        return config
    routing: dict[str, Any] = {
        "type": rollout.traffic_routing,
        "wait_interval_in_seconds": rollout.wait_interval_seconds,
    }
    if rollout.traffic_routing == "CANARY":
        routing["canary_size"] = {"type": "CAPACITY_PERCENT", "value": rollout.canary_size_percent}
    if rollout.traffic_routing == "LINEAR":
        routing["linear_step_size"] = {"type": "CAPACITY_PERCENT", "value": rollout.linear_step_percent}
    config["blue_green_update_policy"] = {
        "traffic_routing_configuration": routing,
        "termination_wait_in_seconds": rollout.termination_wait_seconds,
        "maximum_execution_timeout_in_seconds": rollout.maximum_execution_timeout_seconds,
    }
    return config


def production_variant(config: ServingConfig, model_name: str) -> dict[str, Any]:
    variant: dict[str, Any] = {"variant_name": config.variant_name, "model_name": model_name}
    if config.instance is not None:
        variant.update(
            instance_type=config.instance.instance_type,
            initial_instance_count=config.instance.initial_instance_count,
            initial_variant_weight=1,
        )
    else:
        serverless = config.serverless
        variant["serverless_config"] = {
            "memory_size_in_mb": serverless.memory_size_mb,
            "max_concurrency": serverless.max_concurrency,
        }
        if serverless.provisioned_concurrency is not None:
            variant["serverless_config"]["provisioned_concurrency"] = serverless.provisioned_concurrency
    return variant


def data_capture_config(capture: DataCaptureConfig, capture_bucket: str, key_arn: str) -> dict[str, Any]:
    """Capture requests and responses to `s3://<capture>/datacapture/<endpoint>/<variant>/...`."""
    return {
        "enable_capture": capture.enabled,
        "initial_sampling_percentage": capture.sampling_percent,
        "destination_s3_uri": f"s3://{capture_bucket}/{CAPTURE_PREFIX}",
        "kms_key_id": key_arn,
        "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
        "capture_content_type_header": {
            "csv_content_types": ["text/csv"],
            "json_content_types": ["application/json"],
        },
    }


def scalable_resource_id(endpoint_name: str, variant_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


def scaling_policies(scaling: AutoscalingConfig, serverless: bool) -> list[tuple[str, dict[str, Any]]]:
    """(suffix, target-tracking configuration) per policy."""
    cooldowns = {
        "scale_in_cooldown": scaling.scale_in_cooldown_seconds,
        "scale_out_cooldown": scaling.scale_out_cooldown_seconds,
    }
    if serverless:
        return [
            (
                "provisioned-concurrency",
                {
                    "target_value": scaling.provisioned_concurrency_target,
                    "predefined_metric_specification": {
                        "predefined_metric_type": "SageMakerVariantProvisionedConcurrencyUtilization"
                    },
                    **cooldowns,
                },
            )
        ]
    policies = [
        (
            "invocations",
            {
                # Invocations per instance per minute: sustained rps x 60 x safety factor.
                "target_value": scaling.invocations_per_instance_target,
                "predefined_metric_specification": {"predefined_metric_type": "SageMakerVariantInvocationsPerInstance"},
                **cooldowns,
            },
        )
    ]
    if scaling.concurrency_target is not None:
        policies.append(
            (
                "concurrency",
                {
                    "target_value": scaling.concurrency_target,
                    "predefined_metric_specification": {
                        "predefined_metric_type": "SageMakerVariantConcurrentRequestsPerModelHighResolution"
                    },
                    **cooldowns,
                },
            )
        )
    return policies


def model_role_policy(
    *,
    artifacts_bucket_arn: str,
    capture_bucket_arn: str,
    endpoint_name: str,
    key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
    vpc: bool,
) -> dict[str, Any]:
    """The model's execution role: read model artifacts, write data capture for this endpoint,
    use the region key, pull the image, write the endpoint's logs."""
    statements = [
        allow("ReadModelArtifacts", ["s3:GetObject"], f"{artifacts_bucket_arn}/models/*"),
        allow("WriteDataCapture", ["s3:PutObject"], f"{capture_bucket_arn}/{CAPTURE_PREFIX}/{endpoint_name}/*"),
        use_key(key_arn),
        *pull_image(repository_arn),
        write_logs(region, account_id, [f"/aws/sagemaker/Endpoints/{endpoint_name}"]),
    ]
    if vpc:
        statements.append(attach_to_vpc(region))
    return document(*statements)


# ---------------------------------------------------------------------------------------------
# Component


@dataclass(frozen=True)
class ServedVersion:
    """The model version an endpoint serves, in the endpoint's own region.

    version / package_arn: the Model Registry version (names and tags derive from it, so pinning
    an earlier version declares that version's Model again: rollback never retrains); the
    package ARN tags the primary's resources only (it names the registry's region).
    image_uri: the version's image by digest, in this region's repository.
    model_data_url: the version's model.tar.gz in this region's artifacts bucket (SageMaker
        reads model data only from a bucket in the endpoint's region).
    ready: resources that put the artifact and the image in place here (the secondary's
        ObjectCopy and image check); the Model waits for them, since CreateModel checks that
        the model data exists.
    """

    version: int
    package_arn: str | None
    image_uri: pulumi.Input[str]
    model_data_url: pulumi.Input[str]
    ready: tuple[pulumi.Resource, ...] = ()


@dataclass(frozen=True)
class ModelEndpointArgs:
    """Inputs of `ModelEndpoint`.

    config: the stack's serving section (its role's capacity).
    endpoint_name: the endpoint's fixed name (alarms and scaling refer to it).
    model: the served model version, in this region.
    artifacts_bucket_arn / capture_bucket: where model data is read and capture is written
        (capture as (name, ARN)).
    key_arn: the region key (volumes, capture).
    repository_arn: the ECR repository the image is pulled from.
    region / account_id: for log and key scoping.
    rollback_alarms: alarms whose ALARM state rolls a deployment back; the endpoint waits
        for them, since SageMaker checks they exist.
    standby: a warm standby in the secondary region (tagged `serving-role=standby`).
    """

    config: ServingConfig
    endpoint_name: str
    model: ServedVersion
    artifacts_bucket_arn: pulumi.Input[str]
    capture_bucket: tuple[pulumi.Input[str], pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    rollback_alarms: list[aws.cloudwatch.MetricAlarm]
    standby: bool = False


# Tag telling policy and operators a warm standby (capacity kept low on purpose) from the
# endpoint that takes traffic.
SERVING_ROLE_TAG = "serving-role"
# Tags naming the model version a Model / EndpointConfig serves (operators, `ops.models list`).
MODEL_VERSION_TAG = "model-version"
MODEL_PACKAGE_TAG = "model-package-arn"


class ModelEndpoint(pulumi.ComponentResource):
    """Model, endpoint configuration, endpoint and autoscaling of one region."""

    endpoint_name: pulumi.Output[str]
    config: ServingConfig
    region: str

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:serving:ModelEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # A replaced Model or EndpointConfiguration leaves the stack but stays in AWS: after an
        # automatic rollback the endpoint runs on the previous ones again, and it needs both to
        # scale out or replace an instance (DeleteEndpointConfig/DeleteModel do not check for a
        # live endpoint: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteEndpointConfig.html,
        # API_DeleteModel.html). RUNBOOK.md "After an automatic rollback" removes them once the
        # endpoint no longer uses them.
        retained = pulumi.ResourceOptions(parent=self, retain_on_delete=True)
        config = self.config = args.config
        self.region = args.region
        capture_name, capture_arn = args.capture_bucket

        self.role = aws.iam.Role(
            name,
            description=f"SageMaker model execution role for {args.endpoint_name}",
            assume_role_policy=trust_json("sagemaker.amazonaws.com", args.account_id),
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            name,
            role=self.role.id,
            policy=pulumi.Output.all(
                args.artifacts_bucket_arn, capture_arn, args.key_arn, args.repository_arn, args.account_id
            ).apply(
                lambda a: json.dumps(
                    model_role_policy(
                        artifacts_bucket_arn=a[0],
                        capture_bucket_arn=a[1],
                        endpoint_name=args.endpoint_name,
                        key_arn=a[2],
                        repository_arn=a[3],
                        region=args.region,
                        account_id=a[4],
                        vpc=config.vpc is not None,
                    )
                )
            ),
            opts=child,
        )
        served = args.model
        container: dict[str, Any] = {
            "image": served.image_uri,
            "model_data_url": served.model_data_url,
            "mode": "SingleModel",
        }
        if config.environment:
            container["environment"] = dict(config.environment)
        version_tags = {MODEL_VERSION_TAG: str(served.version)}
        if served.package_arn:
            version_tags[MODEL_PACKAGE_TAG] = served.package_arn
        # The logical names carry the version: another version is another Model and
        # EndpointConfig, created before the endpoint switches; the ones it replaces leave the
        # stack but stay in AWS (retain_on_delete, above).
        versioned = f"{name}-v{served.version}"
        self.model = aws.sagemaker.Model(
            versioned,
            execution_role_arn=self.role.arn,
            primary_container=container,
            enable_network_isolation=config.network_isolation,
            vpc_config=(
                {"subnets": config.vpc.subnet_ids, "security_group_ids": config.vpc.security_group_ids}
                if config.vpc
                else None
            ),
            tags=version_tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, *served.ready], retain_on_delete=True),
        )
        self.endpoint_config = aws.sagemaker.EndpointConfiguration(
            versioned,
            production_variants=[self.model.name.apply(lambda model: production_variant(config, model))],
            data_capture_config=(
                pulumi.Output.all(capture_name, args.key_arn).apply(
                    lambda a: data_capture_config(config.data_capture, a[0], a[1])
                )
                if config.data_capture.enabled
                else None
            ),
            kms_key_arn=args.key_arn,
            tags={SERVING_ROLE_TAG: "standby" if args.standby else "active", **version_tags},
            opts=retained,
        )
        # No custom_timeouts: the provider's endpoint resource declares no Timeouts block and waits
        # a fixed 60 minutes for InService; config rules keep the rollout within it
        # (ml_platform/components/rollout.py). Model and EndpointConfiguration have no waiters either.
        self.endpoint = aws.sagemaker.Endpoint(
            name,
            name=args.endpoint_name,
            endpoint_config_name=self.endpoint_config.name,
            tags={SERVING_ROLE_TAG: "standby" if args.standby else "active"},
            deployment_config=pulumi.Output.all(*[alarm.name for alarm in args.rollback_alarms]).apply(
                lambda names: deployment_config(config.rollout, list(names))
            ),
            opts=child,
        )
        self.endpoint_name = self.endpoint.name
        if config.autoscaling is not None:
            self._autoscale(name, args.endpoint_name, config)
        self.register_outputs({"endpoint_name": self.endpoint_name, "endpoint_config_name": self.endpoint_config.name})

    def _autoscale(self, name: str, endpoint_name: str, config: ServingConfig) -> None:
        scaling = config.autoscaling
        serverless = config.serverless is not None
        dimension = (
            "sagemaker:variant:DesiredProvisionedConcurrency"
            if serverless
            else "sagemaker:variant:DesiredInstanceCount"
        )
        resource_id = scalable_resource_id(endpoint_name, config.variant_name)
        target = aws.appautoscaling.Target(
            name,
            service_namespace="sagemaker",
            resource_id=resource_id,
            scalable_dimension=dimension,
            min_capacity=scaling.min_capacity,
            max_capacity=scaling.max_capacity,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.endpoint]),
        )
        after_target = pulumi.ResourceOptions(parent=self, depends_on=[target])
        for suffix, tracking in scaling_policies(scaling, serverless):
            aws.appautoscaling.Policy(
                f"{name}-{suffix}",
                policy_type="TargetTrackingScaling",
                service_namespace="sagemaker",
                resource_id=resource_id,
                scalable_dimension=dimension,
                target_tracking_scaling_policy_configuration=tracking,
                opts=after_target,
            )
        for schedule in scaling.schedules:
            aws.appautoscaling.ScheduledAction(
                f"{name}-{schedule.name}",
                name=f"{endpoint_name}-{schedule.name}",
                service_namespace="sagemaker",
                resource_id=resource_id,
                scalable_dimension=dimension,
                schedule=schedule.schedule,
                timezone=schedule.timezone,
                scalable_target_action={
                    "min_capacity": schedule.min_capacity,
                    "max_capacity": schedule.max_capacity,
                },
                opts=after_target,
            )


# ---------------------------------------------------------------------------------------------
# The served version's own copy in another region


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); ValueError naming the value otherwise."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key or key.endswith("/"):
        raise ValueError(f"model data URL: not an S3 object URL (got {url!r}; expected s3://<bucket>/<key>)")
    return bucket, key


@dataclass(frozen=True)
class RegionalModelCopyArgs:
    """Inputs of `RegionalModelCopy` (declared with the target region's provider).

    version: the model version (names the copy). model_data_url: the version's artifact in the
    primary region. image_uri: the version's image in the primary repository (by digest).
    bucket_name / key_arn: the target region's artifacts bucket and key. region: the target region.
    image_timeout_seconds: how long to wait for ECR replication to bring the digest.
    """

    version: int
    model_data_url: str
    image_uri: str
    bucket_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    region: str
    image_timeout_seconds: int = 600


class RegionalModelCopy(pulumi.ComponentResource):
    """The version's artifact copied into this region's artifacts bucket (synchronously:
    CopyObject during `pulumi up`, not replication's eventual copy), and the image digest checked
    present in this region's replica repository. SageMaker reads a Model's artifact only from
    a bucket in the Model's region ("the S3 bucket ... must be in the same AWS Region as the
    model", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html,
    ModelDataUrl), and a model package only in its own region.

    The copy keeps the source key, so the standby's model role reads `models/*` as in the primary.
    `retain_on_delete`: the provider deletes *every version* of the key when an ObjectCopy is
    destroyed (internal/service/s3/object_copy.go, resourceObjectCopyDelete ->
    DeleteAllObjectVersions), and artifacts replication writes the same key; a deploy of another
    version must never remove an artifact. `bucket`, `key` and `source` force replacement
    (ForceNew in the same file), so another version is another copy.
    """

    def __init__(self, name: str, args: RegionalModelCopyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:serving:RegionalModelCopy", name, None, opts)
        from ml_platform.components.image import image_in_region
        from ml_platform.components.image_check import ImageReplicaCheck, ImageReplicaCheckArgs

        source_bucket, key = split_s3_url(args.model_data_url)
        self.copy = aws.s3.ObjectCopy(
            f"{name}-v{args.version}",
            bucket=args.bucket_name,
            key=key,
            source=f"{source_bucket}/{key}",
            server_side_encryption="aws:kms",
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.image_uri = image_in_region(args.image_uri, args.region)
        repository = self.image_uri.split("/", 1)[1].split("@", 1)[0]
        self.image_check = ImageReplicaCheck(
            f"{name}-image-v{args.version}",
            ImageReplicaCheckArgs(
                region=args.region,
                repository=repository,
                digest=self.image_uri.rpartition("@")[2],
                timeout_seconds=args.image_timeout_seconds,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.model_data_url = pulumi.Output.concat("s3://", self.copy.bucket, "/", self.copy.key)
        self.register_outputs({"model_data_url": self.model_data_url, "image_uri": self.image_uri})
