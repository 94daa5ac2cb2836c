"""The one container image (train, serve, drift, evaluate), by digest, from the stack's ECR
repository.

The repository is not declared here. It must exist before the first image is pushed, and ECR
replication copies only images pushed after it is configured ("Only repository content pushed
to a repository after private image replication is configured is replicated",
https://docs.aws.amazon.com/AmazonECR/latest/userguide/replication.html). So the bootstrap
program (bootstrap/) owns `ml-platform/<stack>/model`, its lifecycle policy, the registry's
replication configuration and the replica creation template; the stack only refers to it.

The image is either built from `model_code/` and pushed during `pulumi up` (dev, by hand), or
given as a digest-pinned URI (what CI pushed with a `release-` tag). Either way the component's
`image_uri` is `<repository>@sha256:<digest>`: nothing downstream refers to a mutable tag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

# Tags the CI pushes: the ECR lifecycle policy (bootstrap/images.py) never expires them, so a
# digest a stack serves stays pullable for scale-out, instance replacement and rollback.
RELEASE_TAG_PREFIX = "release-"
# Tags of images `pulumi up` builds (image.build: true): only the newest ones are kept.
BUILD_TAG_PREFIX = "ctx-"

# ---------------------------------------------------------------------------------------------
# Pure builders


def repository_name(project: str, stack: str) -> str:
    """The stack's model repository, as the bootstrap creates it."""
    return f"{project}/{stack}/model"


def context_tag(context: Path) -> str:
    """A tag derived from the build context's content: the same code gives the same tag, so
    immutable tags never collide and an unchanged context is not pushed again."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(context)).encode())
        digest.update(path.read_bytes())
    return f"{BUILD_TAG_PREFIX}{digest.hexdigest()[:16]}"


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
class RepositoryRef:
    """The bootstrap-created repository, as the stack refers to it (no lookup: the ARN and URL
    follow from account, region and name, so a preview makes no ECR call)."""

    name: str
    arn: pulumi.Output[str]
    repository_url: pulumi.Output[str]
    registry_id: pulumi.Output[str]


@dataclass(frozen=True)
class ModelImageArgs:
    """Inputs of `ModelImage` (declared in the primary region).

    repository_name: the bootstrap's repository, `ml-platform/<stack>/model`.
    account_id: the registry's account.
    region: the repository's region (the stack's primary region).
    partition / dns_suffix: the account's partition and its DNS suffix (`aws` and `amazonaws.com`;
        the program reads both with `aws.get_partition`), for the repository's ARN and URL.
    build_context: build `model_code/` from this directory and push it; None to use `uri`.
    uri: a digest-pinned image (used when `build_context` is None).
    """

    repository_name: str
    account_id: pulumi.Input[str]
    region: str
    partition: pulumi.Input[str]
    dns_suffix: pulumi.Input[str]
    build_context: Path | None = None
    uri: str | None = None

    def __post_init__(self) -> None:
        if (self.build_context is None) == (self.uri is None):
            raise ValueError(
                f"ModelImageArgs: set exactly one of build_context and uri "
                f"(got build_context={self.build_context!r}, uri={self.uri!r})"
            )


class ModelImage(pulumi.ComponentResource):
    """The digest-pinned image in the stack's (bootstrap-created) ECR repository."""

    image_uri: pulumi.Output[str]
    repository: RepositoryRef

    def __init__(self, name: str, args: ModelImageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:image:ModelImage", name, None, opts)
        account = pulumi.Output.from_input(args.account_id)
        self.repository = RepositoryRef(
            name=args.repository_name,
            arn=pulumi.Output.concat(
                "arn:", args.partition, ":ecr:", args.region, ":", account, ":repository/", args.repository_name
            ),
            repository_url=pulumi.Output.concat(
                account, ".dkr.ecr.", args.region, ".", args.dns_suffix, "/", args.repository_name
            ),
            registry_id=account,
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
