"""Typed stack config: the only place config is read and checked.

Config lives under the project namespace (`ml-platform:<key>`) in `Pulumi.<stack>.yaml`.
`parse_stack_config` validates a plain dict and reports *every* problem at once, one line
each, as `path.to.key: problem (got X; expected Y)`. `load_stack_config` reads the running
program's config and turns those problems into a `pulumi.RunError` (no traceback).

Later capabilities add their own section model here and a field on `StackConfig`.

Rules across fields are field validators on the later field, reading the earlier ones from
`info.data`: unlike a model validator they still run when an unrelated field is invalid, so
every problem is reported in one pass. Fields are declared in the order the rules need.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ml_platform.components.rollout import ENDPOINT_WAITER_SECONDS, RolloutEstimate, rollout_estimate

PROJECT = "ml-platform"

# AWS tag values: letters, digits, spaces and `_ . : / = + - @`, up to 256 characters.
TAG_VALUE_PATTERN = r"^[\w .:/=+\-@]+$"
DATASET_PREFIX_PATTERN = r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?$"
DATASET_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


Environment = Literal["dev", "staging", "prod"]


class ConfigRuleError(ValueError):
    """One or more problems found by a validator, each relative to the model it validates.

    `problems` holds `(subpath, message)`; `subpath` is a dotted key below the model being
    validated ("" for the model or field itself). Messages read `problem (got X; expected Y)`.
    """

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


def problem(what: str, got: Any, expected: str) -> str:
    return f"{what} (got {render(got)}; expected {expected})"


def render(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def not_below(value: Any, info: ValidationInfo, earlier: str, what: str | None = None) -> Any:
    """Field-validator body: `value` must be >= the earlier field `earlier` (when both are valid)."""
    bound = info.data.get(earlier)
    if value is not None and bound is not None and value < bound:
        raise ConfigRuleError([("", problem(what or f"below {earlier}", value, f">= {bound}"))])
    return value


def not_above(value: Any, info: ValidationInfo, earlier: str, what: str) -> Any:
    """Field-validator body: `value` must be <= the earlier field `earlier` (when both are valid)."""
    bound = info.data.get(earlier)
    if value is not None and bound is not None and value > bound:
        raise ConfigRuleError([("", problem(what, value, f"<= {bound}"))])
    return value


def count_within_bounds(count: int, scaling: Any) -> str | None:
    """The problem with an initial count outside an autoscaling section's [min, max], if any."""
    if scaling.min_capacity <= count <= scaling.max_capacity:
        return None
    return problem(
        "must lie within the autoscaling bounds", count, f"{scaling.min_capacity} <= count <= {scaling.max_capacity}"
    )


# CloudWatch PutMetricAlarm: "An alarm's total current evaluation period can be no longer than
# seven days, so Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For
# alarms with a period of less than one hour (3,600 seconds), the total evaluation period can't be
# longer than one day (86,400 seconds)."
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html (Period)
ALARM_WINDOW_MAX_SECONDS = 604_800
ALARM_WINDOW_MAX_SECONDS_SUB_HOUR_PERIOD = 86_400


def alarm_window_problem(period_seconds: int, evaluation_periods: int) -> str | None:
    """The problem with an alarm whose period x evaluation periods CloudWatch rejects, if any."""
    limit = ALARM_WINDOW_MAX_SECONDS if period_seconds >= 3600 else ALARM_WINDOW_MAX_SECONDS_SUB_HOUR_PERIOD
    window = period_seconds * evaluation_periods
    if window <= limit:
        return None
    return problem(
        f"CloudWatch limits period x evaluation periods to {limit} s for a {period_seconds} s period "
        f"({period_seconds} x {evaluation_periods} = {window} s)",
        evaluation_periods,
        f"<= {limit // period_seconds}",
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
    SageMaker's own `maximum_execution_timeout_seconds`, if any (see ml_platform/components/rollout.py)."""
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
    """`ml_platform.components.rollout.rollout_estimate` for a RolloutConfig and the variant's instance count."""
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


class StackConfigError(Exception):
    """Stack config failed validation; `lines` holds one `path: problem` line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@functools.cache
def known_regions() -> frozenset[str]:
    """Regions where SageMaker is offered, from botocore's endpoint data (no hand-kept list)."""
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        regions.update(session.get_available_regions("sagemaker", partition_name=partition))
    return frozenset(regions)


def closest(value: str, choices: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(value, sorted(choices), n=n, cutoff=0.6)


def check_region(value: str) -> str:
    regions = known_regions()
    if value in regions:
        return value
    near = closest(value, regions)
    hint = f"a region where SageMaker is offered, e.g. {', '.join(near) if near else 'us-east-1'}"
    raise ConfigRuleError([("", problem("unknown AWS region", value, hint))])


class RegionsConfig(Section):
    """Where the stack runs. The secondary region holds replicas and the warm standby."""

    primary: str = Field(description="Primary AWS region, e.g. `us-east-1`.")
    secondary: str | None = Field(
        default=None,
        description="Optional second region for replicas, backup copies and the warm standby.",
    )

    @field_validator("primary")
    @classmethod
    def _known_primary(cls, value: str) -> str:
        return check_region(value)

    @field_validator("secondary")
    @classmethod
    def _known_secondary_other_than_primary(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        check_region(value)
        primary = info.data.get("primary")
        if value == primary:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "must differ from regions.primary",
                            value,
                            f"a region other than {primary!r}, or no secondary",
                        ),
                    )
                ]
            )
        return value

    def by_role(self) -> dict[str, str]:
        """`{"primary": region, "secondary": region}`, the secondary only when configured."""
        roles = {"primary": self.primary}
        if self.secondary is not None:
            roles["secondary"] = self.secondary
        return roles


# ---------------------------------------------------------------------------------------------
# Storage: lifecycle tiers per bucket class


def _day_rules(prefix_ia: str, transitions: list[tuple[str, int | None, int]], expiry: tuple[str, int | None]):
    """Problems with a chain of (field, days, minimum gap after the previous tier) transitions
    and an expiry: each tier after the one before it, expiry after the last."""
    problems: list[tuple[str, str]] = []
    previous: tuple[str, int] | None = None
    for name, days, gap in transitions:
        if days is None:
            continue
        if previous is not None and days < previous[1] + gap:
            need = f">= {previous[1] + gap}" if gap > 1 else f"> {previous[1]}"
            why = f"at least {gap} days after {previous[0]}" if gap > 1 else f"after {previous[0]}"
            problems.append((name, problem(f"tiers must come in order: {why}", days, need)))
        previous = (name, days)
    name, days = expiry
    if days is not None and previous is not None and days <= previous[1]:
        problems.append(
            (name, problem(f"expiry must come after the last transition ({previous[0]})", days, f"> {previous[1]}"))
        )
    return problems


class NoncurrentVersions(Section):
    """What happens to versions once a newer one replaces them."""

    standard_ia_days: int | None = Field(
        default=None, ge=0, description="Days after becoming noncurrent to move to STANDARD_IA (>= 30)."
    )
    glacier_days: int | None = Field(
        default=None, ge=0, description="Days after becoming noncurrent to move to GLACIER_IR."
    )
    expiration_days: int | None = Field(
        default=None, ge=1, description="Days after becoming noncurrent to delete the version."
    )
    keep_newest: int | None = Field(
        default=None, ge=1, le=100, description="Noncurrent versions always kept, whatever their age."
    )

    @model_validator(mode="after")
    def _ordered(self) -> NoncurrentVersions:
        problems = []
        if self.standard_ia_days is not None and self.standard_ia_days < 30:
            problems.append(
                (
                    "standard_ia_days",
                    problem("STANDARD_IA needs objects at least 30 days old", self.standard_ia_days, ">= 30"),
                )
            )
        problems += _day_rules(
            "standard_ia_days",
            [("standard_ia_days", self.standard_ia_days, 1), ("glacier_days", self.glacier_days, 30)],
            ("expiration_days", self.expiration_days),
        )
        if problems:
            raise ConfigRuleError(problems)
        return self


