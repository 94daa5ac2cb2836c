"""The SageMaker real-time endpoint: model, endpoint configuration with data capture, the
endpoint with guarded blue/green (or rolling) rollouts and automatic rollback, and
Application Auto Scaling.

The endpoint has a fixed name: its alarms name it in their dimensions and the endpoint names
the alarms for rollback, so neither can wait for the other's generated name. The variant
name is fixed too: blue/green deployments and the scalable target both key on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from ml_platform.components.iam import allow, attach_to_vpc, document, pull_image, trust_json, use_key, write_logs

CAPTURE_PREFIX = "datacapture"

# ---------------------------------------------------------------------------------------------
# Args of the endpoint's parts, in SageMaker's and Application Auto Scaling's terms


@dataclass(frozen=True)
class InstanceVariantArgs:
    """An instance-backed production variant: `initial_instance_count` x `instance_type`."""

    instance_type: str
    initial_instance_count: int


@dataclass(frozen=True)
class ServerlessVariantArgs:
    """A serverless variant (ProductionVariantServerlessConfig): memory per concurrent
    invocation, maximum concurrency, and warm provisioned concurrency (None: none)."""

    memory_size_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None


@dataclass(frozen=True)
class VpcArgs:
    """Run the model's network interfaces in these subnets and security groups."""

    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]


@dataclass(frozen=True)
class ScheduledScalingArgs:
    """A scheduled capacity change (`cron(...)`, `rate(...)` or `at(...)` in `timezone`),
    named `<endpoint>-<name>`."""

    name: str
    schedule: str
    min_capacity: int
    max_capacity: int
    timezone: str = "UTC"


@dataclass(frozen=True)
class AutoscalingArgs:
    """Application Auto Scaling of the variant.

    min_capacity / max_capacity: instances (serverless: provisioned concurrency).
    max_requests_per_second_per_instance x safety_factor: the load one instance is kept at; the
        target-tracking target is that x 60 invocations per instance per minute.
    scale_in_cooldown_seconds / scale_out_cooldown_seconds: wait after a scaling activity.
    concurrency_target: a second policy on concurrent requests per model copy (high-resolution
        metric); None declares none.
    provisioned_concurrency_target: serverless, the provisioned-concurrency utilization target.
    schedules: scheduled capacity changes; none by default.
    """

    min_capacity: int
    max_capacity: int
    max_requests_per_second_per_instance: float = 50
    safety_factor: float = 0.5
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60
    concurrency_target: float | None = None
    provisioned_concurrency_target: float = 0.7
    schedules: Sequence[ScheduledScalingArgs] = ()

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.min_capacity <= self.max_capacity:
            problems.append(
                f"capacity: expected 1 <= min_capacity <= max_capacity (got {self.min_capacity} and "
                f"{self.max_capacity})"
            )
        if not 0 < self.safety_factor <= 1:
            problems.append(f"safety_factor: out of range (got {self.safety_factor}; expected > 0 and <= 1)")
        if problems:
            raise ValueError("AutoscalingArgs: " + "; ".join(problems))

    @property
    def invocations_per_instance_target(self) -> float:
        """SageMakerVariantInvocationsPerInstance target: rps x 60 x safety factor, per minute."""
        return round(self.max_requests_per_second_per_instance * 60 * self.safety_factor, 2)


@dataclass(frozen=True)
class RolloutArgs:
    """How a new endpoint configuration reaches traffic (the endpoint's DeploymentConfig).

    strategy: `blue_green` (a new fleet, traffic shifted per `traffic_routing`) or `rolling`
        (batches of `rolling_batch_percent` of capacity; instance variants only).
    traffic_routing: ALL_AT_ONCE, CANARY (`canary_size_percent` first) or LINEAR
        (`linear_step_percent` per step).
    wait_interval_seconds: bake time after each shift or batch.
    termination_wait_seconds: blue/green, how long the old fleet is kept after the full shift.
    maximum_execution_timeout_seconds: the whole rollout's limit.
    """

    strategy: Literal["blue_green", "rolling"] = "blue_green"
    traffic_routing: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    canary_size_percent: int | None = None
    linear_step_percent: int | None = None
    wait_interval_seconds: int = 300
    termination_wait_seconds: int = 600
    maximum_execution_timeout_seconds: int = 3600
    rolling_batch_percent: int = 25

    def __post_init__(self) -> None:
        problems = []
        if self.strategy not in ("blue_green", "rolling"):
            problems.append(f"strategy: not a strategy (got {self.strategy!r}; expected 'blue_green' or 'rolling')")
        if self.traffic_routing not in ("ALL_AT_ONCE", "CANARY", "LINEAR"):
            problems.append(
                f"traffic_routing: not a routing (got {self.traffic_routing!r}; expected 'ALL_AT_ONCE', 'CANARY' or "
                "'LINEAR')"
            )
        # The step a routing shifts by must be given with it (TrafficRoutingConfig: CanarySize with
        # CANARY, LinearStepSize with LINEAR), and only with it.
        for routing, key in (("CANARY", "canary_size_percent"), ("LINEAR", "linear_step_percent")):
            value = getattr(self, key)
            if (self.traffic_routing == routing) != (value is not None):
                expected = "a percentage of capacity" if self.traffic_routing == routing else "None"
                routing_now = self.traffic_routing
                problems.append(f"{key}: with traffic_routing {routing_now} (got {value!r}; expected {expected})")
        if problems:
            raise ValueError("RolloutArgs: " + "; ".join(problems))


