"""SageMaker Pipeline definitions, built as plain data (pipeline definition schema 2020-12-01).

Pure builders, no resources: a component passes `definition_json(...)` to
`aws.sagemaker.Pipeline(pipeline_definition=...)`. No SageMaker Python SDK: each step's
`Arguments` is the request of the API call the step makes (CreateTrainingJob,
CreateProcessingJob, CreateModelPackage), with pipeline references where a value is only known
at run time:

    {"Get": "Parameters.DatasetVersion"}                     a pipeline parameter
    {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}   a property of an earlier step
    {"Get": "Execution.PipelineExecutionId"}                 the execution's id
    {"Std:Join": {"On": "/", "Values": [...]}}               string concatenation
    {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                     "Path": "metrics.accuracy.value"}}      a value from a step's JSON output

`Std:JsonGet` is used in condition steps and in later steps' arguments: the SageMaker Python
SDK documents JsonGet as the way to "extract a Json property from a PropertyFile produced by a
ProcessingStep, and pass it to subsequent steps" (doc/amazon_sagemaker_model_building_pipeline.rst,
section "JsonGet", https://sagemaker.readthedocs.io/en/stable/amazon_sagemaker_model_building_pipeline.html#jsonget).

Model-build (retraining) pipeline. Parameters: DatasetVersion (default `latest`), GitCommit
(default `unknown`), ChampionModelDataUrl (default `latest-approved`), TrainingInstanceType.
  ResolveDataset (`<image> resolve-dataset`): turns DatasetVersion into one concrete version
    (`latest` = the newest version prefix, see model_code/resolve_dataset.py) and
    ChampionModelDataUrl into the champion's artifact (`latest-approved` = the group's newest
    Approved package, `none` = no champion), and writes them to resolved/dataset.json. A run
    started by EventBridge (schedule, alarm) passes no parameters, so it trains on the newest data
    and is compared with the model currently approved.
  -> Train (managed spot, checkpoints under checkpoints/<execution id>/, retries; the artifact
    lands under models/<execution id>/, unique to the run and never overwritten)
  -> Evaluate (`<image> evaluate` on the resolved holdout, with the champion's model.tar.gz at
    /opt/ml/processing/champion, or an empty placeholder when there is none)
  -> CheckAccuracy (accuracy >= threshold; else AccuracyBelowThreshold, a Fail step)
  -> CheckChampion (no champion, or candidate - champion accuracy >= -tolerance; else
    WorseThanChampion, a Fail step)
  -> RegisterModel (image digest, artifact, dataset, hyperparameters, evaluation as model
    quality, baseline.json as drift-check baseline, execution and git commit as metadata).
Monitoring pipeline (parameter BaselineS3Uri): Drift (`<image> drift`) and, when configured,
  Quality (`<image> quality`), side by side. With drift_instance_count > 1 the drift job runs
  sharded (model_code/drift/sharding.py): DriftPlan (lists the window's capture files as a
  manifest) -> HasCapture (any file?) -> Drift on N instances, each given a share of the files
  (ShardedByS3Key), then DriftMerge adding their histograms up and reporting; else
  DriftEmptyWindow (one instance, reports no data). Their manifest, window and partial results go
  under drift-reports/<endpoint>/runs/<execution id>/ in the capture bucket.

S3 layout the model-build pipeline writes under the artifacts bucket (the roles allow exactly this):
  models/<execution id>/resolved/dataset.json
  models/<execution id>/<training job>/output/model.tar.gz
  models/<execution id>/evaluation/evaluation.json
  models/<execution id>/evaluation/baseline.json     (the candidate's drift baseline)
  checkpoints/<execution id>/
  champion-none/README            (the stack's placeholder: "no champion")
The drift and quality jobs write their reports to the capture bucket themselves
(drift-reports/, quality-reports/; see model_code/drift/job.py and model_code/quality.py).

Every builder checks its arguments and raises `PipelineSpecError` listing all problems at once,
as `field: problem (got X; expected Y)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ml_platform.config import problem, sagemaker_enum

SCHEMA_VERSION = "2020-12-01"
ApprovalStatus = Literal["PendingManualApproval", "Approved"]
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = ("PendingManualApproval", "Approved")

RESOLVE_STEP = "ResolveDataset"
TRAIN_STEP = "Train"
EVALUATE_STEP = "Evaluate"
CONDITION_STEP = "CheckAccuracy"
CHAMPION_STEP = "CheckChampion"
REGISTER_STEP = "RegisterModel"
FAIL_STEP = "AccuracyBelowThreshold"
CHAMPION_FAIL_STEP = "WorseThanChampion"
DRIFT_STEP = "Drift"
QUALITY_STEP = "Quality"
DRIFT_PLAN_STEP = "DriftPlan"
DRIFT_CONDITION_STEP = "HasCapture"
DRIFT_MERGE_STEP = "DriftMerge"
DRIFT_EMPTY_STEP = "DriftEmptyWindow"
DRIFT_PLAN_PROPERTY_FILE = "DriftPlan"

RESOLVED_OUTPUT = "resolved"
RESOLVED_PROPERTY_FILE = "ResolvedDataset"
RESOLVED_FILE = "dataset.json"
# Keys model_code/resolve_dataset.py writes into resolved/dataset.json.
RESOLVED_VERSION_PATH = "dataset_version"
RESOLVED_DATASET_PATH = "dataset_s3_uri"
RESOLVED_HOLDOUT_PATH = "holdout_s3_uri"
RESOLVED_CHAMPION_PATH = "champion_s3_uri"

EVALUATION_OUTPUT = "evaluation"
EVALUATION_PROPERTY_FILE = "EvaluationReport"
EVALUATION_FILE = "evaluation.json"
BASELINE_FILE = "baseline.json"
CHAMPION_INPUT = "champion"
# Where `python -m model_code evaluate` puts its figures in evaluation.json.
ACCURACY_PATH = "metrics.accuracy.value"
ACCURACY_DELTA_PATH = "comparison.accuracy_delta.value"  # candidate minus champion, same holdout
CHAMPION_PRESENT_PATH = "comparison.champion_present"

# Parameter defaults an EventBridge-started execution (no parameters) runs with.
LATEST = "latest"
LATEST_APPROVED = "latest-approved"
NO_CHAMPION = "none"
UNKNOWN_COMMIT = "unknown"
# The placeholder prefix meaning "no champion": a ProcessingInput prefix without objects fails the job.
CHAMPION_NONE_PREFIX = "champion-none"
MODELS_PREFIX = "models"
CHECKPOINTS_PREFIX = "checkpoints"

PROCESSING_ROOT = "/opt/ml/processing"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CONTENT_TYPES = ("text/csv", "application/json")

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[\w-]+$")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
NAMESPACE = re.compile(r"^[0-9A-Za-z.\-_/#][0-9A-Za-z.\-_/#:]{0,254}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


class PipelineSpecError(ValueError):
    """Arguments a pipeline cannot be built from; `problems` holds one line per problem."""

    def __init__(self, pipeline: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{pipeline} pipeline: " + "; ".join(problems))


def approval_status_for(environment: str) -> ApprovalStatus:
    """Only dev registers models as Approved; every other environment waits for a person."""
    return "Approved" if environment == "dev" else "PendingManualApproval"


# ---------------------------------------------------------------------------------------------
# Arguments


@dataclass(frozen=True)
class SpotTraining:
    """The retraining job. `instance_type` is the default of the TrainingInstanceType parameter."""

    instance_type: str
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600
    max_wait_seconds: int = 7200  # runtime plus time waiting for spot capacity; >= max_runtime_seconds
    max_retry_attempts: int = 3  # after an internal error or a spot interruption
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    network_isolation: bool = True


@dataclass(frozen=True)
class Processing:
    """A processing job's cluster and time limit."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600


