"""`alarms`, `notifications` and `monitoring`: what pages whom, the dashboard's metrics, the budget."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ml_platform.config.patterns import METRICS_NAMESPACE_PATTERN
from ml_platform.config.rules import ConfigRuleError, Section, alarm_window_problem, fail, not_above, problem, rule


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

    @rule("period_seconds", "evaluation_periods")
    def _within_cloudwatch_window(v):
        outside = alarm_window_problem(v.period_seconds, v.evaluation_periods)
        if outside:
            raise ConfigRuleError([("", outside)])

    @rule("evaluation_periods", "datapoints_to_alarm")
    def _m_of_n(v):
        not_above(v.datapoints_to_alarm, v.evaluation_periods, "cannot exceed evaluation_periods")


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
    monthly_limit_usd: float = Field(
        gt=0,
        description=(
            "Monthly cost budget, in USD, on spend tagged `project=ml-platform` and `environment=<env>` "
            "(activate both as cost-allocation tags once)."
        ),
    )
    actual_alert_percent: float = Field(
        default=80, gt=0, le=1000, description="Alert the topic when actual spend passes this share of the budget."
    )
    forecast_alert_percent: float = Field(
        default=100, gt=0, le=1000, description="Alert the topic when forecast spend passes this share of the budget."
    )


class MonitoringConfig(Section):
    """Dashboard, drift metrics and the budget."""

    metrics_namespace: str = Field(
        default="ml-platform/Drift",
        pattern=METRICS_NAMESPACE_PATTERN,
        description=(
            "CloudWatch namespace of the drift and quality metrics (the dashboard's drift widget searches it)."
        ),
    )
    budget: BudgetConfig | None = Field(
        default=None, description="Monthly budget on the stack's cost-allocation tags; none disables it."
    )
    drift_instance_count: int = Field(
        default=1,
        ge=1,
        le=100,
        description=(
            "Processing instances of the drift job. Above 1, the monitoring pipeline lists the window's capture "
            "files, shards them across the instances (`ShardedByS3Key`), and a final step merges their per-feature "
            "histograms exactly (the merged report equals a one-instance run)."
        ),
    )

    @field_validator("metrics_namespace")
    @classmethod
    def _outside_aws(cls, value: str) -> str:
        # PutMetricData: "To avoid conflicts with Amazon Web Services service namespaces, you
        # should not specify a namespace that begins with AWS/" (https://docs.aws.amazon.com/
        # AmazonCloudWatch/latest/APIReference/API_PutMetricData.html, Namespace).
        if value.startswith("AWS/"):
            fail("AWS/ namespaces belong to AWS services", value, "a CloudWatch namespace outside AWS/")
        return value
