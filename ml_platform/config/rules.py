"""The rule language of the stack config: the section base, cross-field rules, and the checks
several sections share (ranges and order, regions and instance types from botocore, CloudWatch
windows).

A rule across fields is declared with the fields it reads:

    @rule("min_capacity", "max_capacity")
    def _ordered(v):
        not_below(v.max_capacity, v.min_capacity, "min_capacity")

It runs once every field has been validated, whatever order the fields are declared in, and
whenever every field it reads is valid, even when an unrelated field is not, so every problem is
reported in one pass. Its problems are reported at its last field (`at=` names another), with
subpaths relative to that field, exactly as a field validator's would be. A field validator
reading `info.data` would instead see only the fields declared before it and skip silently when
one is moved below it; tests/test_config_rules.py proves the rules do not depend on the order.

`problem`, `render` and `ConfigRuleError` come from `errors.py` (the message format) and are
re-exported here for rule authors.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticUndefined

from ml_platform.config.errors import ConfigRuleError, problem, render

__all__ = [
    "ConfigRuleError",
    "Section",
    "alarm_window_problem",
    "check_instance_type",
    "check_region",
    "closest",
    "fail",
    "known_regions",
    "not_above",
    "not_below",
    "problem",
    "render",
    "rule",
    "sagemaker_enum",
]


def fail(what: str, got: Any, expected: str, at: str = "") -> NoReturn:
    """Raise one problem, `what (got <got>; expected <expected>)`, at `at` below the field or
    model being validated ("" for itself)."""
    raise ConfigRuleError([(at, problem(what, got, expected))])


def not_below(value: Any, bound: Any, bound_key: str, what: str | None = None) -> None:
    """`value` must be >= `bound` (the field `bound_key`) when both are set."""
    if value is not None and bound is not None and value < bound:
        fail(what or f"below {bound_key}", value, f">= {bound}")


def not_above(value: Any, bound: Any, what: str) -> None:
    """`value` must be <= `bound` when both are set."""
    if value is not None and bound is not None and value > bound:
        fail(what, value, f"<= {bound}")


# ---------------------------------------------------------------------------------------------
# Cross-field rules

RULE_MARK = "__config_rule__"


@dataclass(frozen=True)
class _Rule:
    check: Callable[[Any], Any]
    reads: tuple[str, ...]
    at: str


def rule(*reads: str, at: str | None = None) -> Callable[[Callable[[Any], Any]], Any]:
    """Declare a rule across the fields `reads`. The function gets their values as attributes
    of one object and raises ConfigRuleError (`fail`) with subpaths relative to `at` (default:
    the last field it reads)."""
    if not reads:
        raise TypeError("a rule reads at least one field")

    def mark(check: Callable[[Any], Any]) -> Any:
        setattr(check, RULE_MARK, _Rule(check, reads, at or reads[-1]))
        return staticmethod(check)

    return mark


# One frame per model being validated: the values of its fields validated so far. A nested
# section pushes its own frame while its parent's field is being validated.
_validated: ContextVar[tuple[dict[str, Any], ...]] = ContextVar("validated_fields", default=())


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable, and the
    section's `@rule`s run after its fields are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __config_rules__: tuple[_Rule, ...] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        found: dict[str, _Rule] = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                check = member.__func__ if isinstance(member, staticmethod) else member
                if hasattr(check, RULE_MARK):
                    found[name] = getattr(check, RULE_MARK)
        unknown = sorted({key for r in found.values() for key in (*r.reads, r.at) if key not in cls.model_fields})
        if unknown:
            raise TypeError(f"{cls.__name__}: rules name fields it does not have: {', '.join(unknown)}")
        cls.__config_rules__ = tuple(found.values())

    @field_validator("*", mode="wrap")
    @classmethod
    def _remember_valid_field(cls, value: Any, handler: Callable[[Any], Any], info: ValidationInfo) -> Any:
        validated = handler(value)
        frames = _validated.get()
        if frames and info.field_name is not None:
            frames[-1][info.field_name] = validated
        return validated

    @model_validator(mode="wrap")
    @classmethod
    def _run_rules(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        frame: dict[str, Any] = {}
        token = _validated.set((*_validated.get(), frame))
        try:
            model = handler(data)
        except ValidationError as exc:
            if not cls.__config_rules__ or not isinstance(data, Mapping):
                raise
            invalid = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
            values = cls._values_after_failure(data, frame, invalid)
            problems = cls._rule_problems(values, data)
            if problems:
                raise cls._merged(exc.errors(), problems) from None
            raise
        finally:
            _validated.reset(token)
        if isinstance(model, cls) and cls.__config_rules__:
            problems = cls._rule_problems({name: getattr(model, name) for name in cls.model_fields}, data)
            if problems:
                raise cls._merged([], problems) from None
        return model

    @classmethod
    def _values_after_failure(cls, data: Mapping[str, Any], frame: dict[str, Any], invalid: set[str]) -> dict:
        """The valid fields' values: as validated, or the default of a field left out."""
        values = {}
        for name, field in cls.model_fields.items():
            if name in invalid:
                continue
            if name in frame:
                values[name] = frame[name]
            elif name not in data and (field.default is not PydanticUndefined or field.default_factory is not None):
                values[name] = field.get_default(call_default_factory=True)
        return values

    @classmethod
    def _rule_problems(cls, values: dict[str, Any], data: Any) -> list[InitErrorDetails]:
        details: list[InitErrorDetails] = []
        for each in cls.__config_rules__:
            if not all(key in values for key in each.reads):
                continue
            try:
                each.check(SimpleNamespace(**{key: values[key] for key in each.reads}))
            except ConfigRuleError as error:
                given = data.get(each.at) if isinstance(data, Mapping) else None
                details.append(InitErrorDetails(type="value_error", loc=(each.at,), input=given, ctx={"error": error}))
        return details

    @classmethod
    def _merged(cls, errors: list[Any], found: list[InitErrorDetails]) -> ValidationError:
        """The field errors and the rules' problems in one ValidationError, in field order."""
        order = {name: i for i, name in enumerate(cls.model_fields)}
        rank = len(order)
        details: list[InitErrorDetails] = []
        for error in errors:
            detail = InitErrorDetails(type=error["type"], loc=tuple(error["loc"]), input=error.get("input"))
            if "ctx" in error:
                detail["ctx"] = error["ctx"]
            details.append(detail)
        details += found

        def position(detail: InitErrorDetails) -> int:
            loc = detail["loc"]
            return order.get(str(loc[0]), rank) if loc else rank + 1

        return ValidationError.from_exception_data(cls.__name__, sorted(details, key=position))


