"""The parts of a deployed stack's outputs the failover client reads, checked.

The outputs are the JSON document of `pulumi stack output --json --stack <name>` (or the
Automation API's `Stack.outputs()` values). Each part is checked against the shape the
platform exports, and every problem is reported at once as `outputs: path.to.key: problem
(got X)`. The operator commands (`ops/outputs.py`) use the same checks, so a caller and an
operator see the same message for the same bad document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# Roles in the order callers try them; any other role follows, alphabetically.
ROLE_ORDER = ("primary", "secondary")


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