class LifecycleTiers(Section):
    """Lifecycle of one bucket class: tiered transitions, or Intelligent-Tiering."""

    mode: Literal["tiered", "intelligent_tiering"] = Field(
        default="tiered",
        description=(
            "`tiered`: fixed-age transitions below; `intelligent_tiering`: objects move to "
            "INTELLIGENT_TIERING on day 0 and S3 tiers them by access."
        ),
    )
    standard_ia_days: int | None = Field(default=None, ge=0, description="Days to STANDARD_IA (>= 30).")
    glacier_days: int | None = Field(default=None, ge=0, description="Days to the Glacier class below.")
    glacier_storage_class: Literal["GLACIER_IR", "GLACIER"] = Field(
        default="GLACIER_IR", description="GLACIER_IR (millisecond reads) or GLACIER (flexible retrieval)."
    )
    deep_archive_days: int | None = Field(default=None, ge=0, description="Days to DEEP_ARCHIVE.")
    expiration_days: int | None = Field(
        default=None, ge=1, description="Days until current objects expire; none keeps them."
    )
    archive_access_days: int | None = Field(
        default=None, ge=90, le=730, description="Intelligent-Tiering: days without access before ARCHIVE_ACCESS."
    )
    deep_archive_access_days: int | None = Field(
        default=None, ge=180, le=730, description="Intelligent-Tiering: days without access before DEEP_ARCHIVE_ACCESS."
    )
    noncurrent: NoncurrentVersions = Field(
        default_factory=NoncurrentVersions, description="Noncurrent-version transitions and expiry."
    )
    abort_incomplete_multipart_upload_days: int = Field(
        default=7, ge=1, le=365, description="Days before incomplete multipart uploads are aborted."
    )
    transition_default_minimum_object_size: Literal["all_storage_classes_128K", "varies_by_storage_class"] = Field(
        default="all_storage_classes_128K",
        description="Objects smaller than this are not transitioned (S3's own default, made explicit).",
    )

    @model_validator(mode="after")
    def _tiers(self) -> LifecycleTiers:
        problems = []
        tiered = ("standard_ia_days", "glacier_days", "deep_archive_days")
        archive = ("archive_access_days", "deep_archive_access_days")
        if self.mode == "intelligent_tiering":
            for name in tiered:
                if getattr(self, name) is not None:
                    problems.append(
                        (
                            name,
                            problem(
                                "only used in tiered mode",
                                getattr(self, name),
                                "no value when mode is intelligent_tiering",
                            ),
                        )
                    )
            if (
                self.archive_access_days
                and self.deep_archive_access_days
                and self.deep_archive_access_days <= self.archive_access_days
            ):
                problems.append(
                    (
                        "deep_archive_access_days",
                        problem(
                            "tiers must come in order: after archive_access_days",
                            self.deep_archive_access_days,
                            f"> {self.archive_access_days}",
                        ),
                    )
                )
        else:
            for name in archive:
                if getattr(self, name) is not None:
                    problems.append(
                        (
                            name,
                            problem(
                                "only used in intelligent_tiering mode",
                                getattr(self, name),
                                "no value when mode is tiered",
                            ),
                        )
                    )
            if self.standard_ia_days is not None and self.standard_ia_days < 30:
                problems.append(
                    (
                        "standard_ia_days",
                        problem("STANDARD_IA needs objects at least 30 days old", self.standard_ia_days, ">= 30"),
                    )
                )
            glacier_gap = 30 if self.glacier_storage_class == "GLACIER_IR" else 1
            problems += _day_rules(
                "standard_ia_days",
                [
                    ("standard_ia_days", self.standard_ia_days, 1),
                    ("glacier_days", self.glacier_days, glacier_gap),
                    ("deep_archive_days", self.deep_archive_days, 1),
                ],
                ("expiration_days", self.expiration_days),
            )
        if problems:
            raise ConfigRuleError(problems)
        return self


BUCKET_CLASSES = ("datasets", "artifacts", "capture")

# Defaults per bucket class; a stack's `storage.<class>` keys are laid over these.
LIFECYCLE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Training reads datasets for months: keep them readable in milliseconds.
    "datasets": {
        "standard_ia_days": 30,
        "glacier_days": 180,
        "noncurrent": {"standard_ia_days": 30, "expiration_days": 365, "keep_newest": 3},
    },
    # Models stay deployable: GLACIER_IR keeps rollbacks instant.
    "artifacts": {"standard_ia_days": 30, "glacier_days": 90, "noncurrent": {"expiration_days": 90, "keep_newest": 5}},
    # Capture is read by the drift job within days, then kept for audit and expired.
    "capture": {
        "standard_ia_days": 30,
        "glacier_days": 90,
        "glacier_storage_class": "GLACIER",
        "deep_archive_days": 180,
        "expiration_days": 730,
        "noncurrent": {"expiration_days": 30},
    },
}


class StorageConfig(Section):
    """The three bucket classes every region has, and replication between regions."""

    datasets: LifecycleTiers = Field(description="Lifecycle of the datasets bucket.")
    artifacts: LifecycleTiers = Field(description="Lifecycle of the artifacts bucket (models, checkpoints).")
    capture: LifecycleTiers = Field(description="Lifecycle of the capture bucket (inference capture, drift reports).")
    replication_time_control: bool = Field(
        default=False,
        description=(
            "S3 Replication Time Control (15-minute SLA, replication metrics) on replication to the secondary region."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        """Lay each class's given keys over its defaults; `intelligent_tiering` drops the
        default tier days, which only apply to tiered mode."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, defaults in LIFECYCLE_DEFAULTS.items():
            given = data.get(name, {})
            if not isinstance(given, dict):
                continue
            base = dict(defaults)
            if given.get("mode") == "intelligent_tiering":
                for key in ("standard_ia_days", "glacier_days", "glacier_storage_class", "deep_archive_days"):
                    base.pop(key, None)
            layered = {**base, **given}
            if isinstance(given.get("noncurrent"), dict):
                layered["noncurrent"] = {**base.get("noncurrent", {}), **given["noncurrent"]}
            merged[name] = layered
        return merged


# ---------------------------------------------------------------------------------------------
# Container image

DIGEST_URI = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._/:-]*[a-z0-9])@sha256:[0-9a-f]{64}$")


class ImageConfig(Section):
    """Where the one container image comes from. Everything downstream uses it by digest."""

    build: bool = Field(default=False, description="Build and push `model_code/` with docker-build during `pulumi up`.")
    uri: str | None = Field(
        default=None,
        description="A digest-pinned image, `<registry>/<repository>@sha256:<64 hex>`; the deploy workflow sets it "
        "to the digest it pushed (`pulumi config set --path image.uri`).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ImageConfig:
        if self.build and self.uri is not None:
            raise ConfigRuleError(
                [("uri", problem("set either build or uri, not both", self.uri, "no uri when build is true"))]
            )
        if not self.build and self.uri is None:
            raise ConfigRuleError(
                [("uri", problem("required when build is false", None, "a digest-pinned image URI, or build: true"))]
            )
        if self.uri is not None and not DIGEST_URI.match(self.uri):
            raise ConfigRuleError(
                [
                    (
                        "uri",
                        problem(
                            "must be pinned by digest; tags are mutable",
                            self.uri,
                            "<registry>/<repository>@sha256:<64 lowercase hex>",
                        ),
                    )
                ]
            )
        return self


# ---------------------------------------------------------------------------------------------
# Managed spot training


@functools.cache
def sagemaker_enum(shape: str) -> tuple[str, ...]:
    """An enumeration from botocore's SageMaker service model (no hand-kept lists)."""
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model("sagemaker").shape_for(shape).enum)


def check_instance_type(value: str, shape: str) -> str:
    allowed = sagemaker_enum(shape)
    if value in allowed:
        return value
    near = closest(value, allowed)
    hint = f"a SageMaker {shape}, e.g. {', '.join(near)}" if near else f"a SageMaker {shape} such as {allowed[0]}"
    raise ConfigRuleError([("", problem("unknown instance type", value, hint))])


class DatasetConfig(Section):
    """Training data: `s3://<datasets bucket>/<prefix>/<version>/`."""

    prefix: str = Field(pattern=DATASET_PREFIX_PATTERN, description="Key prefix of the dataset in the datasets bucket.")
    version: str = Field(
        pattern=DATASET_VERSION_PATTERN,
        description="Dataset version: the sub-prefix holding this version's files.",
    )
    channel: str = Field(
        default="train", pattern=r"^[A-Za-z0-9\.\-_]+$", description="Channel name the training code reads."
    )


class VpcConfig(Section):
    subnet_ids: list[str] = Field(
        min_length=1, max_length=16, description="Private subnets for the network interfaces."
    )
    security_group_ids: list[str] = Field(
        min_length=1, max_length=5, description="Security groups of the network interfaces."
    )


# Trainers (the `trainer` hyperparameter) that can spread one run over several instances; none
# yet: `softmax` and `gbt` train on one host.
MULTI_HOST_TRAINERS: frozenset[str] = frozenset()


class TrainingConfig(Section):
    """The managed spot training job that produces the deployed model."""

    instance_type: str = Field(
        default="ml.m5.xlarge", description="Training instance type (checked against botocore's SageMaker model)."
    )
    instance_count: int = Field(
        default=1, ge=1, le=100, description="Training instances; more than 1 only for a multi-host trainer (none yet)."
    )
    volume_size_gb: int = Field(default=30, ge=1, le=16384, description="Training volume size in GB.")
    max_runtime_seconds: int = Field(
        default=3600, ge=60, le=28 * 24 * 3600, description="Stop training after this long."
    )
    max_wait_seconds: int = Field(
        default=7200,
        ge=60,
        le=28 * 24 * 3600,
        description="Runtime plus time waiting for spot capacity; >= max_runtime_seconds.",
    )
    max_retry_attempts: int = Field(
        default=3, ge=1, le=30, description="Retries after an internal error or spot interruption."
    )
    dataset: DatasetConfig = Field(description="The dataset and version to train on.")
    hyperparameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Passed to the training code as strings."
    )
    network_isolation: bool = Field(default=True, description="No outbound network from the training container.")
    inter_container_encryption: bool = Field(
        default=False, description="Encrypt traffic between training instances (multi-instance jobs)."
    )
    vpc: VpcConfig | None = Field(default=None, description="Run the job in these subnets and security groups.")

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str) -> str:
        return check_instance_type(value, "TrainingInstanceType")

    @model_validator(mode="after")
    def _one_instance_per_single_host_trainer(self) -> TrainingConfig:
        # SageMaker starts every instance of a job on a full copy of the data; a trainer without
        # a multi-host mode trains the same model on each, so the others only add cost. The
        # training code refuses it too (model_code/trainers/hosts.py, resourceconfig.json).
        trainer = str(self.hyperparameters.get("trainer", "softmax"))
        if self.instance_count > 1 and trainer not in MULTI_HOST_TRAINERS:
            raise ConfigRuleError(
                [
                    (
                        "instance_count",
                        problem(
                            f"trainer {trainer!r} trains on one instance; more only add cost",
                            self.instance_count,
                            "1",
                        ),
                    )
                ]
            )
        return self

    @field_validator("max_wait_seconds")
    @classmethod
    def _wait_covers_runtime(cls, value: int, info: ValidationInfo) -> int:
        runtime = info.data.get("max_runtime_seconds")
        if runtime is not None and value < runtime:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "spot max wait must cover the max runtime", value, f">= max_runtime_seconds ({runtime})"
                        ),
                    )
                ]
            )
        return value


