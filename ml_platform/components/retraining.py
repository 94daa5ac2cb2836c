"""Drift detection on captured traffic, and the retraining it starts.

- A monitoring pipeline (drift, and quality when ground truth is configured) runs the image's
  `drift`/`quality` jobs every `interval_hours` over the hours just captured, started by
  EventBridge Scheduler.
- The drift alarm watches `MaxFeatureDrift` (M of N runs over the PSI threshold); the quality
  alarm watches production accuracy once enough predictions were joined with ground truth.
  Both notify the alerts topic, and an EventBridge rule on either entering ALARM starts the
  retraining pipeline; its role may start only that pipeline.
- The retraining pipeline (`ml_platform/components/pipelines.py`): managed spot training with checkpoints,
  evaluation on the holdout, a condition on accuracy, registration in the Model Registry
  (PendingManualApproval in prod, Approved in dev). It can also run on a schedule.

Every child is named `<name>-<purpose>`; an IAM role and its inline policy share the purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.drift_alarms import CaptureAlarmsArgs, capture_alarms
from ml_platform.components.iam import trust_json
from ml_platform.components.pipelines import (
    CHAMPION_NONE_PREFIX,
    ApprovalStatus,
    MonitoringPipelineArgs,
    Processing,
    QualityJob,
    RetrainingPipelineArgs,
    SpotTraining,
    definition_json,
    monitoring_pipeline_definition,
    retraining_pipeline_definition,
)
from ml_platform.components.retraining_policies import (
    monitoring_jobs_policy,
    pipeline_role_policy,
    retraining_jobs_policy,
    start_pipelines_policy,
)

__all__ = [
    "CaptureAlarmsArgs",
    "MonitoringArgs",
    "QualityMonitoringArgs",
    "Retraining",
    "RetrainingArgs",
    "alarm_event_pattern",
    "drift_alarm_args",
    "monitoring_jobs_policy",
    "pipeline_failed_event_pattern",
    "pipeline_failed_message",
    "pipeline_role_policy",
    "quality_alarm_args",
    "retraining_jobs_policy",
    "start_pipelines_policy",
]

DRIFT_METRIC = "MaxFeatureDrift"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
PIPELINE_EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"


# ---------------------------------------------------------------------------------------------
# Arguments


@dataclass(frozen=True)
class QualityMonitoringArgs:
    """The quality job and its alarm: production accuracy from late ground truth.

    accuracy_threshold: the alarm (and a model build) fires below this accuracy (0..1).
    min_joined_records: a run with fewer predictions joined with ground truth counts as healthy.
    lookback_hours: hours of ground-truth uploads each quality run reads.
    """

    accuracy_threshold: float
    min_joined_records: int
    lookback_hours: int


@dataclass(frozen=True)
class MonitoringArgs:
    """Monitoring of the served model version: the monitoring pipeline, its schedule, the drift
    (and quality) alarm that starts model builds, and the blind-spot alarms that page.

    endpoint_name: the endpoint whose capture is watched (its alarms carry it as EndpointName).
    baseline_s3_uri: the served version's drift baseline (its baseline.json, or its model.tar.gz).
    capture_bucket_name / capture_bucket_arn: the bucket the endpoint captures into;
      capture_prefix: the endpoint config's capture key prefix there (`<prefix>/<endpoint>/...`).
    metrics_namespace: where the jobs publish and the alarms read.
    processing_instance_type: the drift and quality jobs' ProcessingInstanceType.
    interval_hours: the pipeline runs every N hours over the last N hours (the alarms' period).
    psi_threshold: a feature drifts above this PSI; drift_evaluation_periods /
      drift_datapoints_to_alarm: the drift alarm's M of N runs.
    drift_min_records / drift_false_alarm_rate: the drift decision (model_code/drift/stats.py).
    drift_instance_count: Processing instances of the drift job (above 1: sharded, then merged).
    capture_alarms: thresholds of the blind-spot alarms (ml_platform/components/drift_alarms.py).
    quality: None: drift only, no quality step and no accuracy alarm.
    """

    endpoint_name: str
    baseline_s3_uri: pulumi.Input[str]
    capture_bucket_name: pulumi.Input[str]
    capture_bucket_arn: pulumi.Input[str]
    capture_prefix: str
    metrics_namespace: str
    processing_instance_type: str
    interval_hours: int
    psi_threshold: float
    drift_evaluation_periods: int
    drift_datapoints_to_alarm: int
    drift_min_records: int
    drift_false_alarm_rate: float
    capture_alarms: CaptureAlarmsArgs
    drift_instance_count: int = 1
    quality: QualityMonitoringArgs | None = None

    @property
    def period_seconds(self) -> int:
        return self.interval_hours * 3600


@dataclass(frozen=True)
class RetrainingArgs:
    """Inputs of `Retraining` (declared in the region of the registry and the buckets).

    name_prefix: pipelines are named `<prefix>-retraining` and `<prefix>-monitoring` (stable:
        the schedules and the event rules address them; SageMaker names are unique per region).
    image_uri: the digest-pinned image the pipeline jobs run (and new versions register).
    training: the spot training job (instance, limits, hyperparameters as strings).
    dataset_prefix / holdout_prefix: datasets-bucket prefixes (no trailing /) of the training
        data and of the labelled holdout; each version is one level below. channel: the
        training channel name.
    evaluation_instance_type: the ProcessingInstanceType of the resolve and evaluation steps.
    accuracy_threshold / champion_tolerance: the gates a version passes to be registered.
    approval_status: how versions are registered (`Approved` or `PendingManualApproval`).
    inference_instance_types: registered as the packages' supported realtime instance types
        (empty: none declared, e.g. serverless or Kubernetes serving).
    datasets_bucket_* / artifacts_bucket_*: name and ARN of the region's buckets.
    key_arn, repository_arn: the region key and the ECR repository.
    model_package_group_name: the Model Registry group versions are registered in.
    topic_arn: the alerts topic (alarms, failed executions).
    region, account_id, partition: for ARNs and scoping.
    retraining_schedule_expression: also build a model on this EventBridge Scheduler expression
        (UTC); None: no schedule.
    monitoring: None (no version served yet): no monitoring pipeline, schedule, alarms or alarm
        rule are declared; the model-build pipeline is.
    """

    name_prefix: str
    image_uri: pulumi.Input[str]
    training: SpotTraining
    dataset_prefix: str
    holdout_prefix: str
    evaluation_instance_type: str
    accuracy_threshold: float
    champion_tolerance: float
    approval_status: ApprovalStatus
    inference_instance_types: tuple[str, ...]
    datasets_bucket_name: pulumi.Input[str]
    datasets_bucket_arn: pulumi.Input[str]
    artifacts_bucket_name: pulumi.Input[str]
    artifacts_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    model_package_group_name: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    channel: str = "train"
    retraining_schedule_expression: str | None = None
    monitoring: MonitoringArgs | None = None


# ---------------------------------------------------------------------------------------------
# Pure builders


def alarm_event_pattern(alarm_arns: list[str]) -> dict[str, Any]:
    """EventBridge pattern: one of these alarms entering ALARM."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_STATE_CHANGE],
        "resources": alarm_arns,
        "detail": {"state": {"value": ["ALARM"]}},
    }


