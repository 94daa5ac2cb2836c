"""The config -> Args mapping of the model-build and monitoring components
(ml_platform/assembly_pipelines.py): every config value reaches its argument, and a threshold
added to the config cannot be dropped silently."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

from ml_platform.assembly_pipelines import monitoring_args, spot_training
from ml_platform.components.drift_alarms import CaptureAlarmsArgs
from ml_platform.components.pipelines import SpotTraining
from ml_platform.components.retraining import MonitoringArgs, QualityMonitoringArgs
from ml_platform.config import CaptureAlarmsConfig, QualityMonitoringConfig, RetrainingConfig, TrainingConfig


def test_every_alarm_and_quality_setting_has_its_argument():
    assert {f.name for f in dataclasses.fields(CaptureAlarmsArgs)} == set(CaptureAlarmsConfig.model_fields)
    assert {f.name for f in dataclasses.fields(QualityMonitoringArgs)} == set(QualityMonitoringConfig.model_fields)


def test_the_retraining_section_becomes_the_monitoring_args():
    retraining = RetrainingConfig(
        holdout_prefix="tabular/holdout",
        evaluation_instance_type="ml.m5.xlarge",
        monitoring_interval_hours=3,
        psi_threshold=0.3,
        drift_evaluation_periods=4,
        drift_datapoints_to_alarm=2,
        drift_min_records=50,
        drift_false_alarm_rate=0.05,
        capture_alarms={"missing_rate_threshold": 0.2, "min_records_per_run": 10},
        quality={"accuracy_threshold": 0.7, "min_joined_records": 30, "lookback_hours": 48},
    )
    bucket = SimpleNamespace(bucket_name="capture-b", arn="arn:aws:s3:::capture-b")
    assert monitoring_args(
        retraining,
        endpoint_name="ep",
        baseline_s3_uri="s3://a/baseline.json",
        capture_bucket=bucket,
        metrics_namespace="ns/Drift",
        drift_instance_count=3,
    ) == MonitoringArgs(
        endpoint_name="ep",
        baseline_s3_uri="s3://a/baseline.json",
        capture_bucket_name="capture-b",
        capture_bucket_arn="arn:aws:s3:::capture-b",
        capture_prefix="datacapture",
        metrics_namespace="ns/Drift",
        processing_instance_type="ml.m5.xlarge",
        interval_hours=3,
        psi_threshold=0.3,
        drift_evaluation_periods=4,
        drift_datapoints_to_alarm=2,
        drift_min_records=50,
        drift_false_alarm_rate=0.05,
        drift_instance_count=3,
        capture_alarms=CaptureAlarmsArgs(
            missing_rate_threshold=0.2,
            out_of_range_rate_threshold=0.05,
            prediction_psi_threshold=0.2,
            skipped_rate_threshold=0.01,
            min_records_per_run=10,
        ),
        quality=QualityMonitoringArgs(accuracy_threshold=0.7, min_joined_records=30, lookback_hours=48),
    )


def test_the_training_section_becomes_the_spot_training_job():
    training = TrainingConfig(
        instance_type="ml.m5.2xlarge",
        volume_size_gb=50,
        max_runtime_seconds=1800,
        max_wait_seconds=3600,
        max_retry_attempts=2,
        dataset={"prefix": "tabular/iris", "version": "v1"},
        hyperparameters={"standardize": True, "epochs": 30, "lr": 0.1},
        network_isolation=False,
    )
    assert spot_training(training) == SpotTraining(
        instance_type="ml.m5.2xlarge",
        instance_count=1,
        volume_size_gb=50,
        max_runtime_seconds=1800,
        max_wait_seconds=3600,
        max_retry_attempts=2,
        hyperparameters={"epochs": "30", "lr": "0.1", "standardize": "true"},
        network_isolation=False,
    )