# ---------------------------------------------------------------------------------------------
# Serving


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

    @field_validator("vcpus")
    @classmethod
    def _vcpus_known(cls, value: int | None, info: ValidationInfo) -> int | None:
        instance_type = info.data.get("instance_type")
        if value is None and instance_type and vcpus_of(instance_type) is None:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "cannot be derived from the instance type; set it",
                            None,
                            f"the vCPU count of {instance_type}",
                        ),
                    )
                ]
            )
        return value

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

    @field_validator("provisioned_concurrency")
    @classmethod
    def _within_max(cls, value: int | None, info: ValidationInfo) -> int | None:
        return not_above(value, info, "max_concurrency", "exceeds max_concurrency")


class ScheduledScalingConfig(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="Name of the scheduled action.")
    schedule: str = Field(
        pattern=r"^(cron|rate|at)\(.+\)$", description="`cron(...)`, `rate(...)` or `at(...)` expression."
    )
    timezone: str = Field(default="UTC", description="IANA time zone of the schedule.")
    min_capacity: int = Field(ge=0, le=100, description="Minimum capacity from this time.")
    max_capacity: int = Field(ge=1, le=100, description="Maximum capacity from this time.")

    @field_validator("max_capacity")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        return not_below(value, info, "min_capacity")


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

    @field_validator("max_capacity")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        return not_below(value, info, "min_capacity")

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


class ServingConfig(Section):
    """The SageMaker real-time endpoint, or (`platform: kubernetes`) the same model on Kubernetes."""

    platform: Literal["sagemaker", "kubernetes"] = Field(
        default="sagemaker",
        description="Where the model is served: a SageMaker endpoint, or the cluster in the `kubernetes` section "
        "(then only model and environment apply here).",
    )
    variant_name: str = Field(
        default="primary",
        pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        description="Production variant name. Blue/green and autoscaling key on it: keep it fixed across updates.",
    )
    model: Literal["latest-approved"] | int = Field(
        default="latest-approved",
        description="The model version to serve: `latest-approved` (the newest Approved version in the stack's "
        "Model Registry group) or a version number (>= 1, must be Approved). Resolved at preview and up.",
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

    @field_validator("vpc", "instance", "serverless", "autoscaling")
    @classmethod
    def _sagemaker_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("platform") == "kubernetes":
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "only used with platform sagemaker",
                            "set",
                            "no value with platform kubernetes (see kubernetes)",
                        ),
                    )
                ]
            )
        return value

    @field_validator("model", mode="before")
    @classmethod
    def _version_or_latest(cls, value: Any) -> Any:
        if value == "latest-approved":
            return value
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise ConfigRuleError(
                [("", problem("not a model version", value, "latest-approved or a version number >= 1"))]
            )
        if int(value) < 1:
            raise ConfigRuleError([("", problem("model versions start at 1", value, "a version number >= 1"))])
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


class AlarmsConfig(Section):
    """Thresholds of the per-variant alarms, in the units people think in."""

    model_latency_p99_ms: float = Field(
        default=500, gt=0, description="p99 ModelLatency above this (ms) alarms; also rolls a deployment back."
    )
    overhead_latency_p99_ms: float = Field(default=100, gt=0, description="p99 OverheadLatency above this (ms) alarms.")
    error_5xx_percent: float = Field(
        default=1, gt=0, le=100, description="5XX responses as a share of invocations; also rolls a deployment back."
    )
    error_4xx_percent: float = Field(default=10, gt=0, le=100, description="4XX responses as a share of invocations.")
    cpu_percent: float = Field(
        default=80, gt=0, le=100, description="CPU utilization per vCPU (the metric is summed over vCPUs)."
    )
    memory_percent: float = Field(default=85, gt=0, le=100, description="Memory utilization.")
    disk_percent: float = Field(default=85, gt=0, le=100, description="Disk utilization.")
    period_seconds: Literal[60, 300] = Field(default=60, description="Metric period.")
    evaluation_periods: int = Field(default=5, ge=1, le=100, description="Periods evaluated (N of M-of-N).")
    datapoints_to_alarm: int = Field(
        default=3, ge=1, le=100, description="Breaching periods that raise the alarm (M of M-of-N)."
    )
    no_traffic_minutes: int | None = Field(
        default=None, ge=5, le=1440, description="Alarm when no invocation arrives for this long; none disables it."
    )

    @field_validator("evaluation_periods")
    @classmethod
    def _within_cloudwatch_window(cls, value: int, info: ValidationInfo) -> int:
        period = info.data.get("period_seconds")
        outside = alarm_window_problem(period, value) if period else None
        if outside:
            raise ConfigRuleError([("", outside)])
        return value

    @field_validator("datapoints_to_alarm")
    @classmethod
    def _m_of_n(cls, value: int, info: ValidationInfo) -> int:
        return not_above(value, info, "evaluation_periods", "cannot exceed evaluation_periods")