def pipeline_failed_event_pattern(pipeline_arn: str) -> dict[str, Any]:
    """EventBridge pattern: an execution of this pipeline ended Failed (a gate's Fail step, or a
    failed job). Fields as in AWS's sample event "SageMaker pipeline execution state change",
    https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-pipeline
    """
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [PIPELINE_EXECUTION_STATUS_CHANGE],
        "detail": {"pipelineArn": [pipeline_arn], "currentPipelineExecutionStatus": ["Failed"]},
    }


def pipeline_failed_message() -> dict[str, Any]:
    """EventTarget.input_transformer: one readable line for the alerts topic."""
    return {
        "input_paths": {"execution": "$.detail.pipelineExecutionArn", "ended": "$.detail.executionEndTime"},
        "input_template": (
            '"Model-build execution <execution> FAILED at <ended>: a gate refused the model or a job failed; '
            "nothing was registered. The reason: aws sagemaker list-pipeline-execution-steps "
            '--pipeline-execution-arn <execution> (FailureReason of the failed step)."'
        ),
    }


def drift_alarm_args(monitoring: MonitoringArgs, topic_arn: Any) -> dict[str, Any]:
    endpoint_name, psi = monitoring.endpoint_name, monitoring.psi_threshold
    return {
        "name": f"{endpoint_name}-drift",
        "alarm_description": f"feature drift (PSI > {psi:g}) on {endpoint_name}: starts retraining",
        "namespace": monitoring.metrics_namespace,
        "metric_name": DRIFT_METRIC,
        "dimensions": {"EndpointName": endpoint_name},
        "statistic": "Maximum",
        "period": monitoring.period_seconds,
        "threshold": monitoring.psi_threshold,
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": monitoring.drift_evaluation_periods,
        "datapoints_to_alarm": monitoring.drift_datapoints_to_alarm,
        # A window without traffic publishes no drift figure: silence is not drift.
        "treat_missing_data": "notBreaching",
        "alarm_actions": [topic_arn],
        "ok_actions": [topic_arn],
    }


