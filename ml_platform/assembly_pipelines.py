"""The stack config mapped to the model-build and monitoring components' Args (the assembly's
part for ml_platform/components/retraining.py, drift_alarms.py and pipelines.py).

The components take plain values in AWS's terms; this is the one place that knows which config
key becomes which argument. The config has validated every value already (ml_platform/config).
"""

from __future__ import annotations

from typing import Any

import pulumi

from ml_platform.components.drift_alarms import CaptureAlarmsArgs
from ml_platform.components.pipelines import SpotTraining, approval_status_for
from ml_platform.components.retraining import MonitoringArgs, QualityMonitoringArgs, RetrainingArgs
from ml_platform.components.serving import CAPTURE_PREFIX
from ml_platform.components.training import hyperparameter_strings
from ml_platform.config import RetrainingConfig, StackConfig, TrainingConfig


def spot_training(training: TrainingConfig) -> SpotTraining:
    """The `training` section as the model-build pipeline's spot training job."""
    return SpotTraining(
        instance_type=training.instance_type,
        instance_count=training.instance_count,
        volume_size_gb=training.volume_size_gb,
        max_runtime_seconds=training.max_runtime_seconds,
        max_wait_seconds=training.max_wait_seconds,
        max_retry_attempts=training.max_retry_attempts,
        hyperparameters=hyperparameter_strings(training.hyperparameters),
        network_isolation=training.network_isolation,
    )


def monitoring_args(
    retraining: RetrainingConfig,
    *,
    endpoint_name: str,
    baseline_s3_uri: pulumi.Input[str],
    capture_bucket: Any,
    metrics_namespace: str,
    drift_instance_count: int,
) -> MonitoringArgs:
    """The monitoring of the served version (`retraining` and `monitoring` sections)."""
    alarms = retraining.capture_alarms
    quality = retraining.quality
    return MonitoringArgs(
        endpoint_name=endpoint_name,
        baseline_s3_uri=baseline_s3_uri,
        capture_bucket_name=capture_bucket.bucket_name,
        capture_bucket_arn=capture_bucket.arn,
        capture_prefix=CAPTURE_PREFIX,
        metrics_namespace=metrics_namespace,
        processing_instance_type=retraining.evaluation_instance_type,
        interval_hours=retraining.monitoring_interval_hours,
        psi_threshold=retraining.psi_threshold,
        drift_evaluation_periods=retraining.drift_evaluation_periods,
        drift_datapoints_to_alarm=retraining.drift_datapoints_to_alarm,
        drift_min_records=retraining.drift_min_records,
        drift_false_alarm_rate=retraining.drift_false_alarm_rate,
        drift_instance_count=drift_instance_count,
        capture_alarms=CaptureAlarmsArgs(
            missing_rate_threshold=alarms.missing_rate_threshold,
            out_of_range_rate_threshold=alarms.out_of_range_rate_threshold,
            prediction_psi_threshold=alarms.prediction_psi_threshold,
            skipped_rate_threshold=alarms.skipped_rate_threshold,
            min_records_per_run=alarms.min_records_per_run,
        ),
        quality=QualityMonitoringArgs(
            accuracy_threshold=quality.accuracy_threshold,
            min_joined_records=quality.min_joined_records,
            lookback_hours=quality.lookback_hours,
        )
        if quality is not None
        else None,
    )


def retraining_args(
    config: StackConfig,
    *,
    name_prefix: str,
    endpoint_name: str,
    buckets: dict[str, Any],
    image_uri: pulumi.Input[str],
    repository_arn: pulumi.Input[str],
    model_package_group_name: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    topic_arn: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    partition: pulumi.Input[str],
    inference_instance_types: tuple[str, ...],
    baseline_s3_uri: pulumi.Input[str] | None,
) -> RetrainingArgs:
    """`Retraining`'s Args for a stack with a `retraining` section; monitoring only while a
    version is served (`baseline_s3_uri` not None)."""
    retraining, training = config.retraining, config.training
    assert retraining is not None  # the caller declares no Retraining without the section
    monitoring = (
        monitoring_args(
            retraining,
            endpoint_name=endpoint_name,
            baseline_s3_uri=baseline_s3_uri,
            capture_bucket=buckets["capture"],
            metrics_namespace=config.monitoring.metrics_namespace,
            drift_instance_count=config.monitoring.drift_instance_count,
        )
        if baseline_s3_uri is not None
        else None
    )
    return RetrainingArgs(
        name_prefix=name_prefix,
        image_uri=image_uri,
        training=spot_training(training),
        dataset_prefix=training.dataset.prefix,
        holdout_prefix=retraining.holdout_prefix,
        channel=training.dataset.channel,
        evaluation_instance_type=retraining.evaluation_instance_type,
        accuracy_threshold=retraining.accuracy_threshold,
        champion_tolerance=retraining.champion_tolerance,
        approval_status=approval_status_for(config.environment),
        inference_instance_types=inference_instance_types,
        datasets_bucket_name=buckets["datasets"].bucket_name,
        datasets_bucket_arn=buckets["datasets"].arn,
        artifacts_bucket_name=buckets["artifacts"].bucket_name,
        artifacts_bucket_arn=buckets["artifacts"].arn,
        key_arn=key_arn,
        repository_arn=repository_arn,
        model_package_group_name=model_package_group_name,
        topic_arn=topic_arn,
        region=region,
        account_id=account_id,
        partition=partition,
        retraining_schedule_expression=retraining.schedule,
        monitoring=monitoring,
    )
