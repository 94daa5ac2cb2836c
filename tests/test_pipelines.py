"""Pipeline definitions: exact settings, every step's Arguments against botocore's request shapes,
the evaluation report path against a real `evaluate` run, and CreatePipeline / StartPipelineExecution
on moto.

What this cannot prove: that SageMaker Pipelines resolves the references at run time. botocore
validates one concrete request, so each {"Get": ...} / {"Std:Join": ...} is replaced by a
representative value of the right type first (`concrete`), and an unknown reference fails the
test. moto stores the definition and starts an execution without interpreting the steps.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import numpy as np
import pytest
from botocore.validate import ParamValidator
from moto import mock_aws

from ml_platform.components.pipelines import (
    EVALUATION,
    MonitoringPipelineArgs,
    QualityJob,
    RetrainingPipelineArgs,
    SpotTraining,
    approval_status_for,
    definition_json,
    monitoring_pipeline_definition,
    retraining_pipeline_definition,
)

ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/ml-model@sha256:" + "a" * 64
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TRAINING_ROLE = f"arn:aws:iam::{ACCOUNT}:role/training"
PROCESSING_ROLE = f"arn:aws:iam::{ACCOUNT}:role/processing"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipeline"

# Representative run-time values for the references the definitions use.
STEP_PROPERTIES = {
    "Steps.Train.ModelArtifacts.S3ModelArtifacts": "s3://artifacts/models/exec-1/job-1/output/model.tar.gz",
    "Execution.PipelineExecutionId": "exec-1",
    "Execution.PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/exec-1",
}
# Representative contents of the property files (resolved/dataset.json, evaluation.json).
PROPERTY_FILES = {
    ("ResolveDataset", "ResolvedDataset"): {
        "dataset_version": "v3",
        "dataset_s3_uri": "s3://datasets/breast-cancer/v3/",
        "holdout_s3_uri": "s3://datasets/breast-cancer-holdout/v3/",
        "champion_s3_uri": "s3://artifacts/models/exec-0/job-0/output/model.tar.gz",
    },
    ("Evaluate", "EvaluationReport"): {
        "metrics": {"accuracy": {"value": 0.95}},
        "comparison": {"accuracy_delta": {"value": -0.002}, "champion_present": True},
    },
}


def retraining_args(environment: str = "prod", **changes: Any) -> RetrainingPipelineArgs:
    args = RetrainingPipelineArgs(
        image_uri=IMAGE,
        training_role_arn=TRAINING_ROLE,
        processing_role_arn=PROCESSING_ROLE,
        kms_key_arn=KEY,
        dataset_root_s3_uri="s3://datasets/breast-cancer/",
        holdout_root_s3_uri="s3://datasets/breast-cancer-holdout/",
        artifacts_bucket="artifacts",
        model_package_group_name="ml-platform-prod",
        approval_status=approval_status_for(environment),
        accuracy_threshold=0.9,
        champion_tolerance=0.01,
        region="us-east-1",
        inference_instance_types=("ml.c5.xlarge", "ml.m5.large"),
        training=SpotTraining(
            instance_type="ml.m5.xlarge",
            max_runtime_seconds=3600,
            max_wait_seconds=7200,
            max_retry_attempts=3,
            hyperparameters={"epochs": "30", "batch_size": "64"},
        ),
    )
    return replace(args, **changes)


def monitoring_args(**changes: Any) -> MonitoringPipelineArgs:
    args = MonitoringPipelineArgs(
        image_uri=IMAGE,
        role_arn=PROCESSING_ROLE,
        kms_key_arn=KEY,
        region="us-east-1",
        endpoint_name="ml-platform-prod",
        capture_s3_uri="s3://capture-bucket/datacapture",
        baseline_s3_uri="s3://artifacts/models/job-1/output/model.tar.gz",
        metrics_namespace="MLPlatform/Monitoring",
        quality=QualityJob(prediction_lookback_hours=48, positive_class="1"),
    )
    return replace(args, **changes)


def all_steps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []

    def walk(step_list: list[dict[str, Any]]) -> None:
        for step in step_list:
            steps.append(step)
            if step["Type"] == "Condition":
                walk(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])

    walk(definition["Steps"])
    return steps


def step_named(definition: dict[str, Any], name: str) -> dict[str, Any]:
    [step] = [s for s in all_steps(definition) if s["Name"] == name]
    return step


def concrete(value: Any, parameters: dict[str, str]) -> Any:
    """`value` with every pipeline reference replaced by a representative value."""
    if isinstance(value, list):
        return [concrete(v, parameters) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Get"}:
        reference = value["Get"]
        if reference.startswith("Parameters."):
            return parameters[reference.removeprefix("Parameters.")]
        return STEP_PROPERTIES[reference]
    if set(value) == {"Std:Join"}:
        join = value["Std:Join"]
        return join["On"].join(str(concrete(v, parameters)) for v in join["Values"])
    if set(value) == {"Std:JsonGet"}:
        step, _, name = value["Std:JsonGet"]["PropertyFile"]["Get"].removeprefix("Steps.").partition(".PropertyFiles.")
        found: Any = PROPERTY_FILES[(step, name)]
        for key in value["Std:JsonGet"]["Path"].split("."):
            found = found[key]
        return found
    return {k: concrete(v, parameters) for k, v in value.items()}


def validate(operation: str, request: dict[str, Any]) -> None:
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


REQUEST_OF_STEP = {
    "Training": "CreateTrainingJob",
    "Processing": "CreateProcessingJob",
    "RegisterModel": "CreateModelPackage",
}
# Names the pipeline generates for the jobs it starts; the API requires them, the step does not carry them.
GENERATED_NAMES = {
    "Training": {"TrainingJobName": "pipelines-exec1-Train"},
    "Processing": {"ProcessingJobName": "pipelines-exec1-Step"},
}


@pytest.mark.parametrize(
    "definition",
    [retraining_pipeline_definition(retraining_args()), monitoring_pipeline_definition(monitoring_args())],
    ids=["retraining", "monitoring"],
)
def test_every_step_is_a_valid_api_request(definition: dict[str, Any]):
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    checked = []
    for step in all_steps(definition):
        if step["Type"] in REQUEST_OF_STEP:
            request = {**GENERATED_NAMES.get(step["Type"], {}), **concrete(step["Arguments"], parameters)}
            validate(REQUEST_OF_STEP[step["Type"]], request)
            checked.append(step["Name"])
    expected = ["ResolveDataset", "Train", "Evaluate", "RegisterModel"] if "Train" in checked else ["Drift", "Quality"]
    assert checked == expected


def test_parameters_default_to_the_newest_dataset_and_the_approved_champion():
    """An execution EventBridge starts (schedule, alarm) passes no parameters: the defaults apply."""
    definition = retraining_pipeline_definition(retraining_args())
    assert definition["Version"] == "2020-12-01"
    assert definition["Parameters"] == [
        {"Name": "DatasetVersion", "Type": "String", "DefaultValue": "latest",
         "Description": "Dataset version to train on (a sub-prefix of the dataset); `latest` = the newest version."},
        {"Name": "GitCommit", "Type": "String", "DefaultValue": "unknown",
         "Description": "Commit of the code that started the run (lineage)."},
        {"Name": "ChampionModelDataUrl", "Type": "String", "DefaultValue": "latest-approved",
         "Description": "Model the candidate must not be worse than: `latest-approved`, `none`, or an s3:// "
                        "model.tar.gz."},
        {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge",
         "Description": "Training instance type."},
    ]  # fmt: skip
    assert [s["Name"] for s in definition["Steps"]] == ["ResolveDataset", "Train", "Evaluate", "CheckAccuracy"]


def test_the_first_step_resolves_latest_inside_the_execution():
    resolve = retraining_pipeline_definition(retraining_args())["Steps"][0]
    arguments = resolve["Arguments"]
    assert arguments["AppSpecification"] == {
        "ImageUri": IMAGE,
        "ContainerArguments": [
            "resolve-dataset",
            "--dataset-root", "s3://datasets/breast-cancer/",
            "--holdout-root", "s3://datasets/breast-cancer-holdout/",
            "--version", {"Get": "Parameters.DatasetVersion"},
            "--champion", {"Get": "Parameters.ChampionModelDataUrl"},
            "--model-package-group", "ml-platform-prod",
            "--no-champion-uri", "s3://artifacts/champion-none/",
            "--region", "us-east-1",
            "--output", "/opt/ml/processing/resolved/dataset.json",
        ],
    }  # fmt: skip
    assert "ProcessingInputs" not in arguments
    # It calls S3 and the registry, so it cannot be network-isolated.
    assert arguments["NetworkConfig"] == {"EnableNetworkIsolation": False}
    assert arguments["ProcessingOutputConfig"]["Outputs"] == [
        {
            "OutputName": "resolved",
            "AppManaged": False,
            "S3Output": {
                "S3Uri": {
                    "Std:Join": {
                        "On": "/",
                        "Values": ["s3://artifacts/models", {"Get": "Execution.PipelineExecutionId"}, "resolved"],
                    }
                },
                "LocalPath": "/opt/ml/processing/resolved",
                "S3UploadMode": "EndOfJob",
            },
        }
    ]
    assert resolve["PropertyFiles"] == [
        {"PropertyFileName": "ResolvedDataset", "OutputName": "resolved", "FilePath": "dataset.json"}
    ]


def test_the_container_arguments_parse_with_resolve_datasets_own_parser():
    from model_code.resolve_dataset import parse_args

    arguments = retraining_pipeline_definition(retraining_args())["Steps"][0]["Arguments"]
    argv = concrete(
        arguments["AppSpecification"]["ContainerArguments"],
        {"DatasetVersion": "latest", "ChampionModelDataUrl": "latest-approved"},
    )
    parsed = parse_args(argv[1:])
    assert (parsed.version, parsed.champion, parsed.no_champion_uri) == (
        "latest",
        "latest-approved",
        "s3://artifacts/champion-none/",
    )


def test_retraining_spot_settings_and_run_unique_paths_are_exact():
    train = retraining_pipeline_definition(retraining_args())["Steps"][1]
    assert (train["Name"], train["Type"]) == ("Train", "Training")
    arguments = train["Arguments"]
    assert arguments["EnableManagedSpotTraining"] is True
    assert arguments["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert arguments["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    assert arguments["CheckpointConfig"] == {
        "S3Uri": {
            "Std:Join": {"On": "/", "Values": ["s3://artifacts/checkpoints", {"Get": "Execution.PipelineExecutionId"}]}
        },
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert arguments["ResourceConfig"] == {
        "InstanceType": {"Get": "Parameters.TrainingInstanceType"},
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": KEY,
    }
    assert arguments["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.ResolveDataset.PropertyFiles.ResolvedDataset"},
            "Path": "dataset_s3_uri",
        }
    }
    assert arguments["HyperParameters"] == {"batch_size": "64", "epochs": "30"}
    # SageMaker writes <S3OutputPath>/<job name>/output/model.tar.gz: one prefix per execution.
    assert arguments["OutputDataConfig"] == {
        "S3OutputPath": {
            "Std:Join": {"On": "/", "Values": ["s3://artifacts/models", {"Get": "Execution.PipelineExecutionId"}]}
        },
        "KmsKeyId": KEY,
    }


def test_evaluation_gets_the_candidate_the_resolved_holdout_and_the_champion():
    evaluate = retraining_pipeline_definition(retraining_args())["Steps"][2]
    arguments = evaluate["Arguments"]
    assert arguments["AppSpecification"] == {"ImageUri": IMAGE, "ContainerArguments": ["evaluate"]}
    inputs = {i["InputName"]: (i["S3Input"]["S3Uri"], i["S3Input"]["LocalPath"]) for i in arguments["ProcessingInputs"]}

    def resolved(path: str) -> dict[str, Any]:
        return {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.ResolveDataset.PropertyFiles.ResolvedDataset"},
                                "Path": path}}  # fmt: skip

    assert inputs == {
        "model": ({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, "/opt/ml/processing/model"),
        "test": (resolved("holdout_s3_uri"), "/opt/ml/processing/test"),
        "champion": (resolved("champion_s3_uri"), "/opt/ml/processing/champion"),
    }
    outputs = {o["OutputName"]: o["S3Output"] for o in arguments["ProcessingOutputConfig"]["Outputs"]}
    run = ["s3://artifacts/models", {"Get": "Execution.PipelineExecutionId"}]
    # evaluation.json and the candidate's baseline.json, each its own object under evaluation/.
    assert outputs == {
        "evaluation": {"S3Uri": {"Std:Join": {"On": "/", "Values": [*run, "evaluation"]}},
                       "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"},
    }  # fmt: skip
    assert evaluate["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}
    ]


def evaluation(path: str) -> dict[str, Any]:
    return {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}, "Path": path}}


def test_the_gates_are_the_threshold_then_the_champion_each_failing_with_its_figures():
    gates = retraining_pipeline_definition(retraining_args())["Steps"][3]
    assert (gates["Name"], gates["Type"]) == ("CheckAccuracy", "Condition")
    assert gates["Arguments"]["Conditions"] == [
        {"Type": "GreaterThanOrEqualTo", "LeftValue": evaluation("metrics.accuracy.value"), "RightValue": 0.9}
    ]
    assert gates["Arguments"]["ElseSteps"] == [
        {
            "Name": "AccuracyBelowThreshold",
            "Type": "Fail",
            "Arguments": {
                "ErrorMessage": {
                    "Std:Join": {
                        "On": " ",
                        "Values": [
                            "holdout accuracy",
                            evaluation("metrics.accuracy.value"),
                            "is below the threshold 0.9; the model was not registered",
                        ],
                    }
                }
            },
        }
    ]
    [champion] = gates["Arguments"]["IfSteps"]
    assert (champion["Name"], champion["Type"]) == ("CheckChampion", "Condition")
    assert champion["Arguments"]["Conditions"] == [
        {
            "Type": "Or",
            "Arguments": {
                "Conditions": [
                    {"Type": "Equals", "LeftValue": evaluation("comparison.champion_present"), "RightValue": False},
                    {
                        "Type": "GreaterThanOrEqualTo",
                        "LeftValue": evaluation("comparison.accuracy_delta.value"),
                        "RightValue": -0.01,
                    },
                ]
            },
        }
    ]
    assert [s["Name"] for s in champion["Arguments"]["IfSteps"]] == ["RegisterModel"]
    assert champion["Arguments"]["ElseSteps"] == [
        {
            "Name": "WorseThanChampion",
            "Type": "Fail",
            "Arguments": {
                "ErrorMessage": {
                    "Std:Join": {
                        "On": " ",
                        "Values": [
                            "holdout accuracy",
                            evaluation("metrics.accuracy.value"),
                            "is worse than the champion's by",
                            evaluation("comparison.accuracy_delta.value"),
                            "(tolerance 0.01); the model was not registered",
                        ],
                    }
                }
            },
        }
    ]


def test_the_json_path_finds_the_accuracy_in_a_real_evaluation_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run model_code's `evaluate` on a tiny model and read the condition's path out of its report."""
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    from model_code.evaluate import main as evaluate_main
    from model_code.model import Model, save_model

    model = Model(
        feature_names=("a", "b"),
        label_name="target",
        classes=("0", "1"),
        mean=np.zeros(2),
        scale=np.ones(2),
        weights=np.array([[-1.0, 1.0], [0.0, 0.0]]),
        bias=np.zeros(2),
    )
    save_model(model, tmp_path / "model")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "part.csv").write_text("a,b,target\n-2,0,0\n3,1,1\n4,0,0\n")
    report = tmp_path / "evaluation.json"
    argv = ["--model-dir", str(tmp_path / "model"), "--test-dir", str(tmp_path / "test"), "--output", str(report)]
    assert evaluate_main(argv) == 0
    path = retraining_pipeline_definition(retraining_args())["Steps"][3]["Arguments"]["Conditions"][0]["LeftValue"]
    value: Any = json.loads(report.read_text())
    for key in path["Std:JsonGet"]["Path"].split("."):
        value = value[key]
    assert value == pytest.approx(2 / 3)
    # Every path the definitions may read from the report (pipelines.EVALUATION) is in it.
    for declared in EVALUATION.paths:
        found: Any = json.loads(report.read_text())
        for key in declared.split("."):
            found = found[key]


