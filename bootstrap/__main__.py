"""ml-platform CI bootstrap: what must exist before the first workflow run or image push.

Per stack: a deploy and a preview role (managed policies by service), a secrets key, the model
image's ECR repository (with its lifecycle policy, replication and the replica creation
template), and EKS access entries when the stack serves on EKS. Shared: GitHub's OIDC provider
(created, or the account's existing one), the state bucket of the S3 backend and the key that
encrypts it. Run it with an administrator's credentials (README, "Bootstrap"); its outputs are
the repository and environment variables the workflows read. Policies and trust: `access.py`;
the type -> actions table: `grants.py`.
"""

import json

import pulumi
import pulumi_aws as aws
from access import (
    BOOTSTRAP_STATE_PREFIX,
    CI_ROLE_PREFIX,
    EKS_DEPLOY_POLICY,
    EKS_PREVIEW_POLICY,
    GITHUB_AUDIENCE,
    GITHUB_ISSUER_HOST,
    META_KEY,
    PROJECT,
    BootstrapConfig,
    deploy_policies,
    deploy_subjects,
    ecr_lifecycle_policy,
    github_trust_policy,
    oidc_provider_arn,
    preview_policies,
    preview_subjects,
    replication_rules,
    state_bucket_policy,
)
from pydantic import ValidationError

raw = pulumi.Config("ml-platform-bootstrap")
try:
    config = BootstrapConfig(
        github_owner=raw.require("github_owner"),
        github_repo=raw.require("github_repo"),
        stacks=raw.require_object("stacks"),
        region=raw.require("region"),
        github_oidc_provider=raw.get("github_oidc_provider") or "create",
        image_builds_kept=raw.get_int("image_builds_kept") or 10,
        owner=raw.require("owner"),
        cost_center=raw.require("cost_center"),
    )
except ValidationError as exc:
    problems = "\n".join(f"  - {'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})" for e in exc.errors())
    raise pulumi.RunError(f"bootstrap config has {exc.error_count()} problem(s):\n{problems}") from None

tags = aws.ProviderDefaultTagsArgs(tags=config.default_tags())
provider = aws.Provider("aws", region=config.region, default_tags=tags)
regions = sorted({config.region, *(r for target in config.stacks.values() for r in target.regions)})
regional = {
    r: provider if r == config.region else aws.Provider(f"aws-{r}", region=r, default_tags=tags) for r in regions
}
opts = pulumi.ResourceOptions(provider=provider)
# The state, the keys that decrypt it and the image repositories outlive any mistake here.
kept = pulumi.ResourceOptions(provider=provider, protect=True, retain_on_delete=True)
identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=provider))

# IAM allows one OIDC provider per URL in an account: refer to an existing one instead of failing
# on a second create (or adopt it: `pulumi import aws:iam/openIdConnectProvider:OpenIdConnectProvider github <arn>`).
if config.github_oidc_provider == "create":
    github_arn = aws.iam.OpenIdConnectProvider(
        "github", url=f"https://{GITHUB_ISSUER_HOST}", client_id_lists=[GITHUB_AUDIENCE], opts=opts
    ).arn
else:
    github_arn = pulumi.Output.all(partition.partition, identity.account_id).apply(
        lambda a: oidc_provider_arn(a[0], a[1])
    )

state_key = aws.kms.Key(
    "state",
    description=f"{PROJECT} Pulumi state bucket",
    enable_key_rotation=True,
    rotation_period_in_days=365,
    deletion_window_in_days=30,
    opts=kept,
)
aws.kms.Alias("state", name=f"alias/{PROJECT}-pulumi-state", target_key_id=state_key.key_id, opts=opts)
# One secrets key per stack: a stack's roles can decrypt only their own stack's secrets.
secrets_keys, secrets_aliases = {}, {}
for name in sorted(config.stacks):
    secrets_keys[name] = aws.kms.Key(
        f"secrets-{name}",
        description=f"{PROJECT} {name} stack secrets (Pulumi awskms secrets provider)",
        enable_key_rotation=True,
        rotation_period_in_days=365,
        deletion_window_in_days=30,
        opts=kept,
    )
    secrets_aliases[name] = aws.kms.Alias(
        f"secrets-{name}", name=f"alias/{PROJECT}-{name}-secrets", target_key_id=secrets_keys[name].key_id, opts=opts
    )

