"""Model versions of a deployed stack: train one, list them, approve, reject, roll back.

    python -m ops.models train    --stack S [--dataset-version V] [--wait | --no-wait] [--poll-seconds N]
    python -m ops.models list     --stack S [--json]
    python -m ops.models approve  --stack S N [--reason TEXT]
    python -m ops.models reject   --stack S N --reason TEXT
    python -m ops.models rollback --stack S [--to N] [--reason TEXT]
    python -m ops.models register --stack S --model-dir DIR --instance-type T [--instance-type T ...]
                                  [--description TEXT]

Every command takes `--outputs FILE` too (see ops/outputs.py). From the stack's outputs it uses
`regions.primary` (where the registry and the pipeline live), `model_package_group`,
`pipelines.retraining` (train) and `endpoints` (list: what each endpoint serves).

- train     starts an execution of the model-build pipeline (StartPipelineExecution with the
            parameters `DatasetVersion`, default `latest`, and `GitCommit`, from
            `git rev-parse HEAD` or `unknown`) and, unless --no-wait, prints each step's status
            change with the elapsed time until the execution ends; then the version it
            registered, or the failing step and its reason. (Training never runs in `pulumi up`.)
- list      the versions (version, status, created, dataset, accuracy and other metrics, where
            deployed: each endpoint's live Model compared by package ARN or artifact).
- approve   sets a version Approved: the approval event starts the deploy workflow, and stacks
            on `serving.model: latest-approved` serve it after their next `pulumi up`.
- reject    sets a version Rejected, with the reason.
- rollback  without --to, the SageMaker Projects convention: reject the latest approved version
            so the previous approved one is latest again (refused when there is none); with
            --to N, check N is approved and print the commands that pin it. Never retrains:
            the previous version's artifact is served as it was registered, byte for byte.
- register  a model directory made outside the pipeline (`python -m model_code import-onnx`, or a
            local `train`) as a new version, PendingManualApproval: packs DIR's files as
            model.tar.gz, uploads it and baseline.json under a run-unique prefix
            `models/register-<UTC time>-<8 hex>/` of the stack's artifacts bucket
            (`buckets.<primary>.artifacts`), then CreateModelPackage in the group with the stack's
            image (`image_uri`), the archive as ModelDataUrl, the baseline as the drift baseline,
            and metrics.json's holdout figures as `metric.<name>` metadata. Approve it as any other.

Exit codes: 0 done; 1 the operation failed or was refused (execution failed, no earlier
version, version not approved...); 2 bad arguments or outputs that cannot be read; 130 stopped
watching with Ctrl-C (the execution goes on).
"""

from __future__ import annotations

import argparse
import base64
import getpass
import gzip
import hashlib
import io
import json
import math
import re
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.components.model_versions import (
    APPROVED,
    LATEST_APPROVED,
    REJECTED,
    ModelVersion,
    RegistryError,
    describe,
    get_version,
    list_versions,
    resolve,
    set_status,
)
from ops.outputs import Endpoint, OutputsError, Workspace, add_stack_arguments, endpoints, read_outputs, section

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_DATASET_VERSION = "latest"
DEFAULT_POLL_SECONDS = 30.0
# PipelineExecutionStatus values that end an execution (botocore's sagemaker model); only
# Succeeded registers a version.
TERMINAL = ("Succeeded", "Failed", "Stopped", "CompletedWithFailures")
ENDINGS = {"Failed": "failed", "Stopped": "was stopped", "CompletedWithFailures": "completed with failures"}
REGISTER_STEP_TYPE = "RegisterModel"

CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 5})
ClientFactory = Callable[[str, str], Any]  # (service name, region) -> boto3 client


def default_clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)


class CommandError(Exception):
    """The operation failed or was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Context:
    """What a command talks to: AWS clients, the output stream, the checkout's commit."""

    clients: ClientFactory
    out: TextIO
    commit: Callable[[], str]


