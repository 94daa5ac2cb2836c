"""Per-variant endpoint alarms, defined once: monitoring alerts on them, and the endpoint's
blue/green deployment rolls back on the 5XX-rate and p99 model-latency ones.

Every alarm carries both `EndpointName` and `VariantName`, alarm and OK actions, and a
missing-data treatment chosen for what an absent datapoint means for that metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

NAMESPACE_INVOCATIONS = "AWS/SageMaker"
NAMESPACE_INSTANCE = "/aws/sagemaker/Endpoints"

# Keys of the alarms a deployment rolls back on.
ROLLBACK_ALARMS = ("error_5xx_rate", "model_latency_p99")
# Keys of the alarms that make the endpoint "unhealthy" (paging, and DNS failover).
UNHEALTHY_ALARMS = ("error_5xx_rate", "model_latency_p99")


@dataclass(frozen=True)
class AlarmThresholds:
    """Thresholds of a variant's alarms, in the units people think in (the specs convert:
    SageMaker reports latencies in microseconds, CPU summed over vCPUs).

    model_latency_p99_ms / overhead_latency_p99_ms: p99 ModelLatency / OverheadLatency (ms).
    error_5xx_percent / error_4xx_percent: errors as a share of invocations.
    cpu_percent (per vCPU) / memory_percent / disk_percent: instance utilization.
    period_seconds: the metric period (60 or 300).
    evaluation_periods / datapoints_to_alarm: M-of-N: `datapoints_to_alarm` breaching periods
        out of the last `evaluation_periods` raise the alarm.
    no_traffic_minutes: alarm when no invocation arrives for this long; None declares no such alarm.
    """

    model_latency_p99_ms: float
    overhead_latency_p99_ms: float
    error_5xx_percent: float
    error_4xx_percent: float
    cpu_percent: float
    memory_percent: float
    disk_percent: float
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    no_traffic_minutes: int | None = None

    def __post_init__(self) -> None:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError(
                f"AlarmThresholds: datapoints_to_alarm: cannot exceed evaluation_periods (got "
                f"{self.datapoints_to_alarm}; expected <= {self.evaluation_periods})"
            )


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm as plain data; `metric_queries` follows MetricAlarm's `metric_queries` input."""

    key: str
    name: str
    description: str
    threshold: float
    comparison: str
    metric_queries: list[dict[str, Any]]
    treat_missing_data: str
    evaluation_periods: int
    datapoints_to_alarm: int
    extra: dict[str, Any] = field(default_factory=dict)


def _metric(
    query_id: str,
    namespace: str,
    name: str,
    stat: str,
    period: int,
    dimensions: dict[str, str],
    unit: str | None = None,
) -> dict[str, Any]:
    metric = {"namespace": namespace, "metric_name": name, "stat": stat, "period": period, "dimensions": dimensions}
    if unit:
        metric["unit"] = unit
    return {"id": query_id, "metric": metric, "return_data": False}


def _expression(query_id: str, expression: str, label: str) -> dict[str, Any]:
    return {"id": query_id, "expression": expression, "label": label, "return_data": True}