bucket = aws.s3.Bucket("state", force_destroy=False, opts=kept)
aws.s3.BucketOwnershipControls("state", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts)
access_block = aws.s3.BucketPublicAccessBlock(
    "state",
    bucket=bucket.id,
    block_public_acls=True,
    block_public_policy=True,
    ignore_public_acls=True,
    restrict_public_buckets=True,
    opts=opts,
)
versioning = aws.s3.BucketVersioning(
    "state", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=opts
)
encryption = aws.s3.BucketServerSideEncryptionConfiguration(
    "state",
    bucket=bucket.id,
    rules=[
        {
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": state_key.arn},
            "bucket_key_enabled": True,
        }
    ],
    opts=opts,
)
aws.s3.BucketLifecycleConfiguration(
    "state",
    bucket=bucket.id,
    rules=[
        {
            "id": "old-state-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {"noncurrent_days": 90, "newer_noncurrent_versions": 20},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
    ],
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[versioning]),
)
# The DIY backend writes `.pulumi/meta.yaml` on first use of an empty bucket
# (pkg/backend/diy/meta.go, ensurePulumiMeta); writing it here means no CI role needs to.
aws.s3.BucketObjectv2(
    "state-meta",
    bucket=bucket.id,
    key=META_KEY,
    content="version: 1\n",
    content_type="application/yaml",
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[encryption]),
)

# The model image's repositories: before any push, so replication copies every release.
repositories = {}
lifecycle = json.dumps(ecr_lifecycle_policy(config.image_builds_kept))
templates = []
for name, target in sorted(config.stacks.items()):
    where = pulumi.ResourceOptions(provider=regional[target.regions[0]], protect=True, retain_on_delete=True)
    repositories[name] = aws.ecr.Repository(
        f"model-{name}",
        name=f"{PROJECT}/{name}/model",
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
        # KMS with the AWS managed key: nothing to grant to SageMaker, EKS nodes or replication.
        encryption_configurations=[{"encryption_type": "KMS"}],
        force_delete=False,
        opts=where,
    )
    aws.ecr.LifecyclePolicy(
        f"model-{name}",
        repository=repositories[name].name,
        policy=lifecycle,
        opts=pulumi.ResourceOptions(provider=regional[target.regions[0]]),
    )
    for replica in target.regions[1:]:
        # ECR creates the replica repository on first replication; the template gives it the
        # same immutability, encryption and lifecycle. Without a customer managed key or tags it
        # needs no custom role: https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-creation-templates.html
        templates.append(
            aws.ecr.RepositoryCreationTemplate(
                f"model-{name}-{replica}",
                prefix=f"{PROJECT}/{name}",
                description=f"replicas of the {name} model image",
                applied_fors=["REPLICATION"],
                image_tag_mutability="IMMUTABLE",
                encryption_configurations=[{"encryption_type": "KMS"}],
                lifecycle_policy=lifecycle,
                opts=pulumi.ResourceOptions(provider=regional[replica]),
            )
        )
for source in regions:
    # One replication configuration per registry (account and region): every stack's rules.
    rules = identity.account_id.apply(lambda account, s=source: replication_rules(config.stacks, s, account))
    if any(t.regions[0] == source and len(t.regions) > 1 for t in config.stacks.values()):
        aws.ecr.ReplicationConfiguration(
            f"registry-{source}",
            replication_configuration={"rules": rules},
            opts=pulumi.ResourceOptions(provider=regional[source], depends_on=templates),
        )


def role(kind: str, name: str, subjects: list[str], max_hours: int) -> aws.iam.Role:
    return aws.iam.Role(
        f"{kind}-{name}",
        name=f"{CI_ROLE_PREFIX}{kind}-{name}",
        description=f"GitHub Actions: pulumi {'up' if kind == 'deploy' else 'preview'} of the {name} stack",
        max_session_duration=max_hours * 3600,
        assume_role_policy=github_arn.apply(lambda arn: json.dumps(github_trust_policy(arn, subjects))),
        opts=opts,
    )


def attach(created: aws.iam.Role, kind: str, name: str, policies: pulumi.Output) -> None:
    """One customer managed policy per service group, attached to the role."""
    for suffix in policies_of[kind][name]:
        policy = aws.iam.Policy(
            f"{kind}-{name}-{suffix}",
            name=f"{CI_ROLE_PREFIX}{kind}-{name}-{suffix}",
            description=f"GitHub Actions {kind} of {name}: {suffix}",
            policy=policies.apply(lambda found, s=suffix: json.dumps(found[s])),
            opts=opts,
        )
        aws.iam.RolePolicyAttachment(f"{kind}-{name}-{suffix}", role=created.name, policy_arn=policy.arn, opts=opts)


# The policy names are known before any ARN is: compute them once with stand-ins.
policies_of = {
    kind: {
        name: list(
            builder(
                name,
                target,
                account_id="0",
                partition="aws",
                state_region=config.region,
                bucket_arn="b",
                state_key_arn="k",
                secrets_key_arns=dict.fromkeys(config.stacks, "k"),
                eks_cluster_arn="c" if target.eks_cluster else None,
                **({"provider_arn": "p"} if kind == "deploy" else {}),
            )
        )
        for name, target in config.stacks.items()
    }
    for kind, builder in (("deploy", deploy_policies), ("preview", preview_policies))
}

