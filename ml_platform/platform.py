"""How the components fit together for one stack: the program's assembly, region by region.

`__main__.py` validates the config, makes the providers and calls `build`; everything here
only wires components (no resources of its own) so the program reads top to bottom:
foundation per region, replication, model lifecycle, backup, serving, front doors,
observability. `build` returns the stack outputs. The front doors' wiring and the mapping of
config onto the edge components' Args live in `ml_platform/assembly_edge.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_platform.assembly_edge import front_doors
from ml_platform.assembly_pipelines import retraining_args
from ml_platform.assembly_serving import (
    alarm_thresholds,
    endpoint_args,
    endpoint_outputs,
    model_version_output,
    region_backup_args,
    served_in,
    serving_by_role,
    storage_args,
    vault_args,
    versioned_arn,
    versioned_name,
)
from ml_platform.components.alarms import (
    ROLLBACK_ALARMS,
    VariantAlarms,
    VariantAlarmsArgs,
    health_check_alarm_specs,
    variant_alarm_specs,
)
from ml_platform.components.backup import BackupVault, RegionBackup
from ml_platform.components.image import ModelImage, ModelImageArgs, repository_name
from ml_platform.components.keys import RegionKey, RegionKeyArgs
from ml_platform.components.monitoring import (
    PUBLISHERS,
    Alerts,
    AlertsArgs,
    CostBudget,
    CostBudgetArgs,
    EndpointDashboard,
    EndpointDashboardArgs,
)
from ml_platform.components.retraining import Retraining
from ml_platform.components.served_model import ServedModel, resolve_served
from ml_platform.components.serving import ModelEndpoint
from ml_platform.components.storage import BucketReplication, BucketReplicationArgs, Storage
from ml_platform.components.training import DeployTrigger, DeployTriggerArgs, ModelRegistry, ModelRegistryArgs
from ml_platform.config import StackConfig
from ml_platform.site import Lifecycle, Site


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
                alias_name=f"alias/{pulumi.get_project()}-{stack}",
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
        storage = Storage(role, storage_args(config.storage, key.arn, config.protect_stateful), opts=opts)
        alerts = Alerts(
            f"alerts-{role}",
            AlertsArgs(
                key_arn=key.arn,
                account_id=account,
                partition=partition,
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
        source, replica = primary.storage.buckets[cls], secondary.storage.buckets[cls]
        BucketReplication(
            f"{cls}-replication",
            BucketReplicationArgs(
                source_bucket_name=versioned_name(source),
                source_bucket_arn=versioned_arn(source),
                replica_bucket_arn=versioned_arn(replica),
                source_key_arn=primary.key.arn,
                replica_key_arn=secondary.key.arn,
                source_region=primary.region,
                replica_region=secondary.region,
                account_id=account,
                time_control=config.storage.replication_time_control,
            ),
            opts=primary.opts,
        )


def registry_group_name(stack: str) -> str:
    return f"{pulumi.get_project()}-{stack}"


def model_lifecycle(config: StackConfig, stack: str, sites: dict[str, Site], account: Any) -> Lifecycle:
    """The image and its repository (the model-build pipeline's image), the Model Registry
    group, the approval trigger, and the version `serving.model` names, read from the registry."""
    primary = sites["primary"]
    # The repository, its replication and the replica template come from the bootstrap program.
    partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=primary.opts.provider))
    image = ModelImage(
        "model-image",
        ModelImageArgs(
            repository_name=repository_name(pulumi.get_project(), stack),
            account_id=account,
            region=primary.region,
            partition=partition.partition,
            dns_suffix=partition.dns_suffix,
            build_context=Path("model_code") if config.image.build else None,
            uri=config.image.uri,
        ),
        opts=primary.opts,
    )
    group_name = registry_group_name(stack)
    registry = ModelRegistry(
        "model-registry", ModelRegistryArgs(group_name, f"Models of {pulumi.get_project()} {stack}"), opts=primary.opts
    )
    if config.deploy_trigger is not None:
        DeployTrigger(
            "deploy-trigger",
            DeployTriggerArgs(
                stack=stack,
                group_name=registry.group.model_package_group_name,
                repository=config.deploy_trigger.repository,
                token=pulumi.Output.secret(config.deploy_trigger.token),
                account_id=account,
            ),
            opts=primary.opts,
        )
    served = resolve_served(config.serving.model, group_name, primary.region)
    # Shown by every preview (a pull request's preview says what goes out) and by the plan.
    pulumi.log.info(served.describe())
    return Lifecycle(image, registry, served)


def serving_instance_types(config: StackConfig) -> tuple[str, ...]:
    """The instance types the stack's endpoints run on (primary, standby): registered with
    every model version as its supported realtime instance types."""
    types = [role.instance.instance_type for role in serving_by_role(config).values() if role.instance is not None]
    return tuple(dict.fromkeys(types))


def backup(config: StackConfig, sites: dict[str, Site], account: Any, partition: Any) -> dict[str, Any]:
    """A locked vault and a plan per region; each region copies to the other's vault.
    Returns the outputs the restore drill needs."""
    if config.backup is None:
        return {}
    vaults = {
        role: BackupVault(
            f"vault-{role}",
            vault_args(config.backup, site.key.arn, site.alerts.topic_arn, config.protect_stateful),
            opts=site.opts,
        )
        for role, site in sites.items()
    }
    plans = {}
    for role, site in sites.items():
        other = next((r for r in sites if r != role), None)
        plans[role] = RegionBackup(
            f"backup-{role}",
            region_backup_args(
                config.backup,
                vault_name=vaults[role].vault_name,
                vault_arn=vaults[role].arn,
                bucket_arns=[versioned_arn(bucket) for bucket in site.storage.buckets.values()],
                restore_test_arns=[versioned_arn(site.storage.buckets["artifacts"])],
                account_id=account,
                partition=partition,
                copy_vault_arn=vaults[other].arn if other else None,
            ),
            opts=site.opts,
        )
    return {
        "backup_vaults": {role: vault.vault_name for role, vault in vaults.items()},
        "backup_role_arns": {role: plan.role_arn for role, plan in plans.items()},
    }


def serve(
    config: StackConfig, endpoint_name: str, sites: dict[str, Site], lifecycle: Lifecycle, account: Any, partition: Any
) -> tuple[dict[str, ModelEndpoint], dict[str, VariantAlarms], dict[str, Any]]:
    """Per serving region: alarms (and Route 53 health alarms), and the endpoint serving the
    resolved model version. The secondary serves the version from its own copies (artifact
    copied, image checked), so nothing there reads from the primary at run time.

    With no approved version yet nothing is served: no endpoints, no endpoint alarms, no
    autoscaling (the first deploy declares them once a version is approved).

    With `serving.platform: kubernetes` the model is served on the configured cluster instead,
    from the primary region's artifacts: no endpoints, no endpoint alarms, and the third value
    holds the `kubernetes` stack output."""
    served = lifecycle.served
    if served.version is None:
        return {}, {}, {}
    if config.serving.platform == "kubernetes":
        # Imported here: only Kubernetes stacks need pulumi_kubernetes loaded.
        import pulumi_kubernetes as k8s

        from ml_platform.assembly_edge import kubernetes_server_args, previous_artifact
        from ml_platform.components.kubernetes_serving import KubernetesModelServer

        cluster, primary = config.kubernetes, sites["primary"]
        assert cluster is not None  # the config requires the section with this platform
        provider = k8s.Provider(
            "kubernetes",
            kubeconfig=pulumi.Output.secret(cluster.kubeconfig) if cluster.kubeconfig is not None else None,
            context=cluster.context,
        )
        server = KubernetesModelServer(
            "model-server",
            kubernetes_server_args(
                cluster,
                image_uri=served.version.image_uri,
                model_data_url=pulumi.Output.from_input(served.version.model_data_url),
                artifacts_bucket_arn=primary.storage.buckets["artifacts"].arn,
                key_arn=primary.key.arn,
                region=primary.region,
                # The approved version before the served one: what a rollback returns to.
                previous_model_data_url=previous_artifact(served.previous),
                environment=config.serving.environment,
                labels={"environment": config.environment},
            ),
            opts=pulumi.ResourceOptions(providers=[primary.opts.provider, provider]),
        )
        return {}, {}, {"kubernetes": server.outputs}
    image = lifecycle.image
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
                    thresholds=alarm_thresholds(config.alarms),
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
                        evaluation_periods=config.alarms.evaluation_periods,
                        datapoints_to_alarm=config.alarms.datapoints_to_alarm,
                        max_5xx_per_minute=config.failover.unhealthy_5xx_per_minute,
                        max_average_latency_ms=config.failover.unhealthy_average_latency_ms,
                    ),
                    topic_arn=site.alerts.topic_arn,
                ),
                opts=site.opts,
            )
        primary = role == "primary"
        endpoints[role] = ModelEndpoint(
            f"endpoint-{role}",
            endpoint_args(
                role_serving,
                endpoint_name=endpoint_name,
                model=served_in(
                    role,
                    served.version,
                    bucket_name=buckets["artifacts"].bucket_name,
                    key_arn=site.key.arn,
                    region=site.region,
                    opts=site.opts,
                ),
                artifacts_bucket_arn=buckets["artifacts"].arn,
                capture_bucket_name=buckets["capture"].bucket_name,
                capture_bucket_arn=buckets["capture"].arn,
                key_arn=site.key.arn,
                # The secondary pulls from the replica repository of the same name in its region.
                repository_arn=image.repository.arn
                if primary
                else pulumi.Output.concat(
                    "arn:", partition, f":ecr:{site.region}:", account, ":repository/", image.repository.name
                ),
                region=site.region,
                account_id=account,
                partition=partition,
                rollback_alarm_names=[alarms.alarms[key].name for key in ROLLBACK_ALARMS],
                standby=not primary,
            ),
            opts=site.opts,
        )
    return endpoints, health, {}


def retrain(
    config: StackConfig,
    stack: str,
    endpoint_name: str,
    sites: dict[str, Site],
    lifecycle: Lifecycle,
    account: Any,
    partition: Any,
) -> dict[str, Any]:
    """Drift monitoring of the primary endpoint's capture, and the retraining it starts
    (config -> Args: ml_platform/assembly_pipelines.py)."""
    if config.retraining is None:
        return {}
    primary = sites["primary"]
    retraining = Retraining(
        "retraining",
        retraining_args(
            config,
            name_prefix=f"{pulumi.get_project()}-{stack}",
            endpoint_name=endpoint_name,
            buckets=primary.storage.buckets,
            image_uri=lifecycle.image.image_uri,
            repository_arn=lifecycle.image.repository.arn,
            model_package_group_name=lifecycle.registry.group.model_package_group_name,
            key_arn=primary.key.arn,
            topic_arn=primary.alerts.topic_arn,
            region=primary.region,
            account_id=account,
            partition=partition,
            inference_instance_types=serving_instance_types(config),
            baseline_s3_uri=baseline_of(lifecycle.served),
        ),
        opts=primary.opts,
    )
    pipelines = {"retraining": retraining.retraining_pipeline.pipeline_name}
    if retraining.monitoring_pipeline is not None:
        pipelines["monitoring"] = retraining.monitoring_pipeline.pipeline_name
    return {"pipelines": pipelines}


def baseline_of(served: ServedModel) -> str | None:
    """Monitoring follows the served version: its registered drift baseline, else its artifact
    (the drift job reads baseline.json out of model.tar.gz); None when nothing is served."""
    if served.version is None:
        return None
    return served.version.baseline_url or served.version.model_data_url


def observe(config: StackConfig, endpoint_name: str, sites: dict[str, Site], serving: bool) -> None:
    """The endpoint dashboard (SageMaker endpoints only, once one is served: it charts the
    endpoint's metrics) and the monthly budget."""
    primary = sites["primary"]
    if config.serving.platform == "sagemaker" and serving:
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
                project=pulumi.get_project(),
                environment=config.environment,
                monthly_limit_usd=budget.monthly_limit_usd,
                topic_arn=primary.alerts.topic_arn,
                actual_alert_percent=budget.actual_alert_percent,
                forecast_alert_percent=budget.forecast_alert_percent,
            ),
            opts=primary.opts,
        )