def quality_alarm_args(monitoring: MonitoringArgs, quality: QualityMonitoringArgs, topic_arn: Any) -> dict[str, Any]:
    endpoint_name, namespace, period = monitoring.endpoint_name, monitoring.metrics_namespace, monitoring.period_seconds
    dims = {"EndpointName": endpoint_name}
    return {
        "name": f"{endpoint_name}-accuracy",
        "alarm_description": (
            f"production accuracy below {quality.accuracy_threshold:g} with at least "
            f"{quality.min_joined_records} joined predictions on {endpoint_name}: starts retraining"
        ),
        "metric_queries": [
            {
                "id": "accuracy",
                "metric": {
                    "namespace": namespace,
                    "metric_name": "Accuracy",
                    "stat": "Average",
                    "period": period,
                    "dimensions": dims,
                },
                "return_data": False,
            },
            {
                "id": "joined",
                "metric": {
                    "namespace": namespace,
                    "metric_name": "JoinedRecords",
                    "stat": "Sum",
                    "period": period,
                    "dimensions": dims,
                },
                "return_data": False,
            },
            {
                # Too few joined predictions says nothing about accuracy: count it as healthy.
                "id": "judged",
                "expression": f"IF(joined >= {quality.min_joined_records}, accuracy, 1)",
                "label": "accuracy (enough joined records)",
                "return_data": True,
            },
        ],
        "threshold": quality.accuracy_threshold,
        "comparison_operator": "LessThanThreshold",
        "evaluation_periods": 1,
        "datapoints_to_alarm": 1,
        # No labels arrived: nothing to judge.
        "treat_missing_data": "notBreaching",
        "alarm_actions": [topic_arn],
        "ok_actions": [topic_arn],
    }


def model_build_definition(
    args: RetrainingArgs,
    *,
    image_uri: str,
    role_arn: str,
    key_arn: str,
    datasets_bucket: str,
    artifacts_bucket: str,
    group_name: str,
) -> str:
    """The model-build pipeline's definition once the resources' names and ARNs are known."""
    return definition_json(
        retraining_pipeline_definition(
            RetrainingPipelineArgs(
                image_uri=image_uri,
                training_role_arn=role_arn,
                processing_role_arn=role_arn,
                kms_key_arn=key_arn,
                dataset_root_s3_uri=f"s3://{datasets_bucket}/{args.dataset_prefix}/",
                holdout_root_s3_uri=f"s3://{datasets_bucket}/{args.holdout_prefix}/",
                artifacts_bucket=artifacts_bucket,
                model_package_group_name=group_name,
                approval_status=args.approval_status,
                accuracy_threshold=args.accuracy_threshold,
                champion_tolerance=args.champion_tolerance,
                inference_instance_types=args.inference_instance_types,
                region=args.region,
                training=args.training,
                evaluation=Processing(instance_type=args.evaluation_instance_type),
                channel=args.channel,
            )
        )
    )


def monitoring_definition(
    monitoring: MonitoringArgs,
    region: str,
    *,
    image_uri: str,
    role_arn: str,
    key_arn: str,
    capture_bucket: str,
    baseline_s3_uri: str,
) -> str:
    """The monitoring pipeline's definition once the resources' names and ARNs are known."""
    quality = QualityJob(lookback_hours=monitoring.quality.lookback_hours) if monitoring.quality else None
    return definition_json(
        monitoring_pipeline_definition(
            MonitoringPipelineArgs(
                image_uri=image_uri,
                role_arn=role_arn,
                kms_key_arn=key_arn,
                region=region,
                endpoint_name=monitoring.endpoint_name,
                capture_s3_uri=f"s3://{capture_bucket}/{monitoring.capture_prefix}",
                baseline_s3_uri=baseline_s3_uri,
                metrics_namespace=monitoring.metrics_namespace,
                psi_threshold=monitoring.psi_threshold,
                lookback_hours=monitoring.interval_hours,
                processing=Processing(instance_type=monitoring.processing_instance_type),
                quality=quality,
                drift_min_records=monitoring.drift_min_records,
                drift_false_alarm_rate=monitoring.drift_false_alarm_rate,
                drift_instance_count=monitoring.drift_instance_count,
            )
        )
    )