class NotificationsConfig(Section):
    """Who hears about alarms, backups and budgets."""

    emails: list[str] = Field(
        default_factory=list, description="Email subscribers of the alerts topic (each confirms once)."
    )
    webhooks: list[str] = Field(
        default_factory=list, description="HTTPS webhook subscribers; set with `pulumi config set --secret`."
    )

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [
            (f"[{i}]", problem("not an email address", e, "name@domain"))
            for i, e in enumerate(value)
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e)
        ]
        if bad:
            raise ConfigRuleError(bad)
        return value

    @field_validator("webhooks")
    @classmethod
    def _webhooks(cls, value: list[str]) -> list[str]:
        bad = [
            (f"[{i}]", problem("webhooks must use https", "<secret>", "https://..."))
            for i, w in enumerate(value)
            if not w.startswith("https://")
        ]
        if bad:
            raise ConfigRuleError(bad)
        return value


class BudgetConfig(Section):
    monthly_limit_usd: float = Field(gt=0, description="Monthly cost budget of the stack, in USD.")
    actual_alert_percent: float = Field(
        default=80, gt=0, le=1000, description="Alert when actual spend passes this share of the budget."
    )
    forecast_alert_percent: float = Field(
        default=100, gt=0, le=1000, description="Alert when forecast spend passes this share of the budget."
    )


class MonitoringConfig(Section):
    """Dashboard, drift metrics and the budget."""

    metrics_namespace: str = Field(
        default="ml-platform/Drift",
        pattern=r"^[A-Za-z0-9._/#:-]{1,255}$",
        description="CloudWatch namespace of the drift and quality metrics.",
    )
    budget: BudgetConfig | None = Field(
        default=None, description="Monthly budget on the stack's cost-allocation tags; none disables it."
    )
    drift_instance_count: int = Field(
        default=1,
        ge=1,
        le=100,
        description=(
            "Processing instances of the drift job; above 1 the window's capture files are sharded across them "
            "(ShardedByS3Key) and a final step merges their histograms exactly."
        ),
    )


class StandbyConfig(Section):
    """The warm-standby endpoint in the secondary region: same image and model, own capacity."""

    instance_type: str | None = Field(
        default=None, description="Instance type; default: serving.instance.instance_type."
    )
    initial_instance_count: int = Field(default=1, ge=1, le=100, description="Instances kept warm.")
    autoscaling: AutoscalingConfig | None = Field(
        default=None, description="Autoscaling of the standby (it grows when traffic fails over)."
    )
    rollout: RolloutConfig | None = Field(
        default=None,
        description="Rollout of the standby; default: serving.rollout, with ALL_AT_ONCE traffic routing when the "
        "standby has fewer than 2 instances (CANARY and LINEAR need 2).",
    )

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str | None) -> str | None:
        return value if value is None else check_instance_type(value, "ProductionVariantInstanceType")

    def rollout_for(self, serving_rollout: RolloutConfig) -> RolloutConfig:
        """The standby's own rollout, else the primary's; CANARY and LINEAR fall back to
        ALL_AT_ONCE (same bake and termination wait) on fewer than 2 instances, where
        SageMaker cannot split the fleet."""
        if self.rollout is not None:
            return self.rollout
        if (
            serving_rollout.traffic_routing in ("CANARY", "LINEAR")
            and self.initial_instance_count < SHIFTING_MIN_INSTANCES
        ):
            return serving_rollout.model_copy(
                update={"traffic_routing": "ALL_AT_ONCE", "canary_size_percent": None, "linear_step_percent": None}
            )
        return serving_rollout


# API access logs are the record of who called the model: a year in prod, a month elsewhere.
PROD_MIN_ACCESS_LOG_RETENTION_DAYS = 365
DEFAULT_ACCESS_LOG_RETENTION_DAYS = {"prod": PROD_MIN_ACCESS_LOG_RETENTION_DAYS}
NON_PROD_ACCESS_LOG_RETENTION_DAYS = 30


class ApiConfig(Section):
    """The regional API Gateway front door of each region's endpoint."""

    stage_name: str = Field(
        default="v1", pattern=r"^[A-Za-z0-9_]{1,128}$", description="Stage name (path prefix on the execute-api URL)."
    )
    throttle_rate_limit: float = Field(default=100, gt=0, description="Steady requests per second across the stage.")
    throttle_burst_limit: int = Field(default=200, ge=1, description="Burst of requests across the stage.")
    access_log_retention_days: (
        Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
        | None
    ) = Field(
        default=None,
        description="Days the access log keeps entries; default 365 in prod (the least prod allows), else 30.",
    )
    waf_rate_limit_per_ip: int = Field(
        default=2000,
        ge=10,
        le=2_000_000_000,
        description="Requests one IP may send in `waf_rate_window_seconds` before WAF blocks it (rate-based rule).",
    )
    waf_rate_window_seconds: Literal[60, 120, 300, 600] = Field(
        default=300, description="Window over which WAF counts each IP's requests."
    )
    waf_common_rule_set: bool = Field(
        default=True,
        description="Add AWS's managed common rule set (its 8 KB body-size rule only counts: payloads may be larger).",
    )


class FailoverConfig(Section):
    """Route 53 failover between the regions' front doors."""

    hosted_zone_id: str = Field(
        pattern=r"^Z[A-Z0-9]{1,32}$", description="Route 53 public hosted zone holding the domain."
    )
    domain_name: str = Field(
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="Name clients call, e.g. `api.ml.example.com`.",
    )
    dns_ttl_seconds: int = Field(
        default=60,
        ge=10,
        le=300,
        description="TTL of the failover records (applies to the alias target's resolution by resolvers).",
    )
    health_check_interval_seconds: Literal[10, 30] = Field(
        default=30, description="Route 53 HTTPS health-check interval on each region's /ping."
    )
    health_check_failure_threshold: int = Field(
        default=3, ge=1, le=10, description="Consecutive failed checks before a region is unhealthy."
    )
    unhealthy_5xx_per_minute: int = Field(
        default=10, ge=1, description="Endpoint 5XX responses per minute that mark a region unhealthy."
    )
    unhealthy_average_latency_ms: float = Field(
        default=250,
        gt=0,
        description="Average ModelLatency (ms) over a minute that marks a region unhealthy; below "
        "alarms.model_latency_p99_ms (Route 53 cannot follow a percentile).",
    )
    unhealthy_api_5xx_per_minute: int = Field(
        default=10, ge=1, description="API stage 5XX responses per minute (5XXError) that mark a region unhealthy."
    )
    unhealthy_api_integration_latency_ms: float = Field(
        default=5000,
        gt=0,
        le=29000,
        description="Average stage IntegrationLatency (ms) over a minute that marks a region unhealthy.",
    )


class QualityMonitoringConfig(Section):
    """Model quality from late ground truth, joined with captured predictions."""

    accuracy_threshold: float = Field(
        default=0.9, gt=0, le=1, description="Alarm (and retrain) when production accuracy falls below this."
    )
    min_joined_records: int = Field(
        default=100, ge=1, description="Joined predictions a window needs before its accuracy counts."
    )
    lookback_hours: int = Field(
        default=24, ge=1, le=744, description="Hours of ground-truth uploads each quality run reads."
    )


class CaptureAlarmsConfig(Section):
    """Alarms on what drift cannot see: missing and out-of-range values, prediction drift, capture the
    job skipped or could not read, and (when set) no traffic. They notify the topic; none retrains."""

    missing_rate_threshold: float = Field(
        default=0.05, gt=0, le=1, description="Alarm when any feature's missing-value rate in a run exceeds this."
    )
    out_of_range_rate_threshold: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Alarm when any feature's share of values outside its training range in a run exceeds this.",
    )
    prediction_psi_threshold: float = Field(
        default=0.2, gt=0, description="Alarm when the predicted-class distribution's PSI in a run exceeds this."
    )
    skipped_rate_threshold: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Alarm when more than this share of a run's captured rows is skipped (1 when every row is bad).",
    )
    min_records_per_run: int | None = Field(
        default=None,
        ge=1,
        description=(
            "No-traffic alarm: fewer captured rows than this in two runs in a row, or no run publishing at all, "
            "pages; none: no traffic is normal (no alarm)."
        ),
    )


