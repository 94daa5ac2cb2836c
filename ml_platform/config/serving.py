"""`serving`: the SageMaker real-time endpoint (instance or serverless variant, autoscaling,
rollout guardrails, data capture), and the rollout rules the standby shares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ml_platform.config.rules import (
    ConfigRuleError,
    Section,
    check_instance_type,
    fail,
    not_above,
    not_below,
    problem,
    rule,
)
from ml_platform.config.training import VpcConfig
from ml_platform.endpoint_timing import ENDPOINT_WAITER_SECONDS, RolloutEstimate, rollout_estimate


def count_within_bounds(count: int, scaling: Any) -> str | None:
    """The problem with an initial count outside an autoscaling section's [min, max], if any."""
    if scaling.min_capacity <= count <= scaling.max_capacity:
        return None
    return problem(
        "must lie within the autoscaling bounds", count, f"{scaling.min_capacity} <= count <= {scaling.max_capacity}"
    )


# SageMaker deployment guardrails: "the canary size should be less than or equal to 50% of the
# new fleet's capacity"; LinearStepSize "must be 10-50% of the variant's total instance count"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-canary.html,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html).
# One instance cannot be split: the canary or a step would be the whole fleet.
SHIFTING_MIN_INSTANCES = 2


def traffic_shifting_problem(routing: str, instance_count: int, where: str) -> str | None:
    """The problem with CANARY/LINEAR on fewer than 2 instances, if any."""
    if routing in ("CANARY", "LINEAR") and instance_count < SHIFTING_MIN_INSTANCES:
        return problem(
            f"{routing} shifts at most 50% of the variant's instances per step, so it needs at least "
            f"{SHIFTING_MIN_INSTANCES} instances; {where} is {instance_count}",
            routing,
            f"ALL_AT_ONCE, or {where} >= {SHIFTING_MIN_INSTANCES}",
        )
    return None


def scheduled_minimum_problems(schedules: Iterable[Any]) -> list[tuple[str, str]]:
    """Scheduled actions that would scale an instance variant below 1 instance.
    Application Auto Scaling's MinCapacity may be 0 only for the resources it lists (SageMaker
    serverless provisioned concurrency and inference components among them), not for an
    instance variant's DesiredInstanceCount, which SageMaker keeps at 1 or more
    (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html,
    MinCapacity; https://docs.aws.amazon.com/autoscaling/application/APIReference/API_ScalableTargetAction.html)."""
    return [
        (
            f"autoscaling.schedules[{i}].min_capacity",
            problem("an instance variant keeps at least 1 instance", schedule.min_capacity, ">= 1"),
        )
        for i, schedule in enumerate(schedules)
        if schedule.min_capacity < 1
    ]


def rollout_time_problem(rollout: Any, instance_count: int, where: str) -> tuple[str, str] | None:
    """The problem with a rollout that can outlast the provider's fixed endpoint wait, or
    SageMaker's own `maximum_execution_timeout_seconds`, if any (see ml_platform/endpoint_timing.py)."""
    estimate = estimate_rollout(rollout, instance_count).total_seconds
    if estimate > ENDPOINT_WAITER_SECONDS:
        return (
            "rollout",
            problem(
                f"the rollout of {where} can take {estimate} s, longer than the provider waits for an endpoint "
                f"update ({ENDPOINT_WAITER_SECONDS} s, fixed; custom_timeouts does not change it); see "
                "`make plan` for the phases",
                estimate,
                f"<= {ENDPOINT_WAITER_SECONDS} s: shorter wait_interval_seconds or termination_wait_seconds, "
                "fewer steps, or bigger batches",
            ),
        )
    if estimate > rollout.maximum_execution_timeout_seconds:
        return (
            "rollout.maximum_execution_timeout_seconds",
            problem(
                f"SageMaker rolls back an update that runs longer; the rollout of {where} can take {estimate} s",
                rollout.maximum_execution_timeout_seconds,
                f">= {estimate}",
            ),
        )
    return None


def estimate_rollout(rollout: Any, instance_count: int) -> RolloutEstimate:
    """`ml_platform.endpoint_timing.rollout_estimate` for a RolloutConfig and the variant's instance count."""
    step = rollout.canary_size_percent if rollout.traffic_routing == "CANARY" else rollout.linear_step_percent
    return rollout_estimate(
        strategy=rollout.strategy,
        traffic_routing=rollout.traffic_routing,
        instance_count=instance_count,
        step_percent=step,
        rolling_batch_percent=rollout.rolling_batch_percent,
        wait_interval_seconds=rollout.wait_interval_seconds,
        termination_wait_seconds=rollout.termination_wait_seconds,
    )


