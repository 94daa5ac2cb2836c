"""Policy rules: Least-privilege IAM, protection of stateful resources, and default tags.

Plain functions over `policy_types.Resource`; `policies.py` names them in `RULES`. It imports
its siblings relatively (see `policies.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .policy_types import (
    BROAD_MANAGED_POLICY,
    IAM_ATTACHMENT_TYPES,
    IAM_DOCUMENT_TYPES,
    REQUIRED_TAGS,
    ROLE_TYPE,
    STATEFUL_TYPES,
    WHOLE_SERVICE_ACTION,
    Resource,
    as_list,
    decode,
    dig,
    known,
)

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
# Protection and tags


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
