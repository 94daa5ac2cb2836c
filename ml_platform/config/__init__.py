"""Typed stack config: the only place config is read and checked.

Config lives under the project namespace (`ml-platform:<key>`) in `Pulumi.<stack>.yaml`.
`parse_stack_config` validates a plain dict and reports *every* problem at once, one line
each, as `path.to.key: problem (got X; expected Y)`. `load_stack_config` reads the running
program's config and turns those problems into a `pulumi.RunError` (no traceback).

One room per concern:

| module | holds |
| --- | --- |
| `errors.py` | the message format (`problem`), `ConfigRuleError`, `StackConfigError`, the pydantic-error renderer |
| `rules.py` | `Section` and `@rule` (cross-field rules, independent of field order), `fail`, shared checks |
| `patterns.py` | formats several sections share, and their words in messages |
| `regions.py`, `storage.py`, `image.py`, `training.py`, `serving.py`, `alarms.py`, | one section, or a few |
| `failover.py`, `retraining.py`, `backup.py`, `kubernetes.py` | small related ones, each |
| `stack.py` | `StackConfig`, the rules across sections, `parse_stack_config`, `validate_stack_config` |
| `reader.py` | the only Pulumi-aware code: `read_project_config`, `load_stack_config`, `project_name` |
| `reference.py` | generates the README's config tables and `schema/pulumi-stack.schema.json` |

A new section gets its own module (or joins a related one), a field on `StackConfig`, and its
rules as `@rule`s; its `Field(description=...)` texts are its documentation
(`python -m ml_platform.config.reference` renders them into the README).
"""

from __future__ import annotations

from ml_platform.config.alarms import AlarmsConfig, BudgetConfig, MonitoringConfig, NotificationsConfig
from ml_platform.config.backup import BackupConfig, RestoreTestingConfig, VaultLockConfig
from ml_platform.config.errors import ConfigRuleError, StackConfigError, _section_type, describe_errors, problem
from ml_platform.config.failover import ApiConfig, FailoverConfig, StandbyConfig
from ml_platform.config.image import ImageConfig
from ml_platform.config.kubernetes import (
    KUBERNETES_VERSIONS,
    KubernetesAutoscalingConfig,
    KubernetesCertificateIssuerConfig,
    KubernetesConfig,
    KubernetesIngressConfig,
    KubernetesPodMonitorConfig,
    KubernetesResourcesConfig,
)
from ml_platform.config.reader import load_stack_config, project_name, project_values, read_project_config
from ml_platform.config.regions import RegionsConfig
from ml_platform.config.retraining import (
    CaptureAlarmsConfig,
    DeployTriggerConfig,
    QualityMonitoringConfig,
    RetrainingConfig,
)
from ml_platform.config.rules import ALARM_WINDOW_MAX_SECONDS, Section, alarm_window_problem, sagemaker_enum
from ml_platform.config.serving import (
    AutoscalingConfig,
    DataCaptureConfig,
    InstanceVariantConfig,
    RolloutConfig,
    ScheduledScalingConfig,
    ServerlessVariantConfig,
    ServingConfig,
    estimate_rollout,
)
from ml_platform.config.stack import (
    PROJECT,
    StackConfig,
    check_secrets,
    check_stack_name,
    parse_stack_config,
    validate_stack_config,
)
from ml_platform.config.storage import BUCKET_CLASSES, LifecycleTiers, NoncurrentVersions, StorageConfig
from ml_platform.config.training import DatasetConfig, TrainingConfig, VpcConfig

__all__ = [
    "ALARM_WINDOW_MAX_SECONDS",
    "BUCKET_CLASSES",
    "KUBERNETES_VERSIONS",
    "PROJECT",
    "AlarmsConfig",
    "ApiConfig",
    "AutoscalingConfig",
    "BackupConfig",
    "BudgetConfig",
    "CaptureAlarmsConfig",
    "ConfigRuleError",
    "DataCaptureConfig",
    "DatasetConfig",
    "DeployTriggerConfig",
    "FailoverConfig",
    "ImageConfig",
    "InstanceVariantConfig",
    "KubernetesAutoscalingConfig",
    "KubernetesCertificateIssuerConfig",
    "KubernetesConfig",
    "KubernetesIngressConfig",
    "KubernetesPodMonitorConfig",
    "KubernetesResourcesConfig",
    "LifecycleTiers",
    "MonitoringConfig",
    "NoncurrentVersions",
    "NotificationsConfig",
    "QualityMonitoringConfig",
    "RegionsConfig",
    "RestoreTestingConfig",
    "RetrainingConfig",
    "RolloutConfig",
    "ScheduledScalingConfig",
    "Section",
    "ServerlessVariantConfig",
    "ServingConfig",
    "StackConfig",
    "StackConfigError",
    "StandbyConfig",
    "StorageConfig",
    "TrainingConfig",
    "VaultLockConfig",
    "VpcConfig",
    "_section_type",
    "alarm_window_problem",
    "check_secrets",
    "check_stack_name",
    "describe_errors",
    "estimate_rollout",
    "load_stack_config",
    "parse_stack_config",
    "problem",
    "project_name",
    "project_values",
    "read_project_config",
    "sagemaker_enum",
    "validate_stack_config",
]
