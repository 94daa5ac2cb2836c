"""A deployed stack's outputs, read once and checked, for the operator commands.

The outputs come from the Pulumi CLI (`pulumi stack output --json --stack <name>`) or from a
JSON file holding the same document (for machines without the CLI: write it where the CLI is,
with `pulumi stack output --json --stack prod > outputs.json`). The parts a command needs are
then checked against the shapes `__main__.py` exports, and every problem is reported at once
as `path.to.key: problem (got X)`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# Roles in the order callers try them; any other role follows, alphabetically.
ROLE_ORDER = ("primary", "secondary")
PULUMI_INSTALL_URL = "https://www.pulumi.com/docs/install/"


class OutputsError(Exception):
    """The outputs could not be read, or lack what the command needs. The message says how to fix it."""


class EndpointOutput(BaseModel):
    """One entry of the `endpoints` output: a SageMaker endpoint the stack declared in one region."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    region: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)
    endpoint_config_name: str = Field(min_length=1)
    variant_name: str = Field(min_length=1)
    # None when the variant has no autoscaling (Pulumi hands numbers over as floats: 2.0 reads as 2).
    min_capacity: int | None = None
    max_capacity: int | None = None


class Endpoint(EndpointOutput):
    """An `endpoints` entry together with its role (`primary`, `secondary`)."""

    role: str


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """`--stack NAME` and `--outputs FILE`: where a command finds the stack's outputs."""
    parser.add_argument("--stack", required=True, type=_stack_name, help="Pulumi stack name, e.g. prod")
    parser.add_argument(
        "--outputs", type=Path, metavar="FILE", help="JSON of `pulumi stack output --json` (default: ask the CLI)"
    )


def _stack_name(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must be a stack name such as dev or prod (got an empty string)")
    return value


def read_outputs(
    stack: str, outputs_file: Path | None = None, *, run: Callable[..., Any] = subprocess.run
) -> dict[str, Any]:
    """The stack's outputs as a dict: from `outputs_file` when given, else from the Pulumi CLI."""
    if outputs_file is not None:
        return _read_file(outputs_file)
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    shown = " ".join(command)
    try:
        result = run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise OutputsError(
            f"cannot run `{shown}`: the Pulumi CLI is not on PATH; install it ({PULUMI_INSTALL_URL}) "
            f"or pass --outputs FILE (write it where the CLI is: `{shown} > outputs.json`)"
        ) from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip() or "no output"
        raise OutputsError(f"`{shown}` failed (exit {result.returncode}): {detail}")
    return _parse(result.stdout, f"the output of `{shown}`")


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


def role_order(roles: Any) -> list[str]:
    """Roles with `primary` first, then `secondary`, then any other alphabetically."""
    return sorted(roles, key=lambda role: (ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER), role))


def endpoints(outputs: Mapping[str, Any]) -> list[Endpoint]:
    """The `endpoints` output as a list, primary first; raises OutputsError naming every bad key."""
    raw = _require(outputs, "endpoints", "the stack declares no endpoint; deploy the serving component first")
    parsed = _validate(TypeAdapter(dict[str, EndpointOutput]), raw, "endpoints")
    if not parsed:
        raise OutputsError("outputs: endpoints: is empty (expected at least a `primary` endpoint)")
    return [Endpoint(role=role, **parsed[role].model_dump()) for role in role_order(parsed)]


def section(outputs: Mapping[str, Any], key: str, shape: Any, why: str) -> Any:
    """Output `key` validated against `shape` (a type pydantic understands); errors name the key."""
    return _validate(TypeAdapter(shape), _require(outputs, key, why), key)


def _require(outputs: Mapping[str, Any], key: str, why: str) -> Any:
    if key not in outputs:
        present = ", ".join(sorted(outputs)) or "none"
        raise OutputsError(f"outputs: {key}: missing ({why}; outputs present: {present})")
    return outputs[key]


def _validate(adapter: TypeAdapter, value: Any, key: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = ".".join(str(part) for part in (key, *error["loc"]))
            if error["type"] == "missing":
                problems.append(f"outputs: {path}: missing")
            else:
                problems.append(f"outputs: {path}: {error['msg']} (got {error['input']!r})")
        raise OutputsError("\n".join(problems)) from None