def vcpus_of(instance_type: str) -> int | None:
    """vCPUs of an `ml.<family>.<size>` instance from its size name: medium 2, large 2,
    xlarge 4, Nxlarge 4N; None for sizes that do not follow the rule (e.g. metal)."""
    size = instance_type.rsplit(".", 1)[-1]
    if size in ("medium", "large"):
        return 2
    if size == "xlarge":
        return 4
    if size.endswith("xlarge") and size[: -len("xlarge")].isdigit():
        return 4 * int(size[: -len("xlarge")])
    return None


class InstanceVariantConfig(Section):
    """An instance-backed production variant."""

    instance_type: str = Field(description="Instance type (checked against botocore's SageMaker model).")
    initial_instance_count: int = Field(ge=1, le=100, description="Instances the variant starts with.")
    vcpus: int | None = Field(
        default=None,
        ge=1,
        le=448,
        description="vCPUs per instance, when the size name does not tell (CPU alarms normalise by it).",
    )

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str) -> str:
        return check_instance_type(value, "ProductionVariantInstanceType")

    @rule("instance_type", "vcpus")
    def _vcpus_known(v):
        if v.vcpus is None and vcpus_of(v.instance_type) is None:
            fail("cannot be derived from the instance type; set it", None, f"the vCPU count of {v.instance_type}")

    @property
    def vcpu_count(self) -> int:
        return self.vcpus or vcpus_of(self.instance_type) or 1


class ServerlessVariantConfig(Section):
    """A serverless variant: no instances, scales with requests (no data capture, VPC or isolation)."""

    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = Field(description="Memory per concurrent invocation.")
    max_concurrency: int = Field(ge=1, le=200, description="Maximum concurrent invocations.")
    provisioned_concurrency: int | None = Field(
        default=None, ge=1, le=200, description="Warm concurrency kept ready; <= max_concurrency."
    )

    @rule("max_concurrency", "provisioned_concurrency")
    def _within_max(v):
        not_above(v.provisioned_concurrency, v.max_concurrency, "exceeds max_concurrency")


class ScheduledScalingConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="Name of the scheduled action.")
    schedule: str = Field(
        pattern=r"^(cron|rate|at)\(.+\)$", description="`cron(...)`, `rate(...)` or `at(...)` expression."
    )
    timezone: str = Field(default="UTC", description="IANA time zone of the schedule.")
    min_capacity: int = Field(ge=0, le=100, description="Minimum capacity from this time.")
    max_capacity: int = Field(ge=1, le=100, description="Maximum capacity from this time.")

    @rule("min_capacity", "max_capacity")
    def _ordered(v):
        not_below(v.max_capacity, v.min_capacity, "min_capacity")


class AutoscalingConfig(Section):
    """Application Auto Scaling of the variant."""

    min_capacity: int = Field(ge=1, le=100, description="Fewest instances (or provisioned concurrency, serverless).")
    max_capacity: int = Field(ge=1, le=100, description="Most instances (or provisioned concurrency, serverless).")
    max_requests_per_second_per_instance: float = Field(
        default=50, gt=0, description="Load-tested requests/s one instance sustains."
    )
    safety_factor: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of that load to target; the target is rps x 60 x factor invocations per minute.",
    )
    scale_in_cooldown_seconds: int = Field(
        default=300, ge=0, le=3600, description="Wait after a scale-in before another."
    )
    scale_out_cooldown_seconds: int = Field(
        default=60, ge=0, le=3600, description="Wait after a scale-out before another."
    )
    concurrency_target: float | None = Field(
        default=None,
        gt=0,
        description="Optional second policy: concurrent requests per model copy (high-resolution metric).",
    )
    provisioned_concurrency_target: float = Field(
        default=0.7, gt=0, le=1, description="Serverless: target provisioned-concurrency utilization."
    )
    schedules: list[ScheduledScalingConfig] = Field(
        default_factory=list, description="Scheduled capacity changes, e.g. dev to its minimum at night."
    )

    @rule("min_capacity", "max_capacity")
    def _ordered(v):
        not_below(v.max_capacity, v.min_capacity, "min_capacity")

    @property
    def invocations_per_instance_target(self) -> float:
        return round(self.max_requests_per_second_per_instance * 60 * self.safety_factor, 2)


