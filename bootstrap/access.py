"""Config and pure builders of the CI bootstrap: trust, role policies, bucket policy, lifecycle.

Everything here returns plain data; `__main__.py` declares the resources. Every IAM document
the bootstrap declares comes from `documents()` too, so a lint test can iterate them.

Who may do what, per stack `<s>` (each stack is also a GitHub environment of that name):
- GitHub's OIDC provider (`token.actions.githubusercontent.com`, audience `sts.amazonaws.com`),
  created here or, when the account already has one (only one per URL is allowed), referred to.
  No thumbprint: IAM verifies GitHub's certificate against its own trusted root CAs.
- Deploy role `ml-platform-ci-deploy-<s>`: trusted only by jobs in the GitHub environment `<s>`
  (`sub` = `repo:<owner>/<repo>:environment:<s>`; give prod required reviewers and limit it to
  `main`). It runs `pulumi up --plan` of stack `<s>`: the actions of `grants.TYPE_GRANTS` for the
  types the program declares, in the stack's regions and this account, split into managed
  policies by service; reads and writes only `<s>`'s state (stack file, history, backups, locks,
  journal); uses only `<s>`'s secrets key; pushes only to `ml-platform/<s>/model`.
- Preview role `ml-platform-ci-preview-<s>`: trusted only by jobs in the environments
  `<s>-preview` (pull requests; give prod's required reviewers, so no branch author can read
  prod's state or secrets unreviewed) and `<s>-plan` (the deploy workflow's saved plan; limit
  it to `main`). Read-only: the `read` actions of the same table (what `--refresh` calls), reads
  `<s>`'s state, takes `<s>`'s lock, decrypts `<s>`'s secrets.
- No CI role can write the bootstrap's own state (kept under `bootstrap/` in the state bucket, or
  elsewhere) or change the CI roles, their policies, the OIDC provider, the state bucket's
  settings or any key's policy. The state bucket's policy denies each CI role every object
  outside its own stack's prefixes, whatever its IAM policies say.

What remains: a role that can create IAM roles can grant them more than it has itself. Put a
permissions boundary on the program's roles to close that, when the components set one. And a
dev deploy role shares the account with prod when both stacks live in one account: the
recommended layout is one AWS account per environment (README, "Bootstrap").
"""

from __future__ import annotations

import json
import re
from typing import Any

from grants import NO_IAM_PREFIXES, OPS_TOOLS, PREVIEW_TOOLS, TYPE_GRANTS, Grant
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GITHUB_ISSUER_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
PROJECT = "ml-platform"
CI_ROLE_PREFIX = f"{PROJECT}-ci-"
# The DIY backend's layout: pkg/backend/diy/store.go (stacks, history, backups, journal) and
# lock.go (`.pulumi/locks/organization/<project>/<stack>/<lock id>.json`) in pulumi/pulumi.
STATE_PREFIX = ".pulumi"
META_KEY = f"{STATE_PREFIX}/meta.yaml"
BOOTSTRAP_STATE_PREFIX = "bootstrap"
# Tags the deploy workflow pushes (never expired) and tags `pulumi up` builds (newest kept).
RELEASE_TAG_PREFIX = "release-"
BUILD_TAG_PREFIX = "ctx-"
# IAM quotas, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html:
# managed policy document 6,144 characters (whitespace not counted), 10 managed policies per
# role by default, a role trust policy 2,048 characters.
MANAGED_POLICY_MAX_CHARS = 6144
MANAGED_POLICIES_PER_ROLE = 10
TRUST_POLICY_MAX_CHARS = 2048
# Service-linked roles the program's services create on first use.
SERVICE_LINKED_ROLES = ("ops.apigateway.amazonaws.com", "sagemaker.application-autoscaling.amazonaws.com")
# EKS access policies for the stacks served on Kubernetes:
# https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html
EKS_DEPLOY_POLICY = "AmazonEKSClusterAdminPolicy"
EKS_PREVIEW_POLICY = "AmazonEKSViewPolicy"

NAME = r"^[A-Za-z0-9_.-]+$"
STACK = r"^[a-z0-9][a-z0-9-]*$"