class RetrainingConfig(Section):
    """Drift detection on captured traffic, and the retraining pipeline it starts."""

    holdout_prefix: str = Field(
        pattern=DATASET_PREFIX_PATTERN,
        description="Datasets-bucket prefix of the labelled holdout; each run reads the version it trains on.",
    )
    accuracy_threshold: float = Field(
        default=0.9, gt=0, le=1, description="A retrained model is registered only at or above this holdout accuracy."
    )
    champion_tolerance: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="A retrained model is registered only if its holdout accuracy is at most this much below the "
        "currently approved version's on the same holdout.",
    )
    evaluation_instance_type: str = Field(
        default="ml.m5.large", description="Instance of the evaluation and monitoring jobs (ProcessingInstanceType)."
    )
    monitoring_interval_hours: int = Field(
        default=1, ge=1, le=24, description="The drift job runs every N hours over the last N hours of capture."
    )
    psi_threshold: float = Field(
        default=0.2,
        gt=0,
        description="A feature drifts when its PSI exceeds this; the drift alarm watches the largest PSI.",
    )
    drift_evaluation_periods: int = Field(
        default=3, ge=1, le=24, description="Monitoring runs the drift alarm evaluates (N of M-of-N)."
    )
    drift_datapoints_to_alarm: int = Field(
        default=2, ge=1, le=24, description="Drifting runs that raise the alarm (M of M-of-N)."
    )
    drift_min_records: int = Field(
        default=200, ge=1, description="A run with fewer usable rows is insufficient data: it flags no drift."
    )
    drift_false_alarm_rate: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Chance that a run without drift flags any feature; sets each feature's critical PSI.",
    )
    capture_alarms: CaptureAlarmsConfig = Field(
        default_factory=CaptureAlarmsConfig, description="Alarms on missing, out-of-range, skipped and unread data."
    )
    quality: QualityMonitoringConfig | None = Field(
        default=None, description="Production accuracy from ground truth; none disables it."
    )
    schedule: str | None = Field(
        default=None,
        pattern=r"^(cron|rate)\(.+\)$",
        description="Also retrain on this cadence (EventBridge Scheduler expression, UTC); none: only on drift.",
    )

    @field_validator("evaluation_instance_type")
    @classmethod
    def _known_instance_type(cls, value: str) -> str:
        return check_instance_type(value, "ProcessingInstanceType")

    @field_validator("drift_evaluation_periods")
    @classmethod
    def _within_cloudwatch_window(cls, value: int, info: ValidationInfo) -> int:
        # The drift alarm's period is the monitoring interval (ml_platform/components/retraining.py).
        hours = info.data.get("monitoring_interval_hours")
        outside = alarm_window_problem(hours * 3600, value) if hours else None
        if outside:
            raise ConfigRuleError([("", outside)])
        return value

    @field_validator("drift_datapoints_to_alarm")
    @classmethod
    def _m_of_n(cls, value: int, info: ValidationInfo) -> int:
        return not_above(value, info, "drift_evaluation_periods", "cannot exceed drift_evaluation_periods")


class DeployTriggerConfig(Section):
    """Approval starts a deploy: an approved model version sends GitHub a `repository_dispatch`
    (event type `model-approved`) that the deploy workflow runs on."""

    repository: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="GitHub repository `owner/name` whose deploy workflow receives the dispatch.",
    )
    token: str = Field(
        min_length=1,
        description="GitHub token allowed to create repository dispatch events (contents: write on the "
        "repository); a stack secret, stored in the EventBridge connection.",
    )


# ---------------------------------------------------------------------------------------------
# Backup


class VaultLockConfig(Section):
    """AWS Backup Vault Lock. COMPLIANCE mode cannot be undone once `changeable_for_days`
    have passed: not even the root user can then shorten retention or delete the vault."""

    mode: Literal["governance", "compliance"] = Field(
        description=(
            "`governance`: privileged users can still remove the lock; `compliance`: immutable after the grace period."
        )
    )
    min_retention_days: int = Field(
        default=7, ge=1, le=36500, description="Shortest retention any recovery point in the vault may have."
    )
    max_retention_days: int = Field(
        default=400, ge=1, le=36500, description="Longest retention any recovery point in the vault may have."
    )
    changeable_for_days: int | None = Field(
        default=None,
        ge=3,
        le=36500,
        validate_default=True,
        description="compliance: grace days before the lock becomes permanent (>= 3).",
    )

    @field_validator("max_retention_days")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        return not_below(value, info, "min_retention_days")

    @field_validator("changeable_for_days")
    @classmethod
    def _grace_period(cls, value: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if mode == "compliance" and value is None:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "compliance mode needs a grace period before the lock is permanent", None, "3 or more days"
                        ),
                    )
                ]
            )
        if mode == "governance" and value is not None:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "only used in compliance mode (it makes the lock permanent)",
                            value,
                            "no value in governance mode",
                        ),
                    )
                ]
            )
        return value


class RestoreTestingConfig(Section):
    schedule: str = Field(
        default="cron(0 6 ? * SUN *)",
        pattern=r"^cron\(.+\)$",
        description="When AWS Backup restores the latest recovery points to prove they work.",
    )
    selection_window_days: int = Field(
        default=7, ge=1, le=365, description="Recovery points from this many recent days are eligible."
    )
    validation_window_hours: int = Field(
        default=24, ge=1, le=168, description="Hours a restored copy is kept for validation before cleanup."
    )


class BackupConfig(Section):
    """AWS Backup of the stateful buckets: vault per region, plan, copies to the other region."""

    vault_lock: VaultLockConfig = Field(description="Vault Lock of every vault of the stack.")
    daily_schedule: str = Field(
        default="cron(0 5 * * ? *)", pattern=r"^cron\(.+\)$", description="Daily backup schedule (UTC)."
    )
    daily_retention_days: int = Field(default=35, ge=1, le=36500, description="Days a daily recovery point is kept.")
    monthly_schedule: str = Field(
        default="cron(0 5 1 * ? *)", pattern=r"^cron\(.+\)$", description="Monthly backup schedule (UTC)."
    )
    monthly_retention_days: int = Field(
        default=365, ge=1, le=36500, description="Days a monthly recovery point is kept."
    )
    monthly_cold_storage_after_days: int | None = Field(
        default=90,
        ge=1,
        le=36500,
        description="Days before a monthly recovery point moves to cold storage, for resources that support it.",
    )
    continuous_retention_days: int = Field(
        default=14, ge=1, le=35, description="Point-in-time restore window of the continuous S3 backup."
    )
    copy_retention_days: int = Field(
        default=35, ge=1, le=36500, description="Days a copy in the other region's vault is kept."
    )
    restore_testing: RestoreTestingConfig | None = Field(
        default=None, description="Scheduled restore tests; none disables them."
    )

    @model_validator(mode="after")
    def _within_lock(self) -> BackupConfig:
        problems = []
        lock = self.vault_lock
        for key in (
            "daily_retention_days",
            "monthly_retention_days",
            "continuous_retention_days",
            "copy_retention_days",
        ):
            days = getattr(self, key)
            if not lock.min_retention_days <= days <= lock.max_retention_days:
                problems.append(
                    (
                        key,
                        problem(
                            "outside the vault lock's retention range",
                            days,
                            f"{lock.min_retention_days} to {lock.max_retention_days}",
                        ),
                    )
                )
        cold = self.monthly_cold_storage_after_days
        if cold is not None and self.monthly_retention_days < cold + 90:
            problems.append(
                (
                    "monthly_retention_days",
                    problem(
                        "recovery points stay at least 90 days in cold storage",
                        self.monthly_retention_days,
                        f">= monthly_cold_storage_after_days + 90 ({cold + 90})",
                    ),
                )
            )
        if problems:
            raise ConfigRuleError(problems)
        return self


# ---------------------------------------------------------------------------------------------
# Serving on Kubernetes (`serving.platform: kubernetes`)

# The Kubernetes versions the manifests are checked against: the schemas kubernetes-validate
# ships (1.37.0 carries 1.25 to 1.37). tests/test_kubernetes_serving.py keeps the two in step.
KUBERNETES_VERSIONS = tuple(f"1.{minor}" for minor in range(25, 38))
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_NAME_PATTERN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CPU_QUANTITY_PATTERN = r"^([1-9][0-9]*m|[0-9]+(\.[0-9]{1,3})?)$"
MEMORY_QUANTITY_PATTERN = r"^[1-9][0-9]*(Ki|Mi|Gi|Ti|k|M|G|T)?$"
OIDC_PROVIDER_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*$"
_QUANTITY_SUFFIXES = {"m": 10**-3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QUANTITY_SUFFIXES.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})