@dataclass(frozen=True)
class RetrainingPipelineArgs:
    """Inputs of the model-build (retraining) pipeline.

    image_uri: the digest-pinned model image (resolve-dataset, train, evaluate; registered for serving).
    training_role_arn / processing_role_arn: execution roles of the training and processing jobs.
    kms_key_arn: encrypts volumes and outputs.
    dataset_root_s3_uri / holdout_root_s3_uri: `s3://<datasets>/<prefix>/`: every version of the
      training data and of the labelled holdout lives one level below (`<root><version>/`).
    artifacts_bucket: where models, checkpoints, evaluations and the no-champion placeholder live.
    model_package_group_name / approval_status: where and how the model is registered.
    accuracy_threshold: the lowest holdout accuracy that is registered (0 < x <= 1).
    champion_tolerance: how much lower than the champion's the candidate's accuracy on the same
      holdout may be (0 <= x < 1).
    inference_instance_types: the instance types the stacks serve on (registered as supported;
      empty for serverless or Kubernetes serving).
    region: where the resolve step looks the champion up in the registry.
    """

    image_uri: str
    training_role_arn: str
    processing_role_arn: str
    kms_key_arn: str
    dataset_root_s3_uri: str
    holdout_root_s3_uri: str
    artifacts_bucket: str
    model_package_group_name: str
    approval_status: ApprovalStatus
    accuracy_threshold: float
    training: SpotTraining
    region: str
    champion_tolerance: float = 0.01
    evaluation: Processing = field(default_factory=Processing)
    inference_instance_types: tuple[str, ...] = ("ml.m5.large",)
    channel: str = "train"


