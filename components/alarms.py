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

from components.config import AlarmsConfig

NAMESPACE_INVOCATIONS = "AWS/SageMaker"
NAMESPACE_INSTANCE = "/aws/sagemaker/Endpoints"

# Keys of the alarms a deployment rolls back on.
ROLLBACK_ALARMS = ("error_5xx_rate", "model_latency_p99")
# Keys of the alarms that make the endpoint "unhealthy" (paging, and DNS failover).
UNHEALTHY_ALARMS = ("error_5xx_rate", "model_latency_p99")


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
    *, endpoint_name: str, variant_name: str, thresholds: AlarmsConfig, vcpus: int | None
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


def health_check_alarm_specs(
    *, endpoint_name: str, variant_name: str, thresholds: AlarmsConfig, max_5xx_per_minute: int
) -> list[AlarmSpec]:
    """Alarms Route 53 health checks can follow. Route 53 accepts only single standard-resolution
    metrics with standard statistics: no metric math, no percentiles, no composite alarms. So
    the region's health is 5XX count and average model latency, combined by a calculated health
    check (Route 53's equivalent of the composite "unhealthy" alarm)."""
    dims = {"EndpointName": endpoint_name, "VariantName": variant_name}

    def spec(key: str, metric: str, statistic: str, threshold: float, description: str) -> AlarmSpec:
        return AlarmSpec(
            key=key,
            name=f"{endpoint_name}-{variant_name}-{key}",
            description=description,
            threshold=threshold,
            comparison="GreaterThanThreshold",
            metric_queries=[],
            # No traffic is not ill health; the /ping check covers reachability.
            treat_missing_data="notBreaching",
            evaluation_periods=thresholds.evaluation_periods,
            datapoints_to_alarm=thresholds.datapoints_to_alarm,
            extra={
                "namespace": NAMESPACE_INVOCATIONS,
                "metric_name": metric,
                "statistic": statistic,
                "period": 60,
                "dimensions": dims,
            },
        )

    return [
        spec(
            "health_5xx",
            "Invocation5XXErrors",
            "Sum",
            max_5xx_per_minute,
            f"more than {max_5xx_per_minute} 5XX responses a minute on {endpoint_name}/{variant_name} (DNS failover)",
        ),
        spec(
            "health_latency",
            "ModelLatency",
            "Average",
            thresholds.model_latency_p99_ms * 1000,
            f"average ModelLatency above {thresholds.model_latency_p99_ms:g} ms on {endpoint_name}/{variant_name} "
            "(DNS failover)",
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
