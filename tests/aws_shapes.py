"""Map Pulumi-shaped data onto an AWS API request, guided by botocore's service model, and
validate it the way the SDK would before sending.

Pulumi inputs use snake_case (builders) or camelCase (the engine's wire names), wrap nested
blocks in one-element lists, and pluralise some list names (`inputDataConfigs`); the AWS API
uses PascalCase. The mapping walks the operation's input shape, so a key the API does not
know is an error rather than silently dropped.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


def to_api(shape: Shape, value: Any, path: str = "") -> Any:
    kind = shape.type_name
    if kind == "structure":
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, dict):
            raise TypeError(f"{path or shape.name}: expected a mapping for {shape.name}, got {value!r}")
        given = {_norm(k): (k, v) for k, v in value.items() if v is not None}
        out = {}
        for member, member_shape in shape.members.items():
            for candidate in (_norm(member), _norm(member) + "s"):
                if candidate in given:
                    original, inner = given.pop(candidate)
                    out[member] = to_api(member_shape, inner, f"{path}.{original}".lstrip("."))
                    break
        if given:
            unknown = sorted(original for original, _ in given.values())
            raise KeyError(f"{path or shape.name}: {shape.name} has no member for {unknown}")
        return out
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        return [to_api(shape.member, item, f"{path}[{i}]") for i, item in enumerate(items)]
    if kind == "map":
        return {k: to_api(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if kind in ("integer", "long"):
        if float(value) != int(value):
            raise ValueError(f"{path}: {value!r} is not a whole number")
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind in ("float", "double"):
        return float(value)
    return value


def request(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """`params` mapped onto `service.operation`'s input, validated like the SDK does."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    mapped = to_api(shape, params)
    report = ParamValidator().validate(mapped, shape)
    if report.has_errors():
        raise ValueError(report.generate_report())
    return mapped