def variant_alarm_specs(
    *, endpoint_name: str, variant_name: str, thresholds: AlarmThresholds, vcpus: int | None
) -> list[AlarmSpec]:
    """The alarms of one variant. `vcpus` None means a serverless variant (no instance metrics)."""
    dims = {"EndpointName": endpoint_name, "VariantName": variant_name}
    period, n, m = thresholds.period_seconds, thresholds.evaluation_periods, thresholds.datapoints_to_alarm

    def name(key: str) -> str:
        return f"{endpoint_name}-{variant_name}-{key}"

    def rate(key: str, errors: str, percent: float, label: str) -> AlarmSpec:
        return AlarmSpec(
            key=key,
            name=name(key),
            description=f"{label} above {percent:g}% of invocations on {endpoint_name}/{variant_name}",
            threshold=percent,
            comparison="GreaterThanThreshold",
            metric_queries=[
                _metric("errors", NAMESPACE_INVOCATIONS, errors, "Sum", period, dims),
                _metric("invocations", NAMESPACE_INVOCATIONS, "Invocations", "Sum", period, dims),
                # IF() keeps the rate at 0 when there is no traffic instead of dividing by zero.
                _expression("rate", "IF(invocations > 0, 100 * errors / invocations, 0)", f"{label} (%)"),
            ],
            # No datapoints means no invocations: no errors either.
            treat_missing_data="notBreaching",
            evaluation_periods=n,
            datapoints_to_alarm=m,
        )

    def latency(key: str, metric: str, ms: float) -> AlarmSpec:
        return AlarmSpec(
            key=key,
            name=name(key),
            description=f"p99 {metric} above {ms:g} ms on {endpoint_name}/{variant_name}",
            # SageMaker reports latencies in microseconds.
            threshold=ms * 1000,
            comparison="GreaterThanThreshold",
            metric_queries=[
                {
                    **_metric("latency", NAMESPACE_INVOCATIONS, metric, "p99", period, dims, "Microseconds"),
                    "return_data": True,
                }
            ],
            # Latency exists only when requests are served; silence is not slowness.
            treat_missing_data="notBreaching",
            evaluation_periods=n,
            datapoints_to_alarm=m,
        )

    def utilization(key: str, metric: str, percent: float, divisor: int = 1) -> AlarmSpec:
        queries = [_metric("used", NAMESPACE_INSTANCE, metric, "Average", period, dims)]
        if divisor > 1:
            # CPUUtilization is summed over vCPUs (0 to 100 x vCPUs): normalise to one vCPU.
            queries.append(_expression("per_vcpu", f"used / {divisor}", f"{metric} per vCPU (%)"))
        else:
            queries[0]["return_data"] = True
        return AlarmSpec(
            key=key,
            name=name(key),
            description=f"{metric} above {percent:g}% on {endpoint_name}/{variant_name}",
            threshold=percent,
            comparison="GreaterThanThreshold",
            metric_queries=queries,
            # Instances always report; a gap is an agent problem, not an overload: keep state.
            treat_missing_data="missing",
            evaluation_periods=n,
            datapoints_to_alarm=m,
        )

    specs = [
        rate("error_5xx_rate", "Invocation5XXErrors", thresholds.error_5xx_percent, "5XX errors"),
        rate("error_4xx_rate", "Invocation4XXErrors", thresholds.error_4xx_percent, "4XX errors"),
        latency("model_latency_p99", "ModelLatency", thresholds.model_latency_p99_ms),
        latency("overhead_latency_p99", "OverheadLatency", thresholds.overhead_latency_p99_ms),
    ]
    if vcpus is not None:
        specs += [
            utilization("cpu_utilization", "CPUUtilization", thresholds.cpu_percent, vcpus),
            utilization("memory_utilization", "MemoryUtilization", thresholds.memory_percent),
            utilization("disk_utilization", "DiskUtilization", thresholds.disk_percent),
        ]
    if thresholds.no_traffic_minutes is not None:
        periods = max(1, thresholds.no_traffic_minutes * 60 // period)
        specs.append(
            AlarmSpec(
                key="no_traffic",
                name=name("no_traffic"),
                description=f"no invocations for {thresholds.no_traffic_minutes} min on {endpoint_name}/{variant_name}",
                threshold=1,
                comparison="LessThanThreshold",
                metric_queries=[
                    {
                        **_metric("invocations", NAMESPACE_INVOCATIONS, "Invocations", "Sum", period, dims),
                        "return_data": True,
                    }
                ],
                # Invocations is only published when there are some: no data is no traffic.
                treat_missing_data="breaching",
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
            )
        )
    return specs


# What a Route 53 CLOUDWATCH_METRIC health check reports while its alarm is INSUFFICIENT_DATA,
# by the alarm's missing-data treatment. "breaching" alarms never sit in INSUFFICIENT_DATA once
# evaluated; "missing" ones do when their metric stops, and then the check keeps its last state.
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
# (InsufficientDataHealthStatus)
INSUFFICIENT_DATA_HEALTH = {"breaching": "Unhealthy", "missing": "LastKnownStatus"}

NAMESPACE_API = "AWS/ApiGateway"


def _single_metric(
    key: str,
    name: str,
    description: str,
    threshold: float,
    treat_missing_data: str,
    evaluation_periods: int,
    datapoints_to_alarm: int,
    metric: dict[str, Any],
) -> AlarmSpec:
    """An alarm Route 53 can follow: one standard-resolution metric, a standard statistic."""
    if treat_missing_data not in INSUFFICIENT_DATA_HEALTH:
        raise ValueError(
            f"health alarm {key}: treat_missing_data must be one of {sorted(INSUFFICIENT_DATA_HEALTH)} "
            f"(got {treat_missing_data!r}); a health alarm never reads missing data as healthy"
        )
    return AlarmSpec(
        key=key,
        name=name,
        description=description,
        threshold=threshold,
        comparison="GreaterThanThreshold",
        metric_queries=[],
        treat_missing_data=treat_missing_data,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        extra={**metric, "period": 60},
    )


def health_check_alarm_specs(
    *,
    endpoint_name: str,
    variant_name: str,
    evaluation_periods: int,
    datapoints_to_alarm: int,
    max_5xx_per_minute: int,
    max_average_latency_ms: float,
) -> list[AlarmSpec]:
    """Endpoint alarms Route 53 health checks can follow. Route 53 accepts only single
    standard-resolution metrics with standard statistics: no metric math, no percentiles, no
    composite alarms. So the region's endpoint health is 5XX count and *average* model latency
    (with its own threshold: an average compared with the p99 threshold fires far too late),
    combined by a calculated health check (Route 53's equivalent of the composite alarm).

    Missing data: SageMaker publishes these only while requests arrive, so silence means either
    no traffic or a dead endpoint and the metric cannot tell which. It is "missing" (the alarm
    goes to INSUFFICIENT_DATA, never OK, and the health check keeps its last state); liveness is
    the `/ping` check, which asks SageMaker for the endpoint's status, and the stage alarms."""
    dims = {"EndpointName": endpoint_name, "VariantName": variant_name}
    n, m = evaluation_periods, datapoints_to_alarm

    def metric(name: str, statistic: str, unit: str | None = None) -> dict[str, Any]:
        found = {"namespace": NAMESPACE_INVOCATIONS, "metric_name": name, "statistic": statistic, "dimensions": dims}
        return {**found, "unit": unit} if unit else found

    where = f"{endpoint_name}/{variant_name}"
    return [
        _single_metric(
            "health_5xx",
            f"{endpoint_name}-{variant_name}-health_5xx",
            f"more than {max_5xx_per_minute} 5XX responses a minute on {where} (DNS failover)",
            max_5xx_per_minute,
            "missing",
            n,
            m,
            metric("Invocation5XXErrors", "Sum"),
        ),
        _single_metric(
            "health_latency",
            f"{endpoint_name}-{variant_name}-health_latency",
            f"average ModelLatency above {max_average_latency_ms:g} ms on {where} (DNS failover)",
            # SageMaker reports latencies in microseconds.
            max_average_latency_ms * 1000,
            "missing",
            n,
            m,
            metric("ModelLatency", "Average", "Microseconds"),
        ),
    ]


def stage_health_alarm_specs(
    *,
    name_prefix: str,
    api_name: Any,
    stage_name: str,
    max_5xx_per_minute: int,
    max_integration_latency_ms: float,
    evaluation_periods: int,
    datapoints_to_alarm: int,
) -> list[AlarmSpec]:
    """The API stage's own health, for Route 53: 5XXError count and average IntegrationLatency
    (AWS/ApiGateway, dimensions ApiName and Stage: published without detailed metrics).
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html

    Missing data is "breaching": Route 53 itself calls `/ping` on the stage every few seconds,
    and API Gateway publishes 5XXError (0 when none failed) and IntegrationLatency for every
    such call, so a stage that reports nothing is not serving."""
    dims = {"ApiName": api_name, "Stage": stage_name}

    def metric(name: str, statistic: str) -> dict[str, Any]:
        return {"namespace": NAMESPACE_API, "metric_name": name, "statistic": statistic, "dimensions": dims}

    return [
        _single_metric(
            "api_5xx",
            f"{name_prefix}-api_5xx",
            f"more than {max_5xx_per_minute} 5XX responses a minute on stage {stage_name} (DNS failover)",
            max_5xx_per_minute,
            "breaching",
            evaluation_periods,
            datapoints_to_alarm,
            metric("5XXError", "Sum"),
        ),
        _single_metric(
            "api_integration_latency",
            f"{name_prefix}-api_integration_latency",
            f"average IntegrationLatency above {max_integration_latency_ms:g} ms on stage {stage_name} (DNS failover)",
            max_integration_latency_ms,
            "breaching",
            evaluation_periods,
            datapoints_to_alarm,
            metric("IntegrationLatency", "Average"),
        ),
    ]


def unhealthy_rule(alarm_names: list[str]) -> str:
    """Composite alarm rule: unhealthy when any of the named alarms is in ALARM."""
    return " OR ".join(f'ALARM("{name}")' for name in alarm_names)


@dataclass(frozen=True)
class VariantAlarmsArgs:
    """Inputs of `VariantAlarms`: the specs to declare, where they notify, and the name of the
    composite "unhealthy" alarm over the UNHEALTHY_ALARMS among them (None: no composite)."""

    specs: list[AlarmSpec]
    topic_arn: pulumi.Input[str]
    unhealthy_name: str | None = None


class VariantAlarms(pulumi.ComponentResource):
    """The alarms of one endpoint variant and its composite "endpoint unhealthy" alarm."""

    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: VariantAlarmsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:alarms:VariantAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        actions = [args.topic_arn]
        self.alarms = {
            spec.key: aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.key}",
                name=spec.name,
                alarm_description=spec.description,
                comparison_operator=spec.comparison,
                threshold=spec.threshold,
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                metric_queries=spec.metric_queries or None,
                treat_missing_data=spec.treat_missing_data,
                **spec.extra,
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )
            for spec in args.specs
        }
        self.specs = list(args.specs)
        self.unhealthy_name = args.unhealthy_name
        if args.unhealthy_name is None:
            self.register_outputs({"alarm_names": [spec.name for spec in args.specs]})
            return
        unhealthy = [spec.name for spec in args.specs if spec.key in UNHEALTHY_ALARMS]
        self.unhealthy = aws.cloudwatch.CompositeAlarm(
            f"{name}-unhealthy",
            alarm_name=args.unhealthy_name,
            alarm_description="endpoint unhealthy: pages, and drives DNS failover",
            alarm_rule=unhealthy_rule(unhealthy),
            alarm_actions=actions,
            ok_actions=actions,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.alarms.values())),
        )
        self.register_outputs({"alarm_names": [spec.name for spec in args.specs], "unhealthy": args.unhealthy_name})