class StackTarget(BaseModel):
    """Where one stack deploys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: tuple[str, ...] = Field(
        min_length=1, description="The stack's regions, primary first; its image replicates to the others."
    )
    eks_cluster: str | None = Field(
        default=None, pattern=NAME, description="EKS cluster the stack serves on: its roles get access entries."
    )


class BootstrapConfig(BaseModel):
    """Config of the bootstrap stack, under the `ml-platform-bootstrap:` namespace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    github_owner: str = Field(pattern=r"^[A-Za-z0-9-]+$", description="GitHub user or organization.")
    github_repo: str = Field(pattern=NAME, description="Repository name.")
    stacks: dict[str, StackTarget] = Field(
        min_length=1, description="Stacks (and GitHub environments) that get roles, a secrets key and a repository."
    )
    region: str = Field(description="Region of the state bucket and the secrets keys.")
    github_oidc_provider: str = Field(
        default="create",
        pattern=r"^(create|existing)$",
        description="`create` GitHub's OIDC provider, or use the `existing` one of this account.",
    )
    image_builds_kept: int = Field(
        default=10, ge=1, le=1000, description="`ctx-` images (built by `pulumi up`) the ECR lifecycle keeps."
    )
    owner: str = Field(description="`owner` tag.")
    cost_center: str = Field(description="`cost-center` tag.")

    @field_validator("stacks")
    @classmethod
    def _stack_names(cls, value: dict[str, StackTarget]) -> dict[str, StackTarget]:
        bad = sorted(name for name in value if not re.match(STACK, name))
        if bad:
            raise ValueError(f"not a stack name (got {bad}; expected lowercase letters, digits and -)")
        return value

    @model_validator(mode="after")
    def _suffixes_do_not_collide(self) -> BootstrapConfig:
        # `<s>-preview` and `<s>-plan` are environments of their own.
        clash = sorted(n for n in self.stacks if re.search(r"-(preview|plan)$", n))
        if clash:
            raise ValueError(f"stacks: names ending in -preview or -plan are reserved (got {clash})")
        return self

    @property
    def repository(self) -> str:
        return f"{self.github_owner}/{self.github_repo}"

    def default_tags(self) -> dict[str, str]:
        return {
            "project": PROJECT,
            "environment": "ci",
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
        }


# ---------------------------------------------------------------------------------------------
# Small helpers


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def statement(
    sid: str,
    actions: list[str] | tuple[str, ...],
    resources: list[str] | str,
    condition: dict | None = None,
    effect: str = "Allow",
) -> dict[str, Any]:
    found: dict[str, Any] = {"Sid": sid, "Effect": effect, "Action": sorted(set(actions)), "Resource": resources}
    if condition:
        found["Condition"] = condition
    return found


def size(policy: dict[str, Any]) -> int:
    """Characters IAM counts against a managed policy's quota (whitespace excluded)."""
    return len(re.sub(r"\s+", "", json.dumps(policy)))


def _fill(value: Any, **names: str) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, **names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, **names) for v in value]
    return value


def environment_subject(repository: str, environment: str) -> str:
    """The `sub` claim of a job running in a GitHub environment."""
    return f"repo:{repository}:environment:{environment}"


def deploy_subjects(repository: str, stack: str) -> list[str]:
    return [environment_subject(repository, stack)]


def preview_subjects(repository: str, stack: str) -> list[str]:
    """Pull-request previews (`<s>-preview`) and the deploy workflow's saved plan (`<s>-plan`)."""
    return [environment_subject(repository, f"{stack}-preview"), environment_subject(repository, f"{stack}-plan")]


def oidc_provider_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{GITHUB_ISSUER_HOST}"


def github_trust_policy(provider_arn: str, subjects: list[str]) -> dict[str, Any]:
    """Trust GitHub's OIDC tokens for exactly these subjects, with AWS STS as the audience.
    https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
    """
    return document(
        {
            "Sid": "GitHubActionsOidc",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{GITHUB_ISSUER_HOST}:aud": GITHUB_AUDIENCE,
                    f"{GITHUB_ISSUER_HOST}:sub": subjects[0] if len(subjects) == 1 else sorted(subjects),
                }
            },
        }
    )


# ---------------------------------------------------------------------------------------------
# State: per-stack prefixes of the DIY backend


