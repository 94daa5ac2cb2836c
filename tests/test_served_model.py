"""Deploy = `pulumi up` of a model version: the whole program against a Model Registry on moto.

First deploy (no version), `latest-approved`, a pinned version, a pinned version that is not
approved, rollback to the exact earlier artifact, and the dependency-graph rule that every
SageMaker Model uses an artifact in its own region and waits for whatever puts it there.

What mocks cannot prove: that CreateModel finds the object (the graph test proves the order
that makes it exist first), and ECR replication timing (see ml_platform/components/image_check.py).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from pulumi.dynamic.dynamic import serialize_provider

from ml_platform.components.image_check import _ImageReplicaProvider, missing_image_message, wait_for_image
from ml_platform.components.served_model import use_registry
from offline.engine import ROOT, Synthesis, SynthesisError, synthesize_stack
from tests.registry_fixtures import artifact_bytes

REGION = "us-east-1"
GROUP = "ml-platform-prod"
BUCKET = "primary-artifacts-mock"  # the stack's primary artifacts bucket under the mock engine
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform/prod/model@sha256:" + "b" * 64
PROD_SERVING = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["ml-platform:serving"]

MODEL = "aws:sagemaker/model:Model"
ENDPOINT_TYPES = (
    MODEL,
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
    "aws:sagemaker/endpoint:Endpoint",
    "aws:appautoscaling/target:Target",
    "aws:appautoscaling/policy:Policy",
    "aws:s3/objectCopy:ObjectCopy",
    "aws:apigateway/restApi:RestApi",
    "aws:cloudwatch/dashboard:Dashboard",
    "aws:route53/healthCheck:HealthCheck",
)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        with use_registry(lambda region: boto3.client("sagemaker", region_name=region)):
            yield sagemaker, s3


UPLOADED: dict[int, bytes] = {}


def register(sagemaker: Any, s3: Any, number: int, status: str) -> str:
    """Register version `number` the way the model-build pipeline does, its artifact uploaded."""
    key = f"models/execution-{number}/pipelines-{number}-Train/output/model.tar.gz"
    UPLOADED[number] = artifact_bytes(number)
    s3.put_object(Bucket=BUCKET, Key=key, Body=UPLOADED[number])
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.c5.xlarge"],
        },
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{BUCKET}/models/execution-{number}/evaluation/baseline.json",
                }
            }
        },
        CustomerMetadataProperties={"dataset_version": f"v{number}", "metric.accuracy": "0.96"},
    )["ModelPackageArn"]


def prod(model: str | int = "latest-approved") -> Synthesis:
    return synthesize_stack("prod", overrides={"serving": {**PROD_SERVING, "model": model}})


def served_artifact(synthesis: Synthesis, s3: Any) -> bytes:
    [model] = [m for m in synthesis.of_type(MODEL) if m.region == REGION]
    bucket, _, key = model.inputs["primaryContainer"]["modelDataUrl"].removeprefix("s3://").partition("/")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_first_deploy_declares_everything_but_the_endpoint(registry):
    synthesis = prod()
    assert {t: synthesis.of_type(t) for t in ENDPOINT_TYPES} == {t: [] for t in ENDPOINT_TYPES}
    assert [a for a in synthesis.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")] == []
    # The registry, the model-build pipeline and its schedule are there to make version 1.
    assert synthesis.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup", "model-registry-group")
    assert [p.name for p in synthesis.of_type("aws:sagemaker/pipeline:Pipeline")] == ["retraining-retraining"]
    assert [s.name for s in synthesis.of_type("aws:scheduler/schedule:Schedule")] == ["retraining-retraining"]
    assert sorted(r.name for r in synthesis.of_type("aws:s3/bucket:Bucket")) == [
        f"{role}-{kind}"
        for role in ("primary", "secondary")
        for kind in ("access-logs", "artifacts", "capture", "datasets")
    ]
    assert synthesis.outputs["endpoints"] == {}
    # Unset (None) fields are left out of stack outputs by the engine.
    assert synthesis.outputs["model_version"] == {"selector": "latest-approved", "group": GROUP, "metrics": {}}
    assert "model_data_url" not in synthesis.outputs
    assert synthesis.outputs["pipelines"] == {"retraining": "ml-platform-prod-retraining"}


def test_latest_approved_serves_the_newest_approved_version_in_both_regions(registry):
    sagemaker, s3 = registry
    register(sagemaker, s3, 1, "Approved")
    v2 = register(sagemaker, s3, 2, "Approved")
    register(sagemaker, s3, 3, "Rejected")
    register(sagemaker, s3, 4, "PendingManualApproval")
    synthesis = prod()
    models = {m.region: m for m in synthesis.of_type(MODEL)}
    assert {m.name for m in models.values()} == {"endpoint-primary-v2", "endpoint-secondary-v2"}
    key = "models/execution-2/pipelines-2-Train/output/model.tar.gz"
    assert models["us-east-1"].inputs["primaryContainer"]["modelDataUrl"] == f"s3://{BUCKET}/{key}"
    assert models["us-west-2"].inputs["primaryContainer"]["modelDataUrl"] == f"s3://secondary-artifacts-mock/{key}"
    assert models["us-west-2"].inputs["primaryContainer"]["image"] == IMAGE.replace("us-east-1", "us-west-2")
    assert served_artifact(synthesis, s3) == UPLOADED[2]
    assert synthesis.outputs["model_version"]["model_package_arn"] == v2
    assert synthesis.outputs["model_version"]["previous_version"] == 1
    # Monitoring follows the served version.
    monitoring = synthesis.one("aws:sagemaker/pipeline:Pipeline", "retraining-monitoring")
    assert f"s3://{BUCKET}/models/execution-2/evaluation/baseline.json" in monitoring.inputs["pipelineDefinition"]


def test_a_pinned_version_rolls_back_to_exactly_its_artifact(registry):
    sagemaker, s3 = registry
    register(sagemaker, s3, 1, "Approved")
    register(sagemaker, s3, 2, "Approved")
    latest, pinned = prod(), prod(1)
    assert sorted(m.name for m in pinned.of_type(MODEL)) == ["endpoint-primary-v1", "endpoint-secondary-v1"]
    rolled_back = hashlib.sha256(served_artifact(pinned, s3)).hexdigest()
    assert rolled_back == hashlib.sha256(UPLOADED[1]).hexdigest()
    assert rolled_back != hashlib.sha256(served_artifact(latest, s3)).hexdigest()
    # Nothing retrains: no training job in either, the same model-build pipeline definition.
    for synthesis in (latest, pinned):
        assert synthesis.of_type("aws:sagemaker/trainingJob:TrainingJob") == []
    assert (
        latest.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").inputs
        == pinned.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").inputs
    )


def test_rejecting_the_latest_makes_the_previous_approved_version_latest(registry):
    sagemaker, s3 = registry
    register(sagemaker, s3, 1, "Approved")
    v2 = register(sagemaker, s3, 2, "Approved")
    sagemaker.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Rejected")
    assert sorted(m.name for m in prod().of_type(MODEL)) == ["endpoint-primary-v1", "endpoint-secondary-v1"]


def test_a_pinned_version_that_is_not_approved_fails_the_preview_with_the_reason(registry):
    sagemaker, s3 = registry
    register(sagemaker, s3, 1, "Approved")
    register(sagemaker, s3, 2, "Rejected")
    with pytest.raises(Exception) as caught:
        prod(2)
    message = str(caught.value)
    assert (
        "serving.model: model package group 'ml-platform-prod': version 2 is Rejected, not Approved; only an "
        "approved version is served (approve it with `python -m ops.models approve --stack <stack> 2`; versions: "
        "1 Approved, 2 Rejected)"
    ) in message
    with pytest.raises((SynthesisError, Exception)) as caught:
        prod(9)
    assert "serving.model: model package group 'ml-platform-prod': version 9 does not exist" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# The dependency graph: every Model's artifact is in its own region, put there first


def artifact_rule_violations(synthesis: Synthesis) -> list[str]:
    """Every SageMaker Model reads an artifact from an artifacts bucket in its own region, and
    outside the primary (where the model-build pipeline wrote it) depends on the ObjectCopy that
    puts it there and on the check that its image digest is in the region's repository."""
    problems = []
    buckets = {
        r.outputs["bucket"]: r.region for r in synthesis.of_type("aws:s3/bucket:Bucket") if "artifacts" in r.name
    }
    primary = synthesis.outputs["regions"]["primary"]
    for model in synthesis.of_type(MODEL):
        container = model.inputs["primaryContainer"]
        bucket, _, key = container["modelDataUrl"].removeprefix("s3://").partition("/")
        if buckets.get(bucket) != model.region:
            problems.append(f"{model.name} in {model.region} reads s3://{bucket} in {buckets.get(bucket)}")
        if f".dkr.ecr.{model.region}." not in container["image"]:
            problems.append(f"{model.name} in {model.region} pulls {container['image']}")
        if model.region == primary:
            continue
        deps = [synthesis.by_urn(urn) for urn in model.depends_on]
        copies = [d for d in deps if d.type == "aws:s3/objectCopy:ObjectCopy"]
        if not any(
            c.inputs["bucket"] == bucket and c.inputs["key"] == key and c.region == model.region for c in copies
        ):
            problems.append(f"{model.name} does not depend on the ObjectCopy of s3://{bucket}/{key}")
        checks = [d for d in deps if d.type == "pulumi-python:dynamic:Resource"]
        digest = container["image"].rpartition("@")[2]
        if not any(c.inputs["digest"] == digest and c.inputs["region"] == model.region for c in checks):
            problems.append(f"{model.name} does not wait for {digest} in {model.region}")
    return problems


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_model_uses_an_artifact_in_its_own_region(stack, name):
    synthesis = stack(name)
    assert (
        sorted(m.region for m in synthesis.of_type(MODEL))
        == {"dev": ["us-east-1"], "prod": ["us-east-1", "us-west-2"]}[name]
    )
    assert artifact_rule_violations(synthesis) == []
    for copy in synthesis.of_type("aws:s3/objectCopy:ObjectCopy"):
        # The provider deletes every version of the key on destroy: never on a deploy.
        assert copy.retain_on_delete
        assert copy.inputs["serverSideEncryption"] == "aws:kms"
        assert copy.inputs["kmsKeyId"] == synthesis.one("aws:kms/key:Key", "key-secondary").outputs["arn"]


