"""Policy rules: SageMaker serving and training, CloudWatch alarms, and the API Gateway front door.

Plain functions over `policy_types.Resource`; `policies.py` names them in `RULES`. It imports
its siblings relatively (see `policies.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .policy_types import (
    ENDPOINT_CONFIG_TYPE,
    ENDPOINT_TYPE,
    LOG_GROUP_TYPE,
    METRIC_ALARM_TYPE,
    MIN_PROD_INSTANCES,
    PIPELINE_TYPE,
    PROD_MIN_API_LOG_RETENTION_DAYS,
    SCALABLE_TARGET_TYPE,
    SERVING_ROLE_TAG,
    STAGE_TYPE,
    STANDBY,
    TRAINING_JOB_TYPE,
    UNKNOWN,
    WEB_ACL_ASSOCIATION_TYPE,
    Resource,
    as_list,
    dig,
    known,
    of_types,
    quoted,
)

# ---------------------------------------------------------------------------------------------
# SageMaker serving


def _variants(config: Resource) -> list[tuple[str, Any]]:
    variants = config.get("productionVariants")
    if not known(variants):
        return []
    return [(dig(v, "variantName") or f"#{i}", v) for i, v in enumerate(as_list(variants))]


def endpoint_config_kms_and_capacity(resource: Resource, environment: str) -> list[str]:
    """Endpoint configs encrypt with KMS; serverless variants only in dev; in prod every
    instance variant starts with at least 2 instances (SageMaker spreads them over
    Availability Zones), or 1 on a warm standby tagged `serving-role=standby`."""
    if resource.type != ENDPOINT_CONFIG_TYPE:
        return []
    problems = []
    variants = _variants(resource)
    instance_variants = [(name, v) for name, v in variants if dig(v, "serverlessConfig") is None]
    # KmsKeyArn encrypts the ML storage volumes of instances; serverless variants have none.
    if (instance_variants or not variants) and not resource.get("kmsKeyArn"):
        problems.append(f"{resource.label}: no kmsKeyArn (the instance storage volumes would use an AWS-owned key)")
    capture = resource.get("dataCaptureConfig")
    if capture and known(capture) and not dig(capture, "kmsKeyId"):
        problems.append(f"{resource.label}: dataCaptureConfig has no kmsKeyId (captured requests would use SSE-S3)")
    for name, variant in variants:
        if dig(variant, "serverlessConfig") is not None and environment != "dev":
            problems.append(
                f"{resource.label}: production variant {name!r} is serverless, which is allowed in dev only "
                f"(environment {environment!r})"
            )
    if environment == "prod":
        role = STANDBY if resource.get("tags", SERVING_ROLE_TAG) == STANDBY else "active"
        minimum = MIN_PROD_INSTANCES[role]
        for name, variant in instance_variants:
            count = dig(variant, "initialInstanceCount")
            if known(count) and (not isinstance(count, int | float) or count < minimum):
                what = "a warm standby" if role == STANDBY else "an endpoint taking traffic"
                problems.append(
                    f"{resource.label}: production variant {name!r} has initialInstanceCount {quoted(count)} in prod "
                    f"(expected at least {minimum} on {what})"
                )
    return problems


def endpoint_rollback_alarms(resource: Resource, environment: str) -> list[str]:
    """Deployments roll back on alarms: deploymentConfig.autoRollbackConfiguration.alarms."""
    if resource.type != ENDPOINT_TYPE:
        return []
    alarms = resource.get("deploymentConfig", "autoRollbackConfiguration", "alarms")
    if not known(alarms) or as_list(alarms):
        return []
    return [f"{resource.label}: no rollback alarms (deploymentConfig.autoRollbackConfiguration.alarms is empty)"]


def _endpoint_name(endpoint: Resource) -> Any:
    return endpoint.get("name")


def endpoints_have_scalable_targets(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every instance variant of every endpoint has an Application Auto Scaling target
    (`endpoint/<name>/variant/<variant>`). Serverless variants scale by themselves."""
    problems = []
    targets = of_types(resources, SCALABLE_TARGET_TYPE)
    configs = of_types(resources, ENDPOINT_CONFIG_TYPE)
    for endpoint in of_types(resources, ENDPOINT_TYPE):
        name = _endpoint_name(endpoint)
        if not isinstance(name, str):
            if not any(endpoint.urn and endpoint.urn in t.depends_on for t in targets):
                problems.append(f"{endpoint.label}: no scalable target ({SCALABLE_TARGET_TYPE} for its variants)")
            continue
        ids = {
            t.get("resourceId")
            for t in targets
            if t.get("serviceNamespace") in ("sagemaker", UNKNOWN) and t.same_region(endpoint)
        }
        if UNKNOWN in ids:
            continue
        config = next((c for c in configs if endpoint.refers_to("endpointConfigName", c)), None)
        variants = [n for n, v in _variants(config) if dig(v, "serverlessConfig") is None] if config else None
        if variants is None:
            if not any(isinstance(i, str) and i.startswith(f"endpoint/{name}/variant/") for i in ids):
                problems.append(
                    f"{endpoint.label}: no scalable target ({SCALABLE_TARGET_TYPE} with resourceId "
                    f"'endpoint/{name}/variant/<variant>')"
                )
            continue
        for variant in variants:
            wanted = f"endpoint/{name}/variant/{variant}"
            if wanted not in ids:
                problems.append(
                    f"{endpoint.label}: variant {variant!r} has no scalable target "
                    f"({SCALABLE_TARGET_TYPE} with resourceId {wanted!r})"
                )
    return problems