@dataclass(frozen=True)
class QualityJob:
    """The optional quality step: ground truth defaults to <capture bucket>/ground-truth/<endpoint>."""

    ground_truth_s3_uri: str | None = None
    lookback_hours: int = 24
    prediction_lookback_hours: int = 24
    positive_class: str | None = None


@dataclass(frozen=True)
class MonitoringPipelineArgs:
    """Inputs of the monitoring pipeline.

    capture_s3_uri: the endpoint config's data capture DestinationS3Uri.
    baseline_s3_uri: default of the BaselineS3Uri parameter: the deployed model's model.tar.gz (or
      its baseline.json).
    region: where the jobs publish metrics.
    lookback_hours: each run covers the last N whole hours (schedule the pipeline every N hours).
    drift_min_records / drift_false_alarm_rate: the drift decision (model_code/drift/stats.py).
    drift_instance_count: above 1, the drift job runs sharded across that many instances.
    quality: None runs drift only.
    """

    image_uri: str
    role_arn: str
    kms_key_arn: str
    region: str
    endpoint_name: str
    capture_s3_uri: str
    baseline_s3_uri: str
    metrics_namespace: str
    psi_threshold: float = 0.2
    lookback_hours: int = 1
    processing: Processing = field(default_factory=Processing)
    quality: QualityJob | None = None
    drift_min_records: int = 200
    drift_false_alarm_rate: float = 0.01
    drift_instance_count: int = 1


# ---------------------------------------------------------------------------------------------
# References


def parameter(name: str) -> dict[str, str]:
    return {"Get": f"Parameters.{name}"}


def step_property(step: str, path: str) -> dict[str, str]:
    return {"Get": f"Steps.{step}.{path}"}


EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
EXECUTION_ARN = {"Get": "Execution.PipelineExecutionArn"}


def join(*values: Any, on: str = "/") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def json_get(step: str, property_file: str, path: str) -> dict[str, Any]:
    return {"Std:JsonGet": {"PropertyFile": step_property(step, f"PropertyFiles.{property_file}"), "Path": path}}


def _string_parameter(name: str, default: str, description: str) -> dict[str, str]:
    return {"Name": name, "Type": "String", "DefaultValue": default, "Description": description}


# ---------------------------------------------------------------------------------------------
# Retraining


def resolved(path: str) -> dict[str, Any]:
    """A value the ResolveDataset step wrote into resolved/dataset.json."""
    return json_get(RESOLVE_STEP, RESOLVED_PROPERTY_FILE, path)


def evaluated(path: str) -> dict[str, Any]:
    """A value the Evaluate step wrote into evaluation.json."""
    return json_get(EVALUATE_STEP, EVALUATION_PROPERTY_FILE, path)


def run_prefix(args: RetrainingPipelineArgs, *parts: Any) -> dict[str, Any]:
    """`s3://<artifacts>/models/<execution id>[/parts...]`: everything one execution writes."""
    return join(f"s3://{args.artifacts_bucket}/{MODELS_PREFIX}", EXECUTION_ID, *parts)


def retraining_pipeline_definition(args: RetrainingPipelineArgs) -> dict[str, Any]:
    _check_retraining(args)
    model_data = step_property(TRAIN_STEP, "ModelArtifacts.S3ModelArtifacts")
    return {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            _string_parameter(
                "DatasetVersion",
                LATEST,
                "Dataset version to train on (a sub-prefix of the dataset); `latest` = the newest version.",
            ),
            _string_parameter("GitCommit", UNKNOWN_COMMIT, "Commit of the code that started the run (lineage)."),
            _string_parameter(
                "ChampionModelDataUrl",
                LATEST_APPROVED,
                "Model the candidate must not be worse than: `latest-approved`, `none`, or an s3:// model.tar.gz.",
            ),
            _string_parameter("TrainingInstanceType", args.training.instance_type, "Training instance type."),
        ],
        "Steps": [
            resolve_dataset_step(args),
            training_step(args),
            evaluation_step(args, model_data),
            gates_step(args, register_model_step(args, model_data)),
        ],
    }


