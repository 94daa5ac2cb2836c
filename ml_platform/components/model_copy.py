"""The served version's own copy in another region: its artifact copied into that region's
artifacts bucket and its image digest checked in that region's replica repository, so a
standby endpoint there reads nothing from the primary at run time."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def split_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); ValueError naming the value otherwise."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key or key.endswith("/"):
        raise ValueError(f"model data URL: not an S3 object URL (got {url!r}; expected s3://<bucket>/<key>)")
    return bucket, key


@dataclass(frozen=True)
class RegionalModelCopyArgs:
    """Inputs of `RegionalModelCopy` (declared with the target region's provider).

    version: the model version (names the copy). model_data_url: the version's artifact in the
    primary region. image_uri: the version's image in the primary repository (by digest).
    bucket_name / key_arn: the target region's artifacts bucket and key. region: the target region.
    image_timeout_seconds: how long to wait for ECR replication to bring the digest.
    """

    version: int
    model_data_url: str
    image_uri: str
    bucket_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    region: str
    image_timeout_seconds: int = 600


class RegionalModelCopy(pulumi.ComponentResource):
    """The version's artifact copied into this region's artifacts bucket (synchronously:
    CopyObject during `pulumi up`, not replication's eventual copy), and the image digest checked
    present in this region's replica repository. SageMaker reads a Model's artifact only from
    a bucket in the Model's region ("the S3 bucket ... must be in the same AWS Region as the
    model", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html,
    ModelDataUrl), and a model package only in its own region.

    The copy keeps the source key, so the standby's model role reads `models/*` as in the primary.
    `retain_on_delete`: the provider deletes *every version* of the key when an ObjectCopy is
    destroyed (internal/service/s3/object_copy.go, resourceObjectCopyDelete ->
    DeleteAllObjectVersions), and artifacts replication writes the same key; a deploy of another
    version must never remove an artifact. `bucket`, `key` and `source` force replacement
    (ForceNew in the same file), so another version is another copy.
    """

    def __init__(self, name: str, args: RegionalModelCopyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-platform:serving:RegionalModelCopy", name, None, opts)
        from ml_platform.components.image import image_in_region
        from ml_platform.components.image_check import ImageReplicaCheck, ImageReplicaCheckArgs

        source_bucket, key = split_s3_url(args.model_data_url)
        self.copy = aws.s3.ObjectCopy(
            f"{name}-v{args.version}",
            bucket=args.bucket_name,
            key=key,
            source=f"{source_bucket}/{key}",
            server_side_encryption="aws:kms",
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        self.image_uri = image_in_region(args.image_uri, args.region)
        repository = self.image_uri.split("/", 1)[1].split("@", 1)[0]
        self.image_check = ImageReplicaCheck(
            f"{name}-image-v{args.version}",
            ImageReplicaCheckArgs(
                region=args.region,
                repository=repository,
                digest=self.image_uri.rpartition("@")[2],
                timeout_seconds=args.image_timeout_seconds,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.model_data_url = pulumi.Output.concat("s3://", self.copy.bucket, "/", self.copy.key)
        self.register_outputs({"model_data_url": self.model_data_url, "image_uri": self.image_uri})
