"""The one container image (train, serve, drift, evaluate) and its ECR repository.

The repository: immutable tags, scan on push, KMS with the region key, a lifecycle policy,
and registry replication to the secondary region, where a creation template makes the
replica repository with the same guarantees and the secondary key. The image is either
built from `model_code/` and pushed during `pulumi up`, or given as a digest-pinned URI.
Either way the component's `image_uri` is `<repository>@sha256:<digest>`: nothing downstream
ever refers to a mutable tag.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import allow, document, trust_json

# ---------------------------------------------------------------------------------------------
# Pure builders


def ecr_lifecycle_policy(keep_releases: int) -> dict[str, Any]:
    """Expire untagged images after 7 days; keep the newest `keep_releases` images.

    ECR evaluates rules by priority and requires a `tagStatus: any` rule to come last."""
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
                "description": f"keep the last {keep_releases} releases",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_releases},
                "action": {"type": "expire"},
            },
        ]
    }


def replica_template_role_policy(account_id: str, region: str, prefix: str, key_arn: str) -> dict[str, Any]:
    """What ECR needs to create KMS-encrypted replica repositories under `prefix`."""
    return document(
        allow(
            "CreateReplicaRepositories",
            ["ecr:CreateRepository", "ecr:ReplicateImage", "ecr:TagResource", "ecr:PutLifecyclePolicy"],
            f"arn:aws:ecr:{region}:{account_id}:repository/{prefix}/*",
        ),
        allow("EncryptReplicas", ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"], key_arn),
    )


def context_tag(context: Path) -> str:
    """A tag derived from the build context's content: the same code gives the same tag, so
    immutable tags never collide and an unchanged context is not pushed again."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(context)).encode())
        digest.update(path.read_bytes())
    return f"ctx-{digest.hexdigest()[:16]}"


def image_in_region(uri: str, region: str) -> str:
    """The same digest in `region`'s registry (where ECR replication puts it)."""
    host, _, rest = uri.partition("/")
    parts = host.split(".")
    if len(parts) >= 6 and parts[1:3] == ["dkr", "ecr"]:
        parts[3] = region
    return f"{'.'.join(parts)}/{rest}"


# ---------------------------------------------------------------------------------------------
# Components


@dataclass(frozen=True)
class ModelImageArgs:
    """Inputs of `ModelImage` (declared in the primary region).

    repository_name: stable ECR name, e.g. `ml-platform/prod/model`; replication filters
        and the replica repository are matched by it, so it cannot be auto-named.
    key_arn: the region key for the repository.
    account_id: the registry's account.
    keep_releases: images the lifecycle policy keeps.
    replica_regions: regions the registry replicates the repository to; none by default.
    build_context: build `model_code/` from this directory and push it; None to use `uri`.
    uri: a digest-pinned image (used when `build_context` is None).
    protect: `protect` and `retain_on_delete` on the repository.
    """

    repository_name: str
    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    keep_releases: int = 20
    replica_regions: tuple[str, ...] = ()
    build_context: Path | None = None
    uri: str | None = None
    protect: bool = False

    def __post_init__(self) -> None:
        if (self.build_context is None) == (self.uri is None):
            raise ValueError(
                f"ModelImageArgs: set exactly one of build_context and uri "
                f"(got build_context={self.build_context!r}, uri={self.uri!r})"
            )


class ModelImage(pulumi.ComponentResource):
    """The model's ECR repository and the digest-pinned image in it."""

    image_uri: pulumi.Output[str]

    def __init__(self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:image:ModelImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            name,
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.key_arn}],
            force_delete=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        aws.ecr.LifecyclePolicy(
            name,
            repository=self.repository.name,
            policy=json.dumps(ecr_lifecycle_policy(args.keep_releases)),
            opts=child,
        )
        if args.replica_regions:
            # Registry-wide: one replication configuration per account and region.
            aws.ecr.ReplicationConfiguration(
                name,
                replication_configuration={
                    "rules": [
                        {
                            "destinations": [
                                {"region": region, "registry_id": args.account_id} for region in args.replica_regions
                            ],
                            "repository_filters": [{"filter": args.repository_name, "filter_type": "PREFIX_MATCH"}],
                        }
                    ]
                },
                opts=child,
            )
        if args.build_context is not None:
            self.image_uri = self._build(name, args.build_context)
        else:
            self.image_uri = pulumi.Output.from_input(args.uri)
        self.register_outputs({"repository_url": self.repository.repository_url, "image_uri": self.image_uri})

    def _build(self, name: str, context: Path) -> pulumi.Output[str]:
        import pulumi_docker_build as docker_build

        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        image = docker_build.Image(
            name,
            context={"location": str(context)},
            dockerfile={"location": str(context / "Dockerfile")},
            platforms=["linux/amd64"],
            push=True,
            tags=[self.repository.repository_url.apply(lambda url: f"{url}:{context_tag(context)}")],
            registries=[
                {
                    "address": self.repository.repository_url,
                    "username": token.user_name,
                    "password": token.password,
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.concat(self.repository.repository_url, "@", image.digest)


@dataclass(frozen=True)
class ReplicaRepositoryTemplateArgs:
    """Inputs of `ReplicaRepositoryTemplate` (declared in the replica region)."""

    prefix: str
    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: str
    keep_releases: int = 20


class ReplicaRepositoryTemplate(pulumi.ComponentResource):
    """Makes repositories that ECR replication creates here immutable, KMS-encrypted with this
    region's key, and under the same lifecycle policy as the source."""

    def __init__(self, name: str, args: ReplicaRepositoryTemplateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:image:ReplicaRepositoryTemplate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            name,
            description="ECR creates replica repositories",
            assume_role_policy=trust_json("ecr.amazonaws.com", args.account_id),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            name,
            role=role.id,
            policy=pulumi.Output.all(args.account_id, args.key_arn).apply(
                lambda a: json.dumps(replica_template_role_policy(a[0], args.region, args.prefix, a[1]))
            ),
            opts=child,
        )
        aws.ecr.RepositoryCreationTemplate(
            name,
            prefix=args.prefix,
            description="replicas of the model image",
            applied_fors=["REPLICATION"],
            custom_role_arn=role.arn,
            image_tag_mutability="IMMUTABLE",
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.key_arn}],
            lifecycle_policy=json.dumps(ecr_lifecycle_policy(args.keep_releases)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.register_outputs({})
