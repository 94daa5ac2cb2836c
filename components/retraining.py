"""Drift detection on captured traffic, and the retraining it starts.

- A monitoring pipeline (drift, and quality when ground truth is configured) runs the image's
  `drift`/`quality` jobs every `monitoring_interval_hours` over the hours just captured,
  started by EventBridge Scheduler.
- The drift alarm watches `MaxFeatureDrift` (M of N runs over the PSI threshold); the quality
  alarm watches production accuracy once enough predictions were joined with ground truth.
  Both notify the alerts topic, and an EventBridge rule on either entering ALARM starts the
  retraining pipeline; its role may start only that pipeline.
- The retraining pipeline (`components/pipelines.py`): managed spot training with checkpoints,
  evaluation on the holdout, a condition on accuracy, registration in the Model Registry
  (PendingManualApproval in prod, Approved in dev). It can also run on a schedule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import RetrainingConfig, TrainingConfig
from components.drift_alarms import capture_alarms
from components.iam import allow, document, pull_image, trust_json, use_key, write_logs
from components.pipelines import (
    MonitoringPipelineArgs,
    Processing,
    QualityJob,
    RetrainingPipelineArgs,
    SpotTraining,
    approval_status_for,
    definition_json,
    monitoring_pipeline_definition,
    retraining_pipeline_definition,
)
from components.serving import CAPTURE_PREFIX

DRIFT_METRIC = "MaxFeatureDrift"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"

# ---------------------------------------------------------------------------------------------
# Pure builders


def _pull_and_log(key_arn: str, repository_arn: str, region: str, account_id: str, kinds: tuple[str, ...]) -> list:
    return [
        use_key(key_arn),
        *pull_image(repository_arn),
        write_logs(region, account_id, [f"/aws/sagemaker/{kind}" for kind in kinds]),
    ]


def retraining_jobs_policy(
    *,
    datasets_bucket_arn: str,
    dataset_prefixes: list[str],
    artifacts_bucket_arn: str,
    key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """Training and evaluation jobs of the pipeline: read the dataset and holdout, read and
    write `retraining/` in the artifacts bucket."""
    return document(
        allow("ReadDatasets", ["s3:GetObject"], [f"{datasets_bucket_arn}/{p}*" for p in dataset_prefixes]),
        allow(
            "ListDatasets",
            ["s3:ListBucket"],
            datasets_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in dataset_prefixes]}},
        ),
        allow(
            "ReadWriteRetraining",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            f"{artifacts_bucket_arn}/retraining/*",
        ),
        allow(
            "ListRetraining", ["s3:ListBucket"], artifacts_bucket_arn, {"StringLike": {"s3:prefix": ["retraining/*"]}}
        ),
        *_pull_and_log(key_arn, repository_arn, region, account_id, ("TrainingJobs", "ProcessingJobs")),
    )


def monitoring_jobs_policy(
    *,
    capture_bucket_arn: str,
    artifacts_bucket_arn: str,
    endpoint_name: str,
    metrics_namespace: str,
    key_arn: str,
    repository_arn: str,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """The drift and quality jobs: read this endpoint's capture and ground truth and the model's
    baseline, write their reports, publish metrics only into the stack's namespace."""
    # drift-reports/<endpoint>/runs/: a sharded drift run's manifest and partial results, read back
    # by its later steps (ProcessingInputs are downloaded with the job's role).
    reads = [
        f"{CAPTURE_PREFIX}/{endpoint_name}/",
        f"ground-truth/{endpoint_name}/",
        f"drift-reports/{endpoint_name}/runs/",
    ]
    writes = [f"drift-reports/{endpoint_name}/", f"quality-reports/{endpoint_name}/"]
    return document(
        allow("ReadCaptureAndLabels", ["s3:GetObject"], [f"{capture_bucket_arn}/{p}*" for p in reads]),
        allow(
            "ListCaptureAndLabels",
            ["s3:ListBucket"],
            capture_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in reads]}},
        ),
        allow("WriteReports", ["s3:PutObject"], [f"{capture_bucket_arn}/{p}*" for p in writes]),
        allow("ReadBaseline", ["s3:GetObject"], f"{artifacts_bucket_arn}/models/*"),
        allow(
            "PublishDriftMetrics",
            ["cloudwatch:PutMetricData"],
            "*",
            {"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
        ),
        *_pull_and_log(key_arn, repository_arn, region, account_id, ("ProcessingJobs",)),
    )


