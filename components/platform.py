"""How the components fit together for one stack: the program's assembly, region by region.

`__main__.py` validates the config, makes the providers and calls `build`; everything here
only wires components (no resources of its own) so the program reads top to bottom:
foundation per region, replication, model lifecycle, backup, serving, front doors,
observability. `build` returns the stack outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import (
    ROLLBACK_ALARMS,
    VariantAlarms,
    VariantAlarmsArgs,
    health_check_alarm_specs,
    variant_alarm_specs,
)
from components.backup import BackupVault, RegionBackup, RegionBackupArgs
from components.config import PROJECT, ServingConfig, StackConfig
from components.frontdoor import RegionalApi, RegionalApiArgs, RegionalFailover, RegionalFailoverArgs, rto_rpo_seconds
from components.image import (
    ModelImage,
    ModelImageArgs,
    ReplicaRepositoryTemplate,
    ReplicaRepositoryTemplateArgs,
    image_in_region,
)
from components.keys import RegionKey, RegionKeyArgs
from components.monitoring import (
    PUBLISHERS,
    Alerts,
    AlertsArgs,
    CostBudget,
    CostBudgetArgs,
    EndpointDashboard,
    EndpointDashboardArgs,
)
from components.retraining import Retraining, RetrainingArgs
from components.serving import ModelEndpoint, ModelEndpointArgs
from components.storage import BucketReplication, BucketReplicationArgs, Storage, StorageArgs
from components.training import ModelRegistry, SpotTraining, SpotTrainingArgs


@dataclass
class Site:
    """One region of the stack and what every component there builds on."""

    role: str
    region: str
    opts: pulumi.ResourceOptions
    key: RegionKey
    storage: Storage
    alerts: Alerts


@dataclass
class Lifecycle:
    image: ModelImage
    registry: ModelRegistry
    training: SpotTraining


def foundation(
    config: StackConfig, stack: str, providers: dict[str, aws.Provider], account: Any, partition: Any
) -> dict[str, Site]:
    """Per region: the KMS key, the three buckets, and the alerts topic."""
    sites = {}
    for role, region in config.regions.by_role().items():
        opts = pulumi.ResourceOptions(provider=providers[role])
        key = RegionKey(
            f"key-{role}",
            RegionKeyArgs(
                alias_name=f"alias/{PROJECT}-{stack}",
                account_id=account,
                partition=partition,
                # The alerts topic is encrypted with this key; its publishers must be able to use it.
                service_principals=PUBLISHERS,
                # API access logs are encrypted with the region key too.
                logs_region=region,
                protect=config.protect_stateful,
            ),
            opts=opts,
        )
        storage = Storage(
            role, StorageArgs(key_arn=key.arn, config=config.storage, protect=config.protect_stateful), opts=opts
        )
        alerts = Alerts(
            f"alerts-{role}",
            AlertsArgs(
                key_arn=key.arn,
                account_id=account,
                emails=tuple(config.notifications.emails),
                webhooks=tuple(config.notifications.webhooks),
            ),
            opts=opts,
        )
        sites[role] = Site(role, region, opts, key, storage, alerts)
    return sites


def replicate(config: StackConfig, sites: dict[str, Site], account: Any) -> None:
    """Datasets and artifacts replicate to their secondary-region buckets."""
    if "secondary" not in sites:
        return
    primary, secondary = sites["primary"], sites["secondary"]
    for cls in ("datasets", "artifacts"):
        BucketReplication(
            f"{cls}-replication",
            BucketReplicationArgs(
                source=primary.storage.buckets[cls],
                replica=secondary.storage.buckets[cls],
                source_key_arn=primary.key.arn,
                replica_key_arn=secondary.key.arn,
                source_region=primary.region,
                replica_region=secondary.region,
                account_id=account,
                time_control=config.storage.replication_time_control,
            ),
            opts=primary.opts,
        )


def model_lifecycle(config: StackConfig, stack: str, sites: dict[str, Site], account: Any) -> Lifecycle:
    """The image and its repository, the model registry, and the spot training job."""
    primary = sites["primary"]
    repository_prefix = f"{PROJECT}/{stack}"
    image = ModelImage(
        "model-image",
        ModelImageArgs(
            repository_name=f"{repository_prefix}/model",
            key_arn=primary.key.arn,
            account_id=account,
            keep_releases=config.image.keep_releases,
            replica_regions=tuple(site.region for role, site in sites.items() if role != "primary"),
            build_context=Path("model_code") if config.image.build else None,
            uri=config.image.uri,
            protect=config.protect_stateful,
        ),
        opts=primary.opts,
    )
    if "secondary" in sites:
        secondary = sites["secondary"]
        ReplicaRepositoryTemplate(
            "model-image-replica",
            ReplicaRepositoryTemplateArgs(
                prefix=repository_prefix,
                key_arn=secondary.key.arn,
                account_id=account,
                region=secondary.region,
                keep_releases=config.image.keep_releases,
            ),
            opts=secondary.opts,
        )
    registry = ModelRegistry("model-registry", f"{PROJECT}-{stack}", f"Models of {PROJECT} {stack}", opts=primary.opts)
    buckets = primary.storage.buckets
    training = SpotTraining(
        "training",
        SpotTrainingArgs(
            config=config.training,
            name_prefix=f"{PROJECT}-{stack}",
            image_uri=image.image_uri,
            datasets_bucket=(buckets["datasets"].bucket_name, buckets["datasets"].arn),
            artifacts_bucket=(buckets["artifacts"].bucket_name, buckets["artifacts"].arn),
            key_arn=primary.key.arn,
            repository_arn=image.repository.arn,
            region=primary.region,
            account_id=account,
        ),
        opts=primary.opts,
    )
    return Lifecycle(image, registry, training)


def backup(config: StackConfig, sites: dict[str, Site], account: Any) -> dict[str, Any]:
    """A locked vault and a plan per region; each region copies to the other's vault.
    Returns the outputs the restore drill needs."""
    if config.backup is None:
        return {}
    vaults = {
        role: BackupVault(
            f"vault-{role}", config.backup, site.key.arn, site.alerts.topic_arn, config.protect_stateful, opts=site.opts
        )
        for role, site in sites.items()
    }
    plans = {}
    for role, site in sites.items():
        other = next((r for r in sites if r != role), None)
        plans[role] = RegionBackup(
            f"backup-{role}",
            vaults[role],
            RegionBackupArgs(
                config=config.backup,
                key_arn=site.key.arn,
                topic_arn=site.alerts.topic_arn,
                bucket_arns=[bucket.arn for bucket in site.storage.buckets.values()],
                restore_test_arns=[site.storage.buckets["artifacts"].arn],
                account_id=account,
                copy_vault_arn=vaults[other].arn if other else None,
                protect=config.protect_stateful,
            ),
            opts=site.opts,
        )
    return {
        "backup_vaults": {role: vault.vault_name for role, vault in vaults.items()},
        "backup_role_arns": {role: plan.role.arn for role, plan in plans.items()},
    }


def serving_by_role(config: StackConfig) -> dict[str, ServingConfig]:
    """The primary serves as configured; the warm standby is the same with its own capacity."""
    serving = config.serving
    roles = {"primary": serving}
    if config.standby is not None:
        standby = config.standby
        instance = (
            serving.instance.model_copy(
                update={
                    "instance_type": standby.instance_type or serving.instance.instance_type,
                    "initial_instance_count": standby.initial_instance_count,
                }
            )
            if serving.instance
            else None
        )
        roles["secondary"] = serving.model_copy(update={"instance": instance, "autoscaling": standby.autoscaling})
    return roles


def serve(
    config: StackConfig, endpoint_name: str, sites: dict[str, Site], lifecycle: Lifecycle, account: Any
) -> tuple[dict[str, ModelEndpoint], dict[str, VariantAlarms], dict[str, Any]]:
    """Per serving region: alarms (and Route 53 health alarms), and the endpoint. The
    secondary serves the same image from its ECR replica and the same model from its
    artifacts replica, so nothing there reads from the primary at run time.

    With `serving.platform: kubernetes` the model is served on the configured cluster instead,
    from the primary region's artifacts: no endpoints, no endpoint alarms, and the third value
    holds the `kubernetes` stack output."""
    if config.serving.platform == "kubernetes":
        # Imported here: only Kubernetes stacks need pulumi_kubernetes loaded.
        import pulumi_kubernetes as k8s

        from components.kubernetes_serving import KubernetesModelServer, KubernetesModelServerArgs

        cluster, primary = config.kubernetes, sites["primary"]
        assert cluster is not None  # the config requires the section with this platform
        provider = k8s.Provider(
            "kubernetes",
            kubeconfig=pulumi.Output.secret(cluster.kubeconfig) if cluster.kubeconfig is not None else None,
            context=cluster.context,
        )
        server = KubernetesModelServer(
            "model-server",
            KubernetesModelServerArgs(
                config=cluster,
                image_uri=lifecycle.image.image_uri,
                model_data_url=lifecycle.training.model_data_url,
                artifacts_bucket_arn=primary.storage.buckets["artifacts"].arn,
                key_arn=primary.key.arn,
                region=primary.region,
                environment=config.serving.environment,
                labels={"environment": config.environment},
            ),
            opts=pulumi.ResourceOptions(providers=[primary.opts.provider, provider]),
        )
        return {}, {}, {"kubernetes": server.outputs}
    image, training = lifecycle.image, lifecycle.training
    endpoints: dict[str, ModelEndpoint] = {}
    health: dict[str, VariantAlarms] = {}
    for role, role_serving in serving_by_role(config).items():
        site = sites[role]
        buckets = site.storage.buckets
        alarms = VariantAlarms(
            f"alarms-{role}",
            VariantAlarmsArgs(
                specs=variant_alarm_specs(
                    endpoint_name=endpoint_name,
                    variant_name=role_serving.variant_name,
                    thresholds=config.alarms,
                    vcpus=role_serving.instance.vcpu_count if role_serving.instance else None,
                ),
                topic_arn=site.alerts.topic_arn,
                unhealthy_name=f"{endpoint_name}-unhealthy",
            ),
            opts=site.opts,
        )
        if config.failover is not None:
            health[role] = VariantAlarms(
                f"health-{role}",
                VariantAlarmsArgs(
                    specs=health_check_alarm_specs(
                        endpoint_name=endpoint_name,
                        variant_name=role_serving.variant_name,
                        thresholds=config.alarms,
                        max_5xx_per_minute=config.failover.unhealthy_5xx_per_minute,
                    ),
                    topic_arn=site.alerts.topic_arn,
                ),
                opts=site.opts,
            )
        primary = role == "primary"
        endpoints[role] = ModelEndpoint(
            f"endpoint-{role}",
            ModelEndpointArgs(
                config=role_serving,
                endpoint_name=endpoint_name,
                image_uri=image.image_uri
                if primary
                else image.image_uri.apply(lambda uri, r=site.region: image_in_region(uri, r)),
                model_data_url=pulumi.Output.concat(
                    "s3://", buckets["artifacts"].bucket_name, "/models/", training.job_name, "/output/model.tar.gz"
                ),
                artifacts_bucket_arn=buckets["artifacts"].arn,
                capture_bucket=(buckets["capture"].bucket_name, buckets["capture"].arn),
                key_arn=site.key.arn,
                # The secondary pulls from the replica repository of the same name in its region.
                repository_arn=image.repository.arn
                if primary
                else pulumi.Output.concat(
                    f"arn:aws:ecr:{site.region}:", account, ":repository/", image.repository.name
                ),
                region=site.region,
                account_id=account,
                rollback_alarms=[alarms.alarms[key] for key in ROLLBACK_ALARMS],
                standby=not primary,
            ),
            opts=site.opts,
        )
    return endpoints, health, {}


def front_doors(
    config: StackConfig,
    sites: dict[str, Site],
    endpoints: dict[str, ModelEndpoint],
    health: dict[str, VariantAlarms],
    account: Any,
) -> dict[str, Any]:
    """Regional APIs and, with failover configured, Route 53 failover between them."""
    if config.api is None:
        return {}
    apis = {
        role: RegionalApi(
            f"api-{role}",
            RegionalApiArgs(
                endpoint_name=endpoint.endpoint_name,
                endpoint_arn=endpoint.endpoint.arn,
                region=sites[role].region,
                account_id=account,
                key_arn=sites[role].key.arn,
                stage_name=config.api.stage_name,
                throttle_rate_limit=config.api.throttle_rate_limit,
                throttle_burst_limit=config.api.throttle_burst_limit,
                access_log_retention_days=config.api.access_log_retention_days,
            ),
            opts=sites[role].opts,
        )
        for role, endpoint in endpoints.items()
    }
    outputs: dict[str, Any] = {"api_invoke_urls": {role: api.invoke_url for role, api in apis.items()}}
    failover = config.failover
    if failover is None:
        return outputs
    for role, api in apis.items():
        RegionalFailover(
            f"failover-{role}",
            RegionalFailoverArgs(
                role=role.upper(),
                hosted_zone_id=failover.hosted_zone_id,
                domain_name=failover.domain_name,
                dns_ttl_seconds=failover.dns_ttl_seconds,
                api=api,
                stage_name=config.api.stage_name,
                region=sites[role].region,
                health_alarm_names=[alarm.name for alarm in health[role].alarms.values()],
                health_check_interval_seconds=failover.health_check_interval_seconds,
                health_check_failure_threshold=failover.health_check_failure_threshold,
            ),
            opts=sites[role].opts,
        )
    outputs["recovery_objectives"] = rto_rpo_seconds(
        alarm_period_seconds=60,
        datapoints_to_alarm=config.alarms.datapoints_to_alarm,
        health_check_interval_seconds=failover.health_check_interval_seconds,
        health_check_failure_threshold=failover.health_check_failure_threshold,
        dns_ttl_seconds=failover.dns_ttl_seconds,
        replication_time_control=config.storage.replication_time_control,
    )
    return outputs


def retrain(
    config: StackConfig, stack: str, endpoint_name: str, sites: dict[str, Site], lifecycle: Lifecycle, account: Any
) -> dict[str, Any]:
    """Drift monitoring of the primary endpoint's capture, and the retraining it starts."""
    if config.retraining is None:
        return {}
    primary = sites["primary"]
    buckets = primary.storage.buckets
    retraining = Retraining(
        "retraining",
        RetrainingArgs(
            config=config.retraining,
            training=config.training,
            environment=config.environment,
            name_prefix=f"{PROJECT}-{stack}",
            endpoint_name=endpoint_name,
            image_uri=lifecycle.image.image_uri,
            model_data_url=lifecycle.training.model_data_url,
            datasets_bucket=(buckets["datasets"].bucket_name, buckets["datasets"].arn),
            artifacts_bucket=(buckets["artifacts"].bucket_name, buckets["artifacts"].arn),
            capture_bucket=(buckets["capture"].bucket_name, buckets["capture"].arn),
            key_arn=primary.key.arn,
            repository_arn=lifecycle.image.repository.arn,
            model_package_group=(lifecycle.registry.group.model_package_group_name, lifecycle.registry.arn),
            topic_arn=primary.alerts.topic_arn,
            metrics_namespace=config.monitoring.metrics_namespace,
            region=primary.region,
            account_id=account,
            drift_instance_count=config.monitoring.drift_instance_count,
        ),
        opts=primary.opts,
    )
    return {
        "pipelines": {
            "retraining": retraining.retraining_pipeline.pipeline_name,
            "monitoring": retraining.monitoring_pipeline.pipeline_name,
        }
    }


