"""`StackConfig`: every section, the rules across sections, and validation of a whole stack.

`parse_stack_config` validates a plain dict (keys without the project namespace) and reports
*every* problem at once, one line each, as `path.to.key: problem (got X; expected Y)`;
`validate_stack_config` adds the keys that must be secrets. Reading the running program's
config is `reader.py`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from ml_platform.config.alarms import AlarmsConfig, MonitoringConfig, NotificationsConfig
from ml_platform.config.backup import BackupConfig
from ml_platform.config.errors import StackConfigError, describe_errors, problem
from ml_platform.config.failover import (
    DEFAULT_ACCESS_LOG_RETENTION_DAYS,
    NON_PROD_ACCESS_LOG_RETENTION_DAYS,
    PROD_MIN_ACCESS_LOG_RETENTION_DAYS,
    ApiConfig,
    FailoverConfig,
    StandbyConfig,
)
from ml_platform.config.image import ImageConfig
from ml_platform.config.kubernetes import KubernetesConfig
from ml_platform.config.patterns import ACCOUNT_ID_PATTERN, TAG_VALUE_PATTERN
from ml_platform.config.regions import RegionsConfig
from ml_platform.config.retraining import DeployTriggerConfig, RetrainingConfig
from ml_platform.config.rules import ConfigRuleError, Section, fail, rule
from ml_platform.config.serving import (
    ServingConfig,
    count_within_bounds,
    rollout_time_problem,
    scheduled_minimum_problems,
    traffic_shifting_problem,
)
from ml_platform.config.storage import StorageConfig
from ml_platform.config.training import TrainingConfig

# The project's name: the namespace of its keys in `Pulumi.<stack>.yaml` and the `project` tag.
# The program reads it from the Pulumi runtime (`reader.project_name`); this is the default
# where no runtime exists (the offline plan, tests, ops tools reading stack files).
PROJECT = "ml-platform"

Environment = Literal["dev", "staging", "prod"]


class StackConfig(Section):
    """The whole stack config, validated once in `__main__.py`."""

    environment: Environment = Field(description="Environment this stack deploys; becomes the `environment` tag.")
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
        description=(
            "`protect` and `retain_on_delete` on stateful resources (KMS keys, buckets, vaults). Must be `true` in "
            "prod."
        ),
    )
    account_id: str | None = Field(
        default=None,
        pattern=ACCOUNT_ID_PATTERN,
        description="The only AWS account the providers may deploy into.",
    )
    storage: StorageConfig = Field(
        default_factory=lambda: StorageConfig.model_validate({}), description="Buckets and lifecycle tiers."
    )
    image: ImageConfig = Field(description="The model container image.")
    training: TrainingConfig = Field(description="Managed spot training.")
    serving: ServingConfig = Field(description="The real-time endpoint.")
    kubernetes: KubernetesConfig | None = Field(
        default=None,
        description="The cluster served on with serving.platform kubernetes; only then.",
    )
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig, description="Alarm thresholds.")
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig, description="Alert subscribers.")
    standby: StandbyConfig | None = Field(default=None, description="Warm standby in the secondary region.")
    api: ApiConfig | None = Field(default=None, description="Regional API Gateway front doors; none disables them.")
    failover: FailoverConfig | None = Field(default=None, description="Route 53 failover; needs api and standby.")
    retraining: RetrainingConfig | None = Field(
        default=None, description="Drift monitoring and retraining; none disables both."
    )
    deploy_trigger: DeployTriggerConfig | None = Field(
        default=None, description="Start the deploy workflow when a model version is approved; none: off."
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="Dashboard, drift metrics, budget."
    )
    backup: BackupConfig | None = Field(default=None, description="AWS Backup; none disables it (prod requires it).")

    @rule("serving", "kubernetes")
    def _kubernetes_with_its_platform(v):
        if v.serving.platform == "kubernetes" and v.kubernetes is None:
            fail("required with serving.platform kubernetes", None, "a kubernetes section")
        if v.serving.platform != "kubernetes" and v.kubernetes is not None:
            fail(
                "only used with serving.platform kubernetes",
                "set",
                "no kubernetes section, or serving.platform kubernetes",
            )

    @rule("serving", "standby")
    def _standby_on_sagemaker_only(v):
        sagemaker_endpoints_only(v.serving, v.standby, "standby")

    @rule("regions", "standby")
    def _standby_needs_a_secondary(v):
        if v.standby is not None and v.regions.secondary is None:
            fail("a standby needs regions.secondary", "set", "regions.secondary, or no standby")

    @rule("serving", "standby")
    def _standby_deploys(v):
        if v.standby is not None and v.serving.instance is not None:
            standby_problems(v.standby, v.serving)

    @rule("serving", "api")
    def _api_on_sagemaker_only(v):
        sagemaker_endpoints_only(v.serving, v.api, "api")

    @rule("environment", "api")
    def _access_logs_kept(v):
        days = v.api.access_log_retention_days if v.api is not None else None
        if v.environment == "prod" and days is not None and days < PROD_MIN_ACCESS_LOG_RETENTION_DAYS:
            fail(
                "prod keeps API access logs a year at least",
                days,
                f">= {PROD_MIN_ACCESS_LOG_RETENTION_DAYS}, or unset for the default",
                at="access_log_retention_days",
            )

    @rule("api", "failover")
    def _failover_needs_the_apis(v):
        if v.failover is not None and v.api is None:
            fail("failover routes to the regional APIs; none is configured", "set", "an api section")

    @rule("standby", "failover")
    def _failover_needs_a_standby(v):
        if v.failover is not None and v.standby is None:
            fail("failover needs a warm standby to fail over to", "set", "a standby section (and regions.secondary)")

    @rule("alarms", "failover")
    def _failover_before_the_p99_alarm(v):
        if v.failover is not None and v.failover.unhealthy_average_latency_ms >= v.alarms.model_latency_p99_ms:
            fail(
                "an average at or above the p99 alarm threshold fails over only long after the p99 alarm",
                v.failover.unhealthy_average_latency_ms,
                f"below alarms.model_latency_p99_ms ({v.alarms.model_latency_p99_ms:g})",
                at="unhealthy_average_latency_ms",
            )

    @rule("environment", "backup")
    def _backed_up_in_prod(v):
        if v.environment != "prod":
            return
        if v.backup is None:
            fail("required in prod", None, "a backup section")
        if v.backup.vault_lock.mode != "compliance":
            fail(
                "prod vaults are locked in compliance mode",
                v.backup.vault_lock.mode,
                "compliance",
                at="vault_lock.mode",
            )

    @rule("environment", "protect_stateful")
    def _protected_in_prod(v):
        if v.environment == "prod" and not v.protect_stateful:
            fail("must be on in prod", v.protect_stateful, "true")

    @model_validator(mode="after")
    def _access_log_default(self) -> StackConfig:
        """Resolve the access-log retention default per environment (a year in prod)."""
        if self.api is None or self.api.access_log_retention_days is not None:
            return self
        days = DEFAULT_ACCESS_LOG_RETENTION_DAYS.get(self.environment, NON_PROD_ACCESS_LOG_RETENTION_DAYS)
        return self.model_copy(update={"api": self.api.model_copy(update={"access_log_retention_days": days})})

    def default_tags(self, project: str = PROJECT) -> dict[str, str]:
        """Tags every provider applies to every resource it creates (`project`: the program's
        `reader.project_name()`)."""
        return {
            "project": project,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


def sagemaker_endpoints_only(serving: ServingConfig, section: Any, key: str) -> None:
    if section is not None and serving.platform == "kubernetes":
        fail("only used with SageMaker endpoints; serving.platform kubernetes has none", "set", f"no {key} section")


def standby_problems(standby: StandbyConfig, serving: ServingConfig) -> None:
    """The standby's capacity and rollout against the same rules as the primary's."""
    problems = []
    if standby.autoscaling is not None:
        problems += scheduled_minimum_problems(standby.autoscaling.schedules)
        outside = count_within_bounds(standby.initial_instance_count, standby.autoscaling)
        if outside:
            problems.append(("initial_instance_count", outside))
    rollout = standby.rollout_for(serving.rollout)
    shifting = traffic_shifting_problem(
        rollout.traffic_routing, standby.initial_instance_count, "standby.initial_instance_count"
    )
    if shifting and rollout.strategy == "blue_green":
        problems.append(("rollout.traffic_routing", shifting))
    where = "the standby" if standby.rollout is not None else "the standby (inherited from serving.rollout)"
    too_long = rollout_time_problem(rollout, standby.initial_instance_count, where)
    if too_long:
        problems.append(too_long)
    if problems:
        raise ConfigRuleError(problems)


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate `raw` (keys without the project namespace). Raises StackConfigError."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError(describe_errors(exc, StackConfig)) from None


# Keys whose values are secrets (`check_secrets` refuses them in clear text); the stack file
# schema admits `secure:` ciphertext there.
SECRET_KEYS = ("notifications.webhooks", "kubernetes.kubeconfig", "deploy_trigger.token")


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


def check_stack_name(project: str, stack: str) -> None:
    """`<project>-<stack>` names the endpoint, the Model Registry group and the pipelines, so it
    must be a SageMaker entity name: botocore's `EndpointName` / `ModelPackageGroupName` shapes
    (CreateEndpoint, CreateModelPackageGroup) allow 1-63 letters, digits and hyphens, starting and
    ending with a letter or digit. Pulumi allows `_` and `.` in stack names, so this is checked
    here, before anything is declared, not by SageMaker mid-`pulumi up`. Raises StackConfigError."""
    name = f"{project}-{stack}"
    if len(name) > 63 or not re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name):
        expected = (
            f"letters, digits and hyphens, at most {62 - len(project)} characters, so that "
            f"`{project}-<stack>` is a SageMaker endpoint name (1-63 characters)"
        )
        raise StackConfigError([f"stack name: {problem('not usable in SageMaker names', stack, expected)}"])


def validate_stack_config(
    values: Mapping[str, Any], secret_keys: Iterable[str], project: str = PROJECT, stack: str | None = None
) -> StackConfig:
    """Validate the stack's name (when given), the namespace-stripped values, then the keys that
    must be secrets. Raises StackConfigError; the program and the offline plan both come through here."""
    if stack is not None:
        check_stack_name(project, stack)
    config = parse_stack_config(values)
    check_secrets(config, secret_keys, project)
    return config
