"""The platform's policy rules, as plain functions over plain data.

One rule set, two entry points: `policy/__main__.py` wraps these functions into a CrossGuard
pack (`pulumi preview --policy-pack policy`), and `make plan` (`offline/policy_check.py`) runs
them over the resources the mock engine synthesized. This module imports nothing from Pulumi,
so both can load it, and the pack's own environment needs only `pulumi-policy`.

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

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MANDATORY = "mandatory"
ADVISORY = "advisory"
Level = Literal["mandatory", "advisory"]

# The environment a stack deploys is one of these; anything else is treated as prod.
ENVIRONMENTS = ("dev", "staging", "prod")
STRICTEST_ENVIRONMENT = "prod"

REQUIRED_TAGS = ("project", "environment", "owner", "cost-center", "managed-by")

# Resources that hold data or identity which cannot be recreated: in prod they are protected
# (`protect`, and the program also sets `retain_on_delete`). The one list of them.
STATEFUL_TYPES = frozenset(
    {
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:backup/vault:Vault",
        "aws:ecr/repository:Repository",
    }
)

BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
ENCRYPTION_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
VERSIONING_TYPES = frozenset(
    {"aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"}
)
PUBLIC_ACCESS_BLOCK_TYPE = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
LIFECYCLE_TYPES = frozenset(
    {
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
    }
)
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

# IAM resources holding a policy document in `policy`; roles hold theirs in `inlinePolicies`.
IAM_DOCUMENT_TYPES = frozenset(
    {
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    }
)
ROLE_TYPE = "aws:iam/role:Role"
IAM_ATTACHMENT_TYPES = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)
# AWS-managed policies that grant whole services (or everything).
BROAD_MANAGED_POLICY = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(?:.*/)?(AdministratorAccess|[A-Za-z0-9]*FullAccess)$"
)
WHOLE_SERVICE_ACTION = re.compile(r"^(\*|[A-Za-z0-9-]+:\*)$")

ENDPOINT_CONFIG_TYPE = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
# A warm standby (tag `serving-role=standby`) keeps one instance on purpose: it scales out
# when failover sends it traffic. The endpoint taking traffic keeps at least two in prod.
SERVING_ROLE_TAG = "serving-role"
STANDBY = "standby"
MIN_PROD_INSTANCES = {"active": 2, STANDBY: 1}
ENDPOINT_TYPE = "aws:sagemaker/endpoint:Endpoint"
SCALABLE_TARGET_TYPE = "aws:appautoscaling/target:Target"
METRIC_ALARM_TYPE = "aws:cloudwatch/metricAlarm:MetricAlarm"
TRAINING_JOB_TYPE = "aws:sagemaker/trainingJob:TrainingJob"
PIPELINE_TYPE = "aws:sagemaker/pipeline:Pipeline"
VAULT_TYPE = "aws:backup/vault:Vault"
VAULT_LOCK_TYPE = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
SELECTION_TYPE = "aws:backup/selection:Selection"
AWS_PROVIDER_TYPE = "pulumi:providers:aws"
BUCKET_LOGGING_TYPES = frozenset({"aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"})
STAGE_TYPE = "aws:apigateway/stage:Stage"
WEB_ACL_ASSOCIATION_TYPE = "aws:wafv2/webAclAssociation:WebAclAssociation"
LOG_GROUP_TYPE = "aws:cloudwatch/logGroup:LogGroup"
# Prod keeps API access logs (who called the model) a year at least.
PROD_MIN_API_LOG_RETENTION_DAYS = 365


# ---------------------------------------------------------------------------------------------
# Plain data


class _Unknown:
    """A value the engine does not know yet (preview of a resource still to be created)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it.

    inputs: the resource's properties in wire names (for a stack rule in CrossGuard, its
        outputs, which repeat the inputs and add what the provider computed).
    outputs: properties the provider computed, where known (ids, ARNs, auto-names); the
        offline plan has them from the mock engine.
    protect: the `protect` resource option.
    provider: logical name of the explicit provider it was created with; None when it uses
        the default provider.
    provider_inputs: that provider's configuration (e.g. `defaultTags`).
    depends_on: URNs of the resources it depends on; dependencies maps a property to the URNs
        it was computed from, where the engine reports that (CrossGuard stack rules do).
    """

    type: str
    name: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    urn: str = ""
    protect: bool = False
    provider: str | None = None
    provider_inputs: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"

    def get(self, *path: str | int) -> Any:
        """The input at `path` (outputs as fallback for the first key), JSON text decoded."""
        head, *rest = path
        value = self.inputs.get(head) if isinstance(head, str) else None
        if value is None and isinstance(head, str):
            value = self.outputs.get(head)
        return dig(value, *rest)

    @property
    def region(self) -> str | None:
        """Its own `region` input, else its provider's region."""
        value = self.inputs.get("region") or self.provider_inputs.get("region")
        return value if isinstance(value, str) else None

    def same_region(self, other: Resource) -> bool:
        """Regional resources join only within a region (an endpoint and its alarms, a vault
        and its lock); where a region is not known, they may."""
        return self.region is None or other.region is None or self.region == other.region

    def ids(self) -> frozenset[str]:
        """Every known string another resource may use to point at this one."""
        found = set()
        for props in (self.outputs, self.inputs):
            for key in ("id", "name", "bucket", "arn"):
                value = props.get(key)
                if isinstance(value, str) and value:
                    found.add(value)
        return frozenset(found)

    def refers_to(self, prop: str, other: Resource) -> bool:
        """Whether this resource's `prop` points at `other`: by value when known, else by the
        dependency the engine recorded for the property (or for the resource)."""
        if not self.same_region(other):
            return False
        value = self.get(prop)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and item in other.ids():
                return True
            if item is UNKNOWN and other.urn and other.urn in self.dependencies.get(prop, self.depends_on):
                return True
        return False


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level
    resource: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "level": self.level, "resource": self.resource, "message": self.message}


