"""What every policy rule works with: the resource as a policy sees it, violations, rules, the
resource types they look at, and the readers for values that may be JSON text or not known yet.

Loads as `policy.policy_types` from the repository and as `policy_types` inside the pack; it
imports nothing from Pulumi (see `policies.py`).
"""

from __future__ import annotations

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


def quoted(value: Any) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)