def resolve_dataset_step(args: RetrainingPipelineArgs) -> dict[str, Any]:
    """Resolve `latest` and `latest-approved` inside the execution, so a run started with static
    parameters (schedule, alarm) still trains on the newest data against the current champion."""
    container_arguments = [
        "resolve-dataset",
        "--dataset-root",
        args.dataset_root_s3_uri,
        "--holdout-root",
        args.holdout_root_s3_uri,
        "--version",
        parameter("DatasetVersion"),
        "--champion",
        parameter("ChampionModelDataUrl"),
        "--model-package-group",
        args.model_package_group_name,
        "--no-champion-uri",
        f"s3://{args.artifacts_bucket}/{CHAMPION_NONE_PREFIX}/",
        "--region",
        args.region,
        "--output",
        f"{PROCESSING_ROOT}/{RESOLVED_OUTPUT}/{RESOLVED_FILE}",
    ]
    arguments = _processing_arguments(
        image_uri=args.image_uri,
        role_arn=args.processing_role_arn,
        kms_key_arn=args.kms_key_arn,
        processing=replace(args.evaluation, instance_count=1),
        container_arguments=container_arguments,
        inputs=[],
        # It lists S3 and reads the Model Registry through the AWS APIs.
        network_isolation=False,
    )
    arguments["ProcessingOutputConfig"] = _outputs(args, [(RESOLVED_OUTPUT, run_prefix(args, RESOLVED_OUTPUT))])
    return {
        "Name": RESOLVE_STEP,
        "Type": "Processing",
        "Arguments": arguments,
        "PropertyFiles": [
            {"PropertyFileName": RESOLVED_PROPERTY_FILE, "OutputName": RESOLVED_OUTPUT, "FilePath": RESOLVED_FILE}
        ],
    }


def training_step(args: RetrainingPipelineArgs) -> dict[str, Any]:
    spot = args.training
    return {
        "Name": TRAIN_STEP,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": args.image_uri, "TrainingInputMode": "File"},
            "RoleArn": args.training_role_arn,
            "HyperParameters": dict(sorted(spot.hyperparameters.items())),
            "InputDataConfig": [
                {
                    "ChannelName": args.channel,
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": resolved(RESOLVED_DATASET_PATH),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            # SageMaker appends `<training job name>/output/model.tar.gz`: one artifact per
            # execution, under a prefix no other execution writes to.
            "OutputDataConfig": {"S3OutputPath": run_prefix(args), "KmsKeyId": args.kms_key_arn},
            "ResourceConfig": {
                "InstanceType": parameter("TrainingInstanceType"),
                "InstanceCount": spot.instance_count,
                "VolumeSizeInGB": spot.volume_size_gb,
                "VolumeKmsKeyId": args.kms_key_arn,
            },
            "EnableManagedSpotTraining": True,
            "StoppingCondition": {
                "MaxRuntimeInSeconds": spot.max_runtime_seconds,
                "MaxWaitTimeInSeconds": spot.max_wait_seconds,
            },
            # One prefix per execution: a spot restart resumes from its own checkpoints only.
            "CheckpointConfig": {
                "S3Uri": join(f"s3://{args.artifacts_bucket}/{CHECKPOINTS_PREFIX}", EXECUTION_ID),
                "LocalPath": CHECKPOINT_LOCAL_PATH,
            },
            "RetryStrategy": {"MaximumRetryAttempts": spot.max_retry_attempts},
            "EnableNetworkIsolation": spot.network_isolation,
        },
    }


def evaluation_step(args: RetrainingPipelineArgs, model_data: dict[str, str]) -> dict[str, Any]:
    """`evaluate` scores the candidate and the champion on the same holdout; it also copies the
    candidate's drift baseline (baseline.json from the model archive) beside evaluation.json, so
    each is its own S3 object under evaluation/."""
    arguments = _processing_arguments(
        image_uri=args.image_uri,
        role_arn=args.processing_role_arn,
        kms_key_arn=args.kms_key_arn,
        processing=args.evaluation,
        container_arguments=["evaluate"],
        inputs=[
            ("model", model_data),
            ("test", resolved(RESOLVED_HOLDOUT_PATH)),
            (CHAMPION_INPUT, resolved(RESOLVED_CHAMPION_PATH)),
        ],
        # evaluate reads local files only.
        network_isolation=True,
    )
    arguments["ProcessingOutputConfig"] = _outputs(args, [(EVALUATION_OUTPUT, run_prefix(args, EVALUATION_OUTPUT))])
    return {
        "Name": EVALUATE_STEP,
        "Type": "Processing",
        "Arguments": arguments,
        "PropertyFiles": [
            {
                "PropertyFileName": EVALUATION_PROPERTY_FILE,
                "OutputName": EVALUATION_OUTPUT,
                "FilePath": EVALUATION_FILE,
            }
        ],
    }


def _outputs(args: RetrainingPipelineArgs, outputs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "Outputs": [
            {
                "OutputName": name,
                "AppManaged": False,
                "S3Output": {
                    "S3Uri": uri,
                    "LocalPath": f"{PROCESSING_ROOT}/{name}",
                    "S3UploadMode": "EndOfJob",
                },
            }
            for name, uri in outputs
        ],
        "KmsKeyId": args.kms_key_arn,
    }


def gates_step(args: RetrainingPipelineArgs, register: dict[str, Any]) -> dict[str, Any]:
    """Absolute threshold first, then champion/challenger; each failure ends in its own Fail step
    whose message carries the figures (the execution's FailureReason)."""
    accuracy = evaluated(ACCURACY_PATH)
    delta = evaluated(ACCURACY_DELTA_PATH)
    below_threshold = {
        "Name": FAIL_STEP,
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": join(
                "holdout accuracy",
                accuracy,
                f"is below the threshold {args.accuracy_threshold:g}; the model was not registered",
                on=" ",
            )
        },
    }
    worse_than_champion = {
        "Name": CHAMPION_FAIL_STEP,
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": join(
                "holdout accuracy",
                accuracy,
                "is worse than the champion's by",
                delta,
                f"(tolerance {args.champion_tolerance:g}); the model was not registered",
                on=" ",
            )
        },
    }
    champion = {
        "Name": CHAMPION_STEP,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "Or",
                    "Arguments": {
                        "Conditions": [
                            {"Type": "Equals", "LeftValue": evaluated(CHAMPION_PRESENT_PATH), "RightValue": False},
                            {
                                "Type": "GreaterThanOrEqualTo",
                                "LeftValue": delta,
                                "RightValue": -args.champion_tolerance,
                            },
                        ]
                    },
                }
            ],
            "IfSteps": [register],
            "ElseSteps": [worse_than_champion],
        },
    }
    return {
        "Name": CONDITION_STEP,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "GreaterThanOrEqualTo", "LeftValue": accuracy, "RightValue": args.accuracy_threshold}
            ],
            "IfSteps": [champion],
            "ElseSteps": [below_threshold],
        },
    }


