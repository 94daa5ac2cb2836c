"""`ModelEndpoint` and `RegionalModelCopy` built alone, with plain Args (no stack file, no
StackConfig): the children, their names and the inputs that matter, and every branch that
leaves a child out. The whole-stack tests (tests/test_serving.py) keep the wiring.

What mocks cannot prove: that SageMaker accepts the inputs (tests/test_serving.py sends the
prod ones to moto and botocore's model), and which changes replace a resource.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ml_platform.components.model_copy import RegionalModelCopy, RegionalModelCopyArgs, split_s3_url
from ml_platform.components.serving import (
    AutoscalingArgs,
    DataCaptureArgs,
    InstanceVariantArgs,
    ModelEndpoint,
    ModelEndpointArgs,
    RolloutArgs,
    ScheduledScalingArgs,
    ServedVersion,
    ServerlessVariantArgs,
    VpcArgs,
    model_role_policy,
)
from tests.harness import decoded, in_region, run_component

REGION = "eu-west-1"
ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k"
ARTIFACTS = "arn:aws:s3:::art"
CAPTURE = "arn:aws:s3:::cap"
REPOSITORY = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/model"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/model@sha256:" + "ab" * 32
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/scoring/3"
MODEL = ServedVersion(3, PACKAGE, IMAGE, "s3://art/models/run-3/model.tar.gz")
COMPONENT = "ml-platform:serving:ModelEndpoint"


def endpoint_args(**changes) -> ModelEndpointArgs:
    args = {
        "endpoint_name": "scoring",
        "variant_name": "main",
        "model": MODEL,
        "instance": InstanceVariantArgs("ml.c5.xlarge", 2),
        "rollout": RolloutArgs(traffic_routing="CANARY", canary_size_percent=50, wait_interval_seconds=120),
        "rollback_alarm_names": ["scoring-5xx", "scoring-latency"],
        "artifacts_bucket_arn": ARTIFACTS,
        "capture_bucket_name": "cap",
        "capture_bucket_arn": CAPTURE,
        "key_arn": KEY,
        "repository_arn": REPOSITORY,
        "region": REGION,
        "account_id": ACCOUNT,
        "partition": "aws",
        **changes,
    }
    return ModelEndpointArgs(**args)


def build(args: ModelEndpointArgs):
    return run_component(lambda: ModelEndpoint("scoring", args, opts=in_region(REGION)))


def children_of(run, type_token: str, name: str) -> set[tuple[str, str]]:
    return {(r.type, r.name) for r in run.children(run.one(type_token, name))}


def test_an_instance_endpoint_with_capture_vpc_and_autoscaling_declares_every_child():
    scaling = AutoscalingArgs(
        min_capacity=2,
        max_capacity=6,
        max_requests_per_second_per_instance=20,
        concurrency_target=4,
        schedules=(ScheduledScalingArgs("night", "cron(0 20 * * ? *)", 2, 2, timezone="Europe/Paris"),),
    )
    run = build(
        endpoint_args(
            autoscaling=scaling,
            data_capture=DataCaptureArgs(sampling_percent=10),
            vpc=VpcArgs(("subnet-1",), ("sg-1",)),
            container_environment={"LOG_LEVEL": "info"},
        )
    )
    assert children_of(run, COMPONENT, "scoring") == {
        ("aws:iam/role:Role", "scoring"),
        ("aws:iam/rolePolicy:RolePolicy", "scoring"),
        ("aws:sagemaker/model:Model", "scoring-v3"),
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "scoring-v3"),
        ("aws:sagemaker/endpoint:Endpoint", "scoring"),
        ("aws:appautoscaling/target:Target", "scoring"),
        ("aws:appautoscaling/policy:Policy", "scoring-invocations"),
        ("aws:appautoscaling/policy:Policy", "scoring-concurrency"),
        ("aws:appautoscaling/scheduledAction:ScheduledAction", "scoring-night"),
    }
    assert {r.region for r in run.resources if not r.is_provider} == {REGION}

    model = run.one("aws:sagemaker/model:Model", "scoring-v3")
    role = run.one("aws:iam/role:Role", "scoring")
    assert model.inputs == {
        "executionRoleArn": role.outputs["arn"],
        "primaryContainer": {
            "image": IMAGE,
            "modelDataUrl": "s3://art/models/run-3/model.tar.gz",
            "mode": "SingleModel",
            "environment": {"LOG_LEVEL": "info"},
        },
        "enableNetworkIsolation": True,
        "vpcConfig": {"subnets": ["subnet-1"], "securityGroupIds": ["sg-1"]},
        "tags": {"model-version": "3", "model-package-arn": PACKAGE},
    }
    # A deploy of another version leaves the retired Model and EndpointConfig in AWS for rollback.
    assert model.retain_on_delete
    role_policy = run.one("aws:iam/rolePolicy:RolePolicy", "scoring")
    assert role_policy.urn in model.depends_on

    config = run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "scoring-v3")
    assert config.retain_on_delete
    assert config.inputs == {
        "productionVariants": [
            {
                "variantName": "main",
                "modelName": model.outputs["name"],
                "instanceType": "ml.c5.xlarge",
                "initialInstanceCount": 2,
                "initialVariantWeight": 1,
            }
        ],
        "dataCaptureConfig": {
            "enableCapture": True,
            "initialSamplingPercentage": 10,
            "destinationS3Uri": "s3://cap/datacapture",
            "kmsKeyId": KEY,
            "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
            "captureContentTypeHeader": {"csvContentTypes": ["text/csv"], "jsonContentTypes": ["application/json"]},
        },
        "kmsKeyArn": KEY,
        "tags": {"serving-role": "active", "model-version": "3", "model-package-arn": PACKAGE},
    }

    endpoint = run.one("aws:sagemaker/endpoint:Endpoint", "scoring")
    assert endpoint.inputs == {
        "name": "scoring",
        "endpointConfigName": config.outputs["name"],
        "tags": {"serving-role": "active"},
        "deploymentConfig": {
            "autoRollbackConfiguration": {"alarms": [{"alarmName": "scoring-5xx"}, {"alarmName": "scoring-latency"}]},
            "blueGreenUpdatePolicy": {
                "trafficRoutingConfiguration": {
                    "type": "CANARY",
                    "waitIntervalInSeconds": 120,
                    "canarySize": {"type": "CAPACITY_PERCENT", "value": 50},
                },
                "terminationWaitInSeconds": 600,
                "maximumExecutionTimeoutInSeconds": 3600,
            },
        },
    }

    target = run.one("aws:appautoscaling/target:Target", "scoring")
    assert target.inputs == {
        "serviceNamespace": "sagemaker",
        "resourceId": "endpoint/scoring/variant/main",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "minCapacity": 2,
        "maxCapacity": 6,
    }
    assert endpoint.urn in target.depends_on
    invocations = run.one("aws:appautoscaling/policy:Policy", "scoring-invocations")
    # 20 requests/s x 60 x safety factor 0.5 (the default).
    assert invocations.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 600
    assert target.urn in invocations.depends_on
    night = run.one("aws:appautoscaling/scheduledAction:ScheduledAction", "scoring-night")
    assert (night.inputs["name"], night.inputs["timezone"], night.inputs["scalableTargetAction"]) == (
        "scoring-night",
        "Europe/Paris",
        {"minCapacity": 2, "maxCapacity": 2},
    )

    assert decoded(role_policy.inputs["policy"]) == model_role_policy(
        artifacts_bucket_arn=ARTIFACTS,
        capture_bucket_arn=CAPTURE,
        endpoint_name="scoring",
        key_arn=KEY,
        repository_arn=REPOSITORY,
        region=REGION,
        account_id=ACCOUNT,
        partition="aws",
        vpc=True,
    )


def test_without_capture_vpc_autoscaling_or_environment_those_parts_are_absent():
    run = build(endpoint_args())
    assert children_of(run, COMPONENT, "scoring") == {
        ("aws:iam/role:Role", "scoring"),
        ("aws:iam/rolePolicy:RolePolicy", "scoring"),
        ("aws:sagemaker/model:Model", "scoring-v3"),
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "scoring-v3"),
        ("aws:sagemaker/endpoint:Endpoint", "scoring"),
    }
    model = run.one("aws:sagemaker/model:Model", "scoring-v3")
    assert "vpcConfig" not in model.inputs
    assert "environment" not in model.inputs["primaryContainer"]
    config = run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "scoring-v3")
    assert "dataCaptureConfig" not in config.inputs
    policy = decoded(run.one("aws:iam/rolePolicy:RolePolicy", "scoring").inputs["policy"])
    assert "AttachToVpc" not in {s["Sid"] for s in policy["Statement"]}


def test_a_serverless_standby_scales_provisioned_concurrency_and_is_tagged_standby():
    run = build(
        endpoint_args(
            instance=None,
            serverless=ServerlessVariantArgs(memory_size_mb=2048, max_concurrency=10, provisioned_concurrency=2),
            rollout=RolloutArgs(),
            autoscaling=AutoscalingArgs(min_capacity=1, max_capacity=4, provisioned_concurrency_target=0.6),
            network_isolation=False,
            standby=True,
            partition="aws-us-gov",
            model=ServedVersion(3, None, IMAGE, "s3://art/models/run-3/model.tar.gz"),
        )
    )
    config = run.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "scoring-v3")
    assert config.inputs["productionVariants"][0]["serverlessConfig"] == {
        "memorySizeInMb": 2048,
        "maxConcurrency": 10,
        "provisionedConcurrency": 2,
    }
    assert "instanceType" not in config.inputs["productionVariants"][0]
    # No package ARN (a copy in another region): only the version tag.
    assert config.inputs["tags"] == {"serving-role": "standby", "model-version": "3"}
    assert run.one("aws:sagemaker/endpoint:Endpoint", "scoring").inputs["tags"] == {"serving-role": "standby"}
    target = run.one("aws:appautoscaling/target:Target", "scoring")
    assert target.inputs["scalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    policies = run.of_type("aws:appautoscaling/policy:Policy")
    assert [(p.name, p.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"]) for p in policies] == [
        ("scoring-provisioned-concurrency", 0.6)
    ]
    assert run.one("aws:sagemaker/model:Model", "scoring-v3").inputs["enableNetworkIsolation"] is False
    policy = decoded(run.one("aws:iam/rolePolicy:RolePolicy", "scoring").inputs["policy"])
    (logs,) = [s for s in policy["Statement"] if s["Sid"] == "WriteLogs"]
    assert logs["Resource"] == [f"arn:aws-us-gov:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/scoring:*"]


def test_a_model_waits_for_what_puts_its_artifact_and_image_in_place():
    def program():
        copy = RegionalModelCopy("copy", copy_args(), opts=in_region(REGION))
        ModelEndpoint(
            "scoring",
            endpoint_args(model=ServedVersion(3, None, copy.image_uri, copy.model_data_url, ready=(copy.copy,))),
            opts=in_region(REGION),
        )

    run = run_component(program)
    copy = run.one("aws:s3/objectCopy:ObjectCopy", "copy-v3")
    model = run.one("aws:sagemaker/model:Model", "scoring-v3")
    assert copy.urn in model.depends_on
    assert model.inputs["primaryContainer"]["modelDataUrl"] == "s3://art-replica/models/run-3/model.tar.gz"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"instance": None}, "ModelEndpointArgs: set exactly one of instance and serverless (got neither)"),
        (
            {"serverless": ServerlessVariantArgs(memory_size_mb=2048, max_concurrency=5)},
            "ModelEndpointArgs: set exactly one of instance and serverless (got both)",
        ),
    ],
)
def test_endpoint_args_need_exactly_one_variant_kind(changes, message):
    with pytest.raises(ValueError) as caught:
        endpoint_args(**changes)
    assert str(caught.value) == message


def test_autoscaling_args_report_every_problem():
    with pytest.raises(ValueError) as caught:
        AutoscalingArgs(min_capacity=3, max_capacity=2, safety_factor=1.5)
    assert str(caught.value) == (
        "AutoscalingArgs: capacity: expected 1 <= min_capacity <= max_capacity (got 3 and 2); "
        "safety_factor: out of range (got 1.5; expected > 0 and <= 1)"
    )


def test_rollout_args_need_the_step_of_their_routing_and_only_that():
    with pytest.raises(ValueError) as caught:
        RolloutArgs(traffic_routing="CANARY", linear_step_percent=10)
    assert str(caught.value) == (
        "RolloutArgs: canary_size_percent: with traffic_routing CANARY (got None; expected a percentage of "
        "capacity); linear_step_percent: with traffic_routing CANARY (got 10; expected None)"
    )
    with pytest.raises(ValueError) as caught:
        RolloutArgs(strategy="big_bang", traffic_routing="SLOW")
    assert str(caught.value) == (
        "RolloutArgs: strategy: not a strategy (got 'big_bang'; expected 'blue_green' or 'rolling'); "
        "traffic_routing: not a routing (got 'SLOW'; expected 'ALL_AT_ONCE', 'CANARY' or 'LINEAR')"
    )


# --------------------------------------------------------------------------------------------
# RegionalModelCopy


def copy_args(**changes) -> RegionalModelCopyArgs:
    args = {
        "version": 3,
        "model_data_url": "s3://art/models/run-3/model.tar.gz",
        "image_uri": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/model@sha256:" + "ab" * 32,
        "bucket_name": "art-replica",
        "key_arn": KEY,
        "region": REGION,
        **changes,
    }
    return RegionalModelCopyArgs(**args)


def test_the_copy_puts_the_artifact_under_the_same_key_and_checks_the_image_in_its_region():
    run = run_component(lambda: RegionalModelCopy("copy", copy_args(image_timeout_seconds=120), opts=in_region(REGION)))
    assert children_of(run, "ml-platform:serving:RegionalModelCopy", "copy") == {
        ("aws:s3/objectCopy:ObjectCopy", "copy-v3"),
        ("pulumi-python:dynamic:Resource", "copy-image-v3"),
    }
    copy = run.one("aws:s3/objectCopy:ObjectCopy", "copy-v3")
    assert copy.inputs == {
        "bucket": "art-replica",
        "key": "models/run-3/model.tar.gz",
        "source": "art/models/run-3/model.tar.gz",
        "serverSideEncryption": "aws:kms",
        "kmsKeyId": KEY,
    }
    # Destroying an ObjectCopy deletes every version of its key: never on a deploy.
    assert copy.retain_on_delete
    check = run.one("pulumi-python:dynamic:Resource", "copy-image-v3")
    assert {k: v for k, v in check.inputs.items() if k != "__provider"} == {
        "region": REGION,
        "repository": "team/model",
        "digest": "sha256:" + "ab" * 32,
        "timeout_seconds": 120,
    }


def test_the_copy_refuses_a_model_data_url_that_is_not_an_object():
    with pytest.raises(ValueError) as caught:
        split_s3_url("s3://art/models/")
    assert str(caught.value) == (
        "model data URL: not an S3 object URL (got 's3://art/models/'; expected s3://<bucket>/<key>)"
    )


# --------------------------------------------------------------------------------------------
# Reuse: the components know nothing of the stack config

COMPONENTS = Path(__file__).resolve().parent.parent / "ml_platform" / "components"
OWN_MODULES = (
    "serving",
    "model_copy",
    "served_model",
    "model_versions",
    "alarms",
    "dashboard",
    "monitoring",
    "backup",
    "storage",
)


@pytest.mark.parametrize("module", OWN_MODULES)
def test_the_component_module_does_not_import_the_stack_config(module):
    tree = ast.parse((COMPONENTS / f"{module}.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert sorted(name for name in imported if name and name.startswith("ml_platform.config")) == []
    # The partition comes in with the Args (`aws.get_partition` in the program), never as a literal.
    assert "arn:aws:" not in (COMPONENTS / f"{module}.py").read_text()


# --------------------------------------------------------------------------------------------
# One naming scheme: a child is named after its component, `<component>` for its one resource of
# a type and `<component>-<purpose>` for each of several.

NAMED_AFTER_THEIR_COMPONENT = (
    "ml-platform:serving:ModelEndpoint",
    "ml-platform:serving:RegionalModelCopy",
    "ml-platform:alarms:VariantAlarms",
    "ml-platform:monitoring:Alerts",
    "ml-platform:monitoring:CostBudget",
    "ml-platform:monitoring:EndpointDashboard",
    "ml-platform:backup:BackupVault",
    "ml-platform:backup:RegionBackup",
    "ml-platform:storage:DataBucket",
    "ml-platform:storage:AccessLogBucket",
    "ml-platform:storage:BucketReplication",
    "ml-platform:storage:Storage",
)


@pytest.mark.parametrize("name", ["prod", "dev"])
def test_every_child_is_named_after_its_component(stack, name):
    synthesis = stack(name)
    strays = [
        (component.name, child.type, child.name)
        for type_token in NAMED_AFTER_THEIR_COMPONENT
        for component in synthesis.of_type(type_token)
        for child in synthesis.children(component)
        if child.name != component.name and not child.name.startswith(f"{component.name}-")
    ]
    assert strays == []
    assert {t for t in NAMED_AFTER_THEIR_COMPONENT if synthesis.of_type(t)} >= {
        "ml-platform:serving:ModelEndpoint",
        "ml-platform:storage:DataBucket",
        "ml-platform:storage:Storage",
        "ml-platform:backup:RegionBackup",
    }
