"""The assembly's edge: the stack config mapped onto the Args of the front doors and the Kubernetes
server, and the front doors' wiring (`front_doors`, called by `ml_platform/platform.py`'s `build`).
No resources of its own: it only builds components.

The components themselves never see the config, so another program builds them from its own
values (see examples/reuse_front_door).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from ml_platform.components.alarms import (
    INSUFFICIENT_DATA_HEALTH,
    VariantAlarms,
    VariantAlarmsArgs,
    stage_health_alarm_specs,
)
from ml_platform.components.frontdoor import (
    HealthAlarm,
    RegionalApi,
    RegionalApiArgs,
    RegionalFailover,
    RegionalFailoverArgs,
    WebAclArgs,
    rto_rpo_seconds,
)
from ml_platform.components.kubernetes_args import (
    CertificateIssuer,
    ContainerResources,
    IngressArgs,
    KubernetesModelServerArgs,
    PodAutoscaling,
    PodMonitorArgs,
)
from ml_platform.config import ApiConfig, KubernetesConfig, StackConfig

if TYPE_CHECKING:
    from ml_platform.components.serving import ModelEndpoint
    from ml_platform.site import Site


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
        part_of=pulumi.get_project(),
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
    dns_suffix: pulumi.Input[str],
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
        dns_suffix=dns_suffix,
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


def front_doors(
    config: StackConfig,
    sites: dict[str, Site],
    endpoints: dict[str, ModelEndpoint],
    health: dict[str, VariantAlarms],
    account: Any,
) -> dict[str, Any]:
    """Regional APIs and, with failover configured, Route 53 failover between them. A region
    without an endpoint (no model version to serve yet) gets no front door: nothing would
    answer behind it, and its absent failover record leaves the name to the other region."""
    api_config = config.api
    if api_config is None:
        return {}
    # The endpoint's name (`build`'s endpoint_name): the API and its alarms carry it.
    api_name = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    apis = {
        role: regional_api(role, sites[role], endpoint, api_config, api_name, account)
        for role, endpoint in endpoints.items()
        if endpoint is not None
    }
    outputs: dict[str, Any] = {"api_invoke_urls": {role: api.invoke_url for role, api in apis.items()}}
    failover = config.failover
    if failover is None or not apis:
        return outputs
    validation_record_fqdn = None
    for role, api in apis.items():
        stage_alarms = VariantAlarms(
            f"api-health-{role}",
            VariantAlarmsArgs(
                specs=stage_health_alarm_specs(
                    name_prefix=f"{api_name}-{role}",
                    api_name=api_name,
                    stage_name=api_config.stage_name,
                    max_5xx_per_minute=failover.unhealthy_api_5xx_per_minute,
                    max_integration_latency_ms=failover.unhealthy_api_integration_latency_ms,
                    evaluation_periods=config.alarms.evaluation_periods,
                    datapoints_to_alarm=config.alarms.datapoints_to_alarm,
                ),
                topic_arn=sites[role].alerts.topic_arn,
            ),
            opts=sites[role].opts,
        )
        specs = [*health[role].specs, *stage_alarms.specs] if role in health else stage_alarms.specs
        door = RegionalFailover(
            f"failover-{role}",
            RegionalFailoverArgs(
                role=role.upper(),
                hosted_zone_id=failover.hosted_zone_id,
                domain_name=failover.domain_name,
                dns_ttl_seconds=failover.dns_ttl_seconds,
                rest_api_id=api.api.id,
                api_host=api.host,
                stage_name=api_config.stage_name,
                region=sites[role].region,
                health_alarms=[
                    HealthAlarm(spec.name, INSUFFICIENT_DATA_HEALTH[spec.treat_missing_data]) for spec in specs
                ],
                health_check_interval_seconds=failover.health_check_interval_seconds,
                health_check_failure_threshold=failover.health_check_failure_threshold,
                # The first region with a front door owns the ACM validation record.
                validation_record_fqdn=validation_record_fqdn,
            ),
            opts=sites[role].opts,
        )
        validation_record_fqdn = door.validation_record_fqdn
    outputs["recovery_objectives"] = recovery_objectives(config)
    return outputs


def recovery_objectives(config: StackConfig) -> dict[str, Any]:
    """RTO and RPO of a region failover as the stack's failover config makes them (the stack
    output `recovery_objectives`; `offline.failover_drill` measures against it)."""
    failover = config.failover
    assert failover is not None  # only stacks with failover have recovery objectives
    return rto_rpo_seconds(
        alarm_period_seconds=60,
        datapoints_to_alarm=config.alarms.datapoints_to_alarm,
        health_check_interval_seconds=failover.health_check_interval_seconds,
        health_check_failure_threshold=failover.health_check_failure_threshold,
        dns_ttl_seconds=failover.dns_ttl_seconds,
        replication_time_control=config.storage.replication_time_control,
    )


def regional_api(
    role: str, site: Site, endpoint: ModelEndpoint, api_config: ApiConfig, api_name: str, account: Any
) -> RegionalApi:
    """One region's API in front of its endpoint, in the partition of that region's provider."""
    partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=site.opts.provider))
    return RegionalApi(
        f"api-{role}",
        regional_api_args(
            api_config,
            api_name=api_name,
            endpoint_name=endpoint.endpoint_name,
            endpoint_arn=endpoint.endpoint.arn,
            region=site.region,
            account_id=account,
            partition=partition.partition,
            dns_suffix=partition.dns_suffix,
            key_arn=site.key.arn,
        ),
        opts=site.opts,
    )