def quantity(text: str) -> Any:
    """A Kubernetes quantity (`500m`, `1.5`, `512Mi`, `1G`) as an exact Decimal of base units."""
    from decimal import Decimal

    number = text.rstrip("kmKMGTi")
    suffix = text[len(number) :]
    return Decimal(number) * Decimal(_QUANTITY_SUFFIXES.get(suffix, 1))


def _limit_covers_request(value: str, info: ValidationInfo, request_key: str) -> str:
    request = info.data.get(request_key)
    if request is not None and quantity(value) < quantity(request):
        raise ConfigRuleError([("", problem(f"below {request_key}", value, f"a quantity >= {request!r}"))])
    return value


class KubernetesResourcesConfig(Section):
    """Requests and limits of the server container (the init container gets the same)."""

    cpu_request: str = Field(
        default="500m",
        pattern=CPU_QUANTITY_PATTERN,
        description="CPU reserved per pod, e.g. `500m`; the autoscaler's CPU target is a share of it.",
    )
    cpu_limit: str = Field(
        default="1",
        pattern=CPU_QUANTITY_PATTERN,
        description="CPU cap per pod (>= cpu_request); the server runs one worker per whole CPU of it.",
    )
    memory_request: str = Field(
        default="512Mi", pattern=MEMORY_QUANTITY_PATTERN, description="Memory reserved per pod, e.g. `512Mi`."
    )
    memory_limit: str = Field(
        default="512Mi",
        pattern=MEMORY_QUANTITY_PATTERN,
        description="Memory cap per pod (>= memory_request); above it the pod is OOM-killed.",
    )

    @field_validator("cpu_limit")
    @classmethod
    def _cpu_covers_request(cls, value: str, info: ValidationInfo) -> str:
        return _limit_covers_request(value, info, "cpu_request")

    @field_validator("memory_limit")
    @classmethod
    def _memory_covers_request(cls, value: str, info: ValidationInfo) -> str:
        return _limit_covers_request(value, info, "memory_request")


class KubernetesAutoscalingConfig(Section):
    """The HorizontalPodAutoscaler (autoscaling/v2) on CPU utilization."""

    min_replicas: int = Field(ge=1, le=1000, description="Fewest pods.")
    max_replicas: int = Field(ge=1, le=1000, description="Most pods (>= min_replicas).")
    target_cpu_utilization_percent: int = Field(
        default=60, ge=1, le=100, description="Average CPU use the autoscaler aims for, as a share of cpu_request."
    )
    scale_down_stabilization_seconds: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="Scale down only to the highest recommendation of this trailing window (no flapping).",
    )

    @field_validator("max_replicas")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        return not_below(value, info, "min_replicas")


class KubernetesCertificateIssuerConfig(Section):
    """The cert-manager issuer that signs the Ingress host's certificate."""

    name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of the cert-manager Issuer or ClusterIssuer, e.g. `letsencrypt`.",
    )
    kind: Literal["ClusterIssuer", "Issuer"] = Field(
        default="ClusterIssuer",
        description="`ClusterIssuer` (cluster-wide) or `Issuer` (one in the stack's namespace).",
    )


class KubernetesIngressConfig(Section):
    """An Ingress for POST /invocations and GET /ping (never /metrics) through the cluster's controller."""

    host: str = Field(pattern=DNS_NAME_PATTERN, description="Host name clients call, e.g. `model.example.com`.")
    class_name: str | None = Field(
        default=None, pattern=DNS_LABEL_PATTERN, description="IngressClass; none uses the cluster's default class."
    )
    tls_secret_name: str | None = Field(
        default=None,
        pattern=DNS_LABEL_PATTERN,
        description="TLS Secret (in the namespace) for the host, written by the cert-manager Certificate the stack "
        "declares (needs certificate_issuer); none serves plain HTTP at the controller.",
    )
    certificate_issuer: KubernetesCertificateIssuerConfig | None = Field(
        default=None,
        description="cert-manager issuer of the host's certificate; the stack declares a Certificate writing "
        "tls_secret_name and creates the Ingress once it is Ready.",
    )
    controller_namespace: str = Field(
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the ingress controller's pods; must be in allowed_namespaces.",
    )

    @model_validator(mode="after")
    def _tls_has_a_source(self) -> KubernetesIngressConfig:
        # A Secret nothing writes makes the controller serve its own default (self-signed) certificate
        # while the stack's output says https.
        if self.tls_secret_name is not None and self.certificate_issuer is None:
            raise ConfigRuleError(
                [
                    (
                        "tls_secret_name",
                        problem(
                            "nothing creates this Secret, so the controller would serve its default certificate",
                            self.tls_secret_name,
                            "certificate_issuer set (a cert-manager Certificate then writes the Secret), or no "
                            "tls_secret_name for plain HTTP",
                        ),
                    )
                ]
            )
        if self.certificate_issuer is not None and self.tls_secret_name is None:
            raise ConfigRuleError(
                [
                    (
                        "certificate_issuer",
                        problem(
                            "a certificate needs the Secret it is written to",
                            "set",
                            "tls_secret_name set, or no certificate_issuer",
                        ),
                    )
                ]
            )
        return self


class KubernetesPodMonitorConfig(Section):
    """A Prometheus Operator PodMonitor for the server's /metrics (the operator ignores prometheus.io/* annotations)."""

    prometheus_namespace: str = Field(
        pattern=DNS_LABEL_PATTERN,
        description="Namespace of the Prometheus pods that scrape; must be in allowed_namespaces.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels the Prometheus resource's podMonitorSelector matches, e.g. "
        "`release: kube-prometheus-stack`.",
    )
    interval_seconds: int = Field(default=30, ge=10, le=300, description="Scrape interval.")


class KubernetesConfig(Section):
    """Serving the same image on an existing Kubernetes cluster (EKS, for IRSA) instead of SageMaker."""

    cluster_version: str = Field(
        description='Kubernetes minor version of the cluster, e.g. `"1.35"` (quoted); manifests are checked '
        "against its API schema."
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig of the cluster, set with `pulumi config set --secret --path kubernetes.kubeconfig`; "
        "none uses the ambient kubeconfig (KUBECONFIG or ~/.kube/config).",
    )
    context: str | None = Field(default=None, description="Kubeconfig context to use; none uses its current context.")
    namespace: str = Field(
        pattern=DNS_LABEL_PATTERN, description="Namespace the stack creates and serves in (one per stack)."
    )
    oidc_provider_arn: str = Field(
        pattern=OIDC_PROVIDER_ARN_PATTERN,
        description="IAM OIDC provider of the cluster (IRSA); the pod's IAM role trusts only its service account.",
    )
    resources: KubernetesResourcesConfig = Field(
        default_factory=KubernetesResourcesConfig, description="Requests and limits per pod."
    )
    autoscaling: KubernetesAutoscalingConfig = Field(description="Replica bounds and the CPU target.")
    max_unavailable: int = Field(
        default=1, ge=1, le=100, description="PodDisruptionBudget: pods a voluntary disruption may take down at once."
    )
    zone_spread: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        default="ScheduleAnyway",
        description="Spread pods across zones (max skew 1): `DoNotSchedule` holds a pod back rather than skew, "
        "`ScheduleAnyway` only prefers the spread.",
    )
    drain_timeout_seconds: int = Field(
        default=20,
        ge=1,
        le=25,
        description="After SIGTERM, how long requests in flight may take (the server's own limit is 25 s).",
    )
    pre_stop_delay_seconds: int = Field(
        default=5,
        ge=0,
        le=30,
        description="Wait before SIGTERM so Services and Ingresses stop routing to a terminating pod first.",
    )
    startup_timeout_seconds: int = Field(
        default=120, ge=10, le=3600, description="Time a started server has to load the model before it is restarted."
    )
    model_fetch_timeout_seconds: int = Field(
        default=120,
        ge=10,
        le=3600,
        description="Time the init container has to fetch and check the model before it fails (and is retried).",
    )
    max_surge: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Pods a rollout starts above the current count at once (none are taken down first); more is "
        "faster and needs room for more pods.",
    )
    model_volume_size_limit: str = Field(
        default="1Gi", pattern=MEMORY_QUANTITY_PATTERN, description="Size limit of the emptyDir the model is put in."
    )
    allowed_namespaces: list[str] = Field(
        min_length=1,
        description="Namespaces whose pods may connect to the server (NetworkPolicy): clients, the ingress "
        "controller, Prometheus.",
    )
    ingress: KubernetesIngressConfig | None = Field(default=None, description="An Ingress; none creates none.")
    pod_monitor: KubernetesPodMonitorConfig | None = Field(
        default=None,
        description="A Prometheus Operator PodMonitor for /metrics; none puts prometheus.io/* scrape annotations on "
        "the pods instead.",
    )

    @field_validator("cluster_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "YAML reads an unquoted version as a number", value, 'the version in quotes, e.g. "1.35"'
                        ),
                    )
                ]
            )
        if isinstance(value, str) and value not in KUBERNETES_VERSIONS:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "no API schema to check the manifests against",
                            value,
                            f"one of {', '.join(KUBERNETES_VERSIONS)}",
                        ),
                    )
                ]
            )
        return value

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespace_names(cls, value: list[str]) -> list[str]:
        bad = [
            (f"[{i}]", problem("not a namespace name", name, "a DNS label: lowercase letters, digits and -"))
            for i, name in enumerate(value)
            if not re.fullmatch(DNS_LABEL_PATTERN, name)
        ]
        if bad:
            raise ConfigRuleError(bad)
        return value

    @field_validator("ingress")
    @classmethod
    def _controller_allowed_in(
        cls, value: KubernetesIngressConfig | None, info: ValidationInfo
    ) -> KubernetesIngressConfig | None:
        if value is not None:
            _reachable_through_network_policy(
                "controller_namespace", value.controller_namespace, "the ingress controller", info
            )
        return value

    @field_validator("pod_monitor")
    @classmethod
    def _prometheus_allowed_in(
        cls, value: KubernetesPodMonitorConfig | None, info: ValidationInfo
    ) -> KubernetesPodMonitorConfig | None:
        if value is not None:
            _reachable_through_network_policy("prometheus_namespace", value.prometheus_namespace, "Prometheus", info)
        return value


