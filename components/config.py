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
        description="`tiered`: fixed-age transitions below; `intelligent_tiering`: objects move to INTELLIGENT_TIERING on day 0 and S3 tiers them by access.",
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
        description="S3 Replication Time Control (15-minute SLA, replication metrics) on replication to the secondary region.",
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
        default=None, description="A digest-pinned image, `<registry>/<repository>@sha256:<64 hex>` (CI builds it)."
    )
    keep_releases: int = Field(default=20, ge=1, le=1000, description="Tagged images the ECR lifecycle policy keeps.")

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

    prefix: str = Field(
        pattern=DATASET_PREFIX_PATTERN, description="Key prefix of the dataset in the datasets bucket."
    )
    version: str = Field(
        pattern=DATASET_VERSION_PATTERN,
        description="Dataset version: the sub-prefix holding this version's files.",
    )
    channel: str = Field(
        default="train", pattern=r"^[A-Za-z0-9\.\-_]+$", description="Channel name the training code reads."
    )


class VpcConfig(Section):
    subnet_ids: list[str] = Field(
        min_length=1, max_length=16, description="Private subnets for the job's network interfaces."
    )
    security_group_ids: list[str] = Field(min_length=1, max_length=5, description="Security groups for the job.")


class TrainingConfig(Section):
    """The managed spot training job that produces the deployed model."""

    instance_type: str = Field(
        default="ml.m5.xlarge", description="Training instance type (checked against botocore's SageMaker model)."
    )
    instance_count: int = Field(default=1, ge=1, le=100, description="Training instances.")
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
        return "out of range", f"{_BOUNDS[kind]} {next(iter(ctx.values()))}"
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
                full = ".".join(part for part in (path, subpath) if part)
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


def read_project_config(project: str = PROJECT) -> dict[str, Any]:
    """Every `<project>:<key>` value of the running program, namespace stripped.

    `pulumi.Config` can only fetch keys it is asked for; listing the namespace is what lets a
    misspelt key be reported instead of silently ignored.
    """
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    return {key[len(prefix) :]: decode_config_value(value) for key, value in merged.items() if key.startswith(prefix)}


def load_stack_config(project: str = PROJECT) -> StackConfig:
    """Read and validate the running program's config; problems become one `pulumi.RunError`."""
    import pulumi

    try:
        return parse_stack_config(read_project_config(project))
    except StackConfigError as exc:
        listing = "\n".join(f"  - {line}" for line in exc.lines)
        raise pulumi.RunError(f"stack config has {len(exc.lines)} problem(s):\n{listing}") from None