@pytest.mark.parametrize(
    ("environment", "status"),
    [("prod", "PendingManualApproval"), ("staging", "PendingManualApproval"), ("dev", "Approved")],
)
def test_registration_carries_the_whole_model_version(environment: str, status: str):
    definition = retraining_pipeline_definition(retraining_args(environment))
    register = step_named(definition, "RegisterModel")
    assert register["Type"] == "RegisterModel"
    run = ["s3://artifacts/models", {"Get": "Execution.PipelineExecutionId"}]

    def resolved(path: str) -> dict[str, Any]:
        return {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.ResolveDataset.PropertyFiles.ResolvedDataset"},
                                "Path": path}}  # fmt: skip

    assert register["Arguments"] == {
        "ModelPackageGroupName": "ml-platform-prod",
        "ModelPackageDescription": "Built by the model-build pipeline; gates passed (threshold, champion).",
        "ModelApprovalStatus": status,
        "InferenceSpecification": {
            "Containers": [{"Image": IMAGE, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
            # The instance types the stack serves on, primary and standby.
            "SupportedRealtimeInferenceInstanceTypes": ["ml.c5.xlarge", "ml.m5.large"],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": {"Std:Join": {"On": "/", "Values": [*run, "evaluation", "evaluation.json"]}},
                }
            }
        },
        "DriftCheckBaselines": {
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": {"Std:Join": {"On": "/", "Values": [*run, "evaluation", "baseline.json"]}},
                }
            }
        },
        "MetadataProperties": {
            "CommitId": {"Get": "Parameters.GitCommit"},
            "GeneratedBy": {"Get": "Execution.PipelineExecutionArn"},
        },
        # The keys ml_platform/components/model_versions.py reads: lineage, and metrics as `metric.<name>` strings.
        "CustomerMetadataProperties": {
            "pipeline_execution_arn": {"Get": "Execution.PipelineExecutionArn"},
            "pipeline_execution_id": {"Get": "Execution.PipelineExecutionId"},
            "git_commit": {"Get": "Parameters.GitCommit"},
            "dataset_version": resolved("dataset_version"),
            "dataset_uri": resolved("dataset_s3_uri"),
            "holdout_uri": resolved("holdout_s3_uri"),
            "hyperparameters": '{"batch_size": "64", "epochs": "30"}',
            "metric.accuracy": {"Std:Join": {"On": "", "Values": [evaluation("metrics.accuracy.value")]}},
            "metric.accuracy_delta": {
                "Std:Join": {"On": "", "Values": [evaluation("comparison.accuracy_delta.value")]}
            },
            "gate.accuracy_threshold": "0.9",
            "gate.champion_tolerance": "0.01",
        },
    }