@dataclass(frozen=True)
class DataCaptureArgs:
    """Capture of requests and responses to the capture bucket: the share captured (percent)."""

    sampling_percent: int = 100


# ---------------------------------------------------------------------------------------------
# Pure builders


def deployment_config(rollout: RolloutArgs, rollback_alarm_names: list[str]) -> dict[str, Any]:
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


def production_variant(
    variant_name: str,
    model_name: str,
    instance: InstanceVariantArgs | None,
    serverless: ServerlessVariantArgs | None,
) -> dict[str, Any]:
    """The endpoint configuration's one production variant: instances, or serverless."""
    variant: dict[str, Any] = {"variant_name": variant_name, "model_name": model_name}
    if instance is not None:
        variant.update(
            instance_type=instance.instance_type,
            initial_instance_count=instance.initial_instance_count,
            initial_variant_weight=1,
        )
    elif serverless is not None:
        variant["serverless_config"] = {
            "memory_size_in_mb": serverless.memory_size_mb,
            "max_concurrency": serverless.max_concurrency,
        }
        if serverless.provisioned_concurrency is not None:
            variant["serverless_config"]["provisioned_concurrency"] = serverless.provisioned_concurrency
    return variant


def data_capture_config(capture: DataCaptureArgs, capture_bucket: str, key_arn: str) -> dict[str, Any]:
    """Capture requests and responses to `s3://<capture>/datacapture/<endpoint>/<variant>/...`."""
    return {
        "enable_capture": True,
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


def scaling_policies(scaling: AutoscalingArgs, serverless: bool) -> list[tuple[str, dict[str, Any]]]:
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
    partition: str,
    vpc: bool,
) -> dict[str, Any]:
    """The model's execution role: read model artifacts, write data capture for this endpoint,
    use the region key, pull the image, write the endpoint's logs."""
    statements = [
        allow("ReadModelArtifacts", ["s3:GetObject"], f"{artifacts_bucket_arn}/models/*"),
        allow("WriteDataCapture", ["s3:PutObject"], f"{capture_bucket_arn}/{CAPTURE_PREFIX}/{endpoint_name}/*"),
        use_key(key_arn),
        *pull_image(repository_arn),
        write_logs(region, account_id, [f"/aws/sagemaker/Endpoints/{endpoint_name}"], partition=partition),
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

    endpoint_name: the endpoint's fixed name (alarms and scaling refer to it).
    variant_name: the production variant's fixed name (blue/green and scaling key on it).
    model: the served model version, in this region.
    instance / serverless: the variant's kind; set exactly one.
    rollout: how an update reaches traffic; rollback_alarm_names: the alarms whose ALARM state
        rolls it back (pass the alarm resources' `name` outputs: the endpoint then waits for
        them, and SageMaker checks they exist).
    autoscaling: Application Auto Scaling of the variant; None keeps the capacity fixed.
    data_capture: capture to `s3://<capture_bucket_name>/datacapture/`; None captures nothing.
    container_environment: environment variables of the serving container.
    network_isolation: no outbound network from the model container.
    vpc: run the model in these subnets; None runs it outside any VPC.
    artifacts_bucket_arn: where model data is read (`models/*`).
    capture_bucket_name / capture_bucket_arn: where capture is written.
    key_arn: the region key (volumes, capture).
    repository_arn: the ECR repository the image is pulled from.
    region / account_id / partition: for log and key scoping (`partition`: `aws`, `aws-cn`, ...).
    standby: a warm standby in another region (tagged `serving-role=standby`).
    """

    endpoint_name: str
    variant_name: str
    model: ServedVersion
    rollout: RolloutArgs
    rollback_alarm_names: Sequence[pulumi.Input[str]]
    artifacts_bucket_arn: pulumi.Input[str]
    capture_bucket_name: pulumi.Input[str]
    capture_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    instance: InstanceVariantArgs | None = None
    serverless: ServerlessVariantArgs | None = None
    autoscaling: AutoscalingArgs | None = None
    data_capture: DataCaptureArgs | None = None
    container_environment: Mapping[str, str] = field(default_factory=dict)
    network_isolation: bool = True
    vpc: VpcArgs | None = None
    standby: bool = False

    def __post_init__(self) -> None:
        if (self.instance is None) == (self.serverless is None):
            got = "both" if self.instance is not None else "neither"
            raise ValueError(f"ModelEndpointArgs: set exactly one of instance and serverless (got {got})")


# Tag telling policy and operators a warm standby (capacity kept low on purpose) from the
# endpoint that takes traffic.
SERVING_ROLE_TAG = "serving-role"
# Tags naming the model version a Model / EndpointConfig serves (operators, `ops.models list`).
MODEL_VERSION_TAG = "model-version"
MODEL_PACKAGE_TAG = "model-package-arn"


class ModelEndpoint(pulumi.ComponentResource):
    """Model, endpoint configuration, endpoint and autoscaling of one region."""

    endpoint_name: pulumi.Output[str]
    variant_name: str
    autoscaling: AutoscalingArgs | None
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
        self.variant_name = args.variant_name
        self.autoscaling = args.autoscaling
        self.region = args.region

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
                artifacts_bucket_arn=args.artifacts_bucket_arn,
                capture_bucket_arn=args.capture_bucket_arn,
                key_arn=args.key_arn,
                repository_arn=args.repository_arn,
                account_id=args.account_id,
                partition=args.partition,
            ).apply(
                lambda v: json.dumps(
                    model_role_policy(
                        **v, endpoint_name=args.endpoint_name, region=args.region, vpc=args.vpc is not None
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
        if args.container_environment:
            container["environment"] = dict(args.container_environment)
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
            enable_network_isolation=args.network_isolation,
            vpc_config=(
                {"subnets": list(args.vpc.subnet_ids), "security_group_ids": list(args.vpc.security_group_ids)}
                if args.vpc
                else None
            ),
            tags=version_tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy, *served.ready], retain_on_delete=True),
        )
        capture = args.data_capture
        self.endpoint_config = aws.sagemaker.EndpointConfiguration(
            versioned,
            production_variants=[
                self.model.name.apply(
                    lambda model: production_variant(args.variant_name, model, args.instance, args.serverless)
                )
            ],
            data_capture_config=(
                pulumi.Output.all(bucket=args.capture_bucket_name, key_arn=args.key_arn).apply(
                    lambda v: data_capture_config(capture, v["bucket"], v["key_arn"])
                )
                if capture is not None
                else None
            ),
            kms_key_arn=args.key_arn,
            tags={SERVING_ROLE_TAG: "standby" if args.standby else "active", **version_tags},
            opts=retained,
        )
        # No custom_timeouts: the provider's endpoint resource declares no Timeouts block and waits
        # a fixed 60 minutes for InService; config rules keep the rollout within it
        # (ml_platform/endpoint_timing.py). Model and EndpointConfiguration have no waiters either.
        self.endpoint = aws.sagemaker.Endpoint(
            name,
            name=args.endpoint_name,
            endpoint_config_name=self.endpoint_config.name,
            tags={SERVING_ROLE_TAG: "standby" if args.standby else "active"},
            deployment_config=pulumi.Output.all(*args.rollback_alarm_names).apply(
                lambda names: deployment_config(args.rollout, list(names))
            ),
            opts=child,
        )
        self.endpoint_name = self.endpoint.name
        if args.autoscaling is not None:
            self._autoscale(name, args, args.autoscaling)
        self.register_outputs({"endpoint_name": self.endpoint_name, "endpoint_config_name": self.endpoint_config.name})

    def _autoscale(self, name: str, args: ModelEndpointArgs, scaling: AutoscalingArgs) -> None:
        endpoint_name = args.endpoint_name
        serverless = args.serverless is not None
        dimension = (
            "sagemaker:variant:DesiredProvisionedConcurrency"
            if serverless
            else "sagemaker:variant:DesiredInstanceCount"
        )
        resource_id = scalable_resource_id(endpoint_name, args.variant_name)
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
