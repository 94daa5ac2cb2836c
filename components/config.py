"""Typed stack config: the only place config is read and checked.

Config lives under the project namespace (`ml-platform:<key>`) in `Pulumi.<stack>.yaml`.
`parse_stack_config` validates a plain dict and reports *every* problem at once, one line
each, as `path.to.key: problem (got X; expected Y)`. `load_stack_config` reads the running
program's config and turns those problems into a `pulumi.RunError` (no traceback).

Later capabilities add their own section model here and a field on `StackConfig`.

Rules across fields are field validators on the later field, reading the earlier ones from
`info.data`: unlike a model validator they still run when an unrelated field is invalid, so
every problem is reported in one pass. Fields are declared in the order the rules need.
"""

from __future__ import annotations

import difflib
import functools
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

PROJECT = "ml-platform"

# AWS tag values: letters, digits, spaces and `_ . : / = + - @`, up to 256 characters.
TAG_VALUE_PATTERN = r"^[\w .:/=+\-@]+$"

Environment = Literal["dev", "staging", "prod"]


class ConfigRuleError(ValueError):
    """One or more problems found by a validator, each relative to the model it validates.

    `problems` holds `(subpath, message)`; `subpath` is a dotted key below the model being
    validated ("" for the model or field itself). Messages read `problem (got X; expected Y)`.
    """

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(message for _, message in self.problems))


def problem(what: str, got: Any, expected: str) -> str:
    return f"{what} (got {render(got)}; expected {expected})"


def render(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


class StackConfigError(Exception):
    """Stack config failed validation; `lines` holds one `path: problem` line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@functools.cache
def known_regions() -> frozenset[str]:
    """Regions where SageMaker is offered, from botocore's endpoint data (no hand-kept list)."""
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        regions.update(session.get_available_regions("sagemaker", partition_name=partition))
    return frozenset(regions)


def closest(value: str, choices: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(value, sorted(choices), n=n, cutoff=0.6)


def check_region(value: str) -> str:
    regions = known_regions()
    if value in regions:
        return value
    near = closest(value, regions)
    hint = f"a region where SageMaker is offered, e.g. {', '.join(near) if near else 'us-east-1'}"
    raise ConfigRuleError([("", problem("unknown AWS region", value, hint))])


class RegionsConfig(Section):
    """Where the stack runs. The secondary region holds replicas and the warm standby."""

    primary: str = Field(description="Primary AWS region, e.g. `us-east-1`.")
    secondary: str | None = Field(
        default=None,
        description="Optional second region for replicas, backup copies and the warm standby.",
    )

    @field_validator("primary")
    @classmethod
    def _known_primary(cls, value: str) -> str:
        return check_region(value)

    @field_validator("secondary")
    @classmethod
    def _known_secondary_other_than_primary(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        check_region(value)
        primary = info.data.get("primary")
        if value == primary:
            raise ConfigRuleError(
                [
                    (
                        "",
                        problem(
                            "must differ from regions.primary",
                            value,
                            f"a region other than {primary!r}, or no secondary",
                        ),
                    )
                ]
            )
        return value

    def by_role(self) -> dict[str, str]:
        """`{"primary": region, "secondary": region}`, the secondary only when configured."""
        roles = {"primary": self.primary}
        if self.secondary is not None:
            roles["secondary"] = self.secondary
        return roles


class StackConfig(Section):
    """The whole stack config, validated once in `__main__.py`."""

    environment: Environment = Field(description="Environment this stack deploys: dev, staging or prod.")
    owner: str = Field(
        pattern=TAG_VALUE_PATTERN,
        max_length=256,
        description="Team that owns the stack; becomes the `owner` tag.",
    )
    cost_center: str = Field(
        pattern=TAG_VALUE_PATTERN,
        max_length=256,
        description="Cost centre billed; becomes the `cost-center` tag.",
    )
    regions: RegionsConfig = Field(description="Primary and optional secondary region.")
    protect_stateful: bool = Field(
        default=False,
        validate_default=True,
        description="Set `protect` and `retain_on_delete` on stateful resources (keys, buckets, "
        "vaults). Required in prod.",
    )
    account_id: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="Optional AWS account the stack must deploy into; the providers refuse any other.",
    )

    @field_validator("protect_stateful")
    @classmethod
    def _protected_in_prod(cls, value: bool, info: ValidationInfo) -> bool:
        if info.data.get("environment") == "prod" and not value:
            raise ConfigRuleError([("", problem("must be on in prod", value, "true"))])
        return value

    def default_tags(self) -> dict[str, str]:
        """Tags every provider applies to every resource it creates."""
        return {
            "project": PROJECT,
            "environment": self.environment,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


# ---------------------------------------------------------------------------------------------
# Error reporting


def _dotted(loc: Iterable[Any]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model found by following `loc` from `StackConfig`, or None."""
    model: Any = StackConfig
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


# Human wording for the formats fields are held to.
PATTERN_HINTS = {
    TAG_VALUE_PATTERN: "letters, digits, spaces and _ . : / = + - @",
    r"^\d{12}$": "a 12-digit AWS account id",
}

_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _explain(error: Mapping[str, Any]) -> tuple[str, str]:
    """(what is wrong, what is allowed) for a pydantic error of a built-in kind."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in _BOUNDS:
        return "out of range", f"{_BOUNDS[kind]} {next(iter(ctx.values()))}"
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


def describe_errors(exc: ValidationError) -> list[str]:
    """One `path: problem (got X; expected Y)` line per problem, in config order."""
    lines: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        path = _dotted(loc)
        kind = error["type"]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigRuleError):
            for subpath, message in cause.problems:
                full = ".".join(part for part in (path, subpath) if part)
                lines.append(f"{full or '(top level)'}: {message}")
        elif kind == "extra_forbidden":
            section = _section_at(loc[:-1])
            allowed = sorted(section.model_fields) if section else []
            near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.75)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            lines.append(
                f"{path}: unknown key{hint} (got {render(error['input'])}; expected one of: {', '.join(allowed)})"
            )
        elif kind == "missing":
            section = _section_at(loc[:-1])
            field = section.model_fields.get(str(loc[-1])) if section else None
            expected = _expected_for(field.annotation) if field else "a value"
            lines.append(f"{path}: required key is missing (got nothing; expected {expected})")
        else:
            what, expected = _explain(error)
            lines.append(f"{path}: {problem(what, error['input'], expected)}")
    return lines


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate `raw` (keys without the project namespace). Raises StackConfigError."""
    try:
        return StackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise StackConfigError(describe_errors(exc)) from None


def decode_config_value(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text; scalars stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return json.loads(value)
    return value


def read_project_config(project: str = PROJECT) -> dict[str, Any]:
    """Every `<project>:<key>` value of the running program, namespace stripped.

    `pulumi.Config` can only fetch keys it is asked for; listing the namespace is what lets a
    misspelt key be reported instead of silently ignored.
    """
    from pulumi.runtime import config as runtime_config

    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = f"{project}:"
    return {key[len(prefix) :]: decode_config_value(value) for key, value in merged.items() if key.startswith(prefix)}


def load_stack_config(project: str = PROJECT) -> StackConfig:
    """Read and validate the running program's config; problems become one `pulumi.RunError`."""
    import pulumi

    try:
        return parse_stack_config(read_project_config(project))
    except StackConfigError as exc:
        listing = "\n".join(f"  - {line}" for line in exc.lines)
        raise pulumi.RunError(f"stack config has {len(exc.lines)} problem(s):\n{listing}") from None
