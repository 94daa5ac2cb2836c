"""The platform's policy rules, as plain functions over plain data.

One rule set, two entry points: `policy/__main__.py` wraps these functions into a CrossGuard
pack (`pulumi preview --policy-pack policy`), and `make plan` (`offline/policy_check.py`) runs
them over the resources the mock engine synthesized. These modules import nothing from Pulumi,
so both can load them, and the pack's own environment needs only `pulumi-policy`.

This module is the rule set (`RULES`) and `evaluate`, and re-exports every name the rules are
built from. The rules live by area: `rules_storage.py` (S3, AWS Backup), `rules_serving.py`
(SageMaker serving and training, alarms, API Gateway), `rules_governance.py` (IAM, protection,
tags), all on `policy_types.py` (Resource, Violation, Rule, resource types, value readers).
The modules import each other relatively: they load as the package `policy` from the
repository, and `__main__.py` loads the pack directory as a package of its own under the CLI.

A resource is seen as the engine hands it to a policy: its type token, logical name, and
inputs in the provider's wire names (camelCase, e.g. `kmsKeyArn`). Nested objects may arrive
as JSON text (provider configuration always does); `dig()` decodes them. A value that is not
known yet (a `pulumi preview` of resources still to be created) is `UNKNOWN`, and no rule
reports a violation on a value it cannot see. Resources that point at another through an id
not known yet (a bucket's encryption configuration, a backup selection) are joined through
the engine's dependencies instead.

Every message reads `<type> <logical name>: <what is wrong>`, naming the field or value at
fault. Rules are mandatory, except where `advisory_in` names environments where they only warn.
"""

from __future__ import annotations

from collections.abc import Sequence

from .policy_types import (
    ADVISORY,
    AWS_PROVIDER_TYPE,
    BROAD_MANAGED_POLICY,
    BUCKET_LOGGING_TYPES,
    BUCKET_TYPES,
    ENCRYPTION_TYPES,
    ENDPOINT_CONFIG_TYPE,
    ENDPOINT_TYPE,
    ENVIRONMENTS,
    IAM_ATTACHMENT_TYPES,
    IAM_DOCUMENT_TYPES,
    LIFECYCLE_TYPES,
    LOG_GROUP_TYPE,
    MANDATORY,
    METRIC_ALARM_TYPE,
    MIN_PROD_INSTANCES,
    PIPELINE_TYPE,
    PROD_MIN_API_LOG_RETENTION_DAYS,
    PUBLIC_ACCESS_BLOCK_TYPE,
    PUBLIC_ACCESS_FLAGS,
    REQUIRED_TAGS,
    ROLE_TYPE,
    SCALABLE_TARGET_TYPE,
    SELECTION_TYPE,
    SERVING_ROLE_TAG,
    STAGE_TYPE,
    STANDBY,
    STATEFUL_TYPES,
    STRICTEST_ENVIRONMENT,
    TRAINING_JOB_TYPE,
    UNKNOWN,
    VAULT_LOCK_TYPE,
    VAULT_TYPE,
    VERSIONING_TYPES,
    WEB_ACL_ASSOCIATION_TYPE,
    WHOLE_SERVICE_ACTION,
    Level,
    Resource,
    ResourceCheck,
    Rule,
    StackCheck,
    Violation,
    as_list,
    decode,
    dig,
    known,
    normalize_environment,
    of_types,
)
from .rules_governance import (
    broad_grants,
    iam_no_wildcard_grants,
    required_default_tags,
    stateful_protected_in_prod,
)
from .rules_serving import (
    api_stages_behind_waf,
    api_stages_traced,
    endpoint_config_kms_and_capacity,
    endpoint_rollback_alarms,
    endpoints_have_latency_and_error_alarms,
    endpoints_have_scalable_targets,
    metric_alarms_have_actions,
    prod_api_access_logs_kept_a_year,
    training_uses_spot_with_checkpoints,
)
from .rules_storage import (
    backup_vaults_locked_in_prod,
    backup_vaults_use_kms,
    buckets_have_access_records,
    log_targets,
    prod_buckets_in_backup_selection,
    s3_buckets_hardened,
)

__all__ = [
    "ADVISORY",
    "AWS_PROVIDER_TYPE",
    "BROAD_MANAGED_POLICY",
    "BUCKET_LOGGING_TYPES",
    "BUCKET_TYPES",
    "ENCRYPTION_TYPES",
    "ENDPOINT_CONFIG_TYPE",
    "ENDPOINT_TYPE",
    "ENVIRONMENTS",
    "IAM_ATTACHMENT_TYPES",
    "IAM_DOCUMENT_TYPES",
    "LIFECYCLE_TYPES",
    "LOG_GROUP_TYPE",
    "MANDATORY",
    "METRIC_ALARM_TYPE",
    "MIN_PROD_INSTANCES",
    "PIPELINE_TYPE",
    "PROD_MIN_API_LOG_RETENTION_DAYS",
    "PUBLIC_ACCESS_BLOCK_TYPE",
    "PUBLIC_ACCESS_FLAGS",
    "REQUIRED_TAGS",
    "ROLE_TYPE",
    "RULES",
    "SCALABLE_TARGET_TYPE",
    "SELECTION_TYPE",
    "SERVING_ROLE_TAG",
    "STAGE_TYPE",
    "STANDBY",
    "STATEFUL_TYPES",
    "STRICTEST_ENVIRONMENT",
    "TRAINING_JOB_TYPE",
    "UNKNOWN",
    "VAULT_LOCK_TYPE",
    "VAULT_TYPE",
    "VERSIONING_TYPES",
    "WEB_ACL_ASSOCIATION_TYPE",
    "WHOLE_SERVICE_ACTION",
    "Level",
    "Resource",
    "ResourceCheck",
    "Rule",
    "StackCheck",
    "Violation",
    "api_stages_behind_waf",
    "api_stages_traced",
    "as_list",
    "backup_vaults_locked_in_prod",
    "backup_vaults_use_kms",
    "broad_grants",
    "buckets_have_access_records",
    "decode",
    "dig",
    "endpoint_config_kms_and_capacity",
    "endpoint_rollback_alarms",
    "endpoints_have_latency_and_error_alarms",
    "endpoints_have_scalable_targets",
    "evaluate",
    "iam_no_wildcard_grants",
    "known",
    "log_targets",
    "metric_alarms_have_actions",
    "normalize_environment",
    "of_types",
    "prod_api_access_logs_kept_a_year",
    "prod_buckets_in_backup_selection",
    "required_default_tags",
    "s3_buckets_hardened",
    "stateful_protected_in_prod",
    "training_uses_spot_with_checkpoints",
]


