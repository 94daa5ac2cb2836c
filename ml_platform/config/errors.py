"""The error contract of the stack config: one `path.to.key: problem (got X; expected Y)` line
per problem, and the two exceptions that carry them.

`problem` and `render` format one message; `ConfigRuleError` carries the problems a rule found
(relative to the model or field it checks); `describe_errors` turns a pydantic
`ValidationError` into lines, with close-match hints for misspelt keys and words for the formats
fields are held to. Nothing here knows a section.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ValidationError

from ml_platform.config.patterns import PATTERN_HINTS


class ConfigRuleError(ValueError):
    """One or more problems found by a validator, each relative to the model it validates.

    `problems` holds `(subpath, message)`; `subpath` is a dotted key below the model being
    validated ("" for the model or field itself). Messages read `problem (got X; expected Y)`.
    """

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


class StackConfigError(Exception):
    """Stack config failed validation; `lines` holds one `path: problem` line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def problem(what: str, got: Any, expected: str) -> str:
    return f"{what} (got {render(got)}; expected {expected})"


def render(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _dotted(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _section_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model found by following `loc` from `root`, or None."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _section_type(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _section_type(annotation: Any) -> Any:
    """Unwrap Optional / list / dict / Annotated to the section model inside, if any."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _section_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, dict):
        for arg in typing.get_args(annotation):
            inner = _section_type(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return None
    return annotation


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _explain(error: Mapping[str, Any]) -> tuple[str, str]:
    """(what is wrong, what is allowed) for a pydantic error of a built-in kind."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return "out of range", f"{_BOUNDS[kind]} {bound:g}" if isinstance(bound, float) else f"{_BOUNDS[kind]} {bound}"
    if kind == "literal_error":
        return "not an allowed value", f"one of {ctx['expected']}"
    if kind == "enum":
        return "not an allowed value", f"one of {ctx['expected']}"
    if kind == "string_pattern_mismatch":
        return "not in the required format", PATTERN_HINTS.get(ctx["pattern"], ctx["pattern"])
    if kind in ("string_too_short", "too_short"):
        return "too short", f"at least {ctx.get('min_length')}"
    if kind in ("string_too_long", "too_long"):
        return "too long", f"at most {ctx.get('max_length')}"
    for prefix, expected in (
        ("bool", "true or false"),
        ("int", "a whole number"),
        ("float", "a number"),
        ("string", "a string"),
        ("list", "a list"),
        ("dict", "a mapping of keys"),
        ("model", "a mapping of keys"),
    ):
        if kind.startswith(prefix):
            return "wrong type", expected
    return error["msg"].removeprefix("Value error, "), "a valid value"


def _expected_for(annotation: Any) -> str:
    """What a field takes, in words, for 'missing' messages."""
    section = _section_type(annotation)
    if isinstance(section, type) and issubclass(section, BaseModel):
        return f"a mapping with keys: {', '.join(section.model_fields)}"
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(annotation))
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(annotation, "a value")


def describe_errors(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One `path: problem (got X; expected Y)` line per problem, in config order; `root` is the
    model that was validated (it lists the keys an unknown key is compared with)."""
    lines: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = _dotted(loc)
        kind = error["type"]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigRuleError):
            for subpath, message in cause.problems:
                full = path + subpath if subpath.startswith("[") else ".".join(p for p in (path, subpath) if p)
                lines.append(f"{full or '(top level)'}: {message}")
        elif kind == "extra_forbidden":
            section = _section_at(root, loc[:-1])
            allowed = sorted(section.model_fields) if section else []
            near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.75)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            lines.append(
                f"{path}: unknown key{hint} (got {render(error['input'])}; expected one of: {', '.join(allowed)})"
            )
        elif kind == "missing":
            section = _section_at(root, loc[:-1])
            field = section.model_fields.get(str(loc[-1])) if section else None
            expected = _expected_for(field.annotation) if field else "a value"
            lines.append(f"{path}: required key is missing (got nothing; expected {expected})")
        else:
            what, expected = _explain(error)
            lines.append(f"{path}: {problem(what, error['input'], expected)}")
    return lines