@dataclass(frozen=True)
class Stack:
    """What the commands need from the stack's outputs."""

    name: str
    region: str
    group: str
    outputs: Mapping[str, Any]

    def pipeline(self) -> str:
        pipelines = section(
            self.outputs,
            "pipelines",
            dict[str, str],
            "the stack declares no pipelines; enable retraining in its config",
        )
        if "retraining" not in pipelines:
            raise OutputsError(
                f"outputs: pipelines.retraining: missing (the model-build pipeline; pipelines present: "
                f"{', '.join(sorted(pipelines)) or 'none'})"
            )
        return pipelines["retraining"]


def load_stack(args: argparse.Namespace, workspace: Workspace | None) -> Stack:
    outputs = read_outputs(args.stack, args.outputs, **({"workspace": workspace} if workspace else {}))
    regions = section(outputs, "regions", dict[str, str], "every stack exports its regions")
    if "primary" not in regions:
        raise OutputsError(f"outputs: regions.primary: missing (got {regions!r})")
    group = section(outputs, "model_package_group", str, "the stack declares no model registry")
    return Stack(args.stack, regions["primary"], group, outputs)


# ---------------------------------------------------------------------------------------------
# train


def git_commit(run: Callable[..., Any] = subprocess.run) -> str:
    """HEAD's commit of the checkout the command runs in, or `unknown`."""
    try:
        result = run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = (result.stdout or "").strip()
    return commit if result.returncode == 0 and commit else "unknown"


def start_training(client: Any, stack: Stack, dataset_version: str, commit: str) -> str:
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
            f"python -m ops.models train by {_user()}: dataset {dataset_version}, commit {commit}"
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
    arn = start_training(client, stack, args.dataset_version, commit)
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


# ---------------------------------------------------------------------------------------------
# list


@dataclass(frozen=True)
class Serving:
    """What one endpoint's live Model serves, as DescribeEndpoint -> config -> Model report it."""

    endpoint: Endpoint
    package_arn: str | None = None
    model_data_url: str | None = None
    problem: str | None = None

    @property
    def where(self) -> str:
        return f"{self.endpoint.role} ({self.endpoint.region})"

    def serves(self, version: ModelVersion) -> bool:
        """Same package (or the same group and number in this region), or the same artifact
        (or a copy under the same key in this region's bucket)."""
        if self.package_arn:
            return self.package_arn == version.arn or _package_path(self.package_arn) == _package_path(version.arn)
        if self.model_data_url:
            return self.model_data_url == version.model_data_url or _s3_key(self.model_data_url) == _s3_key(
                version.model_data_url
            )
        return False


def _package_path(arn: str) -> str:
    return arn.split(":", 5)[-1].lower()  # model-package/<group>/<version>


def _s3_key(url: str) -> str:
    return url.removeprefix("s3://").partition("/")[2]


def live_serving(endpoint: Endpoint, clients: ClientFactory) -> Serving:
    client = clients("sagemaker", endpoint.region)
    try:
        live = client.describe_endpoint(EndpointName=endpoint.endpoint_name)
        config = client.describe_endpoint_config(EndpointConfigName=live["EndpointConfigName"])
        variants = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
        variant = variants.get(endpoint.variant_name) or next(iter(variants.values()), None)
        if variant is None:
            return Serving(endpoint, problem=f"endpoint config {live['EndpointConfigName']} has no variant")
        model = client.describe_model(ModelName=variant["ModelName"])
    except (ClientError, BotoCoreError) as exc:
        return Serving(endpoint, problem=f"cannot read what {endpoint.endpoint_name} serves: {exc}")
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    return Serving(endpoint, container.get("ModelPackageName"), container.get("ModelDataUrl"))


def version_rows(versions: list[ModelVersion], serving: list[Serving]) -> list[dict[str, Any]]:
    rows = []
    for version in reversed(versions):  # newest first
        rows.append(
            {
                "version": version.version,
                "status": version.status,
                "created": version.created.isoformat(),
                "dataset_version": version.dataset_version,
                "dataset_uri": version.dataset_uri,
                "metrics": version.metrics,
                "deployed": [s.endpoint.role for s in serving if s.serves(version)],
                "arn": version.arn,
                "model_data_url": version.model_data_url,
                "image_uri": version.image_uri,
                "baseline_url": version.baseline_url,
                "git_commit": version.customer_metadata.get("git_commit"),
                "pipeline_execution_arn": version.customer_metadata.get("pipeline_execution_arn"),
            }
        )
    return rows