def register_model_step(args: RetrainingPipelineArgs, model_data: dict[str, str]) -> dict[str, Any]:
    """The model version: everything needed to serve, audit and monitor it without the pipeline."""
    evaluation_uri = run_prefix(args, EVALUATION_OUTPUT, EVALUATION_FILE)
    baseline_uri = run_prefix(args, EVALUATION_OUTPUT, BASELINE_FILE)
    version = resolved(RESOLVED_VERSION_PATH)
    dataset = resolved(RESOLVED_DATASET_PATH)
    inference: dict[str, Any] = {
        "Containers": [{"Image": args.image_uri, "ModelDataUrl": model_data}],
        "SupportedContentTypes": list(CONTENT_TYPES),
        "SupportedResponseMIMETypes": list(CONTENT_TYPES),
    }
    if args.inference_instance_types:
        # Serverless and Kubernetes serving have no SageMaker instance type to declare.
        inference["SupportedRealtimeInferenceInstanceTypes"] = list(args.inference_instance_types)
    return {
        "Name": REGISTER_STEP,
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": args.model_package_group_name,
            "ModelPackageDescription": "Built by the model-build pipeline; gates passed (threshold, champion).",
            "ModelApprovalStatus": args.approval_status,
            "InferenceSpecification": inference,
            "ModelMetrics": {
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}}
            },
            # The drift job's baseline (feature and prediction statistics of the training data).
            # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DriftCheckBaselines.html
            "DriftCheckBaselines": {
                "ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": baseline_uri}}
            },
            "MetadataProperties": {"CommitId": parameter("GitCommit"), "GeneratedBy": EXECUTION_ARN},
            # Keys ml_platform/components/model_versions.py reads (lineage, and metrics as `metric.<name>` strings).
            "CustomerMetadataProperties": {
                "pipeline_execution_arn": EXECUTION_ARN,
                "pipeline_execution_id": EXECUTION_ID,
                "git_commit": parameter("GitCommit"),
                "dataset_version": version,
                "dataset_uri": dataset,
                "holdout_uri": resolved(RESOLVED_HOLDOUT_PATH),
                "hyperparameters": json.dumps(dict(sorted(args.training.hyperparameters.items())), sort_keys=True),
                "metric.accuracy": join(evaluated(ACCURACY_PATH), on=""),
                "metric.accuracy_delta": join(evaluated(ACCURACY_DELTA_PATH), on=""),
                "gate.accuracy_threshold": f"{args.accuracy_threshold:g}",
                "gate.champion_tolerance": f"{args.champion_tolerance:g}",
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# Monitoring


def monitoring_pipeline_definition(args: MonitoringPipelineArgs) -> dict[str, Any]:
    _check_monitoring(args)
    common = [
        "--endpoint-name",
        args.endpoint_name,
        "--capture",
        args.capture_s3_uri,
        "--baseline",
        f"{PROCESSING_ROOT}/baseline",
        "--metrics-namespace",
        args.metrics_namespace,
        "--region",
        args.region,
    ]
    decision = [
        "--psi-threshold",
        str(args.psi_threshold),
        "--false-alarm-rate",
        str(args.drift_false_alarm_rate),
        "--min-records",
        str(args.drift_min_records),
    ]
    drift = ["drift", *common, "--lookback-hours", str(args.lookback_hours), *decision]
    if args.drift_instance_count == 1:
        steps = [_monitoring_step(args, DRIFT_STEP, drift)]
    else:
        steps = sharded_drift_steps(args, common, decision)
    if args.quality is not None:
        quality = [
            "quality",
            *common,
            "--lookback-hours",
            str(args.quality.lookback_hours),
            "--prediction-lookback-hours",
            str(args.quality.prediction_lookback_hours),
        ]
        if args.quality.ground_truth_s3_uri:
            quality += ["--ground-truth", args.quality.ground_truth_s3_uri]
        if args.quality.positive_class:
            quality += ["--positive-class", args.quality.positive_class]
        steps.append(_monitoring_step(args, QUALITY_STEP, quality))
    return {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            _string_parameter(
                "BaselineS3Uri", args.baseline_s3_uri, "The deployed model's model.tar.gz or baseline.json."
            )
        ],
        "Steps": steps,
    }


