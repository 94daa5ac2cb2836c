"""The assembly's mapping of the stack config onto the Args of the edge components (the KMS key,
the image, the front doors, the Kubernetes server): config in, plain Args out, no resources.

`ml_platform/platform.py` calls these; the components themselves never see the config, so another
program builds them from its own values (see examples/reuse_front_door).
"""

from __future__ import annotations

from typing import Any

import pulumi

from ml_platform.components.frontdoor import RegionalApiArgs, WebAclArgs
from ml_platform.components.kubernetes_args import (
    CertificateIssuer,
    ContainerResources,
    IngressArgs,
    KubernetesModelServerArgs,
    PodAutoscaling,
    PodMonitorArgs,
)
from ml_platform.config import PROJECT, ApiConfig, KubernetesConfig


def kubernetes_server_args(
    cluster: KubernetesConfig,
    *,
    image_uri: pulumi.Input[str],
    model_data_url: pulumi.Input[str],
    artifacts_bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    region: str,
    previous_model_data_url: pulumi.Input[str] | None = None,
    environment: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> KubernetesModelServerArgs:
    """The `kubernetes` section, and what the stack serves, as `KubernetesModelServerArgs`."""
    ingress = cluster.ingress
    issuer = ingress.certificate_issuer if ingress is not None else None
    monitor = cluster.pod_monitor
    return KubernetesModelServerArgs(
        namespace=cluster.namespace,
        cluster_version=cluster.cluster_version,
        oidc_provider_arn=cluster.oidc_provider_arn,
        image_uri=image_uri,
        model_data_url=model_data_url,
        previous_model_data_url=previous_model_data_url,
        artifacts_bucket_arn=artifacts_bucket_arn,
        key_arn=key_arn,
        region=region,
        autoscaling=PodAutoscaling(
            min_replicas=cluster.autoscaling.min_replicas,
            max_replicas=cluster.autoscaling.max_replicas,
            target_cpu_utilization_percent=cluster.autoscaling.target_cpu_utilization_percent,
            scale_down_stabilization_seconds=cluster.autoscaling.scale_down_stabilization_seconds,
        ),
        allowed_namespaces=tuple(cluster.allowed_namespaces),
        resources=ContainerResources(**cluster.resources.model_dump()),
        max_unavailable=cluster.max_unavailable,
        zone_spread=cluster.zone_spread,
        drain_timeout_seconds=cluster.drain_timeout_seconds,
        pre_stop_delay_seconds=cluster.pre_stop_delay_seconds,
        startup_timeout_seconds=cluster.startup_timeout_seconds,
        model_fetch_timeout_seconds=cluster.model_fetch_timeout_seconds,
        max_surge=cluster.max_surge,
        model_volume_size_limit=cluster.model_volume_size_limit,
        ingress=None
        if ingress is None
        else IngressArgs(
            host=ingress.host,
            class_name=ingress.class_name,
            tls_secret_name=ingress.tls_secret_name,
            certificate_issuer=None if issuer is None else CertificateIssuer(name=issuer.name, kind=issuer.kind),
        ),
        pod_monitor=None
        if monitor is None
        else PodMonitorArgs(labels=dict(monitor.labels), interval_seconds=monitor.interval_seconds),
        environment=dict(environment or {}),
        labels=dict(labels or {}),
        part_of=PROJECT,
    )


def regional_api_args(
    api: ApiConfig,
    *,
    api_name: str,
    endpoint_name: pulumi.Input[str],
    endpoint_arn: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    partition: pulumi.Input[str],
    key_arn: pulumi.Input[str],
) -> RegionalApiArgs:
    """The `api` section, for one region's endpoint, as `RegionalApiArgs`."""
    return RegionalApiArgs(
        api_name=api_name,
        endpoint_name=endpoint_name,
        endpoint_arn=endpoint_arn,
        region=region,
        account_id=account_id,
        partition=partition,
        key_arn=key_arn,
        stage_name=api.stage_name,
        throttle_rate_limit_per_second=api.throttle_rate_limit,
        throttle_burst_limit=api.throttle_burst_limit,
        access_log_retention_days=api.access_log_retention_days or 30,
        web_acl=WebAclArgs(
            rate_limit_per_ip=api.waf_rate_limit_per_ip,
            rate_window_seconds=api.waf_rate_window_seconds,
            common_rule_set=api.waf_common_rule_set,
        ),
    )


def previous_artifact(previous: Any) -> pulumi.Output[str] | None:
    """The approved version before the served one (what a rollback returns to), as an input."""
    return pulumi.Output.from_input(previous.model_data_url) if previous is not None else None
