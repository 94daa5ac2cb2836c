"""A deployed stack's outputs, read once and checked, for the operator commands.

The outputs come from the Pulumi Automation API (`LocalWorkspace(work_dir=<this project>)`,
`stack_outputs(<name>)`), which drives the Pulumi CLI on PATH against the backend it is logged
in to; or from a JSON file holding the same document (for machines without the CLI: write it
where the CLI is, with `pulumi stack output --json --stack prod > outputs.json`). The stack is
only read, never selected: the operator's current stack (`pulumi stack select`) is left as it
was. The parts a command needs are then checked against the shapes `__main__.py` exports
(`failover_client/stack_outputs.py`, shared with the callers' client), and every problem is
reported at once as `outputs: path.to.key: problem (got X)`.

Secret outputs: the Automation API hands every value over in plaintext with a `secret` flag.
A secret output reads as `[secret]`, as `pulumi stack output --json` shows it, unless the
command names it in `reveal`; no command needs one today, so no secret reaches a command,
its output or its errors.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation.errors import InvalidVersionError

from failover_client.stack_outputs import (
    ROLE_ORDER,
    Endpoint,
    EndpointOutput,
    OutputsError,
    endpoints,
    role_order,
    section,
)

__all__ = [
    "PULUMI_INSTALL_URL",
    "ROLE_ORDER",
    "SECRET_MASK",
    "Endpoint",
    "EndpointOutput",
    "OutputsError",
    "Workspace",
    "add_stack_arguments",
    "endpoints",
    "local_workspace",
    "read_outputs",
    "role_order",
    "section",
]

PROJECT_DIR = Path(__file__).resolve().parent.parent  # holds Pulumi.yaml
PULUMI_INSTALL_URL = "https://www.pulumi.com/docs/install/"
SECRET_MASK = "[secret]"  # what `pulumi stack output --json` prints in place of a secret

# Makes the Automation API workspace; it needs only `stack_outputs(name) -> {key: OutputValue}`.
Workspace = Callable[[], Any]


def local_workspace() -> auto.LocalWorkspace:
    """The Automation API's workspace for this project. Creating it runs `pulumi version`, so it
    raises FileNotFoundError when the CLI is not on PATH."""
    return auto.LocalWorkspace(work_dir=str(PROJECT_DIR))


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """`--stack NAME` and `--outputs FILE`: where a command finds the stack's outputs."""
    parser.add_argument("--stack", required=True, type=_stack_name, help="Pulumi stack name, e.g. prod")
    parser.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="JSON of `pulumi stack output --json` (default: read the stack through the Pulumi Automation API)",
    )


def _stack_name(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must be a stack name such as dev or prod (got an empty string)")
    return value


def read_outputs(
    stack: str,
    outputs_file: Path | None = None,
    *,
    workspace: Workspace = local_workspace,
    reveal: Collection[str] = (),
) -> dict[str, Any]:
    """The stack's outputs as a dict: from `outputs_file` when given, else through the Automation
    API. Secret outputs read as `[secret]` unless named in `reveal`."""
    if outputs_file is not None:
        return _read_file(outputs_file)
    return _read_stack(stack, workspace, reveal)


def _read_stack(stack: str, workspace: Workspace, reveal: Collection[str]) -> dict[str, Any]:
    command = f"pulumi stack output --json --stack {stack}"
    offline = f"or pass --outputs FILE (write it where the CLI is: `{command} > outputs.json`)"
    try:
        found = workspace()
    except FileNotFoundError:
        raise OutputsError(
            f"cannot read the outputs: the Pulumi CLI, which the Automation API runs, is not on PATH; "
            f"install it ({PULUMI_INSTALL_URL}) {offline}"
        ) from None
    except (subprocess.CalledProcessError, InvalidVersionError) as exc:
        raise OutputsError(
            f"cannot read the outputs: the Pulumi CLI on PATH is unusable ({exc}); "
            f"install a current one ({PULUMI_INSTALL_URL}) {offline}"
        ) from None
    try:
        values = found.stack_outputs(stack)
    except auto.StackNotFoundError:
        raise OutputsError(
            f"no stack named {stack!r} in the backend the Pulumi CLI is logged in to: check the name "
            f"(`pulumi stack ls`) or log in to the stack's backend (`pulumi login <backend_url of the "
            f"bootstrap outputs>`; `pulumi whoami --verbose` shows the current one)"
        ) from None
    except auto.CommandError as exc:
        code, detail = _command_failure(exc)
        raise OutputsError(f"`{command}` (run by the Automation API) failed (exit {code}): {detail}") from None
    return {key: value.value if not value.secret or key in reveal else SECRET_MASK for key, value in values.items()}


def _command_failure(exc: auto.CommandError) -> tuple[str, str]:
    """Exit code and stderr from a CommandError, whose text is `\\n code: N\\n stdout: ...\\n stderr: ...`
    (`pulumi.automation.CommandResult.__str__`)."""
    text = str(exc)
    code = re.search(r"code: (-?\d+)", text)
    stdout_and_stderr = text.split("\n stdout: ", 1)[-1]
    stdout, _, stderr = stdout_and_stderr.partition("\n stderr: ")
    detail = stderr.strip() or stdout.strip() or "no output"
    return (code.group(1) if code else "?"), detail


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise OutputsError(f"--outputs: cannot read {path}: {exc.strerror or exc}") from None
    return _parse(text, f"--outputs {path}")


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise OutputsError(f"{source} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OutputsError(f"{source} must be a JSON object of stack outputs (got {type(document).__name__})")
    return document