def _reachable_through_network_policy(key: str, namespace: str, who: str, info: ValidationInfo) -> None:
    """`namespace` (of `who`, at `key`) must be one the NetworkPolicy admits."""
    allowed = info.data.get("allowed_namespaces")
    if allowed is not None and namespace not in allowed:
        expected = f"one of allowed_namespaces ({', '.join(allowed)})"
        raise ConfigRuleError([(key, problem(f"the NetworkPolicy would block {who}", namespace, expected))])


class StackConfig(Section):
    """The whole stack config, validated once in `__main__.py`."""

    environment: Environment = Field(description="Environment this stack deploys: dev, staging or prod.")
    owner: str = Field(
        pattern=TAG_VALUE_PATTERN,
        max_length=256,
        description="Team that owns the stack; becomes the `owner` tag.",
    )
    cost_center: str = Field(
        pattern=TAG_VALUE_PATTERN,
        max_length=256,
        description="Cost centre billed; becomes the `cost-center` tag.",
    )
    regions: RegionsConfig = Field(description="Primary and optional secondary region.")
    protect_stateful: bool = Field(
        default=False,
        validate_default=True,
        description="Set `protect` and `retain_on_delete` on stateful resources (keys, buckets, "
        "vaults). Required in prod.",
    )
    account_id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="Optional AWS account the stack must deploy into; the providers refuse any other.",
    )
    storage: StorageConfig = Field(
        default_factory=lambda: StorageConfig.model_validate({}), description="Buckets and lifecycle tiers."
    )
    image: ImageConfig = Field(description="The model container image.")
    training: TrainingConfig = Field(description="Managed spot training.")
    serving: ServingConfig = Field(description="The real-time endpoint.")
    kubernetes: KubernetesConfig | None = Field(
        default=None,
        validate_default=True,
        description="The cluster served on with serving.platform kubernetes; only then.",
    )
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig, description="Alarm thresholds.")
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig, description="Alert subscribers.")
    standby: StandbyConfig | None = Field(
        default=None, validate_default=True, description="Warm standby in the secondary region."
    )
    api: ApiConfig | None = Field(default=None, description="Regional API Gateway front doors; none disables them.")
    failover: FailoverConfig | None = Field(
        default=None, validate_default=True, description="Route 53 failover; needs api and standby."
    )
    retraining: RetrainingConfig | None = Field(
        default=None, description="Drift monitoring and retraining; none disables both."
    )
    deploy_trigger: DeployTriggerConfig | None = Field(
        default=None, description="Start the deploy workflow when a model version is approved; none: off."
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="Dashboard, drift metrics, budget."
    )
    backup: BackupConfig | None = Field(
        default=None, validate_default=True, description="AWS Backup; none disables it (prod requires it)."
    )

    @field_validator("kubernetes")
    @classmethod
    def _kubernetes_with_its_platform(
        cls, value: KubernetesConfig | None, info: ValidationInfo
    ) -> KubernetesConfig | None:
        serving = info.data.get("serving")
        if serving is None:
            return value
        if serving.platform == "kubernetes" and value is None:
            raise ConfigRuleError(
                [("", problem("required with serving.platform kubernetes", None, "a kubernetes section"))]
            )
        if serving.platform != "kubernetes" and value is not None:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "only used with serving.platform kubernetes",
                            "set",
                            "no kubernetes section, or serving.platform kubernetes",
                        ),
                    )
                ]
            )
        return value

    @field_validator("standby", "api")
    @classmethod
    def _sagemaker_endpoints_only(cls, value: Any, info: ValidationInfo) -> Any:
        serving = info.data.get("serving")
        if value is not None and serving is not None and serving.platform == "kubernetes":
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "only used with SageMaker endpoints; serving.platform kubernetes has none",
                            "set",
                            f"no {info.field_name} section",
                        ),
                    )
                ]
            )
        return value

    @field_validator("standby")
    @classmethod
    def _standby_needs_a_secondary(cls, value: StandbyConfig | None, info: ValidationInfo) -> StandbyConfig | None:
        regions = info.data.get("regions")
        if value is not None and regions is not None and regions.secondary is None:
            raise ConfigRuleError(
                [("", problem("a standby needs regions.secondary", "set", "regions.secondary, or no standby"))]
            )
        serving = info.data.get("serving")
        if value is None or serving is None or serving.instance is None:
            return value
        problems = []
        if value.autoscaling is not None:
            problems += scheduled_minimum_problems(value.autoscaling.schedules)
            outside = count_within_bounds(value.initial_instance_count, value.autoscaling)
            if outside:
                problems.append(("initial_instance_count", outside))
        rollout = value.rollout_for(serving.rollout)
        shifting = traffic_shifting_problem(
            rollout.traffic_routing, value.initial_instance_count, "standby.initial_instance_count"
        )
        if shifting and rollout.strategy == "blue_green":
            problems.append(("rollout.traffic_routing", shifting))
        where = "the standby" if value.rollout is not None else "the standby (inherited from serving.rollout)"
        too_long = rollout_time_problem(rollout, value.initial_instance_count, where)
        if too_long:
            problems.append(too_long)
        if problems:
            raise ConfigRuleError(problems)
        return value

    @field_validator("failover")
    @classmethod
    def _failover_needs_two_front_doors(
        cls, value: FailoverConfig | None, info: ValidationInfo
    ) -> FailoverConfig | None:
        if value is None:
            return None
        problems = []
        if "api" in info.data and info.data.get("api") is None:
            problems.append(
                ("", problem("failover routes to the regional APIs; none is configured", "set", "an api section"))
            )
        if "standby" in info.data and info.data.get("standby") is None:
            problems.append(
                (
                    "",
                    problem(
                        "failover needs a warm standby to fail over to",
                        "set",
                        "a standby section (and regions.secondary)",
                    ),
                )
            )
        alarms = info.data.get("alarms")
        if alarms is not None and value.unhealthy_average_latency_ms >= alarms.model_latency_p99_ms:
            problems.append(
                (
                    "unhealthy_average_latency_ms",
                    problem(
                        "an average at or above the p99 alarm threshold fails over only long after the p99 alarm",
                        value.unhealthy_average_latency_ms,
                        f"below alarms.model_latency_p99_ms ({alarms.model_latency_p99_ms:g})",
                    ),
                )
            )
        if problems:
            raise ConfigRuleError(problems)
        return value

    @field_validator("api")
    @classmethod
    def _access_logs_kept(cls, value: ApiConfig | None, info: ValidationInfo) -> ApiConfig | None:
        """Resolve the access-log retention default per environment; prod keeps a year at least."""
        environment = info.data.get("environment")
        if value is None or environment is None:
            return value
        days = value.access_log_retention_days
        if days is None:
            default = DEFAULT_ACCESS_LOG_RETENTION_DAYS.get(environment, NON_PROD_ACCESS_LOG_RETENTION_DAYS)
            return value.model_copy(update={"access_log_retention_days": default})
        if environment == "prod" and days < PROD_MIN_ACCESS_LOG_RETENTION_DAYS:
            raise ConfigRuleError(
                [
                    (
                        "access_log_retention_days",
                        problem(
                            "prod keeps API access logs a year at least",
                            days,
                            f">= {PROD_MIN_ACCESS_LOG_RETENTION_DAYS}, or unset for the default",
                        ),
                    )
                ]
            )
        return value

    @field_validator("backup")
    @classmethod
    def _backed_up_in_prod(cls, value: BackupConfig | None, info: ValidationInfo) -> BackupConfig | None:
        if info.data.get("environment") == "prod":
            if value is None:
                raise ConfigRuleError([("", problem("required in prod", None, "a backup section"))])
            if value.vault_lock.mode != "compliance":
                raise ConfigRuleError(
                    [
                        (
                            "vault_lock.mode",
                            problem("prod vaults are locked in compliance mode", value.vault_lock.mode, "compliance"),
                        )
                    ]
                )
        return value

    @field_validator("protect_stateful")
    @classmethod
    def _protected_in_prod(cls, value: bool, info: ValidationInfo) -> bool:
        if info.data.get("environment") == "prod" and not value:
            raise ConfigRuleError([("", problem("must be on in prod", value, "true"))])
        return value

    def default_tags(self) -> dict[str, str]:
        """Tags every provider applies to every resource it creates."""
        return {
            "project": PROJECT,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


# ---------------------------------------------------------------------------------------------
# Error reporting


def _dotted(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model found by following `loc` from `StackConfig`, or None."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _section_type(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _section_type(annotation: Any) -> Any:
    """Unwrap Optional / list / dict / Annotated to the section model inside, if any."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _section_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, dict):
        for arg in typing.get_args(annotation):
            inner = _section_type(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return None
    return annotation


# Human wording for the formats fields are held to.
PATTERN_HINTS = {
    DATASET_PREFIX_PATTERN: "a relative S3 key prefix: lowercase letters, digits and . _ / -, no leading or trailing /",
    DATASET_VERSION_PATTERN: "letters, digits and . _ - (a single path segment)",
    TAG_VALUE_PATTERN: "letters, digits, spaces and _ . : / = + - @",
    r"^\d{12}$": "a 12-digit AWS account id",
}

_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _explain(error: Mapping[str, Any]) -> tuple[str, str]:
    """(what is wrong, what is allowed) for a pydantic error of a built-in kind."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return "out of range", f"{_BOUNDS[kind]} {bound:g}" if isinstance(bound, float) else f"{_BOUNDS[kind]} {bound}"
    if kind == "literal_error":
        return "not an allowed value", f"one of {ctx['expected']}"
    if kind == "enum":
        return "not an allowed value", f"one of {ctx['expected']}"
    if kind == "string_pattern_mismatch":
        return "not in the required format", PATTERN_HINTS.get(ctx["pattern"], ctx["pattern"])
    if kind in ("string_too_short", "too_short"):
        return "too short", f"at least {ctx.get('min_length')}"
    if kind in ("string_too_long", "too_long"):
        return "too long", f"at most {ctx.get('max_length')}"
    for prefix, expected in (
        ("bool", "true or false"),
        ("int", "a whole number"),
        ("float", "a number"),
        ("string", "a string"),
        ("list", "a list"),
        ("dict", "a mapping of keys"),
        ("model", "a mapping of keys"),
    ):
        if kind.startswith(prefix):
            return "wrong type", expected
    return error["msg"].removeprefix("Value error, "), "a valid value"


def _expected_for(annotation: Any) -> str:
    """What a field takes, in words, for 'missing' messages."""
    section = _section_type(annotation)
    if isinstance(section, type) and issubclass(section, BaseModel):
        return f"a mapping with keys: {', '.join(section.model_fields)}"
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(annotation, "a value")


def describe_errors(exc: ValidationError) -> list[str]:
    """One `path: problem (got X; expected Y)` line per problem, in config order."""
    lines: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = _dotted(loc)
        kind = error["type"]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigRuleError):
            for subpath, message in cause.problems:
                full = path + subpath if subpath.startswith("[") else ".".join(p for p in (path, subpath) if p)
                lines.append(f"{full or '(top level)'}: {message}")
        elif kind == "extra_forbidden":
            section = _section_at(loc[:-1])
            allowed = sorted(section.model_fields) if section else []
            near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.75)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            lines.append(
                f"{path}: unknown key{hint} (got {render(error['input'])}; expected one of: {', '.join(allowed)})"
            )
        elif kind == "missing":
            section = _section_at(loc[:-1])
            field = section.model_fields.get(str(loc[-1])) if section else None
            expected = _expected_for(field.annotation) if field else "a value"
            lines.append(f"{path}: required key is missing (got nothing; expected {expected})")
        else:
            what, expected = _explain(error)
            lines.append(f"{path}: {problem(what, error['input'], expected)}")
    return lines


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate `raw` (keys without the project namespace). Raises StackConfigError."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError(describe_errors(exc)) from None


