"""The stack config mapped to the Args of the storage, serving, alarm and backup components.

The components know nothing of the stack config (they take Args in AWS's terms, so another
program can build them); `platform.py` calls these functions to translate. Each is a pure
function of the validated config and the values other components produce: the config's rules
have already run, and the Args re-check only what a component needs to stay sound on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import pulumi

from ml_platform.components.alarms import AlarmThresholds
from ml_platform.components.backup import (
    BackupRulesArgs,
    BackupVaultArgs,
    RegionBackupArgs,
    RestoreTestingArgs,
    VaultLockArgs,
)
from ml_platform.components.model_copy import RegionalModelCopy, RegionalModelCopyArgs
from ml_platform.components.model_versions import ModelVersion
from ml_platform.components.served_model import ServedModel
from ml_platform.components.serving import (
    AutoscalingArgs,
    DataCaptureArgs,
    InstanceVariantArgs,
    ModelEndpoint,
    ModelEndpointArgs,
    RolloutArgs,
    ScheduledScalingArgs,
    ServedVersion,
    ServerlessVariantArgs,
    VpcArgs,
)
from ml_platform.components.storage import LifecycleTierArgs, NoncurrentVersionArgs, StorageArgs
from ml_platform.config import (
    BUCKET_CLASSES,
    AlarmsConfig,
    AutoscalingConfig,
    BackupConfig,
    LifecycleTiers,
    RolloutConfig,
    ServingConfig,
    StackConfig,
    StorageConfig,
)

ArgsT = TypeVar("ArgsT")


def same_fields(section: Any, args_type: type[ArgsT], **given: Any) -> ArgsT:
    """`args_type` from the config section's attributes of the same names, plus `given`. A field
    the section lacks fails here, at the first run, rather than going silently to its default."""
    names = [f.name for f in dataclasses.fields(args_type) if f.name not in given]  # type: ignore[arg-type]
    return args_type(**{name: getattr(section, name) for name in names}, **given)


# ---------------------------------------------------------------------------------------------
# Storage


def versioned_arn(bucket: Any) -> pulumi.Output[str]:
    """The bucket's ARN, resolved only once its versioning is configured: AWS Backup of S3
    needs versioning on ("You must activate S3 Versioning on your S3 bucket",
    https://docs.aws.amazon.com/aws-backup/latest/devguide/s3-backups.html), and so does
    replication, so whatever takes the bucket by this ARN depends on the versioning resource."""
    return pulumi.Output.all(arn=bucket.arn, versioning=bucket.versioning.id).apply(lambda v: v["arn"])


def versioned_name(bucket: Any) -> pulumi.Output[str]:
    """The bucket's name, resolved only once its versioning is configured (as `versioned_arn`)."""
    return pulumi.Output.all(name=bucket.bucket_name, versioning=bucket.versioning.id).apply(lambda v: v["name"])


def lifecycle_tier_args(tiers: LifecycleTiers) -> LifecycleTierArgs:
    return same_fields(tiers, LifecycleTierArgs, noncurrent=same_fields(tiers.noncurrent, NoncurrentVersionArgs))


def storage_args(storage: StorageConfig, key_arn: pulumi.Input[str], protect: bool) -> StorageArgs:
    """The region's data buckets: one per bucket class, with that class's lifecycle."""
    return StorageArgs(
        key_arn=key_arn,
        buckets={cls: lifecycle_tier_args(getattr(storage, cls)) for cls in BUCKET_CLASSES},
        protect=protect,
    )


# ---------------------------------------------------------------------------------------------
# Serving


def alarm_thresholds(alarms: AlarmsConfig) -> AlarmThresholds:
    return same_fields(alarms, AlarmThresholds)


def autoscaling_args(scaling: AutoscalingConfig) -> AutoscalingArgs:
    schedules = tuple(same_fields(schedule, ScheduledScalingArgs) for schedule in scaling.schedules)
    return same_fields(scaling, AutoscalingArgs, schedules=schedules)


def rollout_args(rollout: RolloutConfig) -> RolloutArgs:
    return same_fields(rollout, RolloutArgs)


def endpoint_args(
    serving: ServingConfig,
    *,
    endpoint_name: str,
    model: ServedVersion,
    rollback_alarm_names: Sequence[pulumi.Input[str]],
    artifacts_bucket_arn: pulumi.Input[str],
    capture_bucket_name: pulumi.Input[str],
    capture_bucket_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    repository_arn: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    partition: pulumi.Input[str],
    standby: bool,
) -> ModelEndpointArgs:
    """One region's endpoint as its `serving` section (the role's capacity) describes it."""
    instance, serverless, vpc = serving.instance, serving.serverless, serving.vpc
    capture = serving.data_capture
    subnets = VpcArgs(tuple(vpc.subnet_ids), tuple(vpc.security_group_ids)) if vpc else None
    return ModelEndpointArgs(
        endpoint_name=endpoint_name,
        variant_name=serving.variant_name,
        model=model,
        instance=same_fields(instance, InstanceVariantArgs) if instance else None,
        serverless=same_fields(serverless, ServerlessVariantArgs) if serverless else None,
        rollout=rollout_args(serving.rollout),
        rollback_alarm_names=list(rollback_alarm_names),
        autoscaling=autoscaling_args(serving.autoscaling) if serving.autoscaling else None,
        data_capture=DataCaptureArgs(sampling_percent=capture.sampling_percent) if capture.enabled else None,
        container_environment=dict(serving.environment),
        network_isolation=serving.network_isolation,
        vpc=subnets,
        artifacts_bucket_arn=artifacts_bucket_arn,
        capture_bucket_name=capture_bucket_name,
        capture_bucket_arn=capture_bucket_arn,
        key_arn=key_arn,
        repository_arn=repository_arn,
        region=region,
        account_id=account_id,
        partition=partition,
        standby=standby,
    )


def serving_by_role(config: StackConfig) -> dict[str, ServingConfig]:
    """The primary serves as configured; the warm standby is the same with its own capacity
    and rollout (ALL_AT_ONCE on fewer than 2 instances: `StandbyConfig.rollout_for`)."""
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
        roles["secondary"] = serving.model_copy(
            update={
                "instance": instance,
                "autoscaling": standby.autoscaling,
                "rollout": standby.rollout_for(serving.rollout),
            }
        )
    return roles


def served_in(
    role: str,
    version: ModelVersion,
    *,
    bucket_name: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    region: str,
    opts: pulumi.ResourceOptions,
) -> ServedVersion:
    """The served version as the endpoint of `role` uses it: in the primary, the registered image
    and artifact; elsewhere, the region's own copy of both (see RegionalModelCopy) in its
    artifacts bucket `bucket_name`, encrypted with its key."""
    if role == "primary":
        return ServedVersion(version.version, version.arn, version.image_uri, version.model_data_url)
    copy = RegionalModelCopy(
        f"model-{role}",
        RegionalModelCopyArgs(
            version=version.version,
            model_data_url=version.model_data_url,
            image_uri=version.image_uri,
            bucket_name=bucket_name,
            key_arn=key_arn,
            region=region,
        ),
        opts=opts,
    )
    # No package ARN here: it names the registry's (primary) region; the version number says it all.
    return ServedVersion(
        version.version, None, copy.image_uri, copy.model_data_url, ready=(copy.copy, copy.image_check)
    )


def endpoint_outputs(endpoints: dict[str, ModelEndpoint]) -> dict[str, Any]:
    """What `ops verify` checks per region."""
    outputs = {}
    for role, endpoint in endpoints.items():
        scaling = endpoint.autoscaling
        outputs[role] = {
            "region": endpoint.region,
            "endpoint_name": endpoint.endpoint_name,
            "endpoint_config_name": endpoint.endpoint_config.name,
            "variant_name": endpoint.variant_name,
            "min_capacity": scaling.min_capacity if scaling else None,
            "max_capacity": scaling.max_capacity if scaling else None,
        }
    return outputs


def model_version_output(served: ServedModel) -> dict[str, Any]:
    """What is served: `model_version` stack output (None fields before the first approval)."""
    v = served.version
    return {
        "selector": served.selector,
        "group": served.group_name,
        "version": v.version if v else None,
        "model_package_arn": v.arn if v else None,
        "image_uri": v.image_uri if v else None,
        "model_data_url": v.model_data_url if v else None,
        "baseline_url": v.baseline_url if v else None,
        "dataset_version": v.dataset_version if v else None,
        "dataset_uri": v.dataset_uri if v else None,
        "metrics": dict(v.metrics) if v else {},
        "previous_version": served.previous.version if served.previous else None,
    }


# ---------------------------------------------------------------------------------------------
# Backup


def vault_args(
    backup: BackupConfig, key_arn: pulumi.Input[str], topic_arn: pulumi.Input[str], protect: bool
) -> BackupVaultArgs:
    return BackupVaultArgs(
        key_arn=key_arn,
        topic_arn=topic_arn,
        vault_lock=same_fields(backup.vault_lock, VaultLockArgs),
        protect=protect,
    )


def backup_rules_args(backup: BackupConfig) -> BackupRulesArgs:
    return same_fields(backup, BackupRulesArgs)


def region_backup_args(
    backup: BackupConfig,
    *,
    vault_name: pulumi.Input[str],
    vault_arn: pulumi.Input[str],
    bucket_arns: Sequence[pulumi.Input[str]],
    restore_test_arns: Sequence[pulumi.Input[str]],
    account_id: pulumi.Input[str],
    partition: pulumi.Input[str],
    copy_vault_arn: pulumi.Input[str] | None,
) -> RegionBackupArgs:
    testing = backup.restore_testing
    return RegionBackupArgs(
        vault_name=vault_name,
        vault_arn=vault_arn,
        rules=backup_rules_args(backup),
        bucket_arns=list(bucket_arns),
        restore_test_arns=list(restore_test_arns),
        account_id=account_id,
        partition=partition,
        copy_vault_arn=copy_vault_arn,
        restore_testing=same_fields(testing, RestoreTestingArgs) if testing else None,
    )