def build(config: StackConfig, stack: str, providers: dict[str, aws.Provider]) -> dict[str, Any]:
    """Declare the whole stack; returns its outputs."""
    on_primary = pulumi.InvokeOutputOptions(provider=providers["primary"])
    account = aws.get_caller_identity_output(opts=on_primary).account_id
    partition = aws.get_partition_output(opts=on_primary).partition
    endpoint_name = f"{pulumi.get_project()}-{stack}"

    sites = foundation(config, stack, providers, account, partition)
    replicate(config, sites, account)
    lifecycle = model_lifecycle(config, stack, sites, account)
    backups = backup(config, sites, account, partition)
    endpoints, health, cluster = serve(config, endpoint_name, sites, lifecycle, account, partition)
    doors = front_doors(config, sites, endpoints, health, account)
    pipelines = retrain(config, stack, endpoint_name, sites, lifecycle, account, partition)
    observe(config, endpoint_name, sites, serving=bool(endpoints))

    outputs: dict[str, Any] = {
        "environment": config.environment,
        "regions": config.regions.by_role(),
        "kms_key_arns": {role: site.key.arn for role, site in sites.items()},
        "buckets": {
            role: {cls: b.bucket_name for cls, b in site.storage.buckets.items()} for role, site in sites.items()
        },
        "image_uri": lifecycle.image.image_uri,
        "model_package_group": lifecycle.registry.group.model_package_group_name,
        "model_version": model_version_output(lifecycle.served),
        "alerts_topic_arns": {role: site.alerts.topic_arn for role, site in sites.items()},
        "endpoints": endpoint_outputs(endpoints),
        **backups,
        **doors,
        **pipelines,
        **cluster,
    }
    if lifecycle.served.version is not None:
        # The primary artifact of the served version (the restore drill checks it).
        outputs["model_data_url"] = lifecycle.served.version.model_data_url
    return outputs
