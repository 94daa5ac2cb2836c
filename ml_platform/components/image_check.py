"""A readiness check: the served image digest is present in a replica ECR repository.

ECR replication is asynchronous and copies only images pushed after the replication rule
exists ("Private image replication": "Only repository content pushed to a repository after
replication is configured is replicated",
https://docs.aws.amazon.com/AmazonECR/latest/userguide/replication.html). A Model in the
standby region that names a digest its regional repository does not hold fails CreateModel
with a validation error, or worse, the endpoint fails to start. So before the secondary Model
is created, `ImageReplicaCheck` waits (polling DescribeImages) until the digest is there, and
fails `pulumi up` with a clear message when it does not arrive in time.

It is a Pulumi dynamic resource: its create runs with the deploying credentials (needs
`ecr:DescribeImages` on the replica repository) and records the digest and when it was seen;
a new digest replaces it (checks again); delete does nothing. Under the mock engine nothing
runs: the mocks record the inputs only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

POLL_SECONDS = 15


def missing_image_message(repository: str, digest: str, region: str, waited: int) -> str:
    return (
        f"image {digest} is not in ECR repository {repository} in {region} after {waited} s. ECR replication copies "
        "only images pushed after the replication rule existed: push the image again (or copy it with "
        f"`crane copy`/`docker push`) to the primary repository, wait for it to appear in {region}, then run "
        "`pulumi up` again"
    )


def image_present(client: Any, repository: str, digest: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        found = client.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return False
        raise
    return bool(found.get("imageDetails"))


def wait_for_image(client: Any, repository: str, digest: str, region: str, timeout_seconds: int, sleep=time.sleep):
    """Poll until the digest is present; raise RuntimeError with the reason after the timeout."""
    waited = 0
    while True:
        if image_present(client, repository, digest):
            return waited
        if waited >= timeout_seconds:
            raise RuntimeError(missing_image_message(repository, digest, region, waited))
        step = min(POLL_SECONDS, timeout_seconds - waited)
        sleep(step)
        waited += step


class _ImageReplicaProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        import boto3

        client = boto3.client("ecr", region_name=props["region"])
        waited = wait_for_image(
            client, props["repository"], props["digest"], props["region"], int(props["timeout_seconds"])
        )
        return CreateResult(
            id_=f"{props['region']}/{props['repository']}@{props['digest']}", outs={**props, "waited_seconds": waited}
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("region", "repository", "digest")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=False)


@dataclass(frozen=True)
class ImageReplicaCheckArgs:
    """region / repository: the replica repository (its name, no registry host).
    digest: `sha256:...` the Model will pull. timeout_seconds: how long to wait for replication."""

    region: str
    repository: pulumi.Input[str]
    digest: pulumi.Input[str]
    timeout_seconds: int = 600


class ImageReplicaCheck(Resource):
    """Present once the digest is in the replica repository; a dependency of the Model there."""

    digest: pulumi.Output[str]

    def __init__(self, name: str, args: ImageReplicaCheckArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            _ImageReplicaProvider(),
            name,
            {
                "region": args.region,
                "repository": args.repository,
                "digest": args.digest,
                "timeout_seconds": args.timeout_seconds,
                "waited_seconds": None,
            },
            opts,
        )
