"""`ops.models train`: start an execution of the model-build pipeline and follow it to the
version it registers (training never runs in `pulumi up`)."""

from __future__ import annotations

import argparse
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from ml_platform.components.model_versions import APPROVED, ModelVersion, describe
from ops.models.common import EXIT_INTERRUPTED, EXIT_OK, CommandError, Context, Stack, render_version

DEFAULT_DATASET_VERSION = "latest"

DEFAULT_POLL_SECONDS = 30.0

# PipelineExecutionStatus values that end an execution (botocore's sagemaker model); only
# Succeeded registers a version.
TERMINAL = ("Succeeded", "Failed", "Stopped", "CompletedWithFailures")

ENDINGS = {"Failed": "failed", "Stopped": "was stopped", "CompletedWithFailures": "completed with failures"}

REGISTER_STEP_TYPE = "RegisterModel"


def git_commit(run: Callable[..., Any] = subprocess.run) -> str:
    """HEAD's commit of the checkout the command runs in, or `unknown`."""
    try:
        result = run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = (result.stdout or "").strip()
    return commit if result.returncode == 0 and commit else "unknown"


def start_training(client: Any, stack: Stack, dataset_version: str, commit: str, user: str) -> str:
    """StartPipelineExecution; returns the execution ARN.

    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StartPipelineExecution.html:
    parameters not declared by the pipeline are a ValidationException; ClientRequestToken makes
    a retried call start one execution, not two.
    """
    response = client.start_pipeline_execution(
        PipelineName=stack.pipeline(),
        PipelineParameters=[
            {"Name": "DatasetVersion", "Value": dataset_version},
            {"Name": "GitCommit", "Value": commit},
        ],
        PipelineExecutionDescription=(
            f"python -m ops.models train by {user}: dataset {dataset_version}, commit {commit}"
        )[:3072],
        ClientRequestToken=str(uuid.uuid4()),
    )
    return response["PipelineExecutionArn"]


def execution_steps(client: Any, execution_arn: str) -> list[dict[str, Any]]:
    """ListPipelineExecutionSteps, every page, oldest step first.

    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListPipelineExecutionSteps.html:
    each step has StepStatus, FailureReason when it failed, and Metadata per step type
    (RegisterModel.Arn is the package it created, Fail.ErrorMessage a Fail step's message,
    Condition.Outcome a condition's result).
    """
    steps: list[dict[str, Any]] = []
    for page in client.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=execution_arn, SortOrder="Ascending"
    ):
        steps.extend(page.get("PipelineExecutionSteps", []))
    return steps


@dataclass(frozen=True)
class Outcome:
    status: str
    failure_reason: str | None
    steps: list[dict[str, Any]]


def watch(
    client: Any,
    execution_arn: str,
    out: TextIO,
    *,
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Poll until the execution ends, printing every step status change with the elapsed time.

    The execution's status is read before its steps, so once it is terminal the steps listed
    after it are final too.
    """
    started = clock()
    seen: dict[str, str] = {}
    while True:
        description = client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        status = description["PipelineExecutionStatus"]
        steps = execution_steps(client, execution_arn)
        for step in steps:
            name, step_status = step.get("StepName", "?"), step.get("StepStatus", "?")
            if seen.get(name) != step_status:
                seen[name] = step_status
                print(f"[{elapsed(clock() - started)}] {name}: {step_status}{_step_detail(step)}", file=out, flush=True)
        if status in TERMINAL:
            return Outcome(status, description.get("FailureReason") or None, steps)
        sleep(poll_seconds)


def elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _step_detail(step: Mapping[str, Any]) -> str:
    reason = failing_reason(step)
    if reason:
        return f": {reason}"
    metadata = step.get("Metadata") or {}
    if "Condition" in metadata:
        return f" (outcome {metadata['Condition'].get('Outcome', '?')})"
    if step.get("CacheHitResult"):
        return " (cached)"
    return ""


def failing_reason(step: Mapping[str, Any]) -> str | None:
    """A failed step's FailureReason, or a Fail step's ErrorMessage (a gate that refused)."""
    fail = (step.get("Metadata") or {}).get("Fail") or {}
    if step.get("StepStatus") == "Failed" or fail:
        return step.get("FailureReason") or fail.get("ErrorMessage") or None
    return None


def registered_version(client: Any, steps: Iterable[Mapping[str, Any]]) -> ModelVersion | None:
    """The package a RegisterModel step of this execution created (its Metadata.RegisterModel.Arn)."""
    for step in steps:
        arn = ((step.get("Metadata") or {}).get(REGISTER_STEP_TYPE) or {}).get("Arn")
        if arn and step.get("StepStatus") == "Succeeded":
            return describe(client, arn)
    return None


def command_train(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    commit = ctx.commit()
    arn = start_training(client, stack, args.dataset_version, commit, ctx.user())
    print(f"started {arn}\n  dataset version {args.dataset_version}, commit {commit}", file=out)
    if not args.wait:
        print(
            f"not waiting; follow it with: aws sagemaker describe-pipeline-execution --pipeline-execution-arn {arn}",
            file=out,
        )
        return EXIT_OK
    try:
        outcome = watch(client, arn, out, poll_seconds=args.poll_seconds)
    except KeyboardInterrupt:
        print(f"\nstopped watching; the execution goes on: {arn}", file=out)
        return EXIT_INTERRUPTED
    if outcome.status != "Succeeded":
        failed = [s for s in outcome.steps if s.get("StepStatus") == "Failed" or failing_reason(s)]
        where = "; ".join(
            f"step {s.get('StepName', '?')}: {failing_reason(s) or 'failed, no reason given'}" for s in failed
        ) or (outcome.failure_reason or "no reason given")
        raise CommandError(f"execution {ENDINGS.get(outcome.status, outcome.status)}: {where}\n  {arn}")
    version = registered_version(client, outcome.steps)
    if version is None:
        raise CommandError(f"execution succeeded but registered no model version (no RegisterModel step ran)\n  {arn}")
    print(f"\nexecution succeeded: registered version {version.version} ({version.status})", file=out)
    print(render_version(version), file=out)
    if version.status != APPROVED:
        print(f"approve it with: python -m ops.models approve --stack {stack.name} {version.version}", file=out)
    return EXIT_OK