def state_keys(stack: str) -> dict[str, list[str]]:
    """The object keys (S3 key patterns) of one stack's state, by what they are."""
    return {
        "stack": [f"{STATE_PREFIX}/stacks/{PROJECT}/{stack}.json*"],
        "history": [f"{STATE_PREFIX}/history/{PROJECT}/{stack}/*"],
        "backups": [f"{STATE_PREFIX}/backups/{PROJECT}/{stack}/*"],
        "journal": [f"{STATE_PREFIX}/journal/{PROJECT}/{stack}/*"],
        "locks": [f"{STATE_PREFIX}/locks/organization/{PROJECT}/{stack}/*"],
    }


def _list_prefixes(stack: str) -> list[str]:
    keys = state_keys(stack)
    dirs = [p[: -len("/*")] for k in ("history", "backups", "journal", "locks") for p in keys[k]]
    return sorted([f"{STATE_PREFIX}/stacks/{PROJECT}/*", *dirs, *(f"{d}/*" for d in dirs)])


def state_access(
    stack: str, *, bucket_arn: str, state_key_arn: str, secrets_key_arn: str, region: str, write: bool
) -> list[dict[str, Any]]:
    """Read (and with `write`, write) one stack's state; take its lock; use its secrets key."""
    keys = state_keys(stack)
    readable = [f"{bucket_arn}/{k}" for part in keys.values() for k in part] + [f"{bucket_arn}/{META_KEY}"]
    writable = [f"{bucket_arn}/{k}" for part, found in keys.items() for k in found if write or part == "locks"]
    via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
    secrets = ["kms:Decrypt", "kms:DescribeKey"] + (["kms:Encrypt", "kms:GenerateDataKey"] if write else [])
    return [
        statement(
            "ListOwnState",
            ["s3:ListBucket"],
            bucket_arn,
            {"StringLike": {"s3:prefix": _list_prefixes(stack)}},
        ),
        statement("ReadOwnState", ["s3:GetObject"], sorted(readable)),
        statement("WriteOwnState" if write else "TakeOwnLock", ["s3:PutObject", "s3:DeleteObject"], sorted(writable)),
        statement("StateBucketKeyThroughS3", ["kms:Decrypt", "kms:GenerateDataKey"], state_key_arn, via_s3),
        statement("OwnSecretsKey", secrets, secrets_key_arn),
    ]


def state_bucket_policy(bucket_arn: str, role_stacks: dict[str, str]) -> dict[str, Any]:
    """TLS only, and each CI role (ARN -> stack) denied every object outside its stack's state.

    Bucket policies apply on top of the roles' own policies: even an over-broad grant cannot
    read another stack's state or the bootstrap's (`bootstrap/`)."""
    statements = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    for index, (role_arn, stack) in enumerate(sorted(role_stacks.items(), key=lambda kv: kv[0])):
        own = sorted(f"{bucket_arn}/{k}" for part in state_keys(stack).values() for k in part)
        statements.append(
            {
                "Sid": f"OnlyOwnState{index}",
                "Effect": "Deny",
                "Principal": {"AWS": role_arn},
                "Action": ["s3:DeleteObject*", "s3:GetObject*", "s3:PutObject*", "s3:RestoreObject"],
                "NotResource": [*own, f"{bucket_arn}/{META_KEY}"],
            }
        )
    return document(*statements)


# ---------------------------------------------------------------------------------------------
# Role policies: managed policies by service, from the type table


def _grants(types: list[str] | None) -> list[Grant]:
    chosen = TYPE_GRANTS if types is None else {t: TYPE_GRANTS[t] for t in types if t in TYPE_GRANTS}
    unique: dict[str, Grant] = {}
    for found in chosen.values():
        for grant in found:
            unique.setdefault(grant.sid, grant)
    return list(unique.values())


def passed_to_services(grants: list[Grant]) -> list[str]:
    return sorted({g.passes_role_to for g in grants if g.passes_role_to})