def test_the_rule_catches_a_model_reading_another_regions_artifact(stack):
    synthesis = stack("prod")
    broken = Synthesis(synthesis.stack, [], synthesis.outputs)
    for r in synthesis.resources:
        if r.type == MODEL and r.region == "us-west-2":
            container = {**r.inputs["primaryContainer"], "modelDataUrl": "s3://primary-artifacts-mock/models/x.tar.gz"}
            r = type(r)(**{**r.__dict__, "inputs": {**r.inputs, "primaryContainer": container}, "depends_on": ()})
        broken.resources.append(r)
    assert artifact_rule_violations(broken) == [
        "endpoint-secondary-v2 in us-west-2 reads s3://primary-artifacts-mock in us-east-1",
        "endpoint-secondary-v2 does not depend on the ObjectCopy of s3://primary-artifacts-mock/models/x.tar.gz",
        "endpoint-secondary-v2 does not wait for sha256:" + "5e" * 32 + " in us-west-2",
    ]


# ---------------------------------------------------------------------------------------------
# The image readiness check, on moto's ECR


def test_the_image_check_waits_for_the_digest_and_fails_with_what_to_do(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        ecr = boto3.client("ecr", region_name="us-west-2")
        ecr.create_repository(repositoryName="ml-platform/prod/model")
        manifest = '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}'
        pushed = ecr.put_image(repositoryName="ml-platform/prod/model", imageManifest=manifest, imageTag="v1")
        digest = pushed["image"]["imageId"]["imageDigest"]
        slept: list[float] = []
        assert wait_for_image(ecr, "ml-platform/prod/model", digest, "us-west-2", 60, sleep=slept.append) == 0
        missing = "sha256:" + "0" * 64
        with pytest.raises(RuntimeError) as caught:
            wait_for_image(ecr, "ml-platform/prod/model", missing, "us-west-2", 40, sleep=slept.append)
        assert slept == [15, 15, 10]
        assert str(caught.value) == missing_image_message("ml-platform/prod/model", missing, "us-west-2", 40)
        with pytest.raises(RuntimeError):
            wait_for_image(ecr, "no/such/repository", digest, "us-west-2", 0, sleep=slept.append)
    assert str(caught.value).startswith(
        f"image {missing} is not in ECR repository ml-platform/prod/model in us-west-2 after 40 s. ECR replication "
        "copies only images pushed after the replication rule existed"
    )


def test_a_registry_that_cannot_be_read_fails_instead_of_removing_the_endpoint(monkeypatch):
    """No credentials (or no permission) must never look like "no approved version"."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with use_registry(lambda region: boto3.client("sagemaker", region_name=region)), pytest.raises(Exception) as caught:
        prod()
    assert (
        "serving.model: cannot read the Model Registry group 'ml-platform-prod' in us-east-1: Unable to locate "
        "credentials (the deploying credentials need sagemaker:ListModelPackages and sagemaker:DescribeModelPackage)"
    ) in str(caught.value)


def test_the_image_check_replaces_only_when_what_it_checked_changes():
    provider = _ImageReplicaProvider()
    old = {"region": "us-west-2", "repository": "ml-platform/prod/model", "digest": "sha256:" + "a" * 64}
    assert provider.diff("id", old, {**old, "timeout_seconds": 900}).changes is False
    changed = provider.diff("id", old, {**old, "digest": "sha256:" + "b" * 64})
    assert (changed.changes, changed.replaces, changed.delete_before_replace) == (True, ["digest"], False)


def test_the_image_check_provider_loads_where_pulumi_runs_dynamic_providers():
    """Pulumi stores a dynamic provider dill-pickled in the state and runs it in
    `python -u -m pulumi.dynamic` (the pulumi-resource-pulumi-python plugin script), started in
    the program's directory, whose path `-m` puts first on sys.path. dill pickles this provider
    by reference to `ml_platform.components.image_check`, so it must import from the project root with the
    program's interpreter; this loads the serialized provider exactly so, in a fresh process."""
    serialized = serialize_provider(_ImageReplicaProvider())
    script = (
        "import base64, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.read()))\n"
        "old = {'region': 'r', 'repository': 'x', 'digest': 'sha256:1'}\n"
        "print(type(provider).__module__, provider.diff('id', old, {**old, 'digest': 'sha256:2'}).replaces)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], input=serialized, capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert (loaded.returncode, loaded.stdout) == (0, "ml_platform.components.image_check ['digest']\n"), loaded.stderr
