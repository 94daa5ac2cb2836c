"""Serving: config guardrails, pure builders, and the endpoint each stack declares."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from moto import mock_aws
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from ml_platform.assembly_serving import autoscaling_args, rollout_args
from ml_platform.components.alarms import ROLLBACK_ALARMS
from ml_platform.components.serving import deployment_config, model_role_policy, scaling_policies
from ml_platform.config import AutoscalingConfig, RolloutConfig, ServingConfig
from offline.engine import ROOT, synthesize_stack
from tests.aws_shapes import request
from tests.test_config import problems

INSTANCE = {"instance_type": "ml.m5.large", "initial_instance_count": 1}
SERVERLESS = {"memory_size_mb": 2048, "max_concurrency": 10}
PROD_SERVING = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["ml-platform:serving"]


def serving(**changes):
    return problems(serving={"instance": INSTANCE, **changes})


# --------------------------------------------------------------------------------------------
# Config guardrails


def test_exactly_one_variant_kind():
    assert problems(serving={}) == [
        "serving.instance: set exactly one of instance and serverless (got null; expected one variant kind)"
    ]
    assert serving(serverless=SERVERLESS, data_capture={"enabled": False}, network_isolation=False) == [
        "serving.instance: set exactly one of instance and serverless (got 'both'; expected one variant kind)"
    ]


def test_model_is_latest_approved_or_a_version_number():
    assert ServingConfig(instance=INSTANCE).model == "latest-approved"
    assert ServingConfig(instance=INSTANCE, model=3).model == 3
    assert ServingConfig(instance=INSTANCE, model="12").model == 12
    assert serving(model="latest") == [
        "serving.model: not a model version (got 'latest'; expected latest-approved or a version number >= 1)"
    ]
    assert serving(model=0) == ["serving.model: model versions start at 1 (got 0; expected a version number >= 1)"]
    assert serving(model=True) == [
        "serving.model: not a model version (got true; expected latest-approved or a version number >= 1)"
    ]
    # The keys the model version replaced are refused with the allowed keys listed.
    assert serving(model_data="training_job")[0].startswith("serving.model_data: unknown key")


def test_serverless_exclusions():
    assert problems(
        serving={
            "serverless": SERVERLESS,
            "vpc": {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"]},
            "rollout": {"strategy": "rolling"},
        }
    ) == [
        "serving.data_capture.enabled: serverless endpoints cannot capture data (got true; expected false with "
        "serverless)",
        "serving.network_isolation: serverless endpoints do not support network isolation (got true; expected "
        "false with serverless)",
        "serving.vpc: serverless endpoints do not support VPC configuration (got 'set'; expected no vpc with "
        "serverless)",
        "serving.rollout.strategy: rolling updates are not supported for serverless variants (got 'rolling'; "
        "expected blue_green)",
    ]


def test_serverless_memory_and_concurrency():
    assert problems(
        serving={
            "serverless": {"memory_size_mb": 1500, "max_concurrency": 5, "provisioned_concurrency": 6},
            "data_capture": {"enabled": False},
            "network_isolation": False,
        }
    ) == [
        "serving.serverless.memory_size_mb: not an allowed value (got 1500; expected one of 1024, 2048, 3072, "
        "4096, 5120 or 6144)",
        "serving.serverless.provisioned_concurrency: exceeds max_concurrency (got 6; expected <= 5)",
    ]


def test_initial_count_must_lie_within_autoscaling_bounds():
    assert serving(
        instance={"instance_type": "ml.m5.large", "initial_instance_count": 5},
        autoscaling={"min_capacity": 1, "max_capacity": 3},
    ) == [
        "serving.instance.initial_instance_count: must lie within the autoscaling bounds (got 5; expected "
        "1 <= count <= 3)"
    ]
    assert serving(autoscaling={"min_capacity": 3, "max_capacity": 2}) == [
        "serving.autoscaling.max_capacity: below min_capacity (got 2; expected >= 3)"
    ]


def test_no_autoscaling_on_burstable_instances():
    assert serving(
        instance={"instance_type": "ml.t2.medium", "initial_instance_count": 1},
        autoscaling={"min_capacity": 1, "max_capacity": 2},
    ) == [
        "serving.autoscaling: autoscaling is not supported on burstable ml.t* instances (got 'ml.t2.medium'; "
        "expected a non-burstable instance type, or no autoscaling)"
    ]


def test_instance_type_checked_against_botocore_with_close_matches():
    assert serving(instance={"instance_type": "ml.c5.xlarg", "initial_instance_count": 1}) == [
        "serving.instance.instance_type: unknown instance type (got 'ml.c5.xlarg'; expected a SageMaker "
        "ProductionVariantInstanceType, e.g. ml.c5.xlarge, ml.c5d.xlarge, ml.c5.9xlarge)"
    ]


def test_vcpus_must_be_given_when_the_size_does_not_tell():
    config = ServingConfig.model_validate({"instance": {"instance_type": "ml.c5.9xlarge", "initial_instance_count": 1}})
    assert config.instance.vcpu_count == 36
    assert serving(instance={"instance_type": "ml.m5.large", "initial_instance_count": 1, "vcpus": 0}) == [
        "serving.instance.vcpus: out of range (got 0; expected >= 1)"
    ]


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        (
            {"traffic_routing": "CANARY", "canary_size_percent": 60},
            "serving.rollout.canary_size_percent: guardrail: at most half the capacity may take new traffic at "
            "once (got 60; expected <= 50)",
        ),
        (
            {"traffic_routing": "CANARY"},
            "serving.rollout.canary_size_percent: required with traffic_routing CANARY (got null; expected a "
            "percentage of capacity, 1 to 50)",
        ),
        (
            {"linear_step_percent": 10},
            "serving.rollout.linear_step_percent: only used with traffic_routing LINEAR (got 10; expected no value)",
        ),
        (
            {"traffic_routing": "SLOW"},
            "serving.rollout.traffic_routing: not an allowed value (got 'SLOW'; expected one of 'ALL_AT_ONCE', "
            "'CANARY' or 'LINEAR')",
        ),
    ],
)
def test_rollout_guardrails(rollout, expected):
    assert serving(rollout=rollout) == [expected]


def test_variant_name_is_a_fixed_sagemaker_name():
    assert serving(variant_name="blue green") == [
        "serving.variant_name: not in the required format (got 'blue green'; expected "
        "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$)"
    ]


def test_safety_factor_lies_in_zero_to_one():
    assert serving(autoscaling={"min_capacity": 1, "max_capacity": 2, "safety_factor": 0}) == [
        "serving.autoscaling.safety_factor: out of range (got 0; expected > 0)"
    ]
    assert serving(autoscaling={"min_capacity": 1, "max_capacity": 2, "safety_factor": 1.5}) == [
        "serving.autoscaling.safety_factor: out of range (got 1.5; expected <= 1)"
    ]


# --------------------------------------------------------------------------------------------
# Builders


def test_canary_deployment_config():
    rollout = rollout_args(RolloutConfig(traffic_routing="CANARY", canary_size_percent=25, wait_interval_seconds=600))
    assert deployment_config(rollout, ["a-5xx", "a-latency"]) == {
        "auto_rollback_configuration": {"alarms": [{"alarm_name": "a-5xx"}, {"alarm_name": "a-latency"}]},
        "blue_green_update_policy": {
            "traffic_routing_configuration": {
                "type": "CANARY",
                "wait_interval_in_seconds": 600,
                "canary_size": {"type": "CAPACITY_PERCENT", "value": 25},
            },
            "termination_wait_in_seconds": 600,
            "maximum_execution_timeout_in_seconds": 3600,
        },
    }


def test_linear_and_rolling_deployment_configs():
    linear = deployment_config(rollout_args(RolloutConfig(traffic_routing="LINEAR", linear_step_percent=20)), ["x"])
    assert linear["blue_green_update_policy"]["traffic_routing_configuration"] == {
        "type": "LINEAR",
        "wait_interval_in_seconds": 300,
        "linear_step_size": {"type": "CAPACITY_PERCENT", "value": 20},
    }
    rolling = deployment_config(rollout_args(RolloutConfig(strategy="rolling", rolling_batch_percent=30)), ["x"])
    assert rolling == {
        "auto_rollback_configuration": {"alarms": [{"alarm_name": "x"}]},
        "rolling_update_policy": {
            "maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 30},
            "rollback_maximum_batch_size": {"type": "CAPACITY_PERCENT", "value": 30},
            "wait_interval_in_seconds": 300,
            "maximum_execution_timeout_in_seconds": 3600,
        },
    }


def test_deployment_config_is_a_valid_update_endpoint_request():
    rollout = rollout_args(RolloutConfig(traffic_routing="CANARY", canary_size_percent=25))
    params = request(
        "sagemaker",
        "UpdateEndpoint",
        {"endpoint_name": "e", "endpoint_config_name": "c", "deployment_config": deployment_config(rollout, ["a"])},
    )
    assert params["DeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": "a"}]}


def test_scaling_target_is_rps_times_sixty_times_safety_factor():
    scaling = AutoscalingConfig(min_capacity=2, max_capacity=8, max_requests_per_second_per_instance=120)
    assert scaling.invocations_per_instance_target == 3600
    assert autoscaling_args(scaling).invocations_per_instance_target == 3600
    assert scaling_policies(autoscaling_args(scaling), serverless=False) == [
        (
            "invocations",
            {
                "target_value": 3600,
                "predefined_metric_specification": {"predefined_metric_type": "SageMakerVariantInvocationsPerInstance"},
                "scale_in_cooldown": 300,
                "scale_out_cooldown": 60,
            },
        )
    ]
    serverless = AutoscalingConfig(min_capacity=1, max_capacity=4, provisioned_concurrency_target=0.6)
    assert scaling_policies(autoscaling_args(serverless), serverless=True)[0][1]["predefined_metric_specification"] == {
        "predefined_metric_type": "SageMakerVariantProvisionedConcurrencyUtilization"
    }


def test_model_role_policy_valid_and_scoped():
    policy = model_role_policy(
        artifacts_bucket_arn="arn:aws:s3:::a",
        capture_bucket_arn="arn:aws:s3:::c",
        endpoint_name="ml-platform-prod",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        repository_arn="arn:aws:ecr:us-east-1:123456789012:repository/r",
        region="us-east-1",
        account_id="123456789012",
        partition="aws",
        vpc=False,
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["WriteDataCapture"]["Resource"] == "arn:aws:s3:::c/datacapture/ml-platform-prod/*"
    assert by_sid["ReadModelArtifacts"]["Resource"] == "arn:aws:s3:::a/models/*"
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()


# --------------------------------------------------------------------------------------------
# The stacks


def test_prod_endpoint_configuration(stack):
    prod = stack("prod")
    config = prod.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "endpoint-primary-v2")
    model = prod.one("aws:sagemaker/model:Model", "endpoint-primary-v2")
    key = prod.one("aws:kms/key:Key", "key-primary").outputs["arn"]
    capture = prod.one("aws:s3/bucket:Bucket", "primary-capture").outputs["bucket"]
    assert config.inputs == {
        "productionVariants": [
            {
                "variantName": "primary",
                "modelName": model.outputs["name"],
                "instanceType": "ml.c5.xlarge",
                "initialInstanceCount": 2,
                "initialVariantWeight": 1,
            }
        ],
        "dataCaptureConfig": {
            "enableCapture": True,
            "initialSamplingPercentage": 20,
            "destinationS3Uri": f"s3://{capture}/datacapture",
            "kmsKeyId": key,
            "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
            "captureContentTypeHeader": {"csvContentTypes": ["text/csv"], "jsonContentTypes": ["application/json"]},
        },
        "kmsKeyArn": key,
        "tags": {
            "serving-role": "active",
            "model-version": "2",
            "model-package-arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/ml-platform-prod/2",
        },
    }


def test_prod_model_serves_the_resolved_version_by_digest(stack):
    """The offline (example) registry's latest approved version is 2: its image and artifact."""
    prod = stack("prod")
    model = prod.one("aws:sagemaker/model:Model", "endpoint-primary-v2")
    served = prod.outputs["model_version"]
    assert (served["selector"], served["version"], served["previous_version"]) == ("latest-approved", 2, 1)
    assert model.inputs["primaryContainer"] == {
        "image": served["image_uri"],
        "modelDataUrl": served["model_data_url"],
        "mode": "SingleModel",
    }
    assert served["model_data_url"] == (
        "s3://primary-artifacts-mock/models/example-execution-2/pipelines-example2-Train/output/model.tar.gz"
    )
    assert model.inputs["tags"] == {"model-version": "2", "model-package-arn": served["model_package_arn"]}
    assert model.inputs["enableNetworkIsolation"] is True
    assert model.inputs["executionRoleArn"] == prod.one("aws:iam/role:Role", "endpoint-primary").outputs["arn"]


