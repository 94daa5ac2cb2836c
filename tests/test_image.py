"""The model image: ECR repository, replication, digest pinning, and the image config rules."""

from __future__ import annotations

import json

import pytest

from components.image import context_tag, ecr_lifecycle_policy, image_in_region, replica_template_role_policy
from tests.test_config import problems

PROD_URI = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:"
    "4f2c9a1d8b7e6f5a4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d"
)


def test_ecr_lifecycle_policy_expires_untagged_then_keeps_the_newest():
    assert ecr_lifecycle_policy(50) == {
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
                "description": "keep the last 50 releases",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
                "action": {"type": "expire"},
            },
        ]
    }


def test_image_in_region_rewrites_only_the_registry_region():
    assert image_in_region(PROD_URI, "us-west-2") == PROD_URI.replace(".us-east-1.", ".us-west-2.")
    assert (
        image_in_region("ghcr.io/org/model@sha256:" + "0" * 64, "us-west-2") == "ghcr.io/org/model@sha256:" + "0" * 64
    )


def test_context_tag_follows_content(tmp_path):
    (tmp_path / "a.py").write_text("print(1)\n")
    first = context_tag(tmp_path)
    assert first == context_tag(tmp_path) and first.startswith("ctx-") and len(first) == 20
    (tmp_path / "a.py").write_text("print(2)\n")
    assert context_tag(tmp_path) != first


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


def test_prod_repository_settings(stack):
    prod = stack("prod")
    repo = prod.one("aws:ecr/repository:Repository", "model-image")
    key = prod.one("aws:kms/key:Key", "key-primary").outputs["arn"]
    assert repo.region == "us-east-1"
    assert repo.inputs == {
        "name": "ml-platform/prod/model",
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": key}],
        "forceDelete": False,
    }
    assert (repo.protect, repo.retain_on_delete) == (True, True)
    lifecycle = prod.one("aws:ecr/lifecyclePolicy:LifecyclePolicy", "model-image")
    assert json.loads(lifecycle.inputs["policy"]) == ecr_lifecycle_policy(50)
    assert lifecycle.inputs["repository"] == "ml-platform/prod/model"


def test_prod_replicates_the_repository_into_an_encrypted_immutable_replica(stack):
    prod = stack("prod")
    replication = prod.one("aws:ecr/replicationConfiguration:ReplicationConfiguration", "model-image")
    assert replication.inputs["replicationConfiguration"] == {
        "rules": [
            {
                "destinations": [{"region": "us-west-2", "registryId": "123456789012"}],
                "repositoryFilters": [{"filter": "ml-platform/prod/model", "filterType": "PREFIX_MATCH"}],
            }
        ]
    }
    template = prod.one("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "model-image-replica")
    secondary_key = prod.one("aws:kms/key:Key", "key-secondary").outputs["arn"]
    assert template.region == "us-west-2"
    assert template.inputs["prefix"] == "ml-platform/prod"
    assert template.inputs["appliedFors"] == ["REPLICATION"]
    assert template.inputs["imageTagMutability"] == "IMMUTABLE"
    assert template.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": secondary_key}]
    role = prod.one("aws:iam/role:Role", "model-image-replica")
    assert template.inputs["customRoleArn"] == role.outputs["arn"]
    assert json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "model-image-replica").inputs["policy"]) == (
        replica_template_role_policy("123456789012", "us-west-2", "ml-platform/prod", secondary_key)
    )


def test_dev_does_not_replicate(stack):
    dev = stack("dev")
    assert dev.of_type("aws:ecr/replicationConfiguration:ReplicationConfiguration") == []
    assert dev.of_type("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate") == []


def test_dev_builds_the_image_and_everything_uses_its_digest(stack):
    dev = stack("dev")
    image = dev.one("docker-build:index:Image", "model-image")
    repo_url = dev.one("aws:ecr/repository:Repository", "model-image").outputs["repositoryUrl"]
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