def observe(config: StackConfig, endpoint_name: str, sites: dict[str, Site]) -> None:
    """The endpoint dashboard (SageMaker serving only: it charts the endpoint's metrics) and
    the monthly budget."""
    primary = sites["primary"]
    if config.serving.platform == "sagemaker":
        EndpointDashboard(
            "dashboard-primary",
            EndpointDashboardArgs(
                endpoint_name=endpoint_name,
                variant_name=config.serving.variant_name,
                region=primary.region,
                drift_namespace=config.monitoring.metrics_namespace,
                period_seconds=config.alarms.period_seconds,
            ),
            opts=primary.opts,
        )
    budget = config.monitoring.budget
    if budget is not None:
        CostBudget(
            "budget",
            CostBudgetArgs(
                project=PROJECT,
                environment=config.environment,
                monthly_limit_usd=budget.monthly_limit_usd,
                topic_arn=primary.alerts.topic_arn,
                actual_alert_percent=budget.actual_alert_percent,
                forecast_alert_percent=budget.forecast_alert_percent,
            ),
            opts=primary.opts,
        )


def endpoint_outputs(endpoints: dict[str, ModelEndpoint]) -> dict[str, Any]:
    """What `ops verify` checks per region."""
    outputs = {}
    for role, endpoint in endpoints.items():
        scaling = endpoint.config.autoscaling
        outputs[role] = {
            "region": endpoint.region,
            "endpoint_name": endpoint.endpoint_name,
            "endpoint_config_name": endpoint.endpoint_config.name,
            "variant_name": endpoint.config.variant_name,
            "min_capacity": scaling.min_capacity if scaling else None,
            "max_capacity": scaling.max_capacity if scaling else None,
        }
    return outputs