def test_prod_endpoint_rolls_back_on_alarms_the_stack_declares(stack):
    prod = stack("prod")
    endpoint = prod.one("aws:sagemaker/endpoint:Endpoint", "endpoint-primary")
    declared = {a.inputs["name"] for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    rollback = [a["alarmName"] for a in endpoint.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]]
    assert rollback == [f"ml-platform-prod-primary-{key}" for key in ROLLBACK_ALARMS]
    assert set(rollback) <= declared
    assert endpoint.inputs["name"] == "ml-platform-prod"
    assert endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"] == {
        "trafficRoutingConfiguration": {
            "type": "CANARY",
            "waitIntervalInSeconds": 600,
            "canarySize": {"type": "CAPACITY_PERCENT", "value": 25},
        },
        "terminationWaitInSeconds": 900,
        "maximumExecutionTimeoutInSeconds": 7200,
    }
    # The names flow from the alarm resources, so the endpoint waits for them to exist.
    rollback_urns = {
        a.urn
        for a in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.inputs["name"] in rollback and a.region == endpoint.region
    }
    assert len(rollback_urns) == 2
    assert rollback_urns <= set(endpoint.depends_on)


def test_prod_autoscaling(stack):
    prod = stack("prod")
    target = prod.one("aws:appautoscaling/target:Target", "endpoint-primary")
    assert target.inputs == {
        "serviceNamespace": "sagemaker",
        "resourceId": "endpoint/ml-platform-prod/variant/primary",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "minCapacity": 2,
        "maxCapacity": 8,
    }
    invocations = prod.one("aws:appautoscaling/policy:Policy", "endpoint-primary-invocations")
    assert invocations.inputs["targetTrackingScalingPolicyConfiguration"] == {
        "targetValue": 3600,
        "predefinedMetricSpecification": {"predefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "scaleInCooldown": 600,
        "scaleOutCooldown": 60,
    }
    concurrency = prod.one("aws:appautoscaling/policy:Policy", "endpoint-primary-concurrency")
    assert concurrency.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"] == {
        "predefinedMetricType": "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    }
    assert target.urn in invocations.depends_on
    assert prod.of_type("aws:appautoscaling/scheduledAction:ScheduledAction") == []


def test_dev_single_small_instance_drops_to_its_minimum_at_night(stack):
    dev = stack("dev")
    config = dev.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "endpoint-primary-v2")
    assert config.inputs["productionVariants"][0]["instanceType"] == "ml.m5.large"
    assert config.inputs["productionVariants"][0]["initialInstanceCount"] == 1
    endpoint = dev.one("aws:sagemaker/endpoint:Endpoint", "endpoint-primary")
    assert endpoint.inputs["deploymentConfig"]["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"] == {
        "type": "ALL_AT_ONCE",
        "waitIntervalInSeconds": 300,
    }
    schedules = {s.name: s.inputs for s in dev.of_type("aws:appautoscaling/scheduledAction:ScheduledAction")}
    assert schedules["endpoint-primary-night"] == {
        "name": "ml-platform-dev-night",
        "serviceNamespace": "sagemaker",
        "resourceId": "endpoint/ml-platform-dev/variant/primary",
        "scalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "schedule": "cron(0 20 ? * MON-FRI *)",
        "timezone": "Europe/London",
        "scalableTargetAction": {"minCapacity": 1, "maxCapacity": 1},
    }
    assert schedules["endpoint-primary-day"]["scalableTargetAction"] == {"minCapacity": 1, "maxCapacity": 2}


