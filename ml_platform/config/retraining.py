"""`retraining` and `deploy_trigger`: drift and quality monitoring, the model-build pipeline
they start, and the deploy an approval starts."""

from __future__ import annotations

from pydantic import Field, field_validator

from ml_platform.config.patterns import DATASET_PREFIX_PATTERN
from ml_platform.config.rules import (
    ConfigRuleError,
    Section,
    alarm_window_problem,
    check_instance_type,
    not_above,
    rule,
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
        default=0.05,
        gt=0,
        le=1,
        description="Page when any feature's missing-value rate in a run exceeds this (`MaxFeatureMissingRate`).",
    )
    out_of_range_rate_threshold: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description=(
            "Page when any feature's share of values outside its training range in a run exceeds this "
            "(`MaxFeatureOutOfRangeRate`)."
        ),
    )
    prediction_psi_threshold: float = Field(
        default=0.2,
        gt=0,
        description=(
            "Page when the predicted-class distribution's PSI against the holdout's exceeds this (`PredictionPSI`)."
        ),
    )
    skipped_rate_threshold: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description=(
            "Page when more than this share of a run's captured rows is skipped (`CaptureRecordsSkipped`; 1 when "
            "every row is bad, e.g. a model served with a new feature count)."
        ),
    )
    min_records_per_run: int | None = Field(
        default=None,
        ge=1,
        description=(
            "No-traffic page: fewer captured rows than this in two runs in a row, or no run publishing at all "
            "(missing data breaches). None: an idle endpoint is normal (dev). Prod sets 200 (= `drift_min_records`: a "
            "run that cannot judge drift is blind)."
        ),
    )


class RetrainingConfig(Section):
    """Drift detection on captured traffic, and the retraining pipeline it starts."""

    holdout_prefix: str = Field(
        pattern=DATASET_PREFIX_PATTERN,
        description=(
            "Datasets-bucket prefix of the labelled holdout; each run reads the version it trains on "
            "(`<holdout_prefix>/<version>/` must exist)."
        ),
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
        default=200,
        ge=1,
        description=(
            "A run with fewer usable rows is `insufficient_data`: it reports its figures but flags no drift (and "
            "publishes no drift decision)."
        ),
    )
    drift_false_alarm_rate: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description=(
            "Chance that a run without drift flags any feature: each feature's critical PSI at the run's size is its "
            "(1 - rate / features) quantile under no drift. See [Drift "
            "decision](#drift-decision-calibrated-to-the-windows-size)."
        ),
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

    @rule("monitoring_interval_hours", "drift_evaluation_periods")
    def _within_cloudwatch_window(v):
        # The drift alarm's period is the monitoring interval (ml_platform/components/retraining.py).
        outside = alarm_window_problem(v.monitoring_interval_hours * 3600, v.drift_evaluation_periods)
        if outside:
            raise ConfigRuleError([("", outside)])

    @rule("drift_evaluation_periods", "drift_datapoints_to_alarm")
    def _m_of_n(v):
        not_above(v.drift_datapoints_to_alarm, v.drift_evaluation_periods, "cannot exceed drift_evaluation_periods")


class DeployTriggerConfig(Section):
    """Approval starts a deploy: an approved model version sends GitHub a `repository_dispatch`
    (event type `model-approved`) that the deploy workflow runs on."""

    repository: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="GitHub repository `owner/name` whose deploy workflow receives the dispatch.",
    )
    token: str = Field(
        min_length=1,
        description=(
            "GitHub token allowed to create repository dispatch events (fine-grained: contents write on that "
            "repository), kept in the EventBridge connection. Must be a secret: `pulumi config set --secret --path "
            "deploy_trigger.token <token>`."
        ),
    )
