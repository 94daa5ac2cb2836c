"""The model image: a reference to the bootstrap's repository, digest pinning, the config rules.

The repository, its lifecycle policy, replication and creation template are the bootstrap's
(tests/test_bootstrap.py); the stack declares none of them.
"""

from __future__ import annotations

import json

import pytest

from ml_platform.components.image import (
    BUILD_TAG_PREFIX,
    RELEASE_TAG_PREFIX,
    context_tag,
    image_in_region,
    repository_name,
)
from tests.test_config import problems

PROD_URI = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:"
    "4f2c9a1d8b7e6f5a4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d"
)
ECR_TYPES = (
    "aws:ecr/repository:Repository",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:ecr/replicationConfiguration:ReplicationConfiguration",
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate",
)


def test_image_in_region_rewrites_only_the_registry_region():
    assert image_in_region(PROD_URI, "us-west-2") == PROD_URI.replace(".us-east-1.", ".us-west-2.")
    assert (
        image_in_region("ghcr.io/org/model@sha256:" + "0" * 64, "us-west-2") == "ghcr.io/org/model@sha256:" + "0" * 64
    )


def test_context_tag_follows_content_and_carries_the_build_prefix(tmp_path):
    (tmp_path / "a.py").write_text("print(1)\n")
    first = context_tag(tmp_path)
    assert first == context_tag(tmp_path) and first.startswith("ctx-") and len(first) == 20
    (tmp_path / "a.py").write_text("print(2)\n")
    assert context_tag(tmp_path) != first
    # The lifecycle policy keeps every release- tag and only the newest ctx- builds.
    assert (BUILD_TAG_PREFIX, RELEASE_TAG_PREFIX) == ("ctx-", "release-")


def test_image_config_needs_exactly_one_source_pinned_by_digest():
    assert problems(image={"build": True, "uri": PROD_URI}) == [
        f"image.uri: set either build or uri, not both (got '{PROD_URI}'; expected no uri when build is true)"
    ]
    assert problems(image={}) == [
        "image.uri: required when build is false (got null; expected a digest-pinned image URI, or build: true)"
    ]
    tagged = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model:latest"
    assert problems(image={"uri": tagged}) == [
        f"image.uri: must be pinned by digest; tags are mutable (got '{tagged}'; expected "
        "<registry>/<repository>@sha256:<64 lowercase hex>)"
    ]
    # The lifecycle now lives in the bootstrap: the old key is refused with its name.
    assert problems(image={"build": True, "keep_releases": 10})[0].startswith("image.keep_releases: ")


@pytest.mark.parametrize("name", ["dev", "prod", "k8s"])
def test_the_stack_declares_no_repository_replication_or_template(stack, name):
    """Created by the bootstrap before any push: a stack that made them would push into a
    repository that a failed first `up` leaves half-configured, and replicate nothing pushed before."""
    assert [r.type for r in stack(name).resources if r.type in ECR_TYPES] == []


def test_prod_serves_the_configured_digest_from_the_bootstrap_repository(stack):
    prod = stack("prod")
    assert repository_name("ml-platform", "prod") == "ml-platform/prod/model"
    assert prod.outputs["image_uri"] == PROD_URI
    pipeline = json.loads(
        prod.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").inputs["pipelineDefinition"]
    )
    train = next(step for step in pipeline["Steps"] if step["Name"] == "Train")
    assert train["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == PROD_URI
    assert prod.of_type("docker-build:index:Image") == []


def test_dev_builds_into_the_bootstrap_repository_and_everything_uses_its_digest(stack):
    dev = stack("dev")
    image = dev.one("docker-build:index:Image", "model-image")
    repo_url = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/dev/model"
    (tag,) = image.inputs["tags"]
    assert tag.startswith(f"{repo_url}:ctx-")
    assert image.inputs["push"] is True
    assert image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["context"] == {"location": "model_code"}
    assert image.inputs["registries"][0]["address"] == repo_url
    pinned = f"{repo_url}@{image.outputs['digest']}"
    assert dev.outputs["image_uri"] == pinned
    # The model-build pipeline's jobs run the built image (the endpoint serves a registered version's).
    pipeline = json.loads(
        dev.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").inputs["pipelineDefinition"]
    )
    train = next(step for step in pipeline["Steps"] if step["Name"] == "Train")
    assert train["Arguments"]["AlgorithmSpecification"]["TrainingImage"] == pinned


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_no_resource_refers_to_the_image_by_tag(stack, name):
    synthesis = stack(name)
    images = [
        json.dumps(r.inputs)
        for r in synthesis.resources
        if r.type.startswith("aws:sagemaker") and "dkr.ecr" in json.dumps(r.inputs)
    ]
    assert images, "expected the pipelines and models to name the image"
    for text in images:
        for reference in [w for w in text.replace('"', " ").split() if ".dkr.ecr." in w]:
            assert "@sha256:" in reference, reference
