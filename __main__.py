"""ml-platform: one `pulumi up` per environment, declared from typed stack config.

Validate the config, make one explicit AWS provider per region, build the components in
each region, export what operators need. Everything else lives in `components/`.
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.config import PROJECT, load_stack_config
from components.alarms import ROLLBACK_ALARMS, VariantAlarms, VariantAlarmsArgs, variant_alarm_specs
from components.backup import BackupVault, RegionBackup, RegionBackupArgs
from components.image import ModelImage, ModelImageArgs, ReplicaRepositoryTemplate, ReplicaRepositoryTemplateArgs
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
        role: BackupVault(f"vault-{role}", config.backup, keys[role].arn, alerts[role].topic_arn, protect, opts=at[role])
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
alarm_specs = variant_alarm_specs(
    endpoint_name=endpoint_name,
    variant_name=serving.variant_name,
    thresholds=config.alarms,
    vcpus=serving.instance.vcpu_count if serving.instance else None,
)
alarms = VariantAlarms(
    "alarms-primary",
    VariantAlarmsArgs(
        specs=alarm_specs, topic_arn=alerts["primary"].topic_arn, unhealthy_name=f"{endpoint_name}-unhealthy"
    ),
    opts=at["primary"],
)
endpoint = ModelEndpoint(
    "endpoint-primary",
    ModelEndpointArgs(
        config=serving,
        endpoint_name=endpoint_name,
        image_uri=image.image_uri,
        model_data_url=training.model_data_url,
        artifacts_bucket_arn=primary_buckets["artifacts"].arn,
        capture_bucket=(primary_buckets["capture"].bucket_name, primary_buckets["capture"].arn),
        key_arn=keys["primary"].arn,
        repository_arn=image.repository.arn,
        region=regions["primary"],
        account_id=account,
        rollback_alarms=[alarms.alarms[key] for key in ROLLBACK_ALARMS],
    ),
    opts=at["primary"],
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
pulumi.export(
    "buckets", {role: {cls: b.bucket_name for cls, b in s.buckets.items()} for role, s in storage.items()}
)
pulumi.export("image_uri", image.image_uri)
pulumi.export("model_package_group", registry.group.model_package_group_name)
pulumi.export("training_job_name", training.job_name)
pulumi.export("model_data_url", training.model_data_url)
pulumi.export("alerts_topic_arns", {role: a.topic_arn for role, a in alerts.items()})
pulumi.export(
    "endpoints",
    {
        "primary": {
            "region": regions["primary"],
            "endpoint_name": endpoint.endpoint_name,
            "endpoint_config_name": endpoint.endpoint_config.name,
            "variant_name": serving.variant_name,
            "min_capacity": serving.autoscaling.min_capacity if serving.autoscaling else None,
            "max_capacity": serving.autoscaling.max_capacity if serving.autoscaling else None,
        }
    },
)
