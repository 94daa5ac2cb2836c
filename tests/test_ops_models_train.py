"""`python -m ops.models train` on moto (starting an execution), and the training progress loop
on botocore's Stubber (moto 5.2.5 has no ListPipelineExecutionSteps and never moves an execution
out of `Executing`).

What this cannot prove: real pipeline step transitions and timings.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID

from ops.models import elapsed, git_commit, main, watch
from tests.ops_models_support import OUTPUTS, PIPELINE, run
from tests.registry_fixtures import BUCKET, GROUP, IMAGE, REGION, moto_registry, outputs_writer


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    with moto_registry(monkeypatch) as clients:
        yield clients


@pytest.fixture
def outputs_file(tmp_path: Path):
    return outputs_writer(tmp_path, OUTPUTS)


def test_train_starts_the_pipeline_with_the_dataset_and_commit(aws, outputs_file):
    sagemaker, _ = aws
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/pipeline",
        ClientRequestToken="create-pipeline-token-0000000001",
    )
    code, out, err = run(
        "train", "--stack", "prod", "--outputs", outputs_file(), "--dataset-version", "v7", "--no-wait"
    )
    assert (code, err) == (0, "")
    [execution] = sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]
    arn = execution["PipelineExecutionArn"]
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert parameters == [{"Name": "DatasetVersion", "Value": "v7"}, {"Name": "GitCommit", "Value": "0123abcd" * 5}]
    assert out.splitlines() == [
        f"started {arn}",
        f"  dataset version v7, commit {'0123abcd' * 5}",
        f"not waiting; follow it with: aws sagemaker describe-pipeline-execution --pipeline-execution-arn {arn}",
    ]


def test_train_defaults_to_the_latest_dataset(aws, outputs_file):
    sagemaker, _ = aws
    sagemaker.create_pipeline(
        PipelineName=PIPELINE,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/pipeline",
        ClientRequestToken="create-pipeline-token-0000000001",
    )
    assert run("train", "--stack", "prod", "--outputs", outputs_file(), "--no-wait")[0] == 0
    [execution] = sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]
    parameters = sagemaker.list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )["PipelineParameters"]
    assert parameters[0] == {"Name": "DatasetVersion", "Value": "latest"}


EXECUTION = f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/{PIPELINE}/execution/abc123"
PACKAGE = f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/5"
T0 = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


def _step(name: str, status: str, **extra) -> dict:
    return {"StepName": name, "StepStatus": status, "StartTime": T0, **extra}


def _stubbed(polls: list[tuple[str, list[dict]]], *, register: bool, failure_reason: str | None = None):
    """A SageMaker client answering each poll (execution status, steps), then DescribeModelPackage."""
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    for status, steps in polls:
        description = {"PipelineExecutionArn": EXECUTION, "PipelineExecutionStatus": status}
        if failure_reason and status == "Failed":
            description["FailureReason"] = failure_reason
        stub.add_response("describe_pipeline_execution", description, {"PipelineExecutionArn": EXECUTION})
        stub.add_response(
            "list_pipeline_execution_steps",
            {"PipelineExecutionSteps": steps},
            {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"},
        )
    if register:
        stub.add_response(
            "describe_model_package",
            {
                "ModelPackageName": GROUP,
                "ModelPackageGroupName": GROUP,
                "ModelPackageVersion": 5,
                "ModelPackageArn": PACKAGE,
                "CreationTime": T0,
                "ModelPackageStatus": "Completed",
                "ModelPackageStatusDetails": {"ValidationStatuses": []},
                "ModelApprovalStatus": "PendingManualApproval",
                "InferenceSpecification": {
                    "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/abc123/model.tar.gz"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                "CustomerMetadataProperties": {"dataset_version": "v7", "metric.accuracy": "0.97"},
            },
            {"ModelPackageName": PACKAGE},
        )
    stub.activate()
    return client, stub


SUCCESS_POLLS = [
    ("Executing", [_step("Train", "Starting")]),
    ("Executing", [_step("Train", "Executing")]),
    ("Executing", [_step("Train", "Succeeded"), _step("Evaluate", "Executing")]),
    (
        "Succeeded",
        [
            _step("Train", "Succeeded"),
            _step("Evaluate", "Succeeded"),
            _step("CheckGates", "Succeeded", Metadata={"Condition": {"Outcome": "True"}}),
            _step("RegisterModel", "Succeeded", Metadata={"RegisterModel": {"Arn": PACKAGE}}),
        ],
    ),
]


def test_watch_prints_each_step_change_once_with_elapsed_time():
    client, stub = _stubbed(SUCCESS_POLLS, register=False)
    # A fake clock: each sleep jumps to the next poll's time (0 s, 65 s, 1 h 02 m 05 s, 1 h 05 m).
    now, poll_times, slept = [0.0], iter([65.0, 3725.0, 3900.0]), []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] = next(poll_times)

    out = io.StringIO()
    outcome = watch(client, EXECUTION, out, poll_seconds=30, sleep=sleep, clock=lambda: now[0])
    assert out.getvalue().splitlines() == [
        "[0:00:00] Train: Starting",
        "[0:01:05] Train: Executing",
        "[1:02:05] Train: Succeeded",
        "[1:02:05] Evaluate: Executing",
        "[1:05:00] Evaluate: Succeeded",
        "[1:05:00] CheckGates: Succeeded (outcome True)",
        "[1:05:00] RegisterModel: Succeeded",
    ]
    assert slept == [30, 30, 30]
    assert outcome.status == "Succeeded"
    stub.assert_no_pending_responses()


def test_train_waits_and_ends_with_the_registered_version(outputs_file):
    # Stubber answers in order: the start call, then the polls, then DescribeModelPackage.
    client, stub = _stubbed([], register=False)
    stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": EXECUTION}, None)
    for status, steps in SUCCESS_POLLS:
        stub.add_response(
            "describe_pipeline_execution",
            {"PipelineExecutionArn": EXECUTION, "PipelineExecutionStatus": status},
            {"PipelineExecutionArn": EXECUTION},
        )
        stub.add_response(
            "list_pipeline_execution_steps",
            {"PipelineExecutionSteps": steps},
            {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"},
        )
    registered, _ = _stubbed([], register=True)
    stub.add_response(
        "describe_model_package",
        registered.describe_model_package(ModelPackageName=PACKAGE),
        {"ModelPackageName": PACKAGE},
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["train", "--stack", "prod", "--outputs", outputs_file(), "--poll-seconds", "0.001"],
        clients=lambda service, region: client,
        commit=lambda: "f" * 40,
        out=out,
        err=err,
    )
    assert (code, err.getvalue()) == (0, "")
    lines = out.getvalue().splitlines()
    assert lines[0] == f"started {EXECUTION}"
    assert lines[-6:] == [
        "execution succeeded: registered version 5 (PendingManualApproval)",
        f"  version 5 · PendingManualApproval · created {T0:%Y-%m-%d %H:%M} UTC",
        f"  artifact s3://{BUCKET}/models/abc123/model.tar.gz",
        "  dataset  v7 (uri not recorded)",
        "  metrics  accuracy=0.97",
        "approve it with: python -m ops.models approve --stack prod 5",
    ]
    stub.assert_no_pending_responses()


def test_train_fails_with_the_failing_steps_reason(outputs_file):
    client, stub = _stubbed([], register=False)
    stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": EXECUTION}, None)
    final = [
        _step("Train", "Succeeded"),
        _step("Evaluate", "Succeeded"),
        _step("CheckGates", "Succeeded", Metadata={"Condition": {"Outcome": "False"}}),
        _step(
            "ChallengerWorse",
            "Failed",
            FailureReason="accuracy 0.91 is 0.05 below the approved version's 0.96 (tolerance 0.01)",
            Metadata={"Fail": {"ErrorMessage": "accuracy 0.91 is 0.05 below the approved version's 0.96"}},
        ),
    ]
    stub.add_response(
        "describe_pipeline_execution",
        {"PipelineExecutionArn": EXECUTION, "PipelineExecutionStatus": "Failed", "FailureReason": "Step failure"},
        {"PipelineExecutionArn": EXECUTION},
    )
    stub.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": final},
        {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"},
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["train", "--stack", "prod", "--outputs", outputs_file()],
        clients=lambda service, region: client,
        commit=lambda: "unknown",
        out=out,
        err=err,
    )
    assert code == 1
    assert err.getvalue() == (
        "error: stack prod: execution failed: step ChallengerWorse: accuracy 0.91 is 0.05 below the approved "
        f"version's 0.96 (tolerance 0.01)\n  {EXECUTION}\n"
    )
    assert (
        out.getvalue()
        .splitlines()[-1]
        .endswith("ChallengerWorse: Failed: accuracy 0.91 is 0.05 below the approved version's 0.96 (tolerance 0.01)")
    )


def test_train_when_the_pipeline_does_not_take_the_parameters(outputs_file):
    client, stub = _stubbed([], register=False)
    stub.add_client_error(
        "start_pipeline_execution",
        service_error_code="ValidationException",
        service_message="Pipeline parameter GitCommit is not defined in the pipeline definition",
    )
    err = io.StringIO()
    code = main(
        ["train", "--stack", "prod", "--outputs", outputs_file()],
        clients=lambda service, region: client,
        commit=lambda: "unknown",
        out=io.StringIO(),
        err=err,
    )
    assert code == 1
    assert err.getvalue() == (
        "error: stack prod: StartPipelineExecution failed: ValidationException: "
        "Pipeline parameter GitCommit is not defined in the pipeline definition\n"
    )


def test_elapsed_format():
    assert [elapsed(s) for s in (0, 59.9, 61, 3600, 36000 + 61)] == [
        "0:00:00",
        "0:00:59",
        "0:01:01",
        "1:00:00",
        "10:01:01",
    ]


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("Stopped", None, "execution was stopped: no reason given"),
        (
            "CompletedWithFailures",
            "a step failed but the execution went on",
            "execution completed with failures: a step failed but the execution went on",
        ),
    ],
)
def test_train_ending_without_a_failed_step_gives_the_execution_reason(outputs_file, status, reason, expected):
    client, stub = _stubbed([], register=False)
    stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": EXECUTION}, None)
    description = {"PipelineExecutionArn": EXECUTION, "PipelineExecutionStatus": status}
    if reason:
        description["FailureReason"] = reason
    stub.add_response("describe_pipeline_execution", description, {"PipelineExecutionArn": EXECUTION})
    stub.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": [_step("Train", "Stopped")]},
        {"PipelineExecutionArn": EXECUTION, "SortOrder": "Ascending"},
    )
    err = io.StringIO()
    code = main(
        ["train", "--stack", "prod", "--outputs", outputs_file()],
        clients=lambda service, region: client,
        commit=lambda: "unknown",
        out=io.StringIO(),
        err=err,
    )
    assert (code, err.getvalue()) == (1, f"error: stack prod: {expected}\n  {EXECUTION}\n")


def test_git_commit_is_head_or_unknown():
    class Result:
        def __init__(self, code: int, stdout: str) -> None:
            self.returncode, self.stdout = code, stdout

    assert git_commit(lambda *a, **k: Result(0, "a" * 40 + "\n")) == "a" * 40
    assert git_commit(lambda *a, **k: Result(128, "")) == "unknown"  # not a git checkout

    def missing(*args, **kwargs):
        raise FileNotFoundError("git")

    assert git_commit(missing) == "unknown"
