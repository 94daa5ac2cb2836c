"""The endpoint's CloudWatch dashboard, built as plain JSON by a pure function."""

from __future__ import annotations

from typing import Any

from ml_platform.components.alarms import NAMESPACE_INSTANCE, NAMESPACE_INVOCATIONS

WIDTH, HEIGHT = 12, 6


def _widget(index: int, title: str, metrics: list[list[Any]], region: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": (index % 2) * WIDTH,
        "y": (index // 2) * HEIGHT,
        "width": WIDTH,
        "height": HEIGHT,
        "properties": {"title": title, "region": region, "metrics": metrics, "view": "timeSeries", **properties},
    }


def dashboard_body(
    *,
    endpoint_name: str,
    variant_name: str,
    region: str,
    drift_namespace: str,
    drift_metric: str,
    period_seconds: int = 60,
) -> dict[str, Any]:
    """Invocations; p50/p90/p99 model latency; 5XX/4XX rates; instance count; CPU and memory;
    drift per feature (the drift job publishes `drift_metric` per `Feature`; a SEARCH
    expression finds every feature, so the dashboard needs no feature list)."""
    dims = ["EndpointName", endpoint_name, "VariantName", variant_name]
    invocations = [NAMESPACE_INVOCATIONS, "Invocations", *dims]
    widgets = [
        _widget(
            0, "Invocations", [[*invocations, {"stat": "Sum", "label": "invocations"}]], region, period=period_seconds
        ),
        _widget(
            1,
            "Model latency (ms)",
            [
                [NAMESPACE_INVOCATIONS, "ModelLatency", *dims, {"stat": stat, "id": f"l{stat}", "visible": False}]
                for stat in ("p50", "p90", "p99")
            ]
            # ModelLatency is in microseconds.
            + [[{"expression": f"lp{q} / 1000", "label": f"p{q}", "id": f"ms{q}"}] for q in (50, 90, 99)],
            region,
            period=period_seconds,
        ),
        _widget(
            2,
            "Error rates (% of invocations)",
            [
                [*invocations, {"stat": "Sum", "id": "inv", "visible": False}],
                [NAMESPACE_INVOCATIONS, "Invocation5XXErrors", *dims, {"stat": "Sum", "id": "e5", "visible": False}],
                [NAMESPACE_INVOCATIONS, "Invocation4XXErrors", *dims, {"stat": "Sum", "id": "e4", "visible": False}],
                [{"expression": "IF(inv > 0, 100 * e5 / inv, 0)", "label": "5XX %", "id": "r5"}],
                [{"expression": "IF(inv > 0, 100 * e4 / inv, 0)", "label": "4XX %", "id": "r4"}],
            ],
            region,
            period=period_seconds,
        ),
        _widget(
            3,
            "Instances",
            # Each instance reports CPUUtilization once a minute: the sample count is the fleet size.
            [[NAMESPACE_INSTANCE, "CPUUtilization", *dims, {"stat": "SampleCount", "label": "instances"}]],
            region,
            period=60,
        ),
        _widget(
            4,
            "CPU and memory (%)",
            [
                [NAMESPACE_INSTANCE, "CPUUtilization", *dims, {"stat": "Average", "label": "CPU (sum over vCPUs)"}],
                [NAMESPACE_INSTANCE, "MemoryUtilization", *dims, {"stat": "Average", "label": "memory"}],
            ],
            region,
            period=period_seconds,
        ),
        _widget(
            5,
            "Drift per feature (PSI)",
            [
                [
                    {
                        "expression": (
                            f'SEARCH(\'{{{drift_namespace},EndpointName,Feature}} MetricName="{drift_metric}" '
                            f"EndpointName=\"{endpoint_name}\"', 'Maximum', 3600)"
                        ),
                        "label": "",
                        "id": "drift",
                    }
                ]
            ],
            region,
            period=3600,
        ),
    ]
    return {"widgets": widgets}


def budget_filter_expression(project: str, environment: str) -> dict[str, Any]:
    """This stack's spend: cost-allocation tags `project` AND `environment` (activate both as
    cost-allocation tags in the billing console once)."""
    return {
        "ands": [
            {"tags": {"key": key, "values": [value], "match_options": ["EQUALS"]}}
            for key, value in (("project", project), ("environment", environment))
        ]
    }