ResourceCheck = Callable[[Resource, str], list[str]]
StackCheck = Callable[[Sequence[Resource], str], list[str]]


@dataclass(frozen=True)
class Rule:
    """A named rule: `check` runs on one resource (`scope="resource"`) or on the whole stack."""

    name: str
    description: str
    scope: Literal["resource", "stack"]
    check: Callable[..., list[str]]
    advisory_in: frozenset[str] = frozenset()

    def level(self, environment: str) -> Level:
        return ADVISORY if environment in self.advisory_in else MANDATORY


# ---------------------------------------------------------------------------------------------
# Reading values


def decode(value: Any) -> Any:
    """JSON text of an object or list becomes the object or list; anything else is as is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def dig(value: Any, *path: str | int) -> Any:
    """`value[path[0]][path[1]]...`, decoding JSON text at each step; None when absent,
    UNKNOWN when a step is unknown."""
    value = decode(value)
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and -len(value) <= key < len(value) else None
        else:
            value = value.get(key) if isinstance(value, Mapping) else None
        value = decode(value)
    return value


def as_list(value: Any) -> list[Any]:
    value = decode(value)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def known(value: Any) -> bool:
    return value is not UNKNOWN


def normalize_environment(value: Any) -> str:
    """The stack's environment; an unknown or missing one gets the strictest rules."""
    return value if value in ENVIRONMENTS else STRICTEST_ENVIRONMENT


def of_types(resources: Iterable[Resource], types: Iterable[str] | str) -> list[Resource]:
    wanted = {types} if isinstance(types, str) else set(types)
    return [r for r in resources if r.type in wanted]