def _service_statements(
    grants: list[Grant], names: dict[str, str], regions: tuple[str, ...], read_only: bool
) -> dict[str, list[dict[str, Any]]]:
    """Statements per managed policy: one scoped statement per grant, one region-pinned `*`
    statement per policy for the actions AWS does not scope to resources."""
    in_regions = {"StringEquals": {"aws:RequestedRegion": sorted(regions)}}
    by_policy: dict[str, list[dict[str, Any]]] = {}
    unscoped: dict[str, set[str]] = {}
    for grant in grants:
        actions = grant.read if read_only else (*grant.manage, *grant.read)
        if actions and grant.arns:
            arns = sorted(
                {
                    _fill(arn, region=region, **names)
                    for arn in grant.arns
                    for region in (regions if "{region}" in arn else regions[:1])
                }
            )
            by_policy.setdefault(grant.policy, []).append(
                statement(grant.sid, actions, arns, _fill(grant.condition, **names) or None)
            )
        extra = grant.unscoped_read if read_only else (*grant.unscoped, *grant.unscoped_read)
        if extra:
            unscoped.setdefault(grant.policy, set()).update(extra)
            by_policy.setdefault(grant.policy, [])
    for policy, actions in unscoped.items():
        sid = "".join(part.title() for part in re.split(r"[^a-z0-9]+", policy)) + "WithoutResourceArns"
        by_policy[policy].append(statement(sid, sorted(actions), "*", in_regions))
    return by_policy