def test_monitoring_steps_run_drift_and_quality_with_the_image():
    definition = monitoring_pipeline_definition(monitoring_args())
    drift, quality = definition["Steps"]
    assert drift["Arguments"]["AppSpecification"] == {
        "ImageUri": IMAGE,
        "ContainerArguments": [
            "drift", "--endpoint-name", "ml-platform-prod", "--capture", "s3://capture-bucket/datacapture",
            "--baseline", "/opt/ml/processing/baseline", "--metrics-namespace", "MLPlatform/Monitoring",
            "--region", "us-east-1", "--lookback-hours", "1", "--psi-threshold", "0.2",
            "--false-alarm-rate", "0.01", "--min-records", "200",
        ],
    }  # fmt: skip
    assert quality["Arguments"]["AppSpecification"]["ContainerArguments"] == [
        "quality", "--endpoint-name", "ml-platform-prod", "--capture", "s3://capture-bucket/datacapture",
        "--baseline", "/opt/ml/processing/baseline", "--metrics-namespace", "MLPlatform/Monitoring",
        "--region", "us-east-1", "--lookback-hours", "24", "--prediction-lookback-hours", "48",
        "--positive-class", "1",
    ]  # fmt: skip
    [baseline] = drift["Arguments"]["ProcessingInputs"]
    assert baseline["S3Input"]["S3Uri"] == {"Get": "Parameters.BaselineS3Uri"}
    assert drift["Arguments"]["NetworkConfig"] == {"EnableNetworkIsolation": False}
    assert definition["Parameters"][0]["DefaultValue"] == "s3://artifacts/models/job-1/output/model.tar.gz"


