"""SageMaker Pipeline definitions, built as plain data (pipeline definition schema 2020-12-01).

Pure builders, no resources: a component passes `definition_json(...)` to
`aws.sagemaker.Pipeline(pipeline_definition=...)`. No SageMaker Python SDK: each step's
`Arguments` is the request of the API call the step makes (CreateTrainingJob,
CreateProcessingJob, CreateModelPackage), with pipeline references where a value is only known
at run time, written by the typed helpers of ml_platform/components/pipeline_steps.py (a step
property checked against botocore's Describe response, a property file's declared paths, a
declared parameter).

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

The builders trust their arguments: every value that comes from the stack config is validated
once, there (ml_platform/config), and the rest are names and ARNs of the stack's own resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

# The monitoring pipeline's builders live in their own module; named here too, beside the model build's.
from ml_platform.components.monitoring_pipeline import (
    MonitoringPipelineArgs,
    QualityJob,
    monitoring_pipeline_definition,
)
from ml_platform.components.pipeline_steps import (
    EXECUTION_ARN,
    EXECUTION_ID,
    PROCESSING_ROOT,
    SCHEMA_VERSION,
    Parameter,
    Processing,
    PropertyFile,
    SpotTraining,
    StepRef,
    definition_json,
    join,
    processing_arguments,
    processing_outputs,
)

__all__ = [
    "MonitoringPipelineArgs",
    "Processing",
    "QualityJob",
    "RetrainingPipelineArgs",
    "SpotTraining",
    "approval_status_for",
    "definition_json",
    "monitoring_pipeline_definition",
    "retraining_pipeline_definition",
]

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

RESOLVED_OUTPUT = "resolved"
RESOLVED_FILE = "dataset.json"
# Keys model_code/resolve_dataset.py writes into resolved/dataset.json.
RESOLVED_VERSION_PATH = "dataset_version"
RESOLVED_DATASET_PATH = "dataset_s3_uri"
RESOLVED_HOLDOUT_PATH = "holdout_s3_uri"
RESOLVED_CHAMPION_PATH = "champion_s3_uri"

EVALUATION_OUTPUT = "evaluation"
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

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CONTENT_TYPES = ("text/csv", "application/json")

# References: the only ways the definitions below name a parameter, a step property or a property file.
DATASET_VERSION = Parameter(
    "DatasetVersion", "Dataset version to train on (a sub-prefix of the dataset); `latest` = the newest version."
)
GIT_COMMIT = Parameter("GitCommit", "Commit of the code that started the run (lineage).")
CHAMPION_MODEL_DATA_URL = Parameter(
    "ChampionModelDataUrl",
    "Model the candidate must not be worse than: `latest-approved`, `none`, or an s3:// model.tar.gz.",
)
TRAINING_INSTANCE_TYPE = Parameter("TrainingInstanceType", "Training instance type.")

RESOLVED = PropertyFile(
    RESOLVE_STEP,
    "ResolvedDataset",
    RESOLVED_OUTPUT,
    RESOLVED_FILE,
    (RESOLVED_VERSION_PATH, RESOLVED_DATASET_PATH, RESOLVED_HOLDOUT_PATH, RESOLVED_CHAMPION_PATH),
)
EVALUATION = PropertyFile(
    EVALUATE_STEP,
    "EvaluationReport",
    EVALUATION_OUTPUT,
    EVALUATION_FILE,
    (ACCURACY_PATH, ACCURACY_DELTA_PATH, CHAMPION_PRESENT_PATH),
)
RESOLVED_PROPERTY_FILE = RESOLVED.name
EVALUATION_PROPERTY_FILE = EVALUATION.name
MODEL_DATA = StepRef(TRAIN_STEP, "Training").get("ModelArtifacts.S3ModelArtifacts")


def approval_status_for(environment: str) -> ApprovalStatus:
    """Only dev registers models as Approved; every other environment waits for a person."""
    return "Approved" if environment == "dev" else "PendingManualApproval"


# ---------------------------------------------------------------------------------------------
# Arguments


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


# ---------------------------------------------------------------------------------------------
# Retraining


def resolved(path: str) -> dict[str, Any]:
    """A value the ResolveDataset step wrote into resolved/dataset.json."""
    return RESOLVED.get(path)


def evaluated(path: str) -> dict[str, Any]:
    """A value the Evaluate step wrote into evaluation.json."""
    return EVALUATION.get(path)


def run_prefix(args: RetrainingPipelineArgs, *parts: Any) -> dict[str, Any]:
    """`s3://<artifacts>/models/<execution id>[/parts...]`: everything one execution writes."""
    return join(f"s3://{args.artifacts_bucket}/{MODELS_PREFIX}", EXECUTION_ID, *parts)


def retraining_pipeline_definition(args: RetrainingPipelineArgs) -> dict[str, Any]:
    model_data = MODEL_DATA
    return {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            DATASET_VERSION.declaration(LATEST),
            GIT_COMMIT.declaration(UNKNOWN_COMMIT),
            CHAMPION_MODEL_DATA_URL.declaration(LATEST_APPROVED),
            TRAINING_INSTANCE_TYPE.declaration(args.training.instance_type),
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
        DATASET_VERSION.ref,
        "--champion",
        CHAMPION_MODEL_DATA_URL.ref,
        "--model-package-group",
        args.model_package_group_name,
        "--no-champion-uri",
        f"s3://{args.artifacts_bucket}/{CHAMPION_NONE_PREFIX}/",
        "--region",
        args.region,
        "--output",
        f"{PROCESSING_ROOT}/{RESOLVED_OUTPUT}/{RESOLVED_FILE}",
    ]
    arguments = processing_arguments(
        image_uri=args.image_uri,
        role_arn=args.processing_role_arn,
        kms_key_arn=args.kms_key_arn,
        processing=replace(args.evaluation, instance_count=1),
        container_arguments=container_arguments,
        inputs=[],
        # It lists S3 and reads the Model Registry through the AWS APIs.
        network_isolation=False,
    )
    outputs = [(RESOLVED_OUTPUT, run_prefix(args, RESOLVED_OUTPUT))]
    arguments["ProcessingOutputConfig"] = processing_outputs(args.kms_key_arn, outputs)
    return {
        "Name": RESOLVE_STEP,
        "Type": "Processing",
        "Arguments": arguments,
        "PropertyFiles": [RESOLVED.declaration()],
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
                "InstanceType": TRAINING_INSTANCE_TYPE.ref,
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
    arguments = processing_arguments(
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
    outputs = [(EVALUATION_OUTPUT, run_prefix(args, EVALUATION_OUTPUT))]
    arguments["ProcessingOutputConfig"] = processing_outputs(args.kms_key_arn, outputs)
    return {
        "Name": EVALUATE_STEP,
        "Type": "Processing",
        "Arguments": arguments,
        "PropertyFiles": [EVALUATION.declaration()],
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
            "MetadataProperties": {"CommitId": GIT_COMMIT.ref, "GeneratedBy": EXECUTION_ARN},
            # Keys ml_platform/components/model_versions.py reads (lineage, and metrics as `metric.<name>` strings).
            "CustomerMetadataProperties": {
                "pipeline_execution_arn": EXECUTION_ARN,
                "pipeline_execution_id": EXECUTION_ID,
                "git_commit": GIT_COMMIT.ref,
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