def deploy_policies(
    stack: str,
    target: StackTarget,
    *,
    account_id: str,
    partition: str,
    state_region: str,
    bucket_arn: str,
    state_key_arn: str,
    secrets_key_arns: dict[str, str],
    provider_arn: str,
    eks_cluster_arn: str | None = None,
    types: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The deploy role's managed policies, by name suffix: `state` plus one per service group.

    `types` limits the grants to those types (all rows of the table when None)."""
    names = {"partition": partition, "account": account_id, "stack": stack}
    grants = [*_grants(types), *OPS_TOOLS.values()]
    policies = {
        name: document(*statements)
        for name, statements in _service_statements(grants, names, target.regions, read_only=False).items()
    }
    roles = f"arn:{partition}:iam::{account_id}:role/*"
    policies.setdefault("iam", document())["Statement"] += [
        statement(
            "PassRolesToTheServicesThatRunThem",
            ["iam:PassRole"],
            roles,
            {"StringEquals": {"iam:PassedToService": passed_to_services(grants)}},
        ),
        statement(
            "ServiceLinkedRoles",
            ["iam:CreateServiceLinkedRole"],
            f"arn:{partition}:iam::{account_id}:role/aws-service-role/*",
            {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        ),
    ]
    others = sorted(arn for name, arn in secrets_key_arns.items() if name != stack)
    state = _own_state_and_cluster(
        stack, bucket_arn, state_key_arn, secrets_key_arns[stack], state_region, eks_cluster_arn, write=True
    )
    denies = [
        # The deploy role must not widen its own access or the CI's trust.
        statement(
            "KeepCiAccessAsBootstrapped",
            ["iam:*"],
            [
                f"arn:{partition}:iam::{account_id}:role/{CI_ROLE_PREFIX}*",
                f"arn:{partition}:iam::{account_id}:policy/{CI_ROLE_PREFIX}*",
                provider_arn,
            ],
            effect="Deny",
        ),
        statement(
            "KeepStateBucketAsBootstrapped",
            [
                "s3:DeleteBucket",
                "s3:PutBucketPolicy",
                "s3:DeleteBucketPolicy",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketOwnershipControls",
            ],
            bucket_arn,
            effect="Deny",
        ),
        statement(
            "KeepKeysAsBootstrapped",
            ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:CreateGrant"],
            sorted([state_key_arn, *secrets_key_arns.values()]),
            effect="Deny",
        ),
    ]
    if others:
        denies.append(statement("NoOtherStacksSecrets", ["kms:*"], others, effect="Deny"))
    policies["state"] = document(*state, *denies)
    return dict(sorted(policies.items()))


def _own_state_and_cluster(
    stack: str,
    bucket_arn: str,
    state_key_arn: str,
    secrets_key_arn: str,
    region: str,
    eks_cluster_arn: str | None,
    *,
    write: bool,
) -> list[dict[str, Any]]:
    """What a CI role of `stack` may do to its own state (state_access) and, on a Kubernetes
    stack, the DescribeCluster `aws eks update-kubeconfig` calls."""
    state = state_access(
        stack,
        bucket_arn=bucket_arn,
        state_key_arn=state_key_arn,
        secrets_key_arn=secrets_key_arn,
        region=region,
        write=write,
    )
    if eks_cluster_arn:
        state.append(statement("DescribeOwnCluster", ["eks:DescribeCluster"], eks_cluster_arn))
    return state


def preview_policies(
    stack: str,
    target: StackTarget,
    *,
    account_id: str,
    partition: str,
    state_region: str,
    bucket_arn: str,
    state_key_arn: str,
    secrets_key_arns: dict[str, str],
    eks_cluster_arn: str | None = None,
    types: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The preview role's managed policies: reads of the same table, the state, the lock."""
    names = {"partition": partition, "account": account_id, "stack": stack}
    grants = [*_grants(types), *(OPS_TOOLS[t] for t in PREVIEW_TOOLS)]
    policies = {
        name: document(*statements)
        for name, statements in _service_statements(grants, names, target.regions, read_only=True).items()
    }
    state = _own_state_and_cluster(
        stack, bucket_arn, state_key_arn, secrets_key_arns[stack], state_region, eks_cluster_arn, write=False
    )
    policies["state"] = document(*state)
    return dict(sorted(policies.items()))


def uncovered_types(types: list[str]) -> list[str]:
    """Declared types the table does not cover (sorted, unique)."""
    return sorted({t for t in types if t not in TYPE_GRANTS and not t.startswith(NO_IAM_PREFIXES)})


# ---------------------------------------------------------------------------------------------
# The model image's repository


def ecr_lifecycle_policy(builds_kept: int) -> dict[str, Any]:
    """Never expire a `release-` image (what the stacks serve, and roll back to); keep the newest
    `builds_kept` `ctx-` builds; expire untagged images after 7 days.

    An image no rule selects is never expired, and a `tagStatus: any` rule would select every
    image: https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html
    ("lifecycle policy evaluation rules")."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged images after 7 days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": 7,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {builds_kept} images built by pulumi up ({BUILD_TAG_PREFIX}*)",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [BUILD_TAG_PREFIX],
                    "countType": "imageCountMoreThan",
                    "countNumber": builds_kept,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def replication_rules(stacks: dict[str, StackTarget], source_region: str, account_id: str) -> list[dict[str, Any]]:
    """The registry replication rules of one source region: each stack whose primary region it
    is replicates its repository prefix to its other regions."""
    return [
        {
            "destinations": [{"region": region, "registry_id": account_id} for region in target.regions[1:]],
            "repository_filters": [{"filter": f"{PROJECT}/{name}/", "filter_type": "PREFIX_MATCH"}],
        }
        for name, target in sorted(stacks.items())
        if target.regions[0] == source_region and len(target.regions) > 1
    ]


def documents(config: BootstrapConfig, *, account_id: str, partition: str = "aws") -> dict[str, dict[str, Any]]:
    """Every IAM document the bootstrap declares, by name, with stand-in ARNs of this account
    (for the IAM lint test)."""
    bucket = f"arn:{partition}:s3:::{PROJECT}-state-{account_id}"
    key = f"arn:{partition}:kms:{config.region}:{account_id}:key/00000000-0000-0000-0000-000000000000"
    secrets = {
        name: f"arn:{partition}:kms:{config.region}:{account_id}:key/{index:08d}-0000-0000-0000-000000000001"
        for index, name in enumerate(sorted(config.stacks))
    }
    provider = oidc_provider_arn(partition, account_id)
    common = {
        "account_id": account_id,
        "partition": partition,
        "state_region": config.region,
        "bucket_arn": bucket,
        "state_key_arn": key,
        "secrets_key_arns": secrets,
    }
    found: dict[str, dict[str, Any]] = {}
    roles = {}
    for name, target in sorted(config.stacks.items()):
        cluster = (
            f"arn:{partition}:eks:{target.regions[0]}:{account_id}:cluster/{target.eks_cluster}"
            if target.eks_cluster
            else None
        )
        for suffix, policy in deploy_policies(
            name, target, provider_arn=provider, eks_cluster_arn=cluster, **common
        ).items():
            found[f"deploy-{name}-{suffix}"] = policy
        for suffix, policy in preview_policies(name, target, eks_cluster_arn=cluster, **common).items():
            found[f"preview-{name}-{suffix}"] = policy
        found[f"deploy-{name}-trust"] = github_trust_policy(provider, deploy_subjects(config.repository, name))
        found[f"preview-{name}-trust"] = github_trust_policy(provider, preview_subjects(config.repository, name))
        for kind in ("deploy", "preview"):
            roles[f"arn:{partition}:iam::{account_id}:role/{CI_ROLE_PREFIX}{kind}-{name}"] = name
    found["state-bucket"] = state_bucket_policy(bucket, roles)
    return found
