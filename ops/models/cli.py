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
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from botocore.exceptions import ClientError

from ml_platform.components.model_versions import RegistryError
from ops.models.catalog import command_approve, command_list, command_reject, command_rollback
from ops.models.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    ClientFactory,
    CommandError,
    Context,
    current_user,
    default_clients,
    load_stack,
)
from ops.models.register import command_register
from ops.models.train import DEFAULT_DATASET_VERSION, DEFAULT_POLL_SECONDS, command_train, git_commit
from ops.outputs import OutputsError, Workspace, add_stack_arguments


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
    user: Callable[[], str] = current_user,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parse_args(argv)
    try:
        stack = load_stack(args, workspace)
        return COMMANDS[args.command](args, stack, Context(clients, out, commit, user))
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