def test_a_pinned_version_keeps_the_endpoint_and_variant_names(stack):
    """Another version must reach the same endpoint and variant, or blue/green and autoscaling
    break; its Model and EndpointConfig are new resources named after the version."""
    before, after = stack("prod"), synthesize_stack("prod", overrides={"serving": {**PROD_SERVING, "model": 1}})
    for synthesis, version in ((before, 2), (after, 1)):
        assert synthesis.one("aws:sagemaker/endpoint:Endpoint", "endpoint-primary").inputs["name"] == "ml-platform-prod"
        variants = synthesis.one(
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration", f"endpoint-primary-v{version}"
        ).inputs["productionVariants"]
        assert [v["variantName"] for v in variants] == ["primary"]
    model = after.one("aws:sagemaker/model:Model", "endpoint-primary-v1")
    assert model.inputs["primaryContainer"]["modelDataUrl"] == (
        "s3://primary-artifacts-mock/models/example-execution-1/pipelines-example1-Train/output/model.tar.gz"
    )
    assert sorted(m.name for m in after.of_type("aws:sagemaker/model:Model")) == [
        "endpoint-primary-v1",
        "endpoint-secondary-v1",
    ]
    assert after.outputs["model_version"]["version"] == 1


def test_prod_model_and_endpoint_configuration_are_valid_requests_that_moto_accepts(stack):
    prod = stack("prod")
    model = prod.one("aws:sagemaker/model:Model", "endpoint-primary-v2")
    model_inputs = dict(model.inputs)
    model_inputs["tags"] = [{"key": k, "value": v} for k, v in model_inputs["tags"].items()]
    model_params = request("sagemaker", "CreateModel", {"model_name": model.outputs["name"], **model_inputs})
    assert model_params["EnableNetworkIsolation"] is True
    config = prod.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "endpoint-primary-v2")
    inputs = dict(config.inputs)
    # Pulumi calls the volume key `kmsKeyArn` and takes tags as a map; the API differs.
    inputs["kmsKeyId"] = inputs.pop("kmsKeyArn")
    inputs["tags"] = [{"key": k, "value": v} for k, v in inputs["tags"].items()]
    params = request("sagemaker", "CreateEndpointConfig", {"endpoint_config_name": "cfg", **inputs})
    assert params["KmsKeyId"].startswith("arn:aws:kms:us-east-1:")
    assert params["DataCaptureConfig"]["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_model(**model_params)
        sagemaker.create_endpoint_config(**params)
        described = sagemaker.describe_endpoint_config(EndpointConfigName="cfg")
    assert described["ProductionVariants"][0]["InitialInstanceCount"] == 2