def pipeline_role_policy(*, region: str, account_id: str, group_name: str, job_role_arns: list[str]) -> dict[str, Any]:
    """What SageMaker Pipelines does on the pipelines' behalf: start and watch their jobs,
    register into this group, and pass only the job roles."""
    prefix = f"arn:aws:sagemaker:{region}:{account_id}"
    return document(
        allow(
            "RunPipelineJobs",
            [
                "sagemaker:AddTags",
                "sagemaker:CreateProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:StopTrainingJob",
            ],
            [f"{prefix}:training-job/pipelines-*", f"{prefix}:processing-job/pipelines-*"],
        ),
        allow(
            "RegisterModels",
            ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            [f"{prefix}:model-package/{group_name}/*", f"{prefix}:model-package-group/{group_name}"],
        ),
        allow(
            "PassJobRoles",
            ["iam:PassRole"],
            job_role_arns,
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    )


def start_pipelines_policy(pipeline_arns: list[str]) -> dict[str, Any]:
    return document(allow("StartThesePipelines", ["sagemaker:StartPipelineExecution"], pipeline_arns))


def alarm_event_pattern(alarm_arns: list[str]) -> dict[str, Any]:
    """EventBridge pattern: one of these alarms entering ALARM."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": [ALARM_STATE_CHANGE],
        "resources": alarm_arns,
        "detail": {"state": {"value": ["ALARM"]}},
    }


def drift_alarm_args(config: RetrainingConfig, namespace: str, endpoint_name: str, topic_arn: Any) -> dict[str, Any]:
    return {
        "name": f"{endpoint_name}-drift",
        "alarm_description": f"feature drift (PSI > {config.psi_threshold:g}) on {endpoint_name}: starts retraining",
        "namespace": namespace,
        "metric_name": DRIFT_METRIC,
        "dimensions": {"EndpointName": endpoint_name},
        "statistic": "Maximum",
        "period": config.monitoring_interval_hours * 3600,
        "threshold": config.psi_threshold,
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": config.drift_evaluation_periods,
        "datapoints_to_alarm": config.drift_datapoints_to_alarm,
        # A window without traffic publishes no drift figure: silence is not drift.
        "treat_missing_data": "notBreaching",
        "alarm_actions": [topic_arn],
        "ok_actions": [topic_arn],
    }


def quality_alarm_args(config: RetrainingConfig, namespace: str, endpoint_name: str, topic_arn: Any) -> dict[str, Any]:
    quality = config.quality
    period = config.monitoring_interval_hours * 3600
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


# ---------------------------------------------------------------------------------------------
# Component


@dataclass(frozen=True)
class RetrainingArgs:
    """Inputs of `Retraining` (declared in the primary region).

    config / training: the retraining and training sections of the stack config.
    environment: decides the approval status of registered models.
    name_prefix: `ml-platform-<stack>`; pipelines are named `<prefix>-retraining` and
        `<prefix>-monitoring` (stable: the schedules and the event rule address them).
    endpoint_name: the endpoint whose capture is watched.
    image_uri: the digest-pinned image. model_data_url: the deployed model (its baseline).
    datasets_bucket / artifacts_bucket / capture_bucket: (name, ARN) of the region's buckets.
    key_arn, repository_arn: the region key and the ECR repository.
    model_package_group: (name, ARN) of the Model Registry group.
    topic_arn: the alerts topic. metrics_namespace: where the jobs publish.
    region / account_id: for ARNs and scoping.
    drift_instance_count: Processing instances of the drift job (above 1: sharded, then merged).
    """

    config: RetrainingConfig
    training: TrainingConfig
    environment: str
    name_prefix: str
    endpoint_name: str
    image_uri: pulumi.Input[str]
    model_data_url: pulumi.Input[str]
    datasets_bucket: tuple[pulumi.Input[str], pulumi.Input[str]]
    artifacts_bucket: tuple[pulumi.Input[str], pulumi.Input[str]]
    capture_bucket: tuple[pulumi.Input[str], pulumi.Input[str]]
    key_arn: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    model_package_group: tuple[pulumi.Input[str], pulumi.Input[str]]
    topic_arn: pulumi.Input[str]
    metrics_namespace: str
    region: str
    account_id: pulumi.Input[str]
    drift_instance_count: int = 1


class Retraining(pulumi.ComponentResource):
    """Monitoring and retraining pipelines, their schedules, the drift and quality alarms, and
    the event rule that starts retraining."""

    def __init__(self, name: str, args: RetrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:retraining:Retraining", name, None, opts)
        self._name, self._args = name, args
        config = args.config
        jobs_role = self._role("jobs", "sagemaker.amazonaws.com", self._jobs_policy())
        monitor_role = self._role("monitor", "sagemaker.amazonaws.com", self._monitor_policy())
        group_name, _ = args.model_package_group
        pipeline_role = self._role(
            "pipeline",
            "sagemaker.amazonaws.com",
            pulumi.Output.all(args.account_id, group_name, jobs_role.arn, monitor_role.arn).apply(
                lambda a: pipeline_role_policy(
                    region=args.region, account_id=a[0], group_name=a[1], job_role_arns=[a[2], a[3]]
                )
            ),
        )
        self.retraining_pipeline = aws.sagemaker.Pipeline(
            f"{name}-retraining",
            pipeline_name=f"{args.name_prefix}-retraining",
            pipeline_display_name=f"{args.name_prefix}-retraining",
            pipeline_description="spot training, evaluation on the holdout, registration if accurate enough",
            role_arn=pipeline_role.arn,
            pipeline_definition=self._retraining_definition(jobs_role),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.monitoring_pipeline = aws.sagemaker.Pipeline(
            f"{name}-monitoring",
            pipeline_name=f"{args.name_prefix}-monitoring",
            pipeline_display_name=f"{args.name_prefix}-monitoring",
            pipeline_description="drift (and quality) of the endpoint's captured traffic",
            role_arn=pipeline_role.arn,
            pipeline_definition=self._monitoring_definition(monitor_role),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._schedules()
        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-drift",
                **drift_alarm_args(config, args.metrics_namespace, args.endpoint_name, args.topic_arn),
                opts=pulumi.ResourceOptions(parent=self),
            )
        ]
        if config.quality is not None:
            alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-accuracy",
                    **quality_alarm_args(config, args.metrics_namespace, args.endpoint_name, args.topic_arn),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.alarms = alarms
        self._retrain_on_alarms(alarms)
        self.capture_alarms = capture_alarms(
            name, config, args.metrics_namespace, args.endpoint_name, args.topic_arn, self
        )
        self.register_outputs(
            {
                "retraining_pipeline": self.retraining_pipeline.pipeline_name,
                "monitoring_pipeline": self.monitoring_pipeline.pipeline_name,
            }
        )

    def _role(self, suffix: str, service: str, policy: pulumi.Input[dict]) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{suffix}",
            description=f"ml-platform retraining: {suffix}",
            assume_role_policy=trust_json(service, self._args.account_id),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{self._name}-{suffix}",
            role=role.id,
            policy=pulumi.Output.from_input(policy).apply(json.dumps),
            opts=child,
        )
        return role

    def _jobs_policy(self) -> pulumi.Output:
        args = self._args
        dataset = args.training.dataset
        prefixes = [f"{dataset.prefix}/{dataset.version}/", f"{args.config.holdout_prefix}/{dataset.version}/"]
        return pulumi.Output.all(
            args.datasets_bucket[1], args.artifacts_bucket[1], args.key_arn, args.repository_arn, args.account_id
        ).apply(
            lambda a: retraining_jobs_policy(
                datasets_bucket_arn=a[0],
                dataset_prefixes=prefixes,
                artifacts_bucket_arn=a[1],
                key_arn=a[2],
                repository_arn=a[3],
                region=args.region,
                account_id=a[4],
            )
        )

    def _monitor_policy(self) -> pulumi.Output:
        args = self._args
        return pulumi.Output.all(
            args.capture_bucket[1], args.artifacts_bucket[1], args.key_arn, args.repository_arn, args.account_id
        ).apply(
            lambda a: monitoring_jobs_policy(
                capture_bucket_arn=a[0],
                artifacts_bucket_arn=a[1],
                endpoint_name=args.endpoint_name,
                metrics_namespace=args.metrics_namespace,
                key_arn=a[2],
                repository_arn=a[3],
                region=args.region,
                account_id=a[4],
            )
        )

    def _retraining_definition(self, jobs_role: aws.iam.Role) -> pulumi.Output[str]:
        args, config, training = self._args, self._args.config, self._args.training
        dataset = training.dataset
        spot = SpotTraining(
            instance_type=training.instance_type,
            instance_count=training.instance_count,
            volume_size_gb=training.volume_size_gb,
            max_runtime_seconds=training.max_runtime_seconds,
            max_wait_seconds=training.max_wait_seconds,
            max_retry_attempts=training.max_retry_attempts,
            hyperparameters={
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in training.hyperparameters.items()
            },
            network_isolation=training.network_isolation,
        )
        return pulumi.Output.all(
            args.image_uri,
            jobs_role.arn,
            args.key_arn,
            args.datasets_bucket[0],
            args.artifacts_bucket[0],
            args.model_package_group[0],
        ).apply(
            lambda a: definition_json(
                retraining_pipeline_definition(
                    RetrainingPipelineArgs(
                        image_uri=a[0],
                        training_role_arn=a[1],
                        processing_role_arn=a[1],
                        kms_key_arn=a[2],
                        dataset_s3_uri=f"s3://{a[3]}/{dataset.prefix}/{dataset.version}/",
                        holdout_s3_uri=f"s3://{a[3]}/{config.holdout_prefix}/{dataset.version}/",
                        artifacts_bucket=a[4],
                        model_package_group_name=a[5],
                        approval_status=approval_status_for(args.environment),
                        accuracy_threshold=config.accuracy_threshold,
                        training=spot,
                        evaluation=Processing(instance_type=config.evaluation_instance_type),
                        channel=dataset.channel,
                    )
                )
            )
        )

    def _monitoring_definition(self, monitor_role: aws.iam.Role) -> pulumi.Output[str]:
        args, config = self._args, self._args.config
        quality = QualityJob(lookback_hours=config.quality.lookback_hours) if config.quality is not None else None
        return pulumi.Output.all(
            args.image_uri, monitor_role.arn, args.key_arn, args.capture_bucket[0], args.model_data_url
        ).apply(
            lambda a: definition_json(
                monitoring_pipeline_definition(
                    MonitoringPipelineArgs(
                        image_uri=a[0],
                        role_arn=a[1],
                        kms_key_arn=a[2],
                        region=args.region,
                        endpoint_name=args.endpoint_name,
                        capture_s3_uri=f"s3://{a[3]}/{CAPTURE_PREFIX}",
                        baseline_s3_uri=a[4],
                        metrics_namespace=args.metrics_namespace,
                        psi_threshold=config.psi_threshold,
                        lookback_hours=config.monitoring_interval_hours,
                        processing=Processing(instance_type=config.evaluation_instance_type),
                        quality=quality,
                        drift_min_records=config.drift_min_records,
                        drift_false_alarm_rate=config.drift_false_alarm_rate,
                        drift_instance_count=args.drift_instance_count,
                    )
                )
            )
        )

    def _schedules(self) -> None:
        config = self._args.config
        targets = [self.monitoring_pipeline] + ([self.retraining_pipeline] if config.schedule else [])
        role = self._role(
            "scheduler",
            "scheduler.amazonaws.com",
            pulumi.Output.all(*[p.arn for p in targets]).apply(lambda arns: start_pipelines_policy(list(arns))),
        )
        hours = config.monitoring_interval_hours
        schedules = [("monitoring", self.monitoring_pipeline, f"rate({hours} hour{'s' if hours > 1 else ''})")]
        if config.schedule:
            schedules.append(("retraining", self.retraining_pipeline, config.schedule))
        for suffix, pipeline, expression in schedules:
            aws.scheduler.Schedule(
                f"{self._name}-{suffix}",
                schedule_expression=expression,
                schedule_expression_timezone="UTC",
                flexible_time_window={"mode": "OFF"},
                # The pipeline's own parameter defaults apply.
                target={"arn": pipeline.arn, "role_arn": role.arn},
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
            event_pattern=pulumi.Output.all(*[a.arn for a in alarms]).apply(
                lambda arns: json.dumps(alarm_event_pattern(list(arns)))
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
