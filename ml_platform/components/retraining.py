"""Drift detection on captured traffic, and the retraining it starts.

- A monitoring pipeline (drift, and quality when ground truth is configured) runs the image's
  `drift`/`quality` jobs every `monitoring_interval_hours` over the hours just captured,
  started by EventBridge Scheduler.
- The drift alarm watches `MaxFeatureDrift` (M of N runs over the PSI threshold); the quality
  alarm watches production accuracy once enough predictions were joined with ground truth.
  Both notify the alerts topic, and an EventBridge rule on either entering ALARM starts the
  retraining pipeline; its role may start only that pipeline.
- The retraining pipeline (`ml_platform/components/pipelines.py`): managed spot training with checkpoints,
  evaluation on the holdout, a condition on accuracy, registration in the Model Registry
  (PendingManualApproval in prod, Approved in dev). It can also run on a schedule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.drift_alarms import capture_alarms
from ml_platform.components.iam import (
    TRAINING_METRICS_NAMESPACE,
    allow,
    document,
    kms_via_s3,
    pull_image,
    put_metric_data,
    sagemaker_job_output_key,
    trust_json,
    write_logs,
)
from ml_platform.components.pipelines import (
    CHAMPION_NONE_PREFIX,
    CHECKPOINTS_PREFIX,
    EVALUATION_OUTPUT,
    MODELS_PREFIX,
    RESOLVED_OUTPUT,
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
from ml_platform.components.serving import CAPTURE_PREFIX
from ml_platform.config import RetrainingConfig, TrainingConfig

DRIFT_METRIC = "MaxFeatureDrift"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
PIPELINE_EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"

# ---------------------------------------------------------------------------------------------
# Pure builders


def _pull_and_log(key_arn: str, repository_arn: str, region: str, account_id: str, kinds: tuple[str, ...]) -> list:
    # Every step passes the region key for its output (OutputDataConfig / ProcessingOutputConfig
    # KmsKeyId), which needs kms:Encrypt in the job's role (ml_platform/components/iam.py).
    return [
        *sagemaker_job_output_key(key_arn),
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
    group_name: str,
) -> dict[str, Any]:
    """The model-build pipeline's jobs (resolve-dataset, training, evaluation): read every version
    under the dataset and holdout prefixes (and nothing else there), read and write their run's
    models/ and checkpoints/, read the no-champion placeholder, read the registry group (to find
    the champion), use the region key, pull the image, write logs."""
    roots = [p.rstrip("/") + "/" for p in dataset_prefixes]
    own = [f"{MODELS_PREFIX}/", f"{CHECKPOINTS_PREFIX}/"]
    registry = f"arn:aws:sagemaker:{region}:{account_id}"
    return document(
        allow("ReadDatasetVersions", ["s3:GetObject"], [f"{datasets_bucket_arn}/{p}*" for p in roots]),
        allow(
            "ListDatasetVersions",
            ["s3:ListBucket"],
            datasets_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in roots]}},
        ),
        allow(
            "ReadWriteRuns",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [f"{artifacts_bucket_arn}/{p}*" for p in own],
        ),
        allow("ReadNoChampion", ["s3:GetObject"], f"{artifacts_bucket_arn}/{CHAMPION_NONE_PREFIX}/*"),
        allow(
            "ListRuns",
            ["s3:ListBucket"],
            artifacts_bucket_arn,
            {"StringLike": {"s3:prefix": [f"{p}*" for p in (*own, f"{CHAMPION_NONE_PREFIX}/")]}},
        ),
        # ListModelPackages is not resource-scoped (Service Authorization Reference, SageMaker).
        allow("FindChampion", ["sagemaker:ListModelPackages"], "*"),
        allow("ReadChampion", ["sagemaker:DescribeModelPackage"], f"{registry}:model-package/{group_name}/*"),
        # SageMaker publishes the training step's metrics with the job's role.
        put_metric_data(TRAINING_METRICS_NAMESPACE),
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


def pipeline_role_policy(
    *,
    region: str,
    account_id: str,
    group_name: str,
    job_role_arns: list[str],
    artifacts_bucket_arn: str,
    key_arn: str,
) -> dict[str, Any]:
    """What SageMaker Pipelines does on the pipelines' behalf: start and watch their jobs,
    register into this group, pass only the job roles, and read the property files its
    conditions and arguments evaluate (`Std:JsonGet` reads them with this role; they are
    SSE-KMS objects, so the key is needed too, through S3 only)."""
    prefix = f"arn:aws:sagemaker:{region}:{account_id}"
    property_files = [f"{artifacts_bucket_arn}/{MODELS_PREFIX}/*/{d}/*" for d in (RESOLVED_OUTPUT, EVALUATION_OUTPUT)]
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
        allow("ReadPropertyFiles", ["s3:GetObject"], property_files),
        kms_via_s3(key_arn, region, ["kms:Decrypt"], [artifacts_bucket_arn], "DecryptPropertyFiles"),
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
        `<prefix>-monitoring` (stable: the schedules and the event rules address them).
    endpoint_name: the endpoint whose capture is watched.
    image_uri: the digest-pinned image the pipeline jobs run (and new versions register).
    baseline_url: the served model version's drift baseline (its baseline.json, or its
        model.tar.gz); None when no version is served yet: then there is nothing to monitor, and
        the monitoring pipeline, its schedule, the drift/quality alarms and the alarm rule are
        not declared (the model-build pipeline is).
    inference_instance_types: the instance types the stack serves on (primary and standby),
        registered as the packages' supported realtime instance types.
    datasets_bucket / artifacts_bucket / capture_bucket: (name, ARN) of the region's buckets.
    key_arn, repository_arn: the region key and the ECR repository.
    model_package_group: (name, ARN) of the Model Registry group.
    topic_arn: the alerts topic (alarms, failed executions). metrics_namespace: where the jobs publish.
    region / account_id: for ARNs and scoping.
    drift_instance_count: Processing instances of the drift job (above 1: sharded, then merged).
    """

    config: RetrainingConfig
    training: TrainingConfig
    environment: str
    name_prefix: str
    endpoint_name: str
    image_uri: pulumi.Input[str]
    baseline_url: pulumi.Input[str] | None
    inference_instance_types: tuple[str, ...]
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