def _monitoring_step(
    args: MonitoringPipelineArgs,
    name: str,
    container_arguments: list[Any],
    processing: Processing | None = None,
    output: tuple[str, Any] | None = None,
) -> dict[str, Any]:
    arguments = _processing_arguments(
        image_uri=args.image_uri,
        role_arn=args.role_arn,
        kms_key_arn=args.kms_key_arn,
        processing=processing or args.processing,
        container_arguments=container_arguments,
        inputs=[("baseline", parameter("BaselineS3Uri"))],
        # The jobs read captures from S3 and write reports and metrics through the AWS APIs.
        network_isolation=False,
    )
    if output is not None:
        output_name, uri = output
        arguments["ProcessingOutputConfig"] = {
            "Outputs": [
                {
                    "OutputName": output_name,
                    "AppManaged": False,
                    "S3Output": {
                        "S3Uri": uri,
                        "LocalPath": f"{PROCESSING_ROOT}/{output_name}",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": args.kms_key_arn,
        }
    return {"Name": name, "Type": "Processing", "Arguments": arguments}


def sharded_drift_steps(args: MonitoringPipelineArgs, common: list[str], decision: list[str]) -> list[dict[str, Any]]:
    """DriftPlan, then HasCapture: [Drift (N instances, ShardedByS3Key), DriftMerge] or [DriftEmptyWindow]."""
    runs = join(f"{_bucket_root(args.capture_s3_uri)}/drift-reports/{args.endpoint_name}/runs", EXECUTION_ID)
    plan_uri, partials_uri = join(runs, "plan"), join(runs, "partials")
    window = [
        "--start",
        json_get(DRIFT_PLAN_STEP, DRIFT_PLAN_PROPERTY_FILE, "window.start"),
        "--end",
        json_get(DRIFT_PLAN_STEP, DRIFT_PLAN_PROPERTY_FILE, "window.end"),
    ]
    one = replace(args.processing, instance_count=1)
    plan = _monitoring_step(
        args,
        DRIFT_PLAN_STEP,
        ["drift", *common, "--lookback-hours", str(args.lookback_hours), "--plan-out", f"{PROCESSING_ROOT}/plan"],
        processing=one,
        output=("plan", plan_uri),
    )
    plan["PropertyFiles"] = [
        {"PropertyFileName": DRIFT_PLAN_PROPERTY_FILE, "OutputName": "plan", "FilePath": "plan.json"}
    ]
    local_capture = f"{PROCESSING_ROOT}/capture"
    shard_arguments = ["drift", *_replaced(common, "--capture", local_capture), *window, *decision]
    shard = _monitoring_step(
        args,
        DRIFT_STEP,
        [*shard_arguments, "--partial-out", f"{PROCESSING_ROOT}/partial"],
        processing=replace(args.processing, instance_count=args.drift_instance_count),
        output=("partial", partials_uri),
    )
    # The manifest lists the window's files; SageMaker gives each instance a share of them, keys
    # relative to the manifest's prefix kept, so each sees <endpoint>/<variant>/yyyy/mm/dd/hh/.
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html
    shard["Arguments"]["ProcessingInputs"].append(
        _s3_input("capture", join(plan_uri, "manifest.json"), "ManifestFile", "ShardedByS3Key")
    )
    merge = _monitoring_step(
        args,
        DRIFT_MERGE_STEP,
        ["drift", *common, *window, *decision, "--merge", f"{PROCESSING_ROOT}/partials"],
        processing=one,
    )
    merge["Arguments"]["ProcessingInputs"].append(_s3_input("partials", partials_uri, "S3Prefix", "FullyReplicated"))
    # The partials' URI is built from the execution id, not read from the Drift step: say the order.
    merge["DependsOn"] = [DRIFT_STEP]
    empty = _monitoring_step(args, DRIFT_EMPTY_STEP, ["drift", *common, *window, *decision], processing=one)
    condition = {
        "Name": DRIFT_CONDITION_STEP,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThan",
                    "LeftValue": json_get(DRIFT_PLAN_STEP, DRIFT_PLAN_PROPERTY_FILE, "files"),
                    "RightValue": 0,
                }
            ],
            "IfSteps": [shard, merge],
            "ElseSteps": [empty],
        },
    }
    return [plan, condition]


