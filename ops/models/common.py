"""What every `ops.models` command shares: the stack it works on, its AWS clients and context,
its errors and exit codes."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import boto3
from botocore.config import Config

from ml_platform.components.model_versions import ModelVersion
from ops.outputs import OutputsError, Workspace, read_outputs, section

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 5})

ClientFactory = Callable[[str, str], Any]  # (service name, region) -> boto3 client


def default_clients(service: str, region: str) -> Any:
    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)


class CommandError(Exception):
    """The operation failed or was refused; the message says why and what to do."""


@dataclass(frozen=True)
class Context:
    """What a command talks to: AWS clients, the output stream, the checkout's commit, and who
    runs it (for the reasons and descriptions it records)."""

    clients: ClientFactory
    out: TextIO
    commit: Callable[[], str]
    user: Callable[[], str] = field(default=lambda: current_user())


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


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown user"


def render_version(version: ModelVersion) -> str:
    metrics = ", ".join(f"{k}={metric_text(v)}" for k, v in sorted(version.metrics.items())) or "none recorded"
    return (
        f"  version {version.version} · {version.status} · created {version.created:%Y-%m-%d %H:%M} UTC\n"
        f"  artifact {version.model_data_url}\n"
        f"  dataset  {version.dataset_version or '?'} ({version.dataset_uri or 'uri not recorded'})\n"
        f"  metrics  {metrics}"
    )


def metric_text(value: float) -> str:
    """A metric as printed: whole numbers without a fraction, others to 4 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"
