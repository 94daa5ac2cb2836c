"""ml-platform: one `pulumi up` per environment, declared from typed stack config.

Validate the config, make one explicit AWS provider per region, build the components in
each region, export what operators need. Everything else lives in `components/`.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.config import PROJECT, load_stack_config
from components.alarms import (
    ROLLBACK_ALARMS,
    VariantAlarms,
    VariantAlarmsArgs,
    health_check_alarm_specs,
    variant_alarm_specs,
)
from components.frontdoor import RegionalApi, RegionalApiArgs, RegionalFailover, RegionalFailoverArgs, rto_rpo_seconds
from components.backup import BackupVault, RegionBackup, RegionBackupArgs
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
from components.serving import ModelEndpoint, ModelEndpointArgs
from components.storage import BucketReplication, BucketReplicationArgs, Storage, StorageArgs
from components.training import ModelRegistry, SpotTraining, SpotTrainingArgs

config = load_stack_config()
stack = pulumi.get_stack()
regions = config.regions.by_role()
protect = config.protect_stateful

# One explicit provider per region; nothing uses the default provider.
providers = {
    role: aws.Provider(
        f"aws-{role}",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.default_tags()),
        allowed_account_ids=[config.account_id] if config.account_id else None,
    )
    for role, region in regions.items()
}
at = {role: pulumi.ResourceOptions(provider=provider) for role, provider in providers.items()}
identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=providers["primary"]))
account = identity.account_id
partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=providers["primary"])).partition

keys = {
    role: RegionKey(
        f"key-{role}",
        RegionKeyArgs(
            alias_name=f"alias/{PROJECT}-{stack}",
            account_id=account,
            partition=partition,
            # The alerts topic is encrypted with this key; its publishers must be able to use it.
            service_principals=PUBLISHERS,
            # API access logs are encrypted with the region key too.
            logs_region=regions[role],
            protect=protect,
        ),
        opts=at[role],
    )
    for role in regions
}
storage = {
    role: Storage(role, StorageArgs(key_arn=keys[role].arn, config=config.storage, protect=protect), opts=at[role])
    for role in regions
}
if "secondary" in regions:
    for cls in ("datasets", "artifacts"):
        BucketReplication(
            f"{cls}-replication",
            BucketReplicationArgs(
                source=storage["primary"].buckets[cls],
                replica=storage["secondary"].buckets[cls],
                source_key_arn=keys["primary"].arn,
                replica_key_arn=keys["secondary"].arn,
                source_region=regions["primary"],
                replica_region=regions["secondary"],
                account_id=account,
                time_control=config.storage.replication_time_control,
            ),
            opts=at["primary"],
        )

repository_prefix = f"{PROJECT}/{stack}"
image = ModelImage(
    "model-image",
    ModelImageArgs(
        repository_name=f"{repository_prefix}/model",
        key_arn=keys["primary"].arn,
        account_id=account,
        keep_releases=config.image.keep_releases,
        replica_regions=tuple(region for role, region in regions.items() if role != "primary"),
        build_context=Path("model_code") if config.image.build else None,
        uri=config.image.uri,
        protect=protect,
    ),
    opts=at["primary"],
)
if "secondary" in regions:
    ReplicaRepositoryTemplate(
        "model-image-replica",
        ReplicaRepositoryTemplateArgs(
            prefix=repository_prefix,
            key_arn=keys["secondary"].arn,
            account_id=account,
            region=regions["secondary"],
            keep_releases=config.image.keep_releases,
        ),
        opts=at["secondary"],
    )

registry = ModelRegistry("model-registry", f"{PROJECT}-{stack}", f"Models of {PROJECT} {stack}", opts=at["primary"])
primary_buckets = storage["primary"].buckets
training = SpotTraining(
    "training",
    SpotTrainingArgs(
        config=config.training,
        name_prefix=f"{PROJECT}-{stack}",
        image_uri=image.image_uri,
        datasets_bucket=(primary_buckets["datasets"].bucket_name, primary_buckets["datasets"].arn),
        artifacts_bucket=(primary_buckets["artifacts"].bucket_name, primary_buckets["artifacts"].arn),
        key_arn=keys["primary"].arn,
        repository_arn=image.repository.arn,
        region=regions["primary"],
        account_id=account,
    ),
    opts=at["primary"],
)

alerts = {
    role: Alerts(
        f"alerts-{role}",
        AlertsArgs(
            key_arn=keys[role].arn,
            account_id=account,
            emails=tuple(config.notifications.emails),
            webhooks=tuple(config.notifications.webhooks),
        ),
        opts=at[role],
    )
    for role in regions
}

if config.backup is not None:
    vaults = {
        role: BackupVault(
            f"vault-{role}", config.backup, keys[role].arn, alerts[role].topic_arn, protect, opts=at[role]
        )
        for role in regions
    }
    for role in regions:
        # Each region's recovery points are copied to the other region's vault, when there is one.
        other = next((r for r in regions if r != role), None)
        RegionBackup(
            f"backup-{role}",
            vaults[role],
            RegionBackupArgs(
                config=config.backup,
                key_arn=keys[role].arn,
                topic_arn=alerts[role].topic_arn,
                bucket_arns=[bucket.arn for bucket in storage[role].buckets.values()],
                restore_test_arns=[storage[role].buckets["artifacts"].arn],
                account_id=account,
                copy_vault_arn=vaults[other].arn if other else None,
                protect=protect,
            ),
            opts=at[role],
        )
    pulumi.export("backup_vaults", {role: vault.vault_name for role, vault in vaults.items()})

serving = config.serving
endpoint_name = f"{PROJECT}-{stack}"
# The secondary region serves the same image (from its ECR replica) and the same model (from
# its artifacts replica) as a warm standby with its own capacity.
serving_by_role = {"primary": serving}
if config.standby is not None:
    standby = config.standby
    serving_by_role["secondary"] = serving.model_copy(
        update={
            "instance": serving.instance.model_copy(
                update={
                    "instance_type": standby.instance_type or serving.instance.instance_type,
                    "initial_instance_count": standby.initial_instance_count,
                }
            )
            if serving.instance
            else None,
            "autoscaling": standby.autoscaling,
        }
    )
endpoints: dict[str, ModelEndpoint] = {}
health_alarms: dict[str, VariantAlarms] = {}
for role, role_serving in serving_by_role.items():
    region = regions[role]
    buckets = storage[role].buckets
    specs = variant_alarm_specs(
        endpoint_name=endpoint_name,
        variant_name=role_serving.variant_name,
        thresholds=config.alarms,
        vcpus=role_serving.instance.vcpu_count if role_serving.instance else None,
    )
    alarms = VariantAlarms(
        f"alarms-{role}",
        VariantAlarmsArgs(specs=specs, topic_arn=alerts[role].topic_arn, unhealthy_name=f"{endpoint_name}-unhealthy"),
        opts=at[role],
    )
    if config.failover is not None:
        health_alarms[role] = VariantAlarms(
            f"health-{role}",
            VariantAlarmsArgs(
                specs=health_check_alarm_specs(
                    endpoint_name=endpoint_name,
                    variant_name=role_serving.variant_name,
                    thresholds=config.alarms,
                    max_5xx_per_minute=config.failover.unhealthy_5xx_per_minute,
                ),
                topic_arn=alerts[role].topic_arn,
            ),
            opts=at[role],
        )
    endpoints[role] = ModelEndpoint(
        f"endpoint-{role}",
        ModelEndpointArgs(
            config=role_serving,
            endpoint_name=endpoint_name,
            image_uri=image.image_uri
            if role == "primary"
            else image.image_uri.apply(lambda uri, r=region: image_in_region(uri, r)),
            model_data_url=pulumi.Output.concat(
                "s3://", buckets["artifacts"].bucket_name, "/models/", training.job_name, "/output/model.tar.gz"
            ),
            artifacts_bucket_arn=buckets["artifacts"].arn,
            capture_bucket=(buckets["capture"].bucket_name, buckets["capture"].arn),
            key_arn=keys[role].arn,
            # The secondary pulls from the replica repository of the same name in its region.
            repository_arn=image.repository.arn
            if role == "primary"
            else pulumi.Output.concat(f"arn:aws:ecr:{region}:", account, ":repository/", image.repository.name),
            region=region,
            account_id=account,
            rollback_alarms=[alarms.alarms[key] for key in ROLLBACK_ALARMS],
            standby=role != "primary",
        ),
        opts=at[role],
    )

if config.api is not None:
    apis = {
        role: RegionalApi(
            f"api-{role}",
            RegionalApiArgs(
                endpoint_name=endpoint.endpoint_name,
                endpoint_arn=endpoint.endpoint.arn,
                region=regions[role],
                account_id=account,
                key_arn=keys[role].arn,
                stage_name=config.api.stage_name,
                throttle_rate_limit=config.api.throttle_rate_limit,
                throttle_burst_limit=config.api.throttle_burst_limit,
                access_log_retention_days=config.api.access_log_retention_days,
            ),
            opts=at[role],
        )
        for role, endpoint in endpoints.items()
    }
    pulumi.export("api_invoke_urls", {role: api.invoke_url for role, api in apis.items()})
    if config.failover is not None:
        failover = config.failover
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
                    region=regions[role],
                    health_alarm_names=[alarm.name for alarm in health_alarms[role].alarms.values()],
                    health_check_interval_seconds=failover.health_check_interval_seconds,
                    health_check_failure_threshold=failover.health_check_failure_threshold,
                ),
                opts=at[role],
            )
        pulumi.export(
            "recovery_objectives",
            rto_rpo_seconds(
                alarm_period_seconds=60,
                datapoints_to_alarm=config.alarms.datapoints_to_alarm,
                health_check_interval_seconds=failover.health_check_interval_seconds,
                health_check_failure_threshold=failover.health_check_failure_threshold,
                dns_ttl_seconds=failover.dns_ttl_seconds,
                replication_time_control=config.storage.replication_time_control,
            ),
        )

EndpointDashboard(
    "dashboard-primary",
    EndpointDashboardArgs(
        endpoint_name=endpoint_name,
        variant_name=serving.variant_name,
        region=regions["primary"],
        drift_namespace=config.monitoring.metrics_namespace,
        period_seconds=config.alarms.period_seconds,
    ),
    opts=at["primary"],
)
if config.monitoring.budget is not None:
    budget = config.monitoring.budget
    CostBudget(
        "budget",
        CostBudgetArgs(
            project=PROJECT,
            environment=config.environment,
            monthly_limit_usd=budget.monthly_limit_usd,
            topic_arn=alerts["primary"].topic_arn,
            actual_alert_percent=budget.actual_alert_percent,
            forecast_alert_percent=budget.forecast_alert_percent,
        ),
        opts=at["primary"],
    )

pulumi.export("environment", config.environment)
pulumi.export("regions", regions)
pulumi.export("kms_key_arns", {role: key.arn for role, key in keys.items()})
pulumi.export("buckets", {role: {cls: b.bucket_name for cls, b in s.buckets.items()} for role, s in storage.items()})
pulumi.export("image_uri", image.image_uri)
pulumi.export("model_package_group", registry.group.model_package_group_name)
pulumi.export("training_job_name", training.job_name)
pulumi.export("model_data_url", training.model_data_url)
pulumi.export("alerts_topic_arns", {role: a.topic_arn for role, a in alerts.items()})
pulumi.export(
    "endpoints",
    {
        role: {
            "region": regions[role],
            "endpoint_name": endpoint.endpoint_name,
            "endpoint_config_name": endpoint.endpoint_config.name,
            "variant_name": serving_by_role[role].variant_name,
            "min_capacity": serving_by_role[role].autoscaling.min_capacity
            if serving_by_role[role].autoscaling
            else None,
            "max_capacity": serving_by_role[role].autoscaling.max_capacity
            if serving_by_role[role].autoscaling
            else None,
        }
        for role, endpoint in endpoints.items()
    },
)