def _alarm_metrics(alarm: Resource) -> list[tuple[Any, Any]]:
    """(metricName, dimensions) of the alarm's metric or of each metric in its math."""
    metrics = [(alarm.get("metricName"), alarm.get("dimensions"))]
    for query in as_list(alarm.get("metricQueries")) if known(alarm.get("metricQueries")) else []:
        metric = dig(query, "metric")
        if metric:
            metrics.append((dig(metric, "metricName"), dig(metric, "dimensions")))
    return [(n, d) for n, d in metrics if n is not None]


def endpoints_have_latency_and_error_alarms(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every endpoint has an alarm on a latency metric and one on an error metric, each with
    the dimension EndpointName naming it."""
    problems = []
    alarms = of_types(resources, METRIC_ALARM_TYPE)
    for endpoint in of_types(resources, ENDPOINT_TYPE):
        name = _endpoint_name(endpoint)
        if not isinstance(name, str):
            continue
        metrics = [(n, dig(d, "EndpointName")) for a in alarms if a.same_region(endpoint) for n, d in _alarm_metrics(a)]
        if any(not known(n) or not known(e) for n, e in metrics):
            continue
        watched = [n for n, e in metrics if e == name and isinstance(n, str)]
        for kind, matches in (("latency", lambda n: n.endswith("Latency")), ("error", lambda n: "Error" in n)):
            if not any(matches(n) for n in watched):
                problems.append(
                    f"{endpoint.label}: no {kind} alarm ({METRIC_ALARM_TYPE} on a {kind} metric with "
                    f"dimension EndpointName {name!r})"
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Training


def _pipeline_training_steps(pipeline: Resource) -> list[tuple[str, Any]]:
    definition = pipeline.get("pipelineDefinition")
    if not known(definition):
        return []
    return [
        (dig(step, "Name") or f"#{i}", dig(step, "Arguments"))
        for i, step in enumerate(as_list(dig(definition, "Steps")))
        if dig(step, "Type") == "Training"
    ]


def training_uses_spot_with_checkpoints(resource: Resource, environment: str) -> list[str]:
    """Training jobs (and pipeline training steps) use managed spot with a checkpoint config,
    so an interruption resumes from the last checkpoint instead of starting over."""
    if resource.type == TRAINING_JOB_TYPE:
        jobs = [("", resource.get("enableManagedSpotTraining"), resource.get("checkpointConfig", "s3Uri"))]
        names = ("enableManagedSpotTraining", "checkpointConfig.s3Uri")
    elif resource.type == PIPELINE_TYPE:
        jobs = [
            (
                f"pipeline step {step!r}: ",
                dig(args, "EnableManagedSpotTraining"),
                dig(args, "CheckpointConfig", "S3Uri"),
            )
            for step, args in _pipeline_training_steps(resource)
        ]
        names = ("EnableManagedSpotTraining", "CheckpointConfig.S3Uri")
    else:
        return []
    problems = []
    for where, spot, checkpoints in jobs:
        if known(spot) and spot is not True and not isinstance(spot, Mapping):  # a Mapping: a pipeline parameter
            problems.append(f"{resource.label}: {where}{names[0]} is not true (got {quoted(spot)}; expected true)")
        if known(checkpoints) and not checkpoints:
            problems.append(f"{resource.label}: {where}no {names[1]} (an interrupted spot job would start over)")
    return problems


# ---------------------------------------------------------------------------------------------
# Alarms


def metric_alarms_have_actions(resource: Resource, environment: str) -> list[str]:
    if resource.type != METRIC_ALARM_TYPE:
        return []
    actions = resource.get("alarmActions")
    if not known(actions) or as_list(actions):
        return []
    return [f"{resource.label}: no alarmActions (the alarm would change state and notify nobody)"]


# ---------------------------------------------------------------------------------------------
# The front door


def api_stages_traced(resource: Resource, environment: str) -> list[str]:
    """API Gateway stages trace with X-Ray."""
    if resource.type != STAGE_TYPE:
        return []
    value = resource.get("xrayTracingEnabled")
    if value is True or not known(value):
        return []
    return [f"{resource.label}: X-Ray tracing is off (got xrayTracingEnabled {quoted(value)}; expected true)"]


def api_stages_behind_waf(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every API Gateway stage is associated with a WAFv2 web ACL."""
    associations = of_types(resources, WEB_ACL_ASSOCIATION_TYPE)
    return [
        f"{stage.label}: no WAF web ACL (no {WEB_ACL_ASSOCIATION_TYPE} names the stage's ARN)"
        for stage in of_types(resources, STAGE_TYPE)
        if not any(a.refers_to("resourceArn", stage) for a in associations)
    ]


def _stage_logs_to(stage: Resource, group: Resource) -> bool:
    if not stage.same_region(group):
        return False
    destination = stage.get("accessLogSettings", "destinationArn")
    if isinstance(destination, str):
        return destination in group.ids()
    if destination is UNKNOWN or not known(stage.get("accessLogSettings")):
        return bool(group.urn) and group.urn in stage.dependencies.get("accessLogSettings", stage.depends_on)
    return False


def prod_api_access_logs_kept_a_year(resources: Sequence[Resource], environment: str) -> list[str]:
    """In prod every API stage writes an access log, kept 365 days at least."""
    if environment != "prod":
        return []
    groups = of_types(resources, LOG_GROUP_TYPE)
    problems = []
    for stage in of_types(resources, STAGE_TYPE):
        logs = [g for g in groups if _stage_logs_to(stage, g)]
        if not logs:
            # Only a destination known to be absent is a violation; an unknown one is not seen yet.
            if stage.get("accessLogSettings", "destinationArn") is None:
                problems.append(f"{stage.label}: no access log in prod (accessLogSettings names no log group)")
            continue
        for group in logs:
            days = group.get("retentionInDays")
            # No retention (None or 0) keeps the log forever.
            if not known(days) or days in (None, 0) or days >= PROD_MIN_API_LOG_RETENTION_DAYS:
                continue
            problems.append(
                f"{group.label}: API access log of {stage.name} kept {days:g} days in prod "
                f"(expected retentionInDays >= {PROD_MIN_API_LOG_RETENTION_DAYS})"
            )
    return problems
