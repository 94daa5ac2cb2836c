"""The platform's reusable Pulumi components and their Args.

    from ml_platform.components import RegionalApi, RegionalApiArgs

Each component takes one Args dataclass of plain values and `pulumi.Input`s (no stack config), a
provider through `opts`, and declares its children under itself; see examples/reuse_front_door.

Names resolve lazily (PEP 562): importing this package loads nothing, and a name loads only its own
module, so `RegionalApi` never pulls in pulumi_kubernetes (measured: every AWS component module
together ~0.55 s, plus ~0.3 s for the Kubernetes server's pulumi_kubernetes).
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module under ml_platform.components that defines it.
_EXPORTS: dict[str, str] = {
    # Encryption
    "RegionKey": "keys",
    "RegionKeyArgs": "keys",
    # Storage
    "Storage": "storage",
    "StorageArgs": "storage",
    "LifecycleTierArgs": "storage",
    "NoncurrentVersionArgs": "storage",
    "DataBucket": "storage",
    "DataBucketArgs": "storage",
    "AccessLogBucket": "storage",
    "AccessLogBucketArgs": "storage",
    "BucketReplication": "storage",
    "BucketReplicationArgs": "storage",
    "BackupVault": "backup",
    "BackupVaultArgs": "backup",
    "VaultLockArgs": "backup",
    "RegionBackup": "backup",
    "RegionBackupArgs": "backup",
    "BackupRulesArgs": "backup",
    "RestoreTestingArgs": "backup",
    # The image
    "ModelImage": "image",
    "ModelImageArgs": "image",
    "ImageReplicaCheck": "image_check",
    "ImageReplicaCheckArgs": "image_check",
    # Model lifecycle
    "ModelRegistry": "training",
    "DeployTrigger": "training",
    "DeployTriggerArgs": "training",
    "Retraining": "retraining",
    "RetrainingArgs": "retraining",
    # Serving
    "ModelEndpoint": "serving",
    "ModelEndpointArgs": "serving",
    "ServedVersion": "serving",
    "InstanceVariantArgs": "serving",
    "ServerlessVariantArgs": "serving",
    "VpcArgs": "serving",
    "AutoscalingArgs": "serving",
    "ScheduledScalingArgs": "serving",
    "RolloutArgs": "serving",
    "DataCaptureArgs": "serving",
    "RegionalModelCopy": "model_copy",
    "RegionalModelCopyArgs": "model_copy",
    "KubernetesModelServer": "kubernetes_serving",
    "KubernetesModelServerArgs": "kubernetes_args",
    "ContainerResources": "kubernetes_args",
    "PodAutoscaling": "kubernetes_args",
    "IngressArgs": "kubernetes_args",
    "CertificateIssuer": "kubernetes_args",
    "PodMonitorArgs": "kubernetes_args",
    # Front door
    "RegionalApi": "frontdoor",
    "RegionalApiArgs": "frontdoor",
    "WebAclArgs": "frontdoor",
    "RegionalFailover": "frontdoor",
    "RegionalFailoverArgs": "frontdoor",
    "HealthAlarm": "frontdoor",
    # Observability
    "VariantAlarms": "alarms",
    "VariantAlarmsArgs": "alarms",
    "AlarmSpec": "alarms",
    "AlarmThresholds": "alarms",
    "Alerts": "monitoring",
    "AlertsArgs": "monitoring",
    "CostBudget": "monitoring",
    "CostBudgetArgs": "monitoring",
    "EndpointDashboard": "monitoring",
    "EndpointDashboardArgs": "monitoring",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
