"""Cross-field rules do not depend on the order fields are declared in.

Each section model is rebuilt with its fields in reversed order (same validators, same rules)
and fed the same invalid input: the same problems must come out. A rule written as a field
validator reading `info.data` fails this: it sees only fields declared before its own, and
skips silently once the other field moves below it (the control case at the end).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, ValidationInfo, create_model, field_validator, model_validator

from ml_platform.config import (
    AlarmsConfig,
    AutoscalingConfig,
    InstanceVariantConfig,
    KubernetesAutoscalingConfig,
    KubernetesConfig,
    KubernetesResourcesConfig,
    RegionsConfig,
    RetrainingConfig,
    ScheduledScalingConfig,
    Section,
    ServerlessVariantConfig,
    ServingConfig,
    StackConfig,
    TrainingConfig,
    VaultLockConfig,
    describe_errors,
)
from ml_platform.config.errors import _section_type
from ml_platform.config.rules import ConfigRuleError, fail, rule
from tests.test_config import VALID as MINIMAL_STACK

STACK = MINIMAL_STACK
FAILOVER = {"hosted_zone_id": "Z123", "domain_name": "api.ml.example.com"}
CLUSTER = {
    "cluster_version": "1.35",
    "namespace": "model",
    "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC",
    "autoscaling": {"min_replicas": 1, "max_replicas": 2},
}


def reversed_model(model: type[BaseModel]) -> type[BaseModel]:
    """`model` rebuilt with its fields declared in reverse order: same fields, validators and rules."""
    decorators = model.__pydantic_decorators__
    own: dict[str, Any] = {}
    for name, each in decorators.field_validators.items():
        if name != "_remember_valid_field":
            own[name] = field_validator(*each.info.fields, mode=each.info.mode)(classmethod(each.func.__func__))
    for name, each in decorators.model_validators.items():
        if name == "_run_rules":
            continue
        func = each.func.__func__ if each.info.mode != "after" else each.func
        own[name] = model_validator(mode=each.info.mode)(classmethod(func) if each.info.mode != "after" else func)
    for each in model.__config_rules__:
        own[each.check.__name__] = staticmethod(each.check)
    fields = {name: (field.annotation, field) for name, field in reversed(model.model_fields.items())}
    return create_model(f"Reversed{model.__name__}", __base__=Section, __validators__=own, **fields)


def lines(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return describe_errors(caught.value, model)


# (model, input, rules it breaks, exact problems). Every rule of every section appears once;
# `test_every_rule_is_exercised` keeps it so.
CASES = [
    (RegionsConfig, {"primary": "us-east-1", "secondary": "us-east-1", "extra": 1}, ["_secondary_other_than_primary"], [
        "secondary: must differ from regions.primary (got 'us-east-1'; expected a region other than 'us-east-1', "
        "or no secondary)",
        "extra: unknown key (got 1; expected one of: primary, secondary)",
    ]),
    (TrainingConfig, {
        "dataset": {"prefix": "a", "version": "v1"},
        "instance_count": 2,
        "max_runtime_seconds": 7200,
        "max_wait_seconds": 3600,
        "volume_size_gb": 0,
    }, ["_one_instance_per_single_host_trainer", "_wait_covers_runtime"], [
        "instance_count: trainer 'softmax' trains on one instance; more only add cost (got 2; expected 1)",
        "volume_size_gb: out of range (got 0; expected >= 1)",
        "max_wait_seconds: spot max wait must cover the max runtime (got 3600; expected >= max_runtime_seconds "
        "(7200))",
    ]),
    (ServingConfig, {
        "platform": "kubernetes",
        "vpc": {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"]},
        "instance": {"instance_type": "ml.m5.large", "initial_instance_count": 1},
        "autoscaling": {"min_capacity": 1, "max_capacity": 1},
        "variant_name": "-bad",
    }, ["_vpc_on_sagemaker_only", "_instance_on_sagemaker_only", "_serverless_on_sagemaker_only",
        "_autoscaling_on_sagemaker_only"], [
        "variant_name: not in the required format (got '-bad'; expected ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$)",
        "vpc: only used with platform sagemaker (got 'set'; expected no value with platform kubernetes (see "
        "kubernetes))",
        "instance: only used with platform sagemaker (got 'set'; expected no value with platform kubernetes (see "
        "kubernetes))",
        "autoscaling: only used with platform sagemaker (got 'set'; expected no value with platform kubernetes "
        "(see kubernetes))",
    ]),
    (ServingConfig, {"platform": "kubernetes", "serverless": {"memory_size_mb": 1024, "max_concurrency": 2}},
     ["_serverless_on_sagemaker_only"], [
        "serverless: only used with platform sagemaker (got 'set'; expected no value with platform kubernetes (see "
        "kubernetes))",
    ]),
    (ServerlessVariantConfig, {"memory_size_mb": 1024, "max_concurrency": 2, "provisioned_concurrency": 3},
     ["_within_max"], ["provisioned_concurrency: exceeds max_concurrency (got 3; expected <= 2)"]),
    (AutoscalingConfig, {"min_capacity": 3, "max_capacity": 2, "safety_factor": 2}, ["_ordered"], [
        "max_capacity: below min_capacity (got 2; expected >= 3)",
        "safety_factor: out of range (got 2; expected <= 1)",
    ]),
    (ScheduledScalingConfig, {"name": "night", "schedule": "cron(0 20 * * ? *)", "min_capacity": 3,
                              "max_capacity": 2}, ["_ordered"],
     ["max_capacity: below min_capacity (got 2; expected >= 3)"]),
    (KubernetesResourcesConfig, {"cpu_request": "2", "cpu_limit": "500m", "memory_request": "1Gi",
                                 "memory_limit": "512Mi"}, ["_cpu_covers_request", "_memory_covers_request"], [
        "cpu_limit: below cpu_request (got '500m'; expected a quantity >= '2')",
        "memory_limit: below memory_request (got '512Mi'; expected a quantity >= '1Gi')",
    ]),
    (KubernetesAutoscalingConfig, {"min_replicas": 3, "max_replicas": 2}, ["_ordered"],
     ["max_replicas: below min_replicas (got 2; expected >= 3)"]),
    (KubernetesConfig, {
        **CLUSTER,
        "allowed_namespaces": ["clients"],
        "ingress": {"host": "model.example.com", "controller_namespace": "ingress"},
        "pod_monitor": {"prometheus_namespace": "monitoring"},
    }, ["_controller_allowed_in", "_prometheus_allowed_in"], [
        "ingress.controller_namespace: the NetworkPolicy would block the ingress controller (got 'ingress'; "
        "expected one of allowed_namespaces (clients))",
        "pod_monitor.prometheus_namespace: the NetworkPolicy would block Prometheus (got 'monitoring'; expected one "
        "of allowed_namespaces (clients))",
    ]),
    (AlarmsConfig, {"evaluation_periods": 3, "datapoints_to_alarm": 5}, ["_m_of_n"],
     ["datapoints_to_alarm: cannot exceed evaluation_periods (got 5; expected <= 3)"]),
    (RetrainingConfig, {"holdout_prefix": "holdout", "monitoring_interval_hours": 24, "drift_evaluation_periods": 8,
                        "drift_datapoints_to_alarm": 9}, ["_within_cloudwatch_window", "_m_of_n"], [
        "drift_evaluation_periods: CloudWatch limits period x evaluation periods to 604800 s for a 86400 s period "
        "(86400 x 8 = 691200 s) (got 8; expected <= 7)",
        "drift_datapoints_to_alarm: cannot exceed drift_evaluation_periods (got 9; expected <= 8)",
    ]),
    (VaultLockConfig, {"mode": "governance", "min_retention_days": 10, "max_retention_days": 5,
                       "changeable_for_days": 3}, ["_ordered", "_grace_period"], [
        "max_retention_days: below min_retention_days (got 5; expected >= 10)",
        "changeable_for_days: only used in compliance mode (it makes the lock permanent) (got 3; expected no value "
        "in governance mode)",
    ]),
    (StackConfig, {
        **STACK,
        "serving": {"platform": "kubernetes"},
        "standby": {},
        "api": {},
    }, ["_kubernetes_with_its_platform", "_standby_on_sagemaker_only", "_standby_needs_a_secondary",
        "_api_on_sagemaker_only"], [
        "kubernetes: required with serving.platform kubernetes (got null; expected a kubernetes section)",
        "standby: only used with SageMaker endpoints; serving.platform kubernetes has none (got 'set'; expected no "
        "standby section)",
        "standby: a standby needs regions.secondary (got 'set'; expected regions.secondary, or no standby)",
        "api: only used with SageMaker endpoints; serving.platform kubernetes has none (got 'set'; expected no api "
        "section)",
    ]),
    (StackConfig, {
        **STACK,
        "environment": "prod",
        "owner": "",
        "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
        "standby": {"autoscaling": {"min_capacity": 2, "max_capacity": 3}},
        "api": {"access_log_retention_days": 30},
        "failover": {**FAILOVER, "unhealthy_average_latency_ms": 900},
    }, ["_standby_deploys", "_access_logs_kept", "_failover_before_the_p99_alarm", "_backed_up_in_prod",
        "_protected_in_prod"], [
        "owner: not in the required format (got ''; expected letters, digits, spaces and _ . : / = + - @)",
        "protect_stateful: must be on in prod (got false; expected true)",
        "standby.initial_instance_count: must lie within the autoscaling bounds (got 1; expected 2 <= count <= 3)",
        "api.access_log_retention_days: prod keeps API access logs a year at least (got 30; expected >= 365, or "
        "unset for the default)",
        "failover.unhealthy_average_latency_ms: an average at or above the p99 alarm threshold fails over only "
        "long after the p99 alarm (got 900.0; expected below alarms.model_latency_p99_ms (500))",
        "backup: required in prod (got null; expected a backup section)",
    ]),
    (StackConfig, {**STACK, "failover": FAILOVER}, ["_failover_needs_the_apis", "_failover_needs_a_standby"], [
        "failover: failover routes to the regional APIs; none is configured (got 'set'; expected an api section)",
        "failover: failover needs a warm standby to fail over to (got 'set'; expected a standby section (and "
        "regions.secondary))",
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("model", "data", "broken", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_the_same_problems_come_out_whatever_the_field_order(model, data, broken, expected):
    backwards = reversed_model(model)
    assert list(backwards.model_fields) == list(reversed(model.model_fields))
    assert lines(model, data) == expected
    assert sorted(lines(backwards, data)) == sorted(expected)


def test_a_rule_runs_when_its_own_fields_are_valid_and_another_is_not():
    # The one-pass property: the m-of-n rule still reports while an unrelated field is invalid.
    assert lines(AlarmsConfig, {"evaluation_periods": 3, "datapoints_to_alarm": 5, "cpu_percent": 0}) == [
        "cpu_percent: out of range (got 0; expected > 0)",
        "datapoints_to_alarm: cannot exceed evaluation_periods (got 5; expected <= 3)",
    ]
    # A field left out counts with its default (evaluation_periods: 5).
    assert lines(AlarmsConfig, {"datapoints_to_alarm": 6, "cpu_percent": 0}) == [
        "cpu_percent: out of range (got 0; expected > 0)",
        "datapoints_to_alarm: cannot exceed evaluation_periods (got 6; expected <= 5)",
    ]
    # ... and stays quiet when a field it reads is itself invalid (its problem is reported instead).
    assert lines(AlarmsConfig, {"evaluation_periods": 0, "datapoints_to_alarm": 5}) == [
        "evaluation_periods: out of range (got 0; expected >= 1)"
    ]


def test_the_vcpu_rule_runs_when_the_size_does_not_tell(monkeypatch):
    # Every ProductionVariantInstanceType in botocore's model names its size today, so the
    # rule is proved with a size the module cannot read.
    monkeypatch.setattr("ml_platform.config.serving.vcpus_of", lambda instance_type: None)
    data = {"instance_type": "ml.m5.large", "initial_instance_count": 1}
    expected = [
        "vcpus: cannot be derived from the instance type; set it (got null; expected the vCPU count of ml.m5.large)"
    ]
    assert lines(InstanceVariantConfig, data) == expected
    assert lines(reversed_model(InstanceVariantConfig), data) == expected


def all_sections(model: type[BaseModel], seen: dict[type[BaseModel], None] | None = None) -> list[type[BaseModel]]:
    seen = {} if seen is None else seen
    if model not in seen:
        seen[model] = None
        for field in model.model_fields.values():
            inner = _section_type(field.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                all_sections(inner, seen)
    return list(seen)


def test_every_rule_is_exercised():
    # AlarmsConfig's window rule cannot fire within its own ranges (300 s x 100 periods is
    # under CloudWatch's day); InstanceVariantConfig's has its own test above.
    covered = {(model, name) for model, _, broken, _ in CASES for name in broken}
    covered |= {(AlarmsConfig, "_within_cloudwatch_window"), (InstanceVariantConfig, "_vcpus_known")}
    declared = {(model, each.check.__name__) for model in all_sections(StackConfig) for each in model.__config_rules__}
    assert declared - covered == set()


def test_a_rule_must_name_fields_its_section_has():
    with pytest.raises(TypeError, match="rules name fields it does not have: max_capacty"):

        class Broken(Section):
            min_capacity: int
            max_capacity: int

            @rule("min_capacity", "max_capacty")
            def _ordered(v):
                fail("never", None, "never")


def test_control_a_field_validator_reading_info_data_depends_on_the_order():
    """Why rules are not field validators: moved below the field it reads, this one is skipped."""

    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("low")
        if low is not None and value < low:
            raise ConfigRuleError([("", "below low")])
        return value

    def build(*order: str) -> type[BaseModel]:
        return create_model(
            "Pair",
            __base__=Section,
            __validators__={"_ordered": field_validator("high")(classmethod(_ordered))},
            **{name: (int, ...) for name in order},
        )

    assert lines(build("low", "high"), {"low": 3, "high": 2}) == ["high: below low"]
    # The same rule, with `high` declared first: the invalid pair passes without a word.
    assert build("high", "low").model_validate({"low": 3, "high": 2}).high == 2


DEFAULTED = [
    (KubernetesResourcesConfig, {"cpu_request": "2", "memory_request": "1Gi"}, [
        "cpu_limit: below cpu_request (got '1'; expected a quantity >= '2')",
        "memory_limit: below memory_request (got '512Mi'; expected a quantity >= '1Gi')",
    ]),
    (AlarmsConfig, {"evaluation_periods": 2}, [
        "datapoints_to_alarm: cannot exceed evaluation_periods (got 3; expected <= 2)",
    ]),
    (RetrainingConfig, {"holdout_prefix": "holdout", "drift_evaluation_periods": 1}, [
        "drift_datapoints_to_alarm: cannot exceed drift_evaluation_periods (got 2; expected <= 1)",
    ]),
    (VaultLockConfig, {"mode": "governance", "min_retention_days": 500}, [
        "max_retention_days: below min_retention_days (got 400; expected >= 500)",
    ]),
    (TrainingConfig, {"dataset": {"prefix": "a", "version": "v1"}, "max_runtime_seconds": 10000}, [
        "max_wait_seconds: spot max wait must cover the max runtime (got 7200; expected >= max_runtime_seconds "
        "(10000))",
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("model", "data", "expected"), DEFAULTED, ids=[c[0].__name__ for c in DEFAULTED])
def test_a_rule_on_a_field_left_at_its_default_runs(model, data, expected):
    # As field validators on the later field, these rules never ran when that field was left at
    # its default (pydantic does not validate defaults), so each of these passed. CloudWatch,
    # AWS Backup and SageMaker refuse them at run time.
    assert lines(model, data) == expected