def _quoted(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


# ---------------------------------------------------------------------------------------------
# S3 (stack rule: in pulumi-aws v7 a bucket's settings are separate resources naming it)


def _log_target_encryption(bucket: Resource, configs: list[Resource]) -> list[str]:
    """S3 delivers server access logs only to a target whose default encryption is SSE-S3:
    with SSE-KMS the logs are silently not written.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"""
    defaults = [dig(rule, "applyServerSideEncryptionByDefault") for c in configs for rule in as_list(c.get("rules"))]
    if any(not known(d) for d in defaults):
        return []
    found = sorted({str(dig(d, "sseAlgorithm")) for d in defaults if dig(d, "sseAlgorithm") is not None})
    if found == ["AES256"]:
        return []
    return [
        f"{bucket.label}: a server access log target must use SSE-S3, which S3 log delivery requires "
        f"(got sseAlgorithm {', '.join(map(repr, found)) or 'none'}; expected 'AES256')"
    ]


def _bucket_encryption(bucket: Resource, configs: list[Resource]) -> list[str]:
    defaults = [dig(rule, "applyServerSideEncryptionByDefault") for c in configs for rule in as_list(c.get("rules"))]
    if any(not known(d) for d in defaults):
        return []
    kms = [d for d in defaults if dig(d, "sseAlgorithm") in ("aws:kms", "aws:kms:dsse")]
    if not kms:
        found = sorted({str(dig(d, "sseAlgorithm")) for d in defaults if dig(d, "sseAlgorithm") is not None})
        if not found:
            return [f"{bucket.label}: no server-side encryption configuration with aws:kms"]
        return [
            f"{bucket.label}: server-side encryption is not SSE-KMS "
            f"(got sseAlgorithm {', '.join(map(repr, found))}; expected 'aws:kms')"
        ]
    if not any(dig(d, "kmsMasterKeyId") for d in kms):
        return [f"{bucket.label}: SSE-KMS without kmsMasterKeyId uses the AWS-managed key (expected the region's key)"]
    return []


def _bucket_versioning(bucket: Resource, configs: list[Resource]) -> list[str]:
    statuses = [dig(c.get("versioningConfiguration"), "status") for c in configs]
    if "Enabled" in statuses or UNKNOWN in statuses:
        return []
    if not statuses:
        return [f"{bucket.label}: versioning is not enabled (no aws:s3/bucketVersioning:BucketVersioning)"]
    return [f"{bucket.label}: versioning is not enabled (got status {_quoted(statuses[0])}; expected 'Enabled')"]


def _bucket_public_access(bucket: Resource, blocks: list[Resource]) -> list[str]:
    if not blocks:
        return [f"{bucket.label}: no public-access block (no {PUBLIC_ACCESS_BLOCK_TYPE})"]
    best = min(
        (
            [flag for flag in PUBLIC_ACCESS_FLAGS if block.get(flag) is not True and known(block.get(flag))]
            for block in blocks
        ),
        key=len,
    )
    if best:
        return [f"{bucket.label}: public-access block is not full ({', '.join(best)} not true)"]
    return []


def _bucket_lifecycle(bucket: Resource, configs: list[Resource]) -> list[str]:
    if not configs:
        return [
            f"{bucket.label}: no lifecycle rules (no aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration)"
        ]
    statuses = [dig(rule, "status") for c in configs for rule in as_list(c.get("rules"))]
    if "Enabled" in statuses or UNKNOWN in statuses or any(not known(c.get("rules")) for c in configs):
        return []
    return [f"{bucket.label}: lifecycle configuration has no enabled rule (got statuses {sorted(map(str, statuses))})"]


def log_targets(resources: Sequence[Resource]) -> list[Resource]:
    """Buckets some bucket delivers its S3 server access logs to."""
    loggings = of_types(resources, BUCKET_LOGGING_TYPES)
    return [b for b in of_types(resources, BUCKET_TYPES) if any(lg.refers_to("targetBucket", b) for lg in loggings)]


def s3_buckets_hardened(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every bucket has SSE-KMS (SSE-S3 for a server access log target, the only encryption S3
    log delivery accepts), versioning Enabled, a full public-access block and lifecycle rules.
    Settings inline on the bucket (deprecated in pulumi-aws v7) do not count."""
    problems: list[str] = []
    targets = {b.urn or b.name for b in log_targets(resources)}
    for bucket in of_types(resources, BUCKET_TYPES):

        def attached(types: Iterable[str] | str, bucket: Resource = bucket) -> list[Resource]:
            return [r for r in of_types(resources, types) if r.refers_to("bucket", bucket)]

        if (bucket.urn or bucket.name) in targets:
            problems += _log_target_encryption(bucket, attached(ENCRYPTION_TYPES))
        else:
            problems += _bucket_encryption(bucket, attached(ENCRYPTION_TYPES))
        problems += _bucket_versioning(bucket, attached(VERSIONING_TYPES))
        problems += _bucket_public_access(bucket, attached(PUBLIC_ACCESS_BLOCK_TYPE))
        problems += _bucket_lifecycle(bucket, attached(LIFECYCLE_TYPES))
    return problems


# ---------------------------------------------------------------------------------------------
# IAM


def _documents(resource: Resource) -> list[tuple[str, Any]]:
    """(where, document) for each policy document the resource carries."""
    if resource.type in IAM_DOCUMENT_TYPES:
        return [("policy", resource.get("policy"))]
    if resource.type == ROLE_TYPE:
        inline = resource.get("inlinePolicies")
        return [
            (f"inlinePolicies[{i}] {dig(p, 'name') or ''}".rstrip(), dig(p, "policy"))
            for i, p in enumerate(as_list(inline) if known(inline) else [])
        ]
    return []


def broad_grants(document: Any) -> list[tuple[str, str]]:
    """(statement, action) for every Allow of `*` or `<service>:*` on Resource `*`."""
    document = decode(document)
    if not isinstance(document, Mapping):
        return []
    found = []
    for i, statement in enumerate(as_list(document.get("Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        if "*" not in as_list(statement.get("Resource")):
            continue
        label = f"statement {statement['Sid']!r}" if statement.get("Sid") else f"statement {i}"
        for action in as_list(statement.get("Action")):
            if isinstance(action, str) and WHOLE_SERVICE_ACTION.match(action):
                found.append((label, action))
        if statement.get("NotAction") is not None:
            found.append((label, "NotAction"))
    return found


def iam_no_wildcard_grants(resource: Resource, environment: str) -> list[str]:
    """No IAM policy allows `*` or a whole service (`s3:*`) on Resource `*`, and no AWS-managed
    `AdministratorAccess` / `*FullAccess` policy is attached."""
    problems = []
    for where, document in _documents(resource):
        for statement, action in broad_grants(document):
            what = "allows every action but NotAction" if action == "NotAction" else f"allows {action!r}"
            problems.append(f"{resource.label}: {where} {statement} {what} on Resource '*'")
    arns: list[Any] = []
    if resource.type in IAM_ATTACHMENT_TYPES:
        arns = [resource.get("policyArn")]
    elif resource.type == ROLE_TYPE and known(resource.get("managedPolicyArns")):
        arns = as_list(resource.get("managedPolicyArns"))
    for arn in arns:
        if isinstance(arn, str) and BROAD_MANAGED_POLICY.match(arn):
            problems.append(f"{resource.label}: attaches the AWS-managed policy {arn!r} (grants whole services)")
    return problems


# ---------------------------------------------------------------------------------------------
# SageMaker serving


def _variants(config: Resource) -> list[tuple[str, Any]]:
    variants = config.get("productionVariants")
    if not known(variants):
        return []
    return [(dig(v, "variantName") or f"#{i}", v) for i, v in enumerate(as_list(variants))]


def endpoint_config_kms_and_capacity(resource: Resource, environment: str) -> list[str]:
    """Endpoint configs encrypt with KMS; serverless variants only in dev; in prod every
    instance variant starts with at least 2 instances (SageMaker spreads them over
    Availability Zones), or 1 on a warm standby tagged `serving-role=standby`."""
    if resource.type != ENDPOINT_CONFIG_TYPE:
        return []
    problems = []
    variants = _variants(resource)
    instance_variants = [(name, v) for name, v in variants if dig(v, "serverlessConfig") is None]
    # KmsKeyArn encrypts the ML storage volumes of instances; serverless variants have none.
    if (instance_variants or not variants) and not resource.get("kmsKeyArn"):
        problems.append(f"{resource.label}: no kmsKeyArn (the instance storage volumes would use an AWS-owned key)")
    capture = resource.get("dataCaptureConfig")
    if capture and known(capture) and not dig(capture, "kmsKeyId"):
        problems.append(f"{resource.label}: dataCaptureConfig has no kmsKeyId (captured requests would use SSE-S3)")
    for name, variant in variants:
        if dig(variant, "serverlessConfig") is not None and environment != "dev":
            problems.append(
                f"{resource.label}: production variant {name!r} is serverless, which is allowed in dev only "
                f"(environment {environment!r})"
            )
    if environment == "prod":
        role = STANDBY if resource.get("tags", SERVING_ROLE_TAG) == STANDBY else "active"
        minimum = MIN_PROD_INSTANCES[role]
        for name, variant in instance_variants:
            count = dig(variant, "initialInstanceCount")
            if known(count) and (not isinstance(count, int | float) or count < minimum):
                what = "a warm standby" if role == STANDBY else "an endpoint taking traffic"
                problems.append(
                    f"{resource.label}: production variant {name!r} has initialInstanceCount {_quoted(count)} in prod "
                    f"(expected at least {minimum} on {what})"
                )
    return problems


def endpoint_rollback_alarms(resource: Resource, environment: str) -> list[str]:
    """Deployments roll back on alarms: deploymentConfig.autoRollbackConfiguration.alarms."""
    if resource.type != ENDPOINT_TYPE:
        return []
    alarms = resource.get("deploymentConfig", "autoRollbackConfiguration", "alarms")
    if not known(alarms) or as_list(alarms):
        return []
    return [f"{resource.label}: no rollback alarms (deploymentConfig.autoRollbackConfiguration.alarms is empty)"]


def _endpoint_name(endpoint: Resource) -> Any:
    return endpoint.get("name")


def endpoints_have_scalable_targets(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every instance variant of every endpoint has an Application Auto Scaling target
    (`endpoint/<name>/variant/<variant>`). Serverless variants scale by themselves."""
    problems = []
    targets = of_types(resources, SCALABLE_TARGET_TYPE)
    configs = of_types(resources, ENDPOINT_CONFIG_TYPE)
    for endpoint in of_types(resources, ENDPOINT_TYPE):
        name = _endpoint_name(endpoint)
        if not isinstance(name, str):
            if not any(endpoint.urn and endpoint.urn in t.depends_on for t in targets):
                problems.append(f"{endpoint.label}: no scalable target ({SCALABLE_TARGET_TYPE} for its variants)")
            continue
        ids = {
            t.get("resourceId")
            for t in targets
            if t.get("serviceNamespace") in ("sagemaker", UNKNOWN) and t.same_region(endpoint)
        }
        if UNKNOWN in ids:
            continue
        config = next((c for c in configs if endpoint.refers_to("endpointConfigName", c)), None)
        variants = [n for n, v in _variants(config) if dig(v, "serverlessConfig") is None] if config else None
        if variants is None:
            if not any(isinstance(i, str) and i.startswith(f"endpoint/{name}/variant/") for i in ids):
                problems.append(
                    f"{endpoint.label}: no scalable target ({SCALABLE_TARGET_TYPE} with resourceId "
                    f"'endpoint/{name}/variant/<variant>')"
                )
            continue
        for variant in variants:
            wanted = f"endpoint/{name}/variant/{variant}"
            if wanted not in ids:
                problems.append(
                    f"{endpoint.label}: variant {variant!r} has no scalable target "
                    f"({SCALABLE_TARGET_TYPE} with resourceId {wanted!r})"
                )
    return problems


def _alarm_metrics(alarm: Resource) -> list[tuple[Any, Any]]:
    """(metricName, dimensions) of the alarm's metric or of each metric in its math."""
    metrics = [(alarm.get("metricName"), alarm.get("dimensions"))]
    for query in as_list(alarm.get("metricQueries")) if known(alarm.get("metricQueries")) else []:
        metric = dig(query, "metric")
        if metric:
            metrics.append((dig(metric, "metricName"), dig(metric, "dimensions")))
    return [(n, d) for n, d in metrics if n is not None]


def endpoints_have_latency_and_error_alarms(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every endpoint has an alarm on a latency metric and one on an error metric, each with
    the dimension EndpointName naming it."""
    problems = []
    alarms = of_types(resources, METRIC_ALARM_TYPE)
    for endpoint in of_types(resources, ENDPOINT_TYPE):
        name = _endpoint_name(endpoint)
        if not isinstance(name, str):
            continue
        metrics = [(n, dig(d, "EndpointName")) for a in alarms if a.same_region(endpoint) for n, d in _alarm_metrics(a)]
        if any(not known(n) or not known(e) for n, e in metrics):
            continue
        watched = [n for n, e in metrics if e == name and isinstance(n, str)]
        for kind, matches in (("latency", lambda n: n.endswith("Latency")), ("error", lambda n: "Error" in n)):
            if not any(matches(n) for n in watched):
                problems.append(
                    f"{endpoint.label}: no {kind} alarm ({METRIC_ALARM_TYPE} on a {kind} metric with "
                    f"dimension EndpointName {name!r})"
                )
    return problems


# ---------------------------------------------------------------------------------------------
# Training


def _pipeline_training_steps(pipeline: Resource) -> list[tuple[str, Any]]:
    definition = pipeline.get("pipelineDefinition")
    if not known(definition):
        return []
    return [
        (dig(step, "Name") or f"#{i}", dig(step, "Arguments"))
        for i, step in enumerate(as_list(dig(definition, "Steps")))
        if dig(step, "Type") == "Training"
    ]


def training_uses_spot_with_checkpoints(resource: Resource, environment: str) -> list[str]:
    """Training jobs (and pipeline training steps) use managed spot with a checkpoint config,
    so an interruption resumes from the last checkpoint instead of starting over."""
    if resource.type == TRAINING_JOB_TYPE:
        jobs = [("", resource.get("enableManagedSpotTraining"), resource.get("checkpointConfig", "s3Uri"))]
        names = ("enableManagedSpotTraining", "checkpointConfig.s3Uri")
    elif resource.type == PIPELINE_TYPE:
        jobs = [
            (
                f"pipeline step {step!r}: ",
                dig(args, "EnableManagedSpotTraining"),
                dig(args, "CheckpointConfig", "S3Uri"),
            )
            for step, args in _pipeline_training_steps(resource)
        ]
        names = ("EnableManagedSpotTraining", "CheckpointConfig.S3Uri")
    else:
        return []
    problems = []
    for where, spot, checkpoints in jobs:
        if known(spot) and spot is not True and not isinstance(spot, Mapping):  # a Mapping: a pipeline parameter
            problems.append(f"{resource.label}: {where}{names[0]} is not true (got {_quoted(spot)}; expected true)")
        if known(checkpoints) and not checkpoints:
            problems.append(f"{resource.label}: {where}no {names[1]} (an interrupted spot job would start over)")
    return problems


# ---------------------------------------------------------------------------------------------
# Alarms, backup, protection, tags


def metric_alarms_have_actions(resource: Resource, environment: str) -> list[str]:
    if resource.type != METRIC_ALARM_TYPE:
        return []
    actions = resource.get("alarmActions")
    if not known(actions) or as_list(actions):
        return []
    return [f"{resource.label}: no alarmActions (the alarm would change state and notify nobody)"]


def backup_vaults_use_kms(resource: Resource, environment: str) -> list[str]:
    if resource.type != VAULT_TYPE or resource.get("kmsKeyArn"):
        return []
    return [f"{resource.label}: no kmsKeyArn (recovery points would use the AWS-managed key)"]


def backup_vaults_locked_in_prod(resources: Sequence[Resource], environment: str) -> list[str]:
    if environment != "prod":
        return []
    locks = of_types(resources, VAULT_LOCK_TYPE)
    return [
        f"{vault.label}: not locked in prod (no {VAULT_LOCK_TYPE} for it)"
        for vault in of_types(resources, VAULT_TYPE)
        if not any(lock.refers_to("backupVaultName", vault) for lock in locks)
    ]


def stateful_protected_in_prod(resource: Resource, environment: str) -> list[str]:
    if environment != "prod" or resource.type not in STATEFUL_TYPES or resource.protect:
        return []
    return [f"{resource.label}: stateful resource is not protected in prod (protect is false)"]


def required_default_tags(resource: Resource, environment: str) -> list[str]:
    """Every AWS resource is created through an explicit provider whose default tags carry
    the required keys, so no resource can be untagged or land in a region by accident."""
    if not resource.type.startswith("aws:"):
        return []
    if resource.provider is None:
        return [f"{resource.label}: uses the default provider (expected an explicit aws provider with default tags)"]
    tags = dig(resource.provider_inputs.get("defaultTags"), "tags")
    if not known(tags):
        return []
    tags = tags if isinstance(tags, Mapping) else {}
    missing = [key for key in REQUIRED_TAGS if not tags.get(key)]
    if missing:
        return [f"{resource.label}: provider {resource.provider} has no default tag {', '.join(missing)}"]
    return []


def _selection_covers(selection: Resource, bucket: Resource) -> bool:
    """Whether the selection lists the bucket's ARN (wildcards allowed), or, where the list is
    not known yet, was computed from the bucket. AWS Backup backs up resources of its own
    region only."""
    if not selection.same_region(bucket):
        return False
    arns = [i for i in bucket.ids() if i.startswith("arn:")]
    listed = selection.get("resources")
    for item in as_list(listed) if known(listed) else [UNKNOWN]:
        if isinstance(item, str) and any(fnmatch.fnmatchcase(arn, item) for arn in arns):
            return True
        if item is UNKNOWN and bucket.urn in selection.dependencies.get("resources", selection.depends_on):
            return True
    return False


def prod_buckets_in_backup_selection(resources: Sequence[Resource], environment: str) -> list[str]:
    """In prod every bucket (but an access log target) is listed in an AWS Backup selection."""
    if environment != "prod":
        return []
    selections = of_types(resources, SELECTION_TYPE)
    # Access log targets hold a record of requests, not data to restore; they are protected,
    # versioned and kept by their lifecycle instead.
    targets = {b.urn or b.name for b in log_targets(resources)}
    problems = []
    for bucket in of_types(resources, BUCKET_TYPES):
        if (bucket.urn or bucket.name) in targets:
            continue
        if not any(_selection_covers(selection, bucket) for selection in selections):
            arn = min((i for i in bucket.ids() if i.startswith("arn:")), default="its ARN")
            problems.append(f"{bucket.label}: not in any backup selection in prod (no {SELECTION_TYPE} lists {arn})")
    return problems


# ---------------------------------------------------------------------------------------------
# Access records and the front door


def buckets_have_access_records(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every bucket that is not itself a log target logs its requests (S3 server access
    logging) to another bucket of its region; no bucket logs to itself (an endless loop of
    log objects logging their own delivery)."""
    loggings = of_types(resources, BUCKET_LOGGING_TYPES)
    targets = {b.urn or b.name for b in log_targets(resources)}
    problems = []
    for bucket in of_types(resources, BUCKET_TYPES):
        own = [lg for lg in loggings if lg.refers_to("bucket", bucket)]
        if any(lg.refers_to("targetBucket", bucket) for lg in own):
            problems.append(f"{bucket.label}: logs its server access records to itself (expected another bucket)")
            continue
        if (bucket.urn or bucket.name) in targets:
            continue
        if not own:
            problems.append(
                f"{bucket.label}: no access record of who read or changed it "
                f"(no aws:s3/bucketLogging:BucketLogging names it)"
            )
    return problems


def api_stages_traced(resource: Resource, environment: str) -> list[str]:
    """API Gateway stages trace with X-Ray."""
    if resource.type != STAGE_TYPE:
        return []
    value = resource.get("xrayTracingEnabled")
    if value is True or not known(value):
        return []
    return [f"{resource.label}: X-Ray tracing is off (got xrayTracingEnabled {_quoted(value)}; expected true)"]


def api_stages_behind_waf(resources: Sequence[Resource], environment: str) -> list[str]:
    """Every API Gateway stage is associated with a WAFv2 web ACL."""
    associations = of_types(resources, WEB_ACL_ASSOCIATION_TYPE)
    return [
        f"{stage.label}: no WAF web ACL (no {WEB_ACL_ASSOCIATION_TYPE} names the stage's ARN)"
        for stage in of_types(resources, STAGE_TYPE)
        if not any(a.refers_to("resourceArn", stage) for a in associations)
    ]


def _stage_logs_to(stage: Resource, group: Resource) -> bool:
    if not stage.same_region(group):
        return False
    destination = stage.get("accessLogSettings", "destinationArn")
    if isinstance(destination, str):
        return destination in group.ids()
    if destination is UNKNOWN or not known(stage.get("accessLogSettings")):
        return bool(group.urn) and group.urn in stage.dependencies.get("accessLogSettings", stage.depends_on)
    return False


def prod_api_access_logs_kept_a_year(resources: Sequence[Resource], environment: str) -> list[str]:
    """In prod every API stage writes an access log, kept 365 days at least."""
    if environment != "prod":
        return []
    groups = of_types(resources, LOG_GROUP_TYPE)
    problems = []
    for stage in of_types(resources, STAGE_TYPE):
        logs = [g for g in groups if _stage_logs_to(stage, g)]
        if not logs:
            # Only a destination known to be absent is a violation; an unknown one is not seen yet.
            if stage.get("accessLogSettings", "destinationArn") is None:
                problems.append(f"{stage.label}: no access log in prod (accessLogSettings names no log group)")
            continue
        for group in logs:
            days = group.get("retentionInDays")
            # No retention (None or 0) keeps the log forever.
            if not known(days) or days in (None, 0) or days >= PROD_MIN_API_LOG_RETENTION_DAYS:
                continue
            problems.append(
                f"{group.label}: API access log of {stage.name} kept {days:g} days in prod "
                f"(expected retentionInDays >= {PROD_MIN_API_LOG_RETENTION_DAYS})"
            )
    return problems


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