# ---------------------------------------------------------------------------------------------
# The rule set


RULES: tuple[Rule, ...] = (
    Rule(
        "s3-buckets-hardened",
        "S3 buckets have SSE-KMS, versioning, a full public-access block and lifecycle rules.",
        "stack",
        s3_buckets_hardened,
    ),
    Rule(
        "iam-no-wildcard-grants",
        "No IAM policy allows Action '*' or a whole service's '*' on Resource '*'; no *FullAccess.",
        "resource",
        iam_no_wildcard_grants,
    ),
    Rule(
        "endpoint-config-kms-and-capacity",
        "SageMaker endpoint configs use KMS; in prod >= 2 instances per variant; serverless in dev only.",
        "resource",
        endpoint_config_kms_and_capacity,
    ),
    Rule(
        "endpoint-rollback-alarms",
        "Every SageMaker endpoint rolls back deployments on alarms.",
        "resource",
        endpoint_rollback_alarms,
    ),
    Rule(
        "endpoint-scalable-target",
        "Every SageMaker endpoint variant has an Application Auto Scaling target.",
        "stack",
        endpoints_have_scalable_targets,
    ),
    Rule(
        "training-spot-with-checkpoints",
        "Training jobs use managed spot with a checkpoint config (advisory in dev).",
        "resource",
        training_uses_spot_with_checkpoints,
        advisory_in=frozenset({"dev"}),
    ),
    Rule(
        "metric-alarm-actions",
        "Every CloudWatch metric alarm has alarm actions.",
        "resource",
        metric_alarms_have_actions,
    ),
    Rule(
        "backup-vault-kms",
        "Backup vaults are encrypted with a KMS key.",
        "resource",
        backup_vaults_use_kms,
    ),
    Rule(
        "backup-vault-locked-in-prod",
        "Backup vaults are locked (Vault Lock) in prod.",
        "stack",
        backup_vaults_locked_in_prod,
    ),
    Rule(
        "stateful-protected-in-prod",
        "Stateful resources (KMS keys, buckets, backup vaults, ECR repositories) are protected in prod.",
        "resource",
        stateful_protected_in_prod,
    ),
    Rule(
        "required-default-tags",
        f"AWS resources use an explicit provider whose default tags carry {', '.join(REQUIRED_TAGS)}.",
        "resource",
        required_default_tags,
    ),
    Rule(
        "endpoint-latency-and-error-alarms",
        "Every SageMaker endpoint has a latency alarm and an error alarm.",
        "stack",
        endpoints_have_latency_and_error_alarms,
    ),
    Rule(
        "prod-buckets-in-backup-selection",
        "In prod every S3 bucket (but an access log target) is in an AWS Backup selection.",
        "stack",
        prod_buckets_in_backup_selection,
    ),
    Rule(
        "s3-access-records",
        "Every S3 bucket logs its requests (server access logging) to another bucket; none logs to itself.",
        "stack",
        buckets_have_access_records,
    ),
    Rule(
        "api-stage-waf",
        "Every API Gateway stage is associated with a WAFv2 web ACL.",
        "stack",
        api_stages_behind_waf,
    ),
    Rule(
        "api-stage-tracing",
        "API Gateway stages trace with X-Ray.",
        "resource",
        api_stages_traced,
    ),
    Rule(
        "prod-api-access-log-retention",
        f"In prod API stages write access logs kept {PROD_MIN_API_LOG_RETENTION_DAYS} days at least.",
        "stack",
        prod_api_access_logs_kept_a_year,
    ),
)


def evaluate(resources: Sequence[Resource], environment: str, rules: Sequence[Rule] = RULES) -> list[Violation]:
    """Every violation of `rules` in `resources`, for a stack deploying `environment`."""
    environment = normalize_environment(environment)
    violations = []
    for rule in rules:
        level = rule.level(environment)
        if rule.scope == "resource":
            messages = [m for resource in resources for m in rule.check(resource, environment)]
        else:
            messages = rule.check(resources, environment)
        # Sorted: the engine registers resources in no fixed order.
        violations += [Violation(rule.name, level, m.split(": ", 1)[0], m) for m in sorted(messages)]
    return violations