class RolloutConfig(Section):
    """How a new endpoint configuration reaches traffic."""

    strategy: Literal["blue_green", "rolling"] = Field(
        default="blue_green", description="Blue/green fleet swap, or rolling batches (instance variants only)."
    )
    traffic_routing: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = Field(
        default="ALL_AT_ONCE", description="Blue/green traffic shifting."
    )
    canary_size_percent: int | None = Field(
        default=None, ge=1, le=100, description="CANARY: share of capacity that takes traffic first (<= 50)."
    )
    linear_step_percent: int | None = Field(
        default=None, ge=1, le=100, description="LINEAR: share of capacity shifted per step (10-50)."
    )
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600, description="Bake time between shifts.")
    termination_wait_seconds: int = Field(
        default=600, ge=0, le=3600, description="Old fleet kept after full shift, for fast rollback."
    )
    maximum_execution_timeout_seconds: int = Field(default=3600, ge=600, le=14400, description="Whole rollout limit.")
    rolling_batch_percent: int = Field(
        default=25, ge=5, le=50, description="rolling: share of capacity replaced per batch."
    )

    @model_validator(mode="after")
    def _sizes(self) -> RolloutConfig:
        problems = []
        # LinearStepSize "must be 10-50% of the variant's total instance count"; CanarySize
        # "less than or equal to 50%" (API_TrafficRoutingConfig, see SHIFTING_MIN_INSTANCES).
        needed = {"CANARY": ("canary_size_percent", 1), "LINEAR": ("linear_step_percent", 10)}
        for routing, (key, least) in needed.items():
            value = getattr(self, key)
            if self.traffic_routing == routing and value is None:
                problems.append(
                    (
                        key,
                        problem(
                            f"required with traffic_routing {routing}", None, f"a percentage of capacity, {least} to 50"
                        ),
                    )
                )
            elif self.traffic_routing != routing and value is not None:
                problems.append((key, problem(f"only used with traffic_routing {routing}", value, "no value")))
            elif value is not None and value > 50:
                problems.append(
                    (key, problem("guardrail: at most half the capacity may take new traffic at once", value, "<= 50"))
                )
            elif value is not None and value < least:
                problems.append(
                    (key, problem("SageMaker takes a linear step of 10-50% of the variant's instances", value, ">= 10"))
                )
        if problems:
            raise ConfigRuleError(problems)
        return self


class DataCaptureConfig(Section):
    enabled: bool = Field(default=True, description="Capture requests and responses to the capture bucket.")
    sampling_percent: int = Field(default=100, ge=1, le=100, description="Share of requests captured.")


def sagemaker_only(platform: str, value: Any) -> None:
    if value is not None and platform == "kubernetes":
        fail("only used with platform sagemaker", "set", "no value with platform kubernetes (see kubernetes)")