secrets_arns = pulumi.Output.all(**{name: key.arn for name, key in secrets_keys.items()})
deploy_roles, preview_roles = {}, {}
for name, target in sorted(config.stacks.items()):
    cluster_arn = (
        pulumi.Output.all(partition.partition, identity.account_id).apply(
            lambda a, t=target: f"arn:{a[0]}:eks:{t.regions[0]}:{a[1]}:cluster/{t.eks_cluster}"
        )
        if target.eks_cluster
        else pulumi.Output.from_input(None)
    )
    common = pulumi.Output.all(
        account=identity.account_id,
        partition=partition.partition,
        bucket=bucket.arn,
        key=state_key.arn,
        secrets=secrets_arns,
        provider=github_arn,
        cluster=cluster_arn,
    )

    def build(a, builder, name=name, target=target, deploy=True):
        return builder(
            name,
            target,
            account_id=a["account"],
            partition=a["partition"],
            state_region=config.region,
            bucket_arn=a["bucket"],
            state_key_arn=a["key"],
            secrets_key_arns=a["secrets"],
            eks_cluster_arn=a["cluster"],
            **({"provider_arn": a["provider"]} if deploy else {}),
        )

    # A prod rollout (provisioning, canary bake, termination wait) can take hours: the deploy
    # session may last up to 4 hours (the deploy jobs ask for what their timeout needs).
    deploy_roles[name] = role("deploy", name, deploy_subjects(config.repository, name), max_hours=4)
    attach(deploy_roles[name], "deploy", name, common.apply(lambda a, b=build: b(a, deploy_policies)))
    preview_roles[name] = role("preview", name, preview_subjects(config.repository, name), max_hours=1)
    attach(preview_roles[name], "preview", name, common.apply(lambda a, b=build: b(a, preview_policies, deploy=False)))
    if target.eks_cluster:
        # The runner reaches the cluster through EKS access entries (no aws-auth ConfigMap):
        # https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html
        cluster_opts = pulumi.ResourceOptions(provider=regional[target.regions[0]])
        for kind, created, policy in (
            ("deploy", deploy_roles[name], EKS_DEPLOY_POLICY),
            ("preview", preview_roles[name], EKS_PREVIEW_POLICY),
        ):
            entry = aws.eks.AccessEntry(
                f"{kind}-{name}",
                cluster_name=target.eks_cluster,
                principal_arn=created.arn,
                type="STANDARD",
                opts=cluster_opts,
            )
            aws.eks.AccessPolicyAssociation(
                f"{kind}-{name}",
                cluster_name=target.eks_cluster,
                principal_arn=created.arn,
                policy_arn=partition.partition.apply(lambda p, x=policy: f"arn:{p}:eks::aws:cluster-access-policy/{x}"),
                access_scope={"type": "cluster"},
                opts=pulumi.ResourceOptions(provider=regional[target.regions[0]], depends_on=[entry]),
            )

role_stacks = pulumi.Output.all(
    **{
        f"{kind}/{name}": r.arn
        for kind, roles in (("d", deploy_roles), ("p", preview_roles))
        for name, r in roles.items()
    }
)
aws.s3.BucketPolicy(
    "state",
    bucket=bucket.id,
    policy=pulumi.Output.all(bucket.arn, role_stacks).apply(
        lambda a: json.dumps(state_bucket_policy(a[0], {arn: key.split("/", 1)[1] for key, arn in a[1].items()}))
    ),
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[access_block]),
)

backend = pulumi.Output.concat("s3://", bucket.bucket)
pulumi.export("oidc_provider_arn", github_arn)
pulumi.export("deploy_role_arns", {name: r.arn for name, r in deploy_roles.items()})
pulumi.export("preview_role_arns", {name: r.arn for name, r in preview_roles.items()})
pulumi.export("state_bucket", bucket.bucket)
pulumi.export("region", config.region)
pulumi.export("backend_url", pulumi.Output.concat(backend, f"?region={config.region}"))
pulumi.export(
    "bootstrap_backend_url", pulumi.Output.concat(backend, f"/{BOOTSTRAP_STATE_PREFIX}?region={config.region}")
)
pulumi.export(
    "secrets_providers",
    {
        name: pulumi.Output.concat("awskms://", a.name, f"?region={config.region}")
        for name, a in secrets_aliases.items()
    },
)
pulumi.export("repository_urls", {name: r.repository_url for name, r in repositories.items()})
