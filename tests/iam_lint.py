"""Lint IAM documents with parliament (pinned in requirements-dev.txt), which checks every
action, resource ARN format and condition key against its bundled copy of AWS's Service
Authorization Reference tables (`parliament/iam_definition.json`).

`iam_documents` finds every policy-shaped value in a resource's inputs (identity, trust, key,
bucket, topic, vault and repository policies alike: anything with a `Statement`), so a new
resource type is linted without being listed here. `findings` returns one line per problem,
after the few parliament findings that AWS's own documented forms trigger (each justified
below) are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from parliament import analyze_policy_string

# Input names holding a role's trust policy: it has a Principal and no Resource.
TRUST_INPUTS = ("assumeRolePolicy",)
# Input names holding a KMS key policy: there, Resource "*" means "this key".
KEY_POLICY_TYPES = ("aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy")


def iam_documents(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(input path, document) for every IAM document inside `value` (JSON text or data)."""
    if isinstance(value, str) and value[:1] == "{":
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, dict):
        if "Statement" in value:
            yield path, value
            return
        for key, inner in value.items():
            yield from iam_documents(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from iam_documents(inner, f"{path}[{i}]")


def _documented_form(issue: str, detail: Any, *, trust: bool, key_policy: bool) -> bool:
    """Findings that AWS's own documented policy forms trigger."""
    text = str(detail)
    if trust and issue == "MALFORMED" and "neither Resource nor NotResource" in text:
        return True  # trust policies have no Resource element
    if key_policy and issue == "RESOURCE_STAR":
        # "In a key policy, the value of the Resource element is "*", which means "this KMS key""
        # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
        return True
    if key_policy and "kms:EncryptionContext:aws:logs:arn" in text:
        # CloudWatch Logs' documented key statement: kms:Encrypt*/Decrypt*/ReEncrypt*/
        # GenerateDataKey*/Describe* with ArnEquals/ArnLike on kms:EncryptionContext:aws:logs:arn
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        return True
    if key_policy and issue == "MISMATCHED_TYPE" and "ArnLike requires a value of type Arn" in text:
        return True  # the same statement's ArnLike on an encryption-context key (a string key)
    if issue == "MISMATCHED_TYPE_BUT_USABLE":
        # parliament's own verdict: it works (e.g. StringNotEquals on
        # s3:x-amz-server-side-encryption-aws-kms-key-id, whose value is a key ARN, as AWS documents).
        return True
    # parliament knows a fixed list of identity providers; an IAM OIDC provider's ARN (GitHub
    # Actions, EKS IRSA) is the documented Federated principal.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-idp_oidc.html
    return trust and issue == "UNKNOWN_FEDERATION_SOURCE"


def findings(document: dict[str, Any], *, trust: bool = False, key_policy: bool = False) -> list[str]:
    """`ISSUE: detail` per problem parliament finds, documented forms excepted. A
    RESOURCE_MISMATCH is split per action, so each one can be named on its own."""
    policy = analyze_policy_string(json.dumps(document), include_community_auditors=False)
    found = []
    for finding in policy.findings:
        if _documented_form(finding.issue, finding.detail, trust=trust, key_policy=key_policy):
            continue
        if finding.issue == "RESOURCE_MISMATCH" and isinstance(finding.detail, list):
            found += [f"RESOURCE_MISMATCH: {d['action']} needs Resource {d['required_format']}" for d in finding.detail]
        elif finding.issue == "RESOURCE_STAR" and isinstance(finding.detail, list):
            found += [f"RESOURCE_STAR: {action} can be scoped to a resource" for action in finding.detail]
        else:
            found.append(f"{finding.issue}: {finding.detail}")
    return sorted(set(found))


def lint_resources(resources: list[Any]) -> dict[str, list[str]]:
    """`<type> <name> <input path>` -> findings, for every document of every registration."""
    report = {}
    for resource in resources:
        for path, document in iam_documents(resource.inputs):
            problems = findings(
                document,
                trust=path in TRUST_INPUTS,
                key_policy=resource.type in KEY_POLICY_TYPES and path == "policy",
            )
            if problems:
                report[f"{resource.type} {resource.name} {path}"] = problems
    return report