def _bucket_root(s3_uri: str) -> str:
    return "s3://" + s3_uri.removeprefix("s3://").split("/", 1)[0]


def _replaced(arguments: list[str], flag: str, value: str) -> list[str]:
    index = arguments.index(flag)
    return [*arguments[: index + 1], value, *arguments[index + 2 :]]


def _s3_input(name: str, uri: Any, data_type: str, distribution: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"{PROCESSING_ROOT}/{name}",
            "S3DataType": data_type,
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
            "S3CompressionType": "None",
        },
    }


def _processing_arguments(
    *,
    image_uri: str,
    role_arn: str,
    kms_key_arn: str,
    processing: Processing,
    container_arguments: list[str],
    inputs: list[tuple[str, Any]],
    network_isolation: bool,
) -> dict[str, Any]:
    """CreateProcessingJob's request; the image's ENTRYPOINT (python -m model_code) gets the arguments."""
    request = {
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": processing.instance_type,
                "InstanceCount": processing.instance_count,
                "VolumeSizeInGB": processing.volume_size_gb,
                "VolumeKmsKeyId": kms_key_arn,
            }
        },
        "AppSpecification": {"ImageUri": image_uri, "ContainerArguments": container_arguments},
        "RoleArn": role_arn,
        "ProcessingInputs": [
            {
                "InputName": name,
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": uri,
                    "LocalPath": f"{PROCESSING_ROOT}/{name}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None",
                },
            }
            for name, uri in inputs
        ],
        "StoppingCondition": {"MaxRuntimeInSeconds": processing.max_runtime_seconds},
        "NetworkConfig": {"EnableNetworkIsolation": network_isolation},
    }
    if not inputs:
        del request["ProcessingInputs"]
    return request


