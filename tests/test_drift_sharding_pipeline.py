"""The monitoring pipeline with the drift job on several instances (monitoring.drift_instance_count
> 1): plan, shard by S3 key, merge. Every step is checked against CreateProcessingJob's model and
its arguments against the job's own parser. What mocks cannot prove: how SageMaker lays out a
manifest's objects under LocalPath (documented: keys relative to the manifest's prefix), and that
an instance of a sharded input may receive no file (then the job reads an empty directory)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml_platform.components.pipelines import definition_json, monitoring_pipeline_definition
from model_code.drift.job import build_parser
from tests.test_pipelines import (
    GENERATED_NAMES,
    PIPELINE_ROLE,
    REQUEST_OF_STEP,
    all_steps,
    concrete,
    monitoring_args,
    validate,
)

RUNS = "s3://capture-bucket/drift-reports/ml-platform-prod/runs"
PLAN_WINDOW = {"window.start": "2024-05-01T10:00:00Z", "window.end": "2024-05-01T11:00:00Z", "files": 12}


def resolved(value: Any) -> Any:
    """`concrete`, also replacing the plan's JsonGet values."""
    if isinstance(value, list):
        return [resolved(v) for v in value]
    if isinstance(value, dict) and set(value) == {"Std:JsonGet"}:
        return PLAN_WINDOW[value["Std:JsonGet"]["Path"]]
    if isinstance(value, dict) and "Std:JsonGet" not in json.dumps(value):
        return concrete(value, {"BaselineS3Uri": "s3://artifacts/models/job-1/output/model.tar.gz"})
    if isinstance(value, dict):
        return {k: resolved(v) for k, v in value.items()}
    return value


@pytest.fixture
def definition() -> dict[str, Any]:
    return monitoring_pipeline_definition(monitoring_args(quality=None, drift_instance_count=4))


def test_plan_then_shard_and_merge_when_there_is_capture_else_one_empty_run(definition: dict[str, Any]):
    plan, condition = definition["Steps"]
    assert [step["Name"] for step in all_steps(definition)] == [
        "DriftPlan", "HasCapture", "Drift", "DriftMerge", "DriftEmptyWindow",
    ]  # fmt: skip
    assert plan["PropertyFiles"] == [{"PropertyFileName": "DriftPlan", "OutputName": "plan", "FilePath": "plan.json"}]
    assert condition["Arguments"]["Conditions"] == [
        {
            "Type": "GreaterThan",
            "LeftValue": {
                "Std:JsonGet": {"PropertyFile": {"Get": "Steps.DriftPlan.PropertyFiles.DriftPlan"}, "Path": "files"}
            },
            "RightValue": 0,
        }
    ]
    counts = {step["Name"]: step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"]
              for step in all_steps(definition) if step["Type"] == "Processing"}  # fmt: skip
    assert counts == {"DriftPlan": 1, "Drift": 4, "DriftMerge": 1, "DriftEmptyWindow": 1}


def test_the_shards_read_the_plans_manifest_sharded_by_key(definition: dict[str, Any]):
    shard = all_steps(definition)[2]
    baseline, capture = resolved(shard["Arguments"]["ProcessingInputs"])
    assert baseline["InputName"] == "baseline"
    assert capture == {
        "InputName": "capture",
        "AppManaged": False,
        "S3Input": {
            "S3Uri": f"{RUNS}/exec-1/plan/manifest.json",
            "LocalPath": "/opt/ml/processing/capture",
            "S3DataType": "ManifestFile",
            "S3InputMode": "File",
            "S3DataDistributionType": "ShardedByS3Key",
            "S3CompressionType": "None",
        },
    }
    assert resolved(shard["Arguments"]["ProcessingOutputConfig"])["Outputs"] == [
        {
            "OutputName": "partial",
            "AppManaged": False,
            "S3Output": {
                "S3Uri": f"{RUNS}/exec-1/partials",
                "LocalPath": "/opt/ml/processing/partial",
                "S3UploadMode": "EndOfJob",
            },
        }
    ]


def test_the_merge_reads_every_partial_after_the_shards(definition: dict[str, Any]):
    merge = all_steps(definition)[3]
    assert merge["DependsOn"] == ["Drift"]
    partials = resolved(merge["Arguments"]["ProcessingInputs"])[1]
    assert partials["S3Input"]["S3Uri"] == f"{RUNS}/exec-1/partials"
    assert (partials["S3Input"]["S3DataType"], partials["S3Input"]["S3DataDistributionType"]) == (
        "S3Prefix", "FullyReplicated"
    )  # fmt: skip


def test_every_step_parses_with_the_jobs_parser_and_shares_the_plans_window(definition: dict[str, Any]):
    parsed = {
        step["Name"]: build_parser().parse_args(
            resolved(step["Arguments"]["AppSpecification"]["ContainerArguments"])[1:]
        )
        for step in all_steps(definition)
        if step["Type"] == "Processing"
    }
    assert str(parsed["DriftPlan"].plan_out) == "/opt/ml/processing/plan"
    assert parsed["DriftPlan"].lookback_hours == 1
    assert str(parsed["Drift"].partial_out) == "/opt/ml/processing/partial"
    assert str(parsed["Drift"].capture) == "/opt/ml/processing/capture"
    assert str(parsed["DriftMerge"].merge) == "/opt/ml/processing/partials"
    assert str(parsed["DriftMerge"].capture) == "s3://capture-bucket/datacapture"
    for name in ("Drift", "DriftMerge", "DriftEmptyWindow"):
        args = parsed[name]
        assert (args.start.isoformat(), args.end.isoformat()) == (
            "2024-05-01T10:00:00+00:00",
            "2024-05-01T11:00:00+00:00",
        )
        assert (args.psi_threshold, args.false_alarm_rate, args.min_records) == (0.2, 0.01, 200)


def test_every_sharded_step_is_a_valid_processing_job_request(definition: dict[str, Any]):
    for step in all_steps(definition):
        if step["Type"] in REQUEST_OF_STEP:
            request = {**GENERATED_NAMES[step["Type"]], **resolved(step["Arguments"])}
            validate(REQUEST_OF_STEP[step["Type"]], request)


def test_one_instance_keeps_the_single_drift_step():
    definition = monitoring_pipeline_definition(monitoring_args(quality=None))
    assert [step["Name"] for step in definition["Steps"]] == ["Drift"]


@mock_aws
def test_moto_accepts_the_sharded_definition(definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    client = boto3.client("sagemaker", region_name="us-east-1")
    client.create_pipeline(
        PipelineName="ml-platform-monitoring", PipelineDefinition=definition_json(definition), RoleArn=PIPELINE_ROLE
    )
    stored = client.describe_pipeline(PipelineName="ml-platform-monitoring")
    assert json.loads(stored["PipelineDefinition"]) == definition