def decode_config_value(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text; scalars stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return json.loads(value)
    return value


def project_values(config: Mapping[str, Any], project: str = PROJECT) -> dict[str, Any]:
    """Every `<project>:<key>` value of a config map as the CLI hands it over, namespace
    stripped and structured values decoded."""
    prefix = f"{project}:"
    return {key[len(prefix) :]: decode_config_value(value) for key, value in config.items() if key.startswith(prefix)}


def read_project_config(project: str = PROJECT) -> dict[str, Any]:
    """Every `<project>:<key>` value of the running program, namespace stripped.

    `pulumi.Config` can only fetch keys it is asked for; listing the namespace is what lets a
    misspelt key be reported instead of silently ignored.
    """
    from pulumi.runtime import config as runtime_config

    return project_values({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}, project)


def check_secrets(config: StackConfig, secret_keys: Iterable[str], project: str = PROJECT) -> None:
    """Values that must never sit in a stack file in clear text. Raises StackConfigError."""
    secret = set(secret_keys)
    lines = []
    if config.notifications.webhooks and f"{project}:notifications" not in secret:
        lines.append(
            "notifications.webhooks: must be stored as a secret (got plain text; expected "
            "`pulumi config set --secret --path 'notifications.webhooks[0]' https://...`)"
        )
    if config.kubernetes and config.kubernetes.kubeconfig is not None and f"{project}:kubernetes" not in secret:
        lines.append(
            "kubernetes.kubeconfig: must be stored as a secret (got plain text; expected "
            '`pulumi config set --secret --path kubernetes.kubeconfig "$(cat kubeconfig)"`, or no kubeconfig '
            "to use the ambient one)"
        )
    if config.deploy_trigger is not None and f"{project}:deploy_trigger" not in secret:
        lines.append(
            "deploy_trigger.token: must be stored as a secret (got plain text; expected "
            "`pulumi config set --secret --path deploy_trigger.token <github token>`)"
        )
    if lines:
        raise StackConfigError(lines)


def validate_stack_config(values: Mapping[str, Any], secret_keys: Iterable[str], project: str = PROJECT) -> StackConfig:
    """Validate namespace-stripped values, then the keys that must be secrets. Raises
    StackConfigError; the program and the offline plan both come through here."""
    config = parse_stack_config(values)
    check_secrets(config, secret_keys, project)
    return config


def load_stack_config(project: str = PROJECT) -> StackConfig:
    """Read and validate the running program's config; problems become one `pulumi.RunError`."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    try:
        values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
        secret_keys = {key for key in values if runtime_config.is_config_secret(key)}
        secret_keys |= set(runtime_config.get_config_secret_keys_env())
        return validate_stack_config(read_project_config(project), secret_keys, project)
    except StackConfigError as exc:
        listing = "\n".join(f"  - {line}" for line in exc.lines)
        raise pulumi.RunError(f"stack config has {len(exc.lines)} problem(s):\n{listing}") from None