def build(config: StackConfig, stack: str, providers: dict[str, aws.Provider]) -> dict[str, Any]:
    """Declare the whole stack; returns its outputs."""
    on_primary = pulumi.InvokeOutputOptions(provider=providers["primary"])
    account = aws.get_caller_identity_output(opts=on_primary).account_id
    partition = aws.get_partition_output(opts=on_primary).partition
    endpoint_name = f"{PROJECT}-{stack}"

    sites = foundation(config, stack, providers, account, partition)
    replicate(config, sites, account)
    lifecycle = model_lifecycle(config, stack, sites, account)
    backups = backup(config, sites, account)
    endpoints, health, cluster = serve(config, endpoint_name, sites, lifecycle, account)
    doors = front_doors(config, sites, endpoints, health, account)
    pipelines = retrain(config, stack, endpoint_name, sites, lifecycle, account)
    observe(config, endpoint_name, sites)

    outputs: dict[str, Any] = {
        "environment": config.environment,
        "regions": config.regions.by_role(),
        "kms_key_arns": {role: site.key.arn for role, site in sites.items()},
        "buckets": {
            role: {cls: b.bucket_name for cls, b in site.storage.buckets.items()} for role, site in sites.items()
        },
        "image_uri": lifecycle.image.image_uri,
        "model_package_group": lifecycle.registry.group.model_package_group_name,
        "training_job_name": lifecycle.training.job_name,
        "model_data_url": lifecycle.training.model_data_url,
        "alerts_topic_arns": {role: site.alerts.topic_arn for role, site in sites.items()},
        "endpoints": endpoint_outputs(endpoints),
        **backups,
        **doors,
        **pipelines,
        **cluster,
    }
    return outputs