NO_CHAMPION_README = (
    "Placeholder of the model-build pipeline: its evaluation step reads this prefix as the champion\n"
    "input when there is no champion (a Processing input prefix without objects fails the job).\n"
    "Keep it; it holds no model.\n"
)


class Retraining(pulumi.ComponentResource):
    """The model-build pipeline (spot training, gates, registration) with its schedule and failure
    notifications; and, while a version is served, the monitoring pipeline, its schedule, the
    drift and quality alarms and the rule that starts model builds on them."""

    def __init__(self, name: str, args: RetrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:retraining:Retraining", name, None, opts)
        self._name, self._args = name, args
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        artifacts_name, artifacts_arn = args.artifacts_bucket
        # The "no champion" input of the evaluation step (see ml_platform/components/pipelines.py).
        self.no_champion = aws.s3.BucketObjectv2(
            f"{name}-no-champion",
            bucket=artifacts_name,
            key=f"{CHAMPION_NONE_PREFIX}/README",
            content=NO_CHAMPION_README,
            content_type="text/plain",
            opts=child,
        )
        jobs_role = self._role("jobs", "sagemaker.amazonaws.com", self._jobs_policy())
        monitored = args.baseline_url is not None
        monitor_role = self._role("monitor", "sagemaker.amazonaws.com", self._monitor_policy()) if monitored else None
        group_name, _ = args.model_package_group
        job_role_arns = [jobs_role.arn] + ([monitor_role.arn] if monitor_role else [])
        pipeline_role = self._role(
            "pipeline",
            "sagemaker.amazonaws.com",
            pulumi.Output.all(args.account_id, group_name, artifacts_arn, args.key_arn, *job_role_arns).apply(
                lambda a: pipeline_role_policy(
                    region=args.region,
                    account_id=a[0],
                    group_name=a[1],
                    artifacts_bucket_arn=a[2],
                    key_arn=a[3],
                    job_role_arns=list(a[4:]),
                )
            ),
        )
        self.retraining_pipeline = aws.sagemaker.Pipeline(
            f"{name}-retraining",
            pipeline_name=f"{args.name_prefix}-retraining",
            pipeline_display_name=f"{args.name_prefix}-retraining",
            pipeline_description="model build: newest data, spot training, gates (threshold, champion), registration",
            role_arn=pipeline_role.arn,
            pipeline_definition=self._retraining_definition(jobs_role),
            # The evaluation step reads the placeholder in every run without a champion.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.no_champion]),
        )
        self._notify_failures()
        self.monitoring_pipeline = None
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        if monitor_role is not None:
            self.monitoring_pipeline = aws.sagemaker.Pipeline(
                f"{name}-monitoring",
                pipeline_name=f"{args.name_prefix}-monitoring",
                pipeline_display_name=f"{args.name_prefix}-monitoring",
                pipeline_description="drift (and quality) of the endpoint's captured traffic",
                role_arn=pipeline_role.arn,
                pipeline_definition=self._monitoring_definition(monitor_role),
                opts=child,
            )
            self.alarms = [
                aws.cloudwatch.MetricAlarm(
                    f"{name}-drift",
                    **drift_alarm_args(config, args.metrics_namespace, args.endpoint_name, args.topic_arn),
                    opts=child,
                )
            ]
            if config.quality is not None:
                self.alarms.append(
                    aws.cloudwatch.MetricAlarm(
                        f"{name}-accuracy",
                        **quality_alarm_args(config, args.metrics_namespace, args.endpoint_name, args.topic_arn),
                        opts=child,
                    )
                )
            self._retrain_on_alarms(self.alarms)
            # Blind spots of the drift job (missing, out-of-range, prediction drift, unreadable or
            # skipped capture, no traffic): they page, they do not retrain.
            self.capture_alarms = capture_alarms(
                name, config, args.metrics_namespace, args.endpoint_name, args.topic_arn, self
            )
        self._schedules()
        outputs = {"retraining_pipeline": self.retraining_pipeline.pipeline_name}
        if self.monitoring_pipeline is not None:
            outputs["monitoring_pipeline"] = self.monitoring_pipeline.pipeline_name
        self.register_outputs(outputs)

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
        prefixes = [f"{args.training.dataset.prefix}/", f"{args.config.holdout_prefix}/"]
        return pulumi.Output.all(
            args.datasets_bucket[1],
            args.artifacts_bucket[1],
            args.key_arn,
            args.repository_arn,
            args.account_id,
            args.model_package_group[0],
        ).apply(
            lambda a: retraining_jobs_policy(
                datasets_bucket_arn=a[0],
                dataset_prefixes=prefixes,
                artifacts_bucket_arn=a[1],
                key_arn=a[2],
                repository_arn=a[3],
                region=args.region,
                account_id=a[4],
                group_name=a[5],
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
                        dataset_root_s3_uri=f"s3://{a[3]}/{dataset.prefix}/",
                        holdout_root_s3_uri=f"s3://{a[3]}/{config.holdout_prefix}/",
                        artifacts_bucket=a[4],
                        model_package_group_name=a[5],
                        approval_status=approval_status_for(args.environment),
                        accuracy_threshold=config.accuracy_threshold,
                        champion_tolerance=config.champion_tolerance,
                        inference_instance_types=args.inference_instance_types,
                        region=args.region,
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
            args.image_uri, monitor_role.arn, args.key_arn, args.capture_bucket[0], args.baseline_url
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
        schedules = []
        if self.monitoring_pipeline is not None:
            hours = config.monitoring_interval_hours
            schedules.append(("monitoring", self.monitoring_pipeline, f"rate({hours} hour{'s' if hours > 1 else ''})"))
        if config.schedule:
            schedules.append(("retraining", self.retraining_pipeline, config.schedule))
        if not schedules:
            return
        role = self._role(
            "scheduler",
            "scheduler.amazonaws.com",
            pulumi.Output.all(*[p.arn for _, p, _ in schedules]).apply(lambda arns: start_pipelines_policy(list(arns))),
        )
        for suffix, pipeline, expression in schedules:
            aws.scheduler.Schedule(
                f"{self._name}-{suffix}",
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
