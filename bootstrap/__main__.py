"""ml-platform CI bootstrap: the one-time prerequisites of the GitHub Actions workflows.

GitHub's OIDC provider, a deploy role and a preview role per environment, the state bucket
of the S3 backend, and the KMS key that encrypts it and the stacks' secrets. Run it once per
AWS account with an administrator's credentials (README, "Bootstrap"); its outputs are the
repository variables the workflows read. Policies and trust live in `access.py`.
"""

import json

import pulumi
import pulumi_aws as aws
from access import (
    CI_ROLE_PREFIX,
    GITHUB_AUDIENCE,
    GITHUB_ISSUER_HOST,
    PROJECT,
    BootstrapConfig,
    deploy_role_policy,
    environment_subject,
    github_trust_policy,
    preview_role_policy,
    pull_request_subject,
    state_bucket_policy,
)
from pydantic import ValidationError

raw = pulumi.Config("ml-platform-bootstrap")
try:
    config = BootstrapConfig(
        github_owner=raw.require("github_owner"),
        github_repo=raw.require("github_repo"),
        environments=tuple(raw.get_object("environments") or ("dev", "prod")),
        region=raw.require("region"),
        stack_regions=tuple(raw.require_object("stack_regions")),
        owner=raw.require("owner"),
        cost_center=raw.require("cost_center"),
    )
except ValidationError as exc:
    problems = "\n".join(f"  - {'.'.join(map(str, e['loc']))}: {e['msg']} (got {e['input']!r})" for e in exc.errors())
    raise pulumi.RunError(f"bootstrap config has {exc.error_count()} problem(s):\n{problems}") from None

provider = aws.Provider(
    "aws", region=config.region, default_tags=aws.ProviderDefaultTagsArgs(tags=config.default_tags())
)
opts = pulumi.ResourceOptions(provider=provider)
# The state and the key that decrypts it outlive any mistake in this program.
kept = pulumi.ResourceOptions(provider=provider, protect=True, retain_on_delete=True)
identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))
partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(provider=provider))

github = aws.iam.OpenIdConnectProvider(
    "github",
    url=f"https://{GITHUB_ISSUER_HOST}",
    client_id_lists=[GITHUB_AUDIENCE],
    opts=opts,
)

key = aws.kms.Key(
    "state",
    description=f"{PROJECT} Pulumi state bucket and stack secrets",
    enable_key_rotation=True,
    rotation_period_in_days=365,
    deletion_window_in_days=30,
    opts=kept,
)
alias = aws.kms.Alias("state", name=f"alias/{PROJECT}-pulumi-state", target_key_id=key.key_id, opts=opts)

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
aws.s3.BucketServerSideEncryptionConfiguration(
    "state",
    bucket=bucket.id,
    rules=[
        {
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
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
aws.s3.BucketPolicy(
    "state",
    bucket=bucket.id,
    policy=bucket.arn.apply(lambda arn: json.dumps(state_bucket_policy(arn))),
    opts=pulumi.ResourceOptions(provider=provider, depends_on=[access_block]),
)


def role(name: str, description: str, subject: str, policy: pulumi.Output[str]) -> aws.iam.Role:
    created = aws.iam.Role(
        name,
        name=f"{CI_ROLE_PREFIX}{name}",
        description=description,
        max_session_duration=2 * 3600,
        assume_role_policy=github.arn.apply(lambda arn: json.dumps(github_trust_policy(arn, subject))),
        opts=opts,
    )
    aws.iam.RolePolicy(name, role=created.id, policy=policy, opts=opts)
    return created


deploy_roles, preview_roles = {}, {}
for environment in config.environments:
    deploy_roles[environment] = role(
        f"deploy-{environment}",
        f"GitHub Actions: pulumi up of the {environment} stack",
        environment_subject(config.repository, environment),
        pulumi.Output.all(identity.account_id, partition.partition, bucket.arn, key.arn, github.arn).apply(
            lambda a: json.dumps(
                deploy_role_policy(
                    account_id=a[0],
                    partition=a[1],
                    regions=config.stack_regions,
                    bucket_arn=a[2],
                    key_arn=a[3],
                    oidc_provider_arn=a[4],
                )
            )
        ),
    )
    preview_roles[environment] = role(
        f"preview-{environment}",
        f"GitHub Actions: pulumi preview of the {environment} stack on pull requests",
        pull_request_subject(config.repository),
        pulumi.Output.all(bucket.arn, key.arn).apply(lambda a: json.dumps(preview_role_policy(a[0], a[1]))),
    )

pulumi.export("oidc_provider_arn", github.arn)
pulumi.export("deploy_role_arns", {env: r.arn for env, r in deploy_roles.items()})
pulumi.export("preview_role_arns", {env: r.arn for env, r in preview_roles.items()})
pulumi.export("state_bucket", bucket.bucket)
pulumi.export("backend_url", pulumi.Output.concat("s3://", bucket.bucket))
pulumi.export("secrets_provider", pulumi.Output.concat("awskms://", alias.name, f"?region={config.region}"))
