"""The whole program, per committed stack file, under the mock engine."""

from __future__ import annotations

import pytest

from ml_platform.components.keys import key_policy
from ml_platform.components.monitoring import PUBLISHERS
from offline.engine import MOCK_ACCOUNT_ID
from tests.harness import decoded

EXPECTED_REGIONS = {
    "dev": {"primary": "us-east-1"},
    "prod": {"primary": "us-east-1", "secondary": "us-west-2"},
}
TAGS = {
    "dev": {"environment": "dev"},
    "prod": {"environment": "prod"},
}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_one_explicit_provider_per_configured_region(stack, name):
    providers = stack(name).of_type("pulumi:providers:aws")
    assert {p.name: p.inputs["region"] for p in providers} == {
        f"aws-{role}": region for role, region in EXPECTED_REGIONS[name].items()
    }


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_providers_carry_the_default_tags(stack, name):
    for provider in stack(name).of_type("pulumi:providers:aws"):
        assert decoded(provider.inputs["defaultTags"]) == {
            "tags": {
                "project": "ml-platform",
                "environment": name,
                "owner": "ml-platform-team",
                "cost-center": "ml-1001",
                "managed-by": "pulumi",
            }
        }
        assert "allowedAccountIds" not in provider.inputs


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_resource_lands_in_a_configured_region_through_an_explicit_provider(stack, name):
    synthesis = stack(name)
    regions = set(EXPECTED_REGIONS[name].values())
    for resource in synthesis.resources:
        assert resource.region in regions, f"{resource.type} {resource.name} is in {resource.region}"
        if resource.type.startswith("aws:"):
            assert resource.provider is not None, f"{resource.type} {resource.name} uses the default provider"
    # Each region's resources hang off that region's provider, named by role.
    for resource in synthesis.resources:
        if resource.provider:
            role = synthesis.by_urn(resource.provider).name.removeprefix("aws-")
            assert EXPECTED_REGIONS[name][role] == resource.region


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_one_rotating_kms_key_per_region(stack, name):
    synthesis = stack(name)
    keys = synthesis.of_type("aws:kms/key:Key")
    assert {k.name: k.region for k in keys} == {
        f"key-{role}": region for role, region in EXPECTED_REGIONS[name].items()
    }
    for key in keys:
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["rotationPeriodInDays"] == 365
        assert decoded(key.inputs["policy"]) == key_policy(MOCK_ACCOUNT_ID, "aws", PUBLISHERS, key.region)
    aliases = synthesis.of_type("aws:kms/alias:Alias")
    assert {a.region: a.inputs["name"] for a in aliases} == {
        region: f"alias/ml-platform-{name}" for region in EXPECTED_REGIONS[name].values()
    }


def test_prod_protects_its_keys_and_dev_does_not(stack):
    assert {(k.protect, k.retain_on_delete) for k in stack("prod").of_type("aws:kms/key:Key")} == {(True, True)}
    assert {(k.protect, k.retain_on_delete) for k in stack("dev").of_type("aws:kms/key:Key")} == {(False, False)}


def test_exports(stack):
    outputs = stack("prod").outputs
    keys = {k.name.removeprefix("key-"): k.outputs["arn"] for k in stack("prod").of_type("aws:kms/key:Key")}
    artifact = "s3://primary-artifacts-mock/models/example-execution-2/pipelines-example2-Train/output/model.tar.gz"
    assert outputs == {
        "environment": "prod",
        "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
        "kms_key_arns": keys,
        "buckets": {
            role: {cls: f"{role}-{cls}-mock" for cls in ("datasets", "artifacts", "capture")}
            for role in ("primary", "secondary")
        },
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:"
        "4f2c9a1d8b7e6f5a4c3b2a19087f6e5d4c3b2a19087f6e5d4c3b2a19087f6e5d",
        "model_package_group": "ml-platform-prod",
        # What is served: the example registry's latest approved version (see ml_platform/components/served_model.py).
        "model_version": {
            "selector": "latest-approved",
            "group": "ml-platform-prod",
            "version": 2,
            "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/ml-platform-prod/2",
            "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:" + "5e" * 32,
            "model_data_url": artifact,
            "baseline_url": "s3://primary-artifacts-mock/models/example-execution-2/evaluation/baseline.json",
            "dataset_version": "v2",
            "dataset_uri": "s3://primary-datasets-mock/tabular/breast-cancer/v2/",
            "metrics": {"accuracy": 0.9649},
            "previous_version": 1,
        },
        "model_data_url": artifact,
        "backup_vaults": {"primary": "vault-primary-mock", "secondary": "vault-secondary-mock"},
        "backup_role_arns": {
            role: f"arn:aws:iam::123456789012:role/backup-{role}-mock" for role in ("primary", "secondary")
        },
        "alerts_topic_arns": {
            role: f"arn:aws:sns:{region}:123456789012:topic/alerts-{role}-mock"
            for role, region in (("primary", "us-east-1"), ("secondary", "us-west-2"))
        },
        "endpoints": {
            "primary": {
                "region": "us-east-1",
                "endpoint_name": "ml-platform-prod",
                "endpoint_config_name": "endpoint-primary-v2-mock",
                "variant_name": "primary",
                "min_capacity": 2,
                "max_capacity": 8,
            },
            "secondary": {
                "region": "us-west-2",
                "endpoint_name": "ml-platform-prod",
                "endpoint_config_name": "endpoint-secondary-v2-mock",
                "variant_name": "primary",
                "min_capacity": 1,
                "max_capacity": 8,
            },
        },
        "api_invoke_urls": {
            role: f"https://ml-platform-prod.execute-api.{region}.amazonaws.com/v1/invocations"
            for role, region in (("primary", "us-east-1"), ("secondary", "us-west-2"))
        },
        "pipelines": {"retraining": "ml-platform-prod-retraining", "monitoring": "ml-platform-prod-monitoring"},
        "recovery_objectives": {
            "detection_seconds": 180,
            "rto_seconds": 240,
            "rpo_seconds": 900,
            "rpo_guaranteed": True,
        },
    }
    assert keys["secondary"].startswith(f"arn:aws:kms:us-west-2:{MOCK_ACCOUNT_ID}:key/")