def test_monitoring_without_quality_has_only_the_drift_step():
    definition = monitoring_pipeline_definition(monitoring_args(quality=None))
    assert [s["Name"] for s in definition["Steps"]] == ["Drift"]


def test_the_container_arguments_parse_with_the_jobs_own_parsers():
    from model_code.drift.job import build_parser as drift_parser
    from model_code.quality import build_parser as quality_parser

    drift, quality = monitoring_pipeline_definition(monitoring_args())["Steps"]
    parsed = drift_parser().parse_args(drift["Arguments"]["AppSpecification"]["ContainerArguments"][1:])
    assert (parsed.endpoint_name, parsed.lookback_hours, parsed.psi_threshold) == ("ml-platform-prod", 1, 0.2)
    parsed = quality_parser().parse_args(quality["Arguments"]["AppSpecification"]["ContainerArguments"][1:])
    assert (parsed.prediction_lookback_hours, parsed.positive_class) == (48, "1")


@mock_aws
@pytest.mark.parametrize("kind", ["retraining", "monitoring"])
def test_moto_accepts_the_definitions_and_starts_executions(kind: str, monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    if kind == "retraining":
        definition = retraining_pipeline_definition(retraining_args())
        parameters = [
            {"Name": "DatasetVersion", "Value": "v4"},
            {"Name": "GitCommit", "Value": "0123abc"},
            {"Name": "TrainingInstanceType", "Value": "ml.m5.2xlarge"},
        ]
    else:
        definition = monitoring_pipeline_definition(monitoring_args())
        parameters = [{"Name": "BaselineS3Uri", "Value": "s3://artifacts/models/job-2/output/model.tar.gz"}]
    client = boto3.client("sagemaker", region_name="us-east-1")
    arn = client.create_pipeline(
        PipelineName=f"ml-platform-{kind}", PipelineDefinition=definition_json(definition), RoleArn=PIPELINE_ROLE
    )["PipelineArn"]
    stored = client.describe_pipeline(PipelineName=f"ml-platform-{kind}")
    assert (stored["PipelineArn"], json.loads(stored["PipelineDefinition"])) == (arn, definition)
    execution = client.start_pipeline_execution(PipelineName=f"ml-platform-{kind}", PipelineParameters=parameters)
    described = client.describe_pipeline_execution(PipelineExecutionArn=execution["PipelineExecutionArn"])
    assert described["PipelineArn"] == arn
    listed = client.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution["PipelineExecutionArn"])
    assert listed["PipelineParameters"] == parameters


def test_serving_without_sagemaker_instances_registers_no_instance_types():
    register = step_named(retraining_pipeline_definition(retraining_args(inference_instance_types=())), "RegisterModel")
    assert "SupportedRealtimeInferenceInstanceTypes" not in register["Arguments"]["InferenceSpecification"]