def definition_json(definition: dict[str, Any]) -> str:
    """The text `aws.sagemaker.Pipeline(pipeline_definition=...)` and CreatePipeline take."""
    return json.dumps(definition, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Checks


Rule = tuple[bool, str, Any, str, str]  # (holds, field, value, expected, what is wrong)
VALID, RANGE, INSTANCE = "not valid", "out of range", "unknown instance type"
NAME_RULE = "1-63 letters, digits and hyphens"


def _matches(pattern: re.Pattern[str], name: str, value: str, expected: str) -> Rule:
    return (bool(pattern.match(value)), name, value, expected, VALID)


def _raise_problems(pipeline: str, rules: list[Rule]) -> None:
    problems = [f"{name}: {problem(what, value, expected)}" for ok, name, value, expected, what in rules if not ok]
    if problems:
        raise PipelineSpecError(pipeline, problems)


def _common_rules(image_uri: str, kms_key_arn: str) -> list[Rule]:
    return [
        (bool(image_uri), "image_uri", image_uri, "the model image URI", VALID),
        _matches(KMS_KEY_ARN, "kms_key_arn", kms_key_arn, "arn:aws:kms:<region>:<account>:key/<id>"),
    ]


def _processing_rules(name: str, p: Processing) -> list[Rule]:
    allowed = sagemaker_enum("ProcessingInstanceType")
    return [
        (p.instance_type in allowed, f"{name}.instance_type", p.instance_type,
         "a SageMaker ProcessingInstanceType such as ml.m5.large", INSTANCE),
        (1 <= p.instance_count <= 100, f"{name}.instance_count", p.instance_count, "1..100", RANGE),
        (1 <= p.volume_size_gb <= 16384, f"{name}.volume_size_gb", p.volume_size_gb, "1..16384", RANGE),
        (1 <= p.max_runtime_seconds <= 777600, f"{name}.max_runtime_seconds", p.max_runtime_seconds,
         "1..777600 (9 days)", RANGE),
    ]  # fmt: skip


def _check_retraining(args: RetrainingPipelineArgs) -> None:
    spot = args.training
    unknown_realtime = [
        t for t in args.inference_instance_types if t not in sagemaker_enum("ProductionVariantInstanceType")
    ]
    role = "arn:aws:iam::<account>:role/<name>"
    hyperparameters = json.dumps(dict(sorted(spot.hyperparameters.items())), sort_keys=True)
    _raise_problems("retraining", [
        *_common_rules(args.image_uri, args.kms_key_arn),
        _matches(ROLE_ARN, "training_role_arn", args.training_role_arn, role),
        _matches(ROLE_ARN, "processing_role_arn", args.processing_role_arn, role),
        (bool(S3_URI.match(args.dataset_root_s3_uri)) and args.dataset_root_s3_uri.endswith("/"),
         "dataset_root_s3_uri", args.dataset_root_s3_uri, "s3://<bucket>/<prefix>/ (ending in /)", VALID),
        (bool(S3_URI.match(args.holdout_root_s3_uri)) and args.holdout_root_s3_uri.endswith("/"),
         "holdout_root_s3_uri", args.holdout_root_s3_uri, "s3://<bucket>/<prefix>/ (ending in /)", VALID),
        _matches(BUCKET, "artifacts_bucket", args.artifacts_bucket, "an S3 bucket name"),
        _matches(REGION, "region", args.region, "a region such as us-east-1"),
        _matches(GROUP_NAME, "model_package_group_name", args.model_package_group_name, NAME_RULE),
        (args.approval_status in APPROVAL_STATUSES, "approval_status", args.approval_status,
         f"one of {', '.join(APPROVAL_STATUSES)}", "not an allowed value"),
        (0 < args.accuracy_threshold <= 1, "accuracy_threshold", args.accuracy_threshold, "> 0 and <= 1", RANGE),
        (0 <= args.champion_tolerance < 1, "champion_tolerance", args.champion_tolerance, ">= 0 and < 1", RANGE),
        (len(hyperparameters) <= 256, "training.hyperparameters", hyperparameters,
         "at most 256 characters as JSON (a CustomerMetadataProperties value)", "too long"),
        (spot.instance_type in sagemaker_enum("TrainingInstanceType"), "training.instance_type", spot.instance_type,
         "a SageMaker TrainingInstanceType such as ml.m5.xlarge", INSTANCE),
        (1 <= spot.instance_count <= 100, "training.instance_count", spot.instance_count, "1..100", RANGE),
        (1 <= spot.max_runtime_seconds <= 2419200, "training.max_runtime_seconds", spot.max_runtime_seconds,
         "1..2419200 (28 days)", RANGE),
        (spot.max_wait_seconds >= spot.max_runtime_seconds, "training.max_wait_seconds", spot.max_wait_seconds,
         f">= training.max_runtime_seconds ({spot.max_runtime_seconds})", "spot max wait must cover the max runtime"),
        (1 <= spot.max_retry_attempts <= 30, "training.max_retry_attempts", spot.max_retry_attempts, "1..30", RANGE),
        *_processing_rules("evaluation", args.evaluation),
        (not unknown_realtime, "inference_instance_types",
         list(args.inference_instance_types), "SageMaker ProductionVariantInstanceTypes such as ml.m5.large", VALID),
    ])  # fmt: skip


def _check_monitoring(args: MonitoringPipelineArgs) -> None:
    quality = args.quality or QualityJob()
    namespace_ok = bool(NAMESPACE.match(args.metrics_namespace)) and not args.metrics_namespace.startswith("AWS/")
    ground_truth = quality.ground_truth_s3_uri
    _raise_problems("monitoring", [
        *_common_rules(args.image_uri, args.kms_key_arn),
        _matches(ROLE_ARN, "role_arn", args.role_arn, "arn:aws:iam::<account>:role/<name>"),
        _matches(REGION, "region", args.region, "a region such as us-east-1"),
        _matches(ENDPOINT_NAME, "endpoint_name", args.endpoint_name, NAME_RULE),
        _matches(S3_URI, "capture_s3_uri", args.capture_s3_uri, "s3://<bucket>/<key>"),
        _matches(S3_URI, "baseline_s3_uri", args.baseline_s3_uri, "s3://<bucket>/<key>"),
        (namespace_ok, "metrics_namespace", args.metrics_namespace, "a CloudWatch namespace outside AWS/", VALID),
        (args.psi_threshold > 0, "psi_threshold", args.psi_threshold, "> 0", RANGE),
        (args.drift_min_records >= 1, "drift_min_records", args.drift_min_records, ">= 1", RANGE),
        (0 < args.drift_false_alarm_rate < 1, "drift_false_alarm_rate", args.drift_false_alarm_rate, "> 0 and < 1",
         RANGE),
        (1 <= args.drift_instance_count <= 100, "drift_instance_count", args.drift_instance_count, "1..100", RANGE),
        (1 <= args.lookback_hours <= 744, "lookback_hours", args.lookback_hours, "1..744", RANGE),
        *_processing_rules("processing", args.processing),
        (1 <= quality.lookback_hours <= 744, "quality.lookback_hours", quality.lookback_hours, "1..744", RANGE),
        (0 <= quality.prediction_lookback_hours <= 744, "quality.prediction_lookback_hours",
         quality.prediction_lookback_hours, "0..744", RANGE),
        (ground_truth is None or bool(S3_URI.match(ground_truth)), "quality.ground_truth_s3_uri", ground_truth,
         "s3://<bucket>/<prefix> or None", VALID),
    ])  # fmt: skip