def render_table(rows: list[dict[str, Any]], serving: list[Serving], regions: Mapping[str, str]) -> str:
    header = ("version", "status", "created (UTC)", "dataset", "accuracy", "other metrics", "deployed")
    table = [header]
    for row in rows:
        metrics = dict(row["metrics"])
        accuracy = metrics.pop("accuracy", None)
        table.append(
            (
                str(row["version"]),
                row["status"],
                _minute(row["created"]),
                row["dataset_version"] or "-",
                f"{accuracy:.4f}" if accuracy is not None else "-",
                " ".join(f"{k}={_number(v)}" for k, v in sorted(metrics.items())) or "-",
                ", ".join(f"{role} ({regions.get(role, '?')})" for role in row["deployed"]) or "-",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    for live in serving:
        if live.problem:
            lines.append(f"note: {live.where}: {live.problem}")
        elif not any(live.endpoint.role in row["deployed"] for row in rows):
            shown = live.package_arn or live.model_data_url or "nothing readable"
            lines.append(f"note: {live.where} serves {shown}, which is no version of this group")
    return "\n".join(lines)


def _minute(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def command_list(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    versions = list_versions(clients("sagemaker", stack.region), stack.group)
    try:
        targets = endpoints(stack.outputs)
    except OutputsError:
        targets = []  # first deploy: no endpoint declared yet
    serving = [live_serving(endpoint, clients) for endpoint in targets]
    rows = version_rows(versions, serving)
    if args.json:
        document = {
            "stack": stack.name,
            "region": stack.region,
            "model_package_group": stack.group,
            "versions": rows,
            "endpoints": [
                {
                    "role": s.endpoint.role,
                    "region": s.endpoint.region,
                    "endpoint_name": s.endpoint.endpoint_name,
                    "package_arn": s.package_arn,
                    "model_data_url": s.model_data_url,
                    "version": next((v.version for v in versions if s.serves(v)), None),
                    "problem": s.problem,
                }
                for s in serving
            ],
        }
        print(json.dumps(document, indent=2), file=out)
        return EXIT_OK
    print(f"ops models · stack {stack.name} · group {stack.group} ({stack.region})\n", file=out)
    if not versions:
        print(f"no model versions yet; train the first with: python -m ops.models train --stack {stack.name}", file=out)
        return EXIT_OK
    regions = {s.endpoint.role: s.endpoint.region for s in serving}
    print(render_table(rows, serving, regions), file=out)
    if not targets:
        print("note: the stack declares no endpoint yet (nothing deployed)", file=out)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# approve, reject, rollback


def render_version(version: ModelVersion) -> str:
    metrics = ", ".join(f"{k}={_number(v)}" for k, v in sorted(version.metrics.items())) or "none recorded"
    return (
        f"  version {version.version} · {version.status} · created {version.created:%Y-%m-%d %H:%M} UTC\n"
        f"  artifact {version.model_data_url}\n"
        f"  dataset  {version.dataset_version or '?'} ({version.dataset_uri or 'uri not recorded'})\n"
        f"  metrics  {metrics}"
    )


def command_approve(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    version = get_version(client, stack.group, args.version)
    if version.status == APPROVED:
        print(f"version {version.version} is already Approved; nothing changed", file=out)
        return EXIT_OK
    set_status(client, version.arn, APPROVED, args.reason or f"approved by {_user()} with python -m ops.models")
    print(f"version {version.version}: {version.status} -> Approved\n{render_version(version)}", file=out)
    print(
        "the approval starts the deploy workflow; stacks on serving.model: latest-approved serve it after "
        f"their next `pulumi up --stack {stack.name}`",
        file=out,
    )
    return EXIT_OK


def command_reject(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    version = get_version(client, stack.group, args.version)
    was_latest = (
        latest := resolve(client, stack.group, LATEST_APPROVED)
    ) is not None and latest.version == version.version
    set_status(client, version.arn, REJECTED, args.reason)
    print(f"version {version.version}: {version.status} -> Rejected ({args.reason})", file=out)
    if was_latest:
        now = resolve(client, stack.group, LATEST_APPROVED)
        print(
            f"it was latest-approved; latest-approved is now {now.version if now else 'none'}: "
            f"run `pulumi up --stack {stack.name}` to deploy that",
            file=out,
        )
    return EXIT_OK


def command_rollback(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    clients, out = ctx.clients, ctx.out
    client = clients("sagemaker", stack.region)
    if args.to is not None:
        return _pin(client, stack, args.to, out)
    versions = list_versions(client, stack.group)
    approved = [v for v in versions if v.status == APPROVED]
    if not approved:
        raise CommandError(
            f"model package group {stack.group!r} has no approved version to roll back from "
            f"(versions: {_summary(versions)})"
        )
    current, earlier = approved[-1], approved[:-1]
    if not earlier:
        raise CommandError(
            f"version {current.version} is the only approved version of {stack.group!r}; rejecting it would "
            f"leave nothing to serve. Approve an earlier version first, or pin one with --to N "
            f"(versions: {_summary(versions)})"
        )
    previous = earlier[-1]
    reason = args.reason or f"rolled back by {_user()} with python -m ops.models rollback"
    set_status(client, current.arn, REJECTED, reason)
    now = resolve(client, stack.group, LATEST_APPROVED)
    if now is None or now.version != previous.version:
        raise CommandError(
            f"rejected version {current.version}, but latest-approved is now "
            f"{now.version if now else 'none'}, not {previous.version}: the registry changed meanwhile; "
            f"check with `python -m ops.models list --stack {stack.name}`"
        )
    print(f"rejected version {current.version} ({reason})", file=out)
    print(f"latest-approved is now version {now.version}:\n{render_version(now)}", file=out)
    print(
        f"\ndeploy it (stacks on serving.model: latest-approved):\n    pulumi up --stack {stack.name}\n"
        f"a stack that pins serving.model to a number keeps that number; pin {now.version} there with\n"
        f"    python -m ops.models rollback --stack {stack.name} --to {now.version}",
        file=out,
    )
    return EXIT_OK


def _pin(client: Any, stack: Stack, number: int, out: TextIO) -> int:
    try:
        version = resolve(client, stack.group, number)
    except RegistryError as exc:
        raise CommandError(f"cannot pin version {number}: {exc}") from None
    print(f"version {version.version} is approved:\n{render_version(version)}", file=out)
    print(
        f"\npin it and deploy (commit the changed Pulumi.{stack.name}.yaml):\n"
        f"    pulumi config set --path serving.model {version.version} --stack {stack.name}\n"
        f"    pulumi up --stack {stack.name}\n"
        f"back to following approvals later:\n"
        f"    pulumi config set --path serving.model {LATEST_APPROVED} --stack {stack.name}",
        file=out,
    )
    return EXIT_OK


def _summary(versions: list[ModelVersion]) -> str:
    return ", ".join(f"{v.version} {v.status}" for v in versions) or "none"


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown user"


# ---------------------------------------------------------------------------------------------
# Command line


def _version_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a model version number >= 1 (got {text!r})")
    return int(text)


def _reason(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must say why (got an empty string)")
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0 (got {text!r})")
    return value


# ---------------------------------------------------------------------------------------------
# register

MODEL_FILES = {"model.onnx": "onnx", "model.npz": "npz"}
PACKED_FILES = ("model.onnx", "model.json", "model.npz", "metrics.json", "baseline.json")
# CreateModelPackage CustomerMetadataProperties: at most 50 entries, keys 1-128 and values
# 1-256 characters of letters, spaces, digits and _.:/=+-@ (botocore's sagemaker model, shape
# CustomerMetadataMap; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html).
_METADATA_VALUE = re.compile(r"[\w .:/=+\-@]{1,256}")
_METRICS = ("accuracy", "log_loss", "rmse", "mae", "r2")


def pack_model_dir(model_dir: Path) -> tuple[bytes, dict[str, Any], dict[str, Any], bytes]:
    """(model.tar.gz bytes, model metadata, metrics.json, baseline.json bytes) of a model directory.

    The archive holds the directory's model files at its top level, as a training job's
    model.tar.gz does (SageMaker extracts it into /opt/ml/model), in a fixed order with fixed
    owners and times, so the same directory always packs to the same bytes.
    """
    if not model_dir.is_dir():
        raise CommandError(f"--model-dir {model_dir} is not a directory")
    present = [name for name in MODEL_FILES if (model_dir / name).is_file()]
    if not present:
        found = ", ".join(sorted(p.name for p in model_dir.iterdir())) or "nothing"
        raise CommandError(
            f"--model-dir {model_dir} holds no model.onnx or model.npz (found: {found}); write one with "
            f"python -m model_code import-onnx or train"
        )
    missing = [name for name in ("metrics.json", "baseline.json") if not (model_dir / name).is_file()]
    if present[0] == "model.onnx" and not (model_dir / "model.json").is_file():
        missing.insert(0, "model.json")
    if missing:
        raise CommandError(
            f"--model-dir {model_dir} lacks {', '.join(missing)}; python -m model_code import-onnx writes them"
        )
    meta = _json_file(model_dir / "model.json") if present[0] == "model.onnx" else {"format": "npz"}
    if present[0] == "model.onnx" and meta.get("format") != "onnx":
        raise CommandError(f"{model_dir / 'model.json'}: format must be 'onnx' (got {meta.get('format')!r})")
    metrics = _json_file(model_dir / "metrics.json")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in PACKED_FILES:
            path = model_dir / name
            if not path.is_file():
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    archive_bytes = gzip.compress(buffer.getvalue(), mtime=0)
    return archive_bytes, meta, metrics, (model_dir / "baseline.json").read_bytes()


def _json_file(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise CommandError(f"{path} must hold a JSON object (got {type(document).__name__})")
    return document


def version_metadata(meta: Mapping[str, Any], metrics: Mapping[str, Any], commit: str) -> dict[str, str]:
    """CustomerMetadataProperties: lineage, and the holdout metrics as `metric.<name>` (the keys
    ml_platform/components/model_versions.py reads back into ModelVersion.metrics)."""
    holdout = metrics.get("holdout") if isinstance(metrics.get("holdout"), dict) else {}
    properties = {
        "source": "ops.models register",
        "model_format": str(meta.get("format", "npz")),
        "task": str(meta.get("task", "classification")),
        "git_commit": commit,
        "registered_by": _user(),
    }
    producer = (meta.get("onnx") or {}).get("producer") if isinstance(meta.get("onnx"), dict) else None
    if producer:
        properties["producer"] = str(producer)
    for name in _METRICS:
        value = holdout.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            properties[f"metric.{name}"] = f"{value:.6g}"
    if isinstance(holdout.get("rows"), int):
        properties["metric.holdout_rows"] = str(holdout["rows"])
    # Values outside SageMaker's character set (a user name with a comma, say) become "_".
    return {
        key: value if _METADATA_VALUE.fullmatch(value) else re.sub(r"[^\w .:/=+\-@]", "_", value)[:256] or "_"
        for key, value in properties.items()
    }


def artifacts_bucket(stack: Stack) -> str:
    buckets = section(stack.outputs, "buckets", dict[str, dict[str, str]], "every stack exports its buckets")
    primary = next((role for role, region in stack.outputs["regions"].items() if region == stack.region), "primary")
    bucket = buckets.get(primary, {}).get("artifacts")
    if not bucket:
        raise OutputsError(f"outputs: buckets.{primary}.artifacts: missing (got {buckets.get(primary)!r})")
    return bucket


def command_register(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    archive, meta, metrics, baseline = pack_model_dir(args.model_dir)
    bucket = artifacts_bucket(stack)
    image = section(stack.outputs, "image_uri", str, "the stack exports the serving image as image_uri")
    now = datetime.now(UTC)
    prefix = f"models/register-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    s3 = ctx.clients("s3", stack.region)
    # A new prefix per run: a registered version's artifact is never overwritten (rollback serves
    # it byte for byte). ChecksumSHA256 makes S3 refuse a corrupted upload
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html); the
    # bucket's default SSE-KMS encryption applies, as the bucket policy requires.
    uploads = (
        (f"{prefix}/model.tar.gz", archive, "application/gzip"),
        (f"{prefix}/baseline.json", baseline, "application/json"),
    )
    for key, body, content_type in uploads:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumSHA256=_b64_sha256(body),
        )
        print(f"uploaded s3://{bucket}/{key} ({len(body)} bytes)", file=ctx.out)
    model_data_url = f"s3://{bucket}/{prefix}/model.tar.gz"
    description = (
        args.description or f"Registered from {args.model_dir.resolve().name} by python -m ops.models register"
    )
    sagemaker = ctx.clients("sagemaker", stack.region)
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html: with
    # ModelPackageGroupName the package is a versioned one, numbered after the group's last;
    # ClientToken makes a retried call create one version, not two.
    response = sagemaker.create_model_package(
        ModelPackageGroupName=stack.group,
        ModelPackageDescription=description[:1024],
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
            "SupportedRealtimeInferenceInstanceTypes": list(args.instance_type),
        },
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties=version_metadata(meta, metrics, ctx.commit()),
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{prefix}/baseline.json"}
            }
        },
        ClientToken=str(uuid.uuid4()),
    )
    version = describe(sagemaker, response["ModelPackageArn"])
    print(
        f"registered version {version.version} ({version.status}) in {stack.group}: {version.arn}; "
        f"approve it with: python -m ops.models approve --stack {stack.name} {version.version}",
        file=ctx.out,
    )
    return EXIT_OK


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


COMMANDS = {
    "train": command_train,
    "list": command_list,
    "approve": command_approve,
    "reject": command_reject,
    "rollback": command_rollback,
    "register": command_register,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ops.models", description="Model versions of a deployed stack.")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{train,list,approve,reject,rollback,register}"
    )

    train = commands.add_parser("train", help="start a model-build pipeline execution and follow it")
    add_stack_arguments(train)
    train.add_argument("--dataset-version", default=DEFAULT_DATASET_VERSION, help="default: latest")
    train.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True, help="follow the execution")
    train.add_argument("--poll-seconds", type=_positive_seconds, default=DEFAULT_POLL_SECONDS)

    listing = commands.add_parser("list", help="the versions and where each is deployed")
    add_stack_arguments(listing)
    listing.add_argument("--json", action="store_true")

    approve = commands.add_parser("approve", help="approve version N (starts a deploy)")
    add_stack_arguments(approve)
    approve.add_argument("version", type=_version_number, metavar="N")
    approve.add_argument("--reason", type=_reason)

    reject = commands.add_parser("reject", help="reject version N")
    add_stack_arguments(reject)
    reject.add_argument("version", type=_version_number, metavar="N")
    reject.add_argument("--reason", type=_reason, required=True)

    rollback = commands.add_parser("rollback", help="reject the latest approved version, or pin N with --to")
    add_stack_arguments(rollback)
    rollback.add_argument("--to", type=_version_number, metavar="N")
    rollback.add_argument("--reason", type=_reason)

    register = commands.add_parser("register", help="register a model directory (import-onnx's) as a new version")
    add_stack_arguments(register)
    register.add_argument("--model-dir", type=Path, required=True, help="holds model.onnx + model.json, or model.npz")
    register.add_argument(
        "--instance-type",
        action="append",
        required=True,
        type=_instance_type,
        help="an instance type the version may be served on (repeat for several), e.g. ml.c5.xlarge",
    )
    register.add_argument("--description", help="the version's description (default: names the directory)")
    return parser.parse_args(argv)


def _instance_type(text: str) -> str:
    if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", text):
        raise argparse.ArgumentTypeError(f"must be a SageMaker instance type such as ml.c5.xlarge (got {text!r})")
    return text


def main(
    argv: list[str] | None = None,
    *,
    clients: ClientFactory = default_clients,
    workspace: Workspace | None = None,
    commit: Callable[[], str] = lambda: git_commit(),
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parse_args(argv)
    try:
        stack = load_stack(args, workspace)
        return COMMANDS[args.command](args, stack, Context(clients, out, commit))
    except OutputsError as exc:
        print(f"error: stack {args.stack}: {exc}", file=err)
        return EXIT_USAGE
    except (CommandError, RegistryError) as exc:
        print(f"error: stack {args.stack}: {exc}", file=err)
        return EXIT_FAILED
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"error: stack {args.stack}: {exc.operation_name} failed: {error.get('Code', '?')}: "
            f"{error.get('Message', exc)}",
            file=err,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