class ServingConfig(Section):
    """The SageMaker real-time endpoint, or (`platform: kubernetes`) the same model on Kubernetes."""

    platform: Literal["sagemaker", "kubernetes"] = Field(
        default="sagemaker",
        description=(
            "Where the model is served: a SageMaker endpoint, or the cluster in the `kubernetes` section (then only "
            "`model` and `environment` apply in `serving`)."
        ),
    )
    variant_name: str = Field(
        default="primary",
        pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        description="Production variant name. Blue/green and autoscaling key on it: keep it fixed across updates.",
    )
    model: Literal["latest-approved"] | int = Field(
        default="latest-approved",
        description=(
            "The model version to serve: `latest-approved` (the newest Approved version in the stack's Model Registry "
            "group) or a version number (must be Approved), resolved at preview and up. Its Model and EndpointConfig "
            "are named after it (`endpoint-<role>-v<N>`); pinning an earlier number rolls back to that exact "
            "artifact."
        ),
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Environment variables of the serving container."
    )
    network_isolation: bool = Field(default=True, description="No outbound network from the model container.")
    vpc: VpcConfig | None = Field(default=None, description="Run the model in these subnets and security groups.")
    instance: InstanceVariantConfig | None = Field(
        default=None, description="Instance-backed variant (set this or serverless)."
    )
    serverless: ServerlessVariantConfig | None = Field(
        default=None, description="Serverless variant (set this or instance)."
    )
    autoscaling: AutoscalingConfig | None = Field(
        default=None, description="Autoscaling; none keeps the capacity fixed."
    )
    rollout: RolloutConfig = Field(default_factory=RolloutConfig, description="Deployment guardrails.")
    data_capture: DataCaptureConfig = Field(
        default_factory=DataCaptureConfig, description="Data capture for drift and quality."
    )

    @rule("platform", "vpc")
    def _vpc_on_sagemaker_only(v):
        sagemaker_only(v.platform, v.vpc)

    @rule("platform", "instance")
    def _instance_on_sagemaker_only(v):
        sagemaker_only(v.platform, v.instance)

    @rule("platform", "serverless")
    def _serverless_on_sagemaker_only(v):
        sagemaker_only(v.platform, v.serverless)

    @rule("platform", "autoscaling")
    def _autoscaling_on_sagemaker_only(v):
        sagemaker_only(v.platform, v.autoscaling)

    @field_validator("model", mode="before")
    @classmethod
    def _version_or_latest(cls, value: Any) -> Any:
        if value == "latest-approved":
            return value
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            fail("not a model version", value, "latest-approved or a version number >= 1")
        if int(value) < 1:
            fail("model versions start at 1", value, "a version number >= 1")
        return int(value)

    @model_validator(mode="after")
    def _variant_rules(self) -> ServingConfig:
        problems = []
        if self.platform == "sagemaker" and (self.instance is None) == (self.serverless is None):
            problems.append(
                (
                    "instance",
                    problem(
                        "set exactly one of instance and serverless",
                        "both" if self.instance else None,
                        "one variant kind",
                    ),
                )
            )
        if self.serverless is not None:
            for key, value, why in (
                ("data_capture.enabled", self.data_capture.enabled, "serverless endpoints cannot capture data"),
                ("network_isolation", self.network_isolation, "serverless endpoints do not support network isolation"),
            ):
                if value:
                    problems.append((key, problem(why, True, "false with serverless")))
            if self.vpc is not None:
                problems.append(
                    (
                        "vpc",
                        problem(
                            "serverless endpoints do not support VPC configuration", "set", "no vpc with serverless"
                        ),
                    )
                )
            if self.rollout.strategy == "rolling":
                problems.append(
                    (
                        "rollout.strategy",
                        problem("rolling updates are not supported for serverless variants", "rolling", "blue_green"),
                    )
                )
        if self.instance is not None:
            count = self.instance.initial_instance_count
            shifting = traffic_shifting_problem(
                self.rollout.traffic_routing, count, "serving.instance.initial_instance_count"
            )
            if shifting and self.rollout.strategy == "blue_green":
                problems.append(("rollout.traffic_routing", shifting))
            too_long = rollout_time_problem(self.rollout, count, "the endpoint")
            if too_long:
                problems.append(too_long)
        if self.instance is not None and self.autoscaling is not None:
            problems += scheduled_minimum_problems(self.autoscaling.schedules)
            outside = count_within_bounds(self.instance.initial_instance_count, self.autoscaling)
            if outside:
                problems.append(("instance.initial_instance_count", outside))
            if self.instance.instance_type.startswith("ml.t"):
                problems.append(
                    (
                        "autoscaling",
                        problem(
                            "autoscaling is not supported on burstable ml.t* instances",
                            self.instance.instance_type,
                            "a non-burstable instance type, or no autoscaling",
                        ),
                    )
                )
        if self.serverless is not None and self.autoscaling is not None:
            if self.serverless.provisioned_concurrency is None:
                problems.append(
                    (
                        "autoscaling",
                        problem(
                            "serverless autoscaling scales provisioned concurrency; none is configured",
                            "set",
                            "serverless.provisioned_concurrency, or no autoscaling",
                        ),
                    )
                )
            elif self.autoscaling.max_capacity > self.serverless.max_concurrency:
                problems.append(
                    (
                        "autoscaling.max_capacity",
                        problem(
                            "provisioned concurrency cannot exceed max_concurrency",
                            self.autoscaling.max_capacity,
                            f"<= {self.serverless.max_concurrency}",
                        ),
                    )
                )
        if problems:
            raise ConfigRuleError(problems)
        return self