def rate_expression(hours: int) -> str:
    """EventBridge Scheduler's rate expression for every `hours` hours."""
    return f"rate({hours} hour{'s' if hours > 1 else ''})"


# ---------------------------------------------------------------------------------------------
# Component


NO_CHAMPION_README = (
    "Placeholder of the model-build pipeline: its evaluation step reads this prefix as the champion\n"
    "input when there is no champion (a Processing input prefix without objects fails the job).\n"
    "Keep it; it holds no model.\n"
)


class Retraining(pulumi.ComponentResource):
    """The model-build pipeline (spot training, gates, registration) with its schedule and failure
    notifications; and, while a version is served (`monitoring`), the monitoring pipeline, its
    schedule, the drift and quality alarms and the rule that starts model builds on them."""

    def __init__(self, name: str, args: RetrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:retraining:Retraining", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        monitoring = args.monitoring
        # The "no champion" input of the evaluation step (see ml_platform/components/pipelines.py).
        self.no_champion = aws.s3.BucketObjectv2(
            f"{name}-no-champion",
            bucket=args.artifacts_bucket_name,
            key=f"{CHAMPION_NONE_PREFIX}/README",
            content=NO_CHAMPION_README,
            content_type="text/plain",
            opts=child,
        )
        jobs_role = self._role("jobs", "sagemaker.amazonaws.com", self._jobs_policy())
        monitor_role = (
            self._role("monitor", "sagemaker.amazonaws.com", self._monitor_policy(monitoring)) if monitoring else None
        )
        job_role_arns = [jobs_role.arn] + ([monitor_role.arn] if monitor_role else [])
        pipeline_role = self._role(
            "pipeline",
            "sagemaker.amazonaws.com",
            pulumi.Output.all(
                account_id=args.account_id,
                partition=args.partition,
                group_name=args.model_package_group_name,
                artifacts_bucket_arn=args.artifacts_bucket_arn,
                key_arn=args.key_arn,
                job_role_arns=job_role_arns,
            ).apply(lambda values: pipeline_role_policy(region=args.region, **values)),
        )
        self.retraining_pipeline = aws.sagemaker.Pipeline(
            f"{name}-retraining",
            pipeline_name=f"{args.name_prefix}-retraining",
            pipeline_display_name=f"{args.name_prefix}-retraining",
            pipeline_description="model build: newest data, spot training, gates (threshold, champion), registration",
            role_arn=pipeline_role.arn,
            pipeline_definition=pulumi.Output.all(
                image_uri=args.image_uri,
                role_arn=jobs_role.arn,
                key_arn=args.key_arn,
                datasets_bucket=args.datasets_bucket_name,
                artifacts_bucket=args.artifacts_bucket_name,
                group_name=args.model_package_group_name,
            ).apply(lambda values: model_build_definition(args, **values)),
            # The evaluation step reads the placeholder in every run without a champion.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.no_champion]),
        )
        self._notify_failures()
        self.monitoring_pipeline = None
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        self.capture_alarms: list[aws.cloudwatch.MetricAlarm] = []
        if monitoring is not None and monitor_role is not None:
            self._monitor(monitoring, monitor_role, pipeline_role)
        self._schedules()
        outputs = {"retraining_pipeline": self.retraining_pipeline.pipeline_name}
        if self.monitoring_pipeline is not None:
            outputs["monitoring_pipeline"] = self.monitoring_pipeline.pipeline_name
        self.register_outputs(outputs)

    def _monitor(self, monitoring: MonitoringArgs, monitor_role: aws.iam.Role, pipeline_role: aws.iam.Role) -> None:
        args, name, child = self._args, self._name, pulumi.ResourceOptions(parent=self)
        self.monitoring_pipeline = aws.sagemaker.Pipeline(
            f"{name}-monitoring",
            pipeline_name=f"{args.name_prefix}-monitoring",
            pipeline_display_name=f"{args.name_prefix}-monitoring",
            pipeline_description="drift (and quality) of the endpoint's captured traffic",
            role_arn=pipeline_role.arn,
            pipeline_definition=pulumi.Output.all(
                image_uri=args.image_uri,
                role_arn=monitor_role.arn,
                key_arn=args.key_arn,
                capture_bucket=monitoring.capture_bucket_name,
                baseline_s3_uri=monitoring.baseline_s3_uri,
            ).apply(lambda values: monitoring_definition(monitoring, args.region, **values)),
            opts=child,
        )
        self.alarms = [
            aws.cloudwatch.MetricAlarm(f"{name}-drift", **drift_alarm_args(monitoring, args.topic_arn), opts=child)
        ]
        if monitoring.quality is not None:
            self.alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-accuracy", **quality_alarm_args(monitoring, monitoring.quality, args.topic_arn), opts=child
                )
            )
        self._retrain_on_alarms(self.alarms)
        # Blind spots of the drift job (missing, out-of-range, prediction drift, unreadable or
        # skipped capture, no traffic): they page, they do not retrain.
        self.capture_alarms = capture_alarms(
            name,
            monitoring.capture_alarms,
            monitoring.period_seconds,
            monitoring.metrics_namespace,
            monitoring.endpoint_name,
            args.topic_arn,
            self,
        )

    def _role(self, purpose: str, service: str, policy: pulumi.Input[dict]) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{purpose}",
            description=f"ml-platform retraining: {purpose}",
            assume_role_policy=trust_json(service, self._args.account_id),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{self._name}-{purpose}",
            role=role.id,
            policy=pulumi.Output.from_input(policy).apply(json.dumps),
            opts=child,
        )
        return role

    def _jobs_policy(self) -> pulumi.Output:
        args = self._args
        prefixes = [f"{args.dataset_prefix}/", f"{args.holdout_prefix}/"]
        return pulumi.Output.all(
            datasets_bucket_arn=args.datasets_bucket_arn,
            artifacts_bucket_arn=args.artifacts_bucket_arn,
            key_arn=args.key_arn,
            repository_arn=args.repository_arn,
            account_id=args.account_id,
            partition=args.partition,
            group_name=args.model_package_group_name,
        ).apply(lambda values: retraining_jobs_policy(dataset_prefixes=prefixes, region=args.region, **values))

    def _monitor_policy(self, monitoring: MonitoringArgs) -> pulumi.Output:
        args = self._args
        return pulumi.Output.all(
            capture_bucket_arn=monitoring.capture_bucket_arn,
            artifacts_bucket_arn=args.artifacts_bucket_arn,
            key_arn=args.key_arn,
            repository_arn=args.repository_arn,
            account_id=args.account_id,
        ).apply(
            lambda values: monitoring_jobs_policy(
                capture_prefix=monitoring.capture_prefix,
                endpoint_name=monitoring.endpoint_name,
                metrics_namespace=monitoring.metrics_namespace,
                region=args.region,
                **values,
            )
        )

    def _schedules(self) -> None:
        args = self._args
        schedules = []
        if self.monitoring_pipeline is not None and args.monitoring is not None:
            schedules.append(("monitoring", self.monitoring_pipeline, rate_expression(args.monitoring.interval_hours)))
        if args.retraining_schedule_expression:
            schedules.append(("retraining", self.retraining_pipeline, args.retraining_schedule_expression))
        if not schedules:
            return
        role = self._role(
            "scheduler",
            "scheduler.amazonaws.com",
            pulumi.Output.from_input([p.arn for _, p, _ in schedules]).apply(start_pipelines_policy),
        )
        for purpose, pipeline, expression in schedules:
            aws.scheduler.Schedule(
                f"{self._name}-{purpose}",
                schedule_expression=expression,
                schedule_expression_timezone="UTC",
                flexible_time_window={"mode": "OFF"},
                # No parameters: the pipeline's defaults apply (newest dataset, approved champion).
                target={"arn": pipeline.arn, "role_arn": role.arn},
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _notify_failures(self) -> None:
        """A failed execution (a gate refused the model, or a job failed) tells the alerts topic.
        The topic's policy already lets events.amazonaws.com publish (ml_platform/components/monitoring.py)."""
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-failed",
            description="model-build execution failed (gate or job): tell the alerts topic",
            event_pattern=self.retraining_pipeline.arn.apply(
                lambda arn: json.dumps(pipeline_failed_event_pattern(arn))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-failed",
            rule=rule.name,
            arn=self._args.topic_arn,
            input_transformer=pipeline_failed_message(),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _retrain_on_alarms(self, alarms: list[aws.cloudwatch.MetricAlarm]) -> None:
        events_role = self._role(
            "events",
            "events.amazonaws.com",
            self.retraining_pipeline.arn.apply(lambda arn: start_pipelines_policy([arn])),
        )
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-on-alarm",
            description="drift or accuracy alarm: start the retraining pipeline",
            event_pattern=pulumi.Output.from_input([a.arn for a in alarms]).apply(
                lambda arns: json.dumps(alarm_event_pattern(arns))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-on-alarm",
            rule=rule.name,
            arn=self.retraining_pipeline.arn,
            role_arn=events_role.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