# ---------------------------------------------------------------------------------------------
# Regions and instance types, from botocore (no hand-kept lists)


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
    fail(
        "unknown AWS region",
        value,
        f"a region where SageMaker is offered, e.g. {', '.join(near) if near else 'us-east-1'}",
    )


@functools.cache
def sagemaker_enum(shape: str) -> tuple[str, ...]:
    """An enumeration from botocore's SageMaker service model (no hand-kept lists)."""
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model("sagemaker").shape_for(shape).enum)


def check_instance_type(value: str, shape: str) -> str:
    allowed = sagemaker_enum(shape)
    if value in allowed:
        return value
    near = closest(value, allowed)
    fail(
        "unknown instance type",
        value,
        f"a SageMaker {shape}, e.g. {', '.join(near)}" if near else f"a SageMaker {shape} such as {allowed[0]}",
    )


# ---------------------------------------------------------------------------------------------
# CloudWatch alarm windows

# CloudWatch PutMetricAlarm: "An alarm's total current evaluation period can be no longer than
# seven days, so Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For
# alarms with a period of less than one hour (3,600 seconds), the total evaluation period can't be
# longer than one day (86,400 seconds)."
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html (Period)
ALARM_WINDOW_MAX_SECONDS = 604_800
ALARM_WINDOW_MAX_SECONDS_SUB_HOUR_PERIOD = 86_400


def alarm_window_problem(period_seconds: int, evaluation_periods: int) -> str | None:
    """The problem with an alarm whose period x evaluation periods CloudWatch rejects, if any."""
    limit = ALARM_WINDOW_MAX_SECONDS if period_seconds >= 3600 else ALARM_WINDOW_MAX_SECONDS_SUB_HOUR_PERIOD
    window = period_seconds * evaluation_periods
    if window <= limit:
        return None
    return problem(
        f"CloudWatch limits period x evaluation periods to {limit} s for a {period_seconds} s period "
        f"({period_seconds} x {evaluation_periods} = {window} s)",
        evaluation_periods,
        f"<= {limit // period_seconds}",
    )
