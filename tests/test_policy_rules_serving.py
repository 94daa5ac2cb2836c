"""The serving policy rules (policy/rules_serving.py: SageMaker endpoints and their alarms,
training, the API Gateway front door) on real synthesized stacks: a passing case, and failing
cases that are mutations of the real resources, asserting the exact message. What these cannot
prove: see test_policy_rules.py.
"""

from __future__ import annotations

import json

import pytest

from offline.policy_check import check
from policy import policies
from policy.policies import ADVISORY, MANDATORY, UNKNOWN, Resource, evaluate
from tests.policy_support import mutated, pending_synthesis, resources, training_job_synthesis

TRAINING = "aws:sagemaker/trainingJob:TrainingJob"


@pytest.fixture(scope="module")
def prod(stack):
    return stack("prod")


@pytest.fixture(scope="module")
def pending():
    return pending_synthesis()


# ---------------------------------------------------------------------------------------------
# SageMaker serving and its alarms


CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"

ENDPOINT = "aws:sagemaker/endpoint:Endpoint"

TARGET = "aws:appautoscaling/target:Target"

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

SERVING = "endpoint-primary"

STANDBY = "endpoint-secondary"

# Endpoint configurations are named after the served model version (2 in the example registry).
SERVING_CONFIG = f"{SERVING}-v2"

STANDBY_CONFIG = f"{STANDBY}-v2"


def primary_alarms(synthesis, metric: str) -> tuple[str, ...]:
    """Logical names of the primary region's alarms on a metric whose name contains `metric`."""

    def names(alarm) -> list[str]:
        queries = [q.get("metric", {}).get("metricName") for q in alarm.inputs.get("metricQueries", [])]
        return [n for n in [alarm.inputs.get("metricName"), *queries] if n]

    return tuple(
        a.name for a in synthesis.of_type(ALARM) if a.region == "us-east-1" and any(metric in n for n in names(a))
    )


def one(synthesis, type_: str, name: str | None = None) -> Resource:
    name = name or (SERVING_CONFIG if type_ == CONFIG else SERVING)
    return next(r for r in resources(synthesis) if r.type == type_ and r.name == name)


def test_endpoint_config_passes_in_its_environment(stack):
    for name in ("dev", "prod"):
        assert policies.endpoint_config_kms_and_capacity(one(stack(name), CONFIG), name) == []


def test_endpoint_config_without_kms(prod):
    broken = mutated(prod, CONFIG, SERVING_CONFIG, without=("kmsKeyArn",))
    assert policies.endpoint_config_kms_and_capacity(one(broken, CONFIG), "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: no kmsKeyArn (the instance storage volumes would use an AWS-owned key)"
    ]
    capture = prod.one(CONFIG, SERVING_CONFIG).inputs["dataCaptureConfig"]
    no_capture_key = mutated(prod, CONFIG, SERVING_CONFIG, inputs={"dataCaptureConfig": capture | {"kmsKeyId": ""}})
    assert policies.endpoint_config_kms_and_capacity(one(no_capture_key, CONFIG), "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: dataCaptureConfig has no kmsKeyId (captured requests would use SSE-S3)"
    ]


def test_endpoint_config_with_one_instance_passes_outside_prod_only(prod, stack):
    # dev's real config starts one instance.
    assert stack("dev").one(CONFIG, SERVING_CONFIG).inputs["productionVariants"][0]["initialInstanceCount"] == 1.0
    variant = prod.one(CONFIG, SERVING_CONFIG).inputs["productionVariants"][0] | {"initialInstanceCount": 1.0}
    single = one(mutated(prod, CONFIG, SERVING_CONFIG, inputs={"productionVariants": [variant]}), CONFIG)
    assert policies.endpoint_config_kms_and_capacity(single, "staging") == []
    assert policies.endpoint_config_kms_and_capacity(single, "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: production variant 'primary' has initialInstanceCount 1.0 in prod "
        "(expected at least 2 on an endpoint taking traffic)"
    ]


def test_prod_warm_standby_may_keep_one_instance_but_not_fewer(prod):
    standby = prod.one(CONFIG, STANDBY_CONFIG)
    assert standby.inputs["tags"] == {"serving-role": "standby", "model-version": "2"}
    assert standby.inputs["productionVariants"][0]["initialInstanceCount"] == 1.0
    assert policies.endpoint_config_kms_and_capacity(one(prod, CONFIG, STANDBY_CONFIG), "prod") == []
    variant = standby.inputs["productionVariants"][0] | {"initialInstanceCount": 0.0}
    empty = one(mutated(prod, CONFIG, STANDBY_CONFIG, inputs={"productionVariants": [variant]}), CONFIG, STANDBY_CONFIG)
    assert policies.endpoint_config_kms_and_capacity(empty, "prod") == [
        f"{CONFIG} {STANDBY_CONFIG}: production variant 'primary' has initialInstanceCount 0.0 in prod "
        "(expected at least 1 on a warm standby)"
    ]
    # Without the tag, the standby is held to the serving minimum.
    untagged = one(mutated(prod, CONFIG, STANDBY_CONFIG, without=("tags",)), CONFIG, STANDBY_CONFIG)
    assert policies.endpoint_config_kms_and_capacity(untagged, "prod") == [
        f"{CONFIG} {STANDBY_CONFIG}: production variant 'primary' has initialInstanceCount 1.0 in prod "
        "(expected at least 2 on an endpoint taking traffic)"
    ]


def test_serverless_endpoint_config_is_dev_only(prod):
    variant = prod.one(CONFIG, SERVING_CONFIG).inputs["productionVariants"][0]
    serverless = {
        "variantName": variant["variantName"],
        "modelName": variant["modelName"],
        "serverlessConfig": {"maxConcurrency": 5.0, "memorySizeInMb": 2048.0},
    }
    config = one(
        mutated(prod, CONFIG, SERVING_CONFIG, inputs={"productionVariants": [serverless]}, without=("kmsKeyArn",)),
        CONFIG,
    )
    assert policies.endpoint_config_kms_and_capacity(config, "dev") == []
    assert policies.endpoint_config_kms_and_capacity(config, "prod") == [
        f"{CONFIG} {SERVING_CONFIG}: production variant 'primary' is serverless, which is allowed in dev only "
        "(environment 'prod')"
    ]


def test_endpoint_rollback_alarms(prod):
    assert policies.endpoint_rollback_alarms(one(prod, ENDPOINT), "prod") == []
    config = prod.one(ENDPOINT, SERVING).inputs["deploymentConfig"]
    for broken in (
        mutated(prod, ENDPOINT, SERVING, without=("deploymentConfig",)),
        mutated(prod, ENDPOINT, SERVING, inputs={"deploymentConfig": config | {"autoRollbackConfiguration": {}}}),
    ):
        assert policies.endpoint_rollback_alarms(one(broken, ENDPOINT), "prod") == [
            f"{ENDPOINT} {SERVING}: no rollback alarms (deploymentConfig.autoRollbackConfiguration.alarms is empty)"
        ]


def test_endpoint_scalable_target(prod):
    assert policies.endpoints_have_scalable_targets(resources(prod), "prod") == []
    expected = [
        f"{ENDPOINT} {SERVING}: variant 'primary' has no scalable target "
        f"({TARGET} with resourceId 'endpoint/ml-platform-prod/variant/primary')"
    ]
    # The standby's target in us-west-2 has the same resourceId; it does not count here.
    assert prod.one(TARGET, STANDBY).inputs["resourceId"] == "endpoint/ml-platform-prod/variant/primary"
    missing = mutated(prod, TARGET, SERVING, drop=True)
    assert policies.endpoints_have_scalable_targets(resources(missing), "prod") == expected
    other = mutated(prod, TARGET, SERVING, inputs={"resourceId": "endpoint/other/variant/primary"})
    assert policies.endpoints_have_scalable_targets(resources(other), "prod") == expected


def without_all(synthesis, type_: str, names: tuple[str, ...]):
    for name in names:
        synthesis = mutated(synthesis, type_, name, drop=True)
    return synthesis


def test_endpoint_latency_and_error_alarms(prod):
    assert policies.endpoints_have_latency_and_error_alarms(resources(prod), "prod") == []
    # The standby's alarms in us-west-2 watch an endpoint of the same name; they do not count.
    no_latency = without_all(prod, ALARM, primary_alarms(prod, "Latency"))
    assert policies.endpoints_have_latency_and_error_alarms(resources(no_latency), "prod") == [
        f"{ENDPOINT} {SERVING}: no latency alarm ({ALARM} on a latency metric with dimension "
        "EndpointName 'ml-platform-prod')"
    ]
    no_errors = without_all(prod, ALARM, primary_alarms(prod, "Error"))
    assert policies.endpoints_have_latency_and_error_alarms(resources(no_errors), "prod") == [
        f"{ENDPOINT} {SERVING}: no error alarm ({ALARM} on a error metric with dimension "
        "EndpointName 'ml-platform-prod')"
    ]


def test_alarms_naming_another_endpoint_do_not_count(prod):
    synthesis = prod
    for name in primary_alarms(prod, "Latency"):
        queries = prod.one(ALARM, name).inputs.get("metricQueries", [])
        if "dimensions" in prod.one(ALARM, name).inputs:
            synthesis = mutated(synthesis, ALARM, name, inputs={"dimensions": {"EndpointName": "other"}})
            continue
        moved = [q | {"metric": q["metric"] | {"dimensions": {"EndpointName": "other"}}} for q in queries]
        synthesis = mutated(synthesis, ALARM, name, inputs={"metricQueries": moved})
    assert policies.endpoints_have_latency_and_error_alarms(resources(synthesis), "prod") == [
        f"{ENDPOINT} {SERVING}: no latency alarm ({ALARM} on a latency metric with dimension "
        "EndpointName 'ml-platform-prod')"
    ]


def test_metric_alarms_have_actions(prod):
    assert [m for r in resources(prod) for m in policies.metric_alarms_have_actions(r, "prod")] == []
    name = primary_alarms(prod, "ModelLatency")[0]
    silent = mutated(prod, ALARM, name, without=("alarmActions",))
    assert [m for r in resources(silent) for m in policies.metric_alarms_have_actions(r, "prod")] == [
        f"{ALARM} {name}: no alarmActions (the alarm would change state and notify nobody)"
    ]


# ---------------------------------------------------------------------------------------------
# Training


def test_training_job_uses_spot_with_checkpoints(prod):
    for synthesis in (prod, training_job_synthesis("prod")):
        assert [m for r in resources(synthesis) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == []


def test_training_job_on_demand_without_checkpoints():
    broken = mutated(
        training_job_synthesis("prod"),
        TRAINING,
        "training",
        inputs={"enableManagedSpotTraining": False},
        without=("checkpointConfig",),
    )
    assert [m for r in resources(broken) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == [
        f"{TRAINING} training: enableManagedSpotTraining is not true (got false; expected true)",
        f"{TRAINING} training: no checkpointConfig.s3Uri (an interrupted spot job would start over)",
    ]


def test_training_rule_is_advisory_in_dev_and_mandatory_in_prod():
    for name, level in (("dev", ADVISORY), ("prod", MANDATORY)):
        broken = mutated(training_job_synthesis(name), TRAINING, "training", without=("checkpointConfig",))
        found = [v for v in check(name, broken) if v.rule == "training-spot-with-checkpoints"]
        assert [(v.level, v.resource) for v in found] == [(level, f"{TRAINING} training")]


def test_pipeline_training_step(pending):
    pipeline = "aws:sagemaker/pipeline:Pipeline"
    assert [m for r in resources(pending) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == []
    definition = json.loads(pending.one(pipeline, "retrain").inputs["pipelineDefinition"])
    definition["Steps"][0]["Arguments"] = {"EnableManagedSpotTraining": False}
    broken = mutated(pending, pipeline, "retrain", inputs={"pipelineDefinition": json.dumps(definition)})
    step = f"{pipeline} retrain: pipeline step 'Train'"
    assert [m for r in resources(broken) for m in policies.training_uses_spot_with_checkpoints(r, "prod")] == [
        f"{step}: EnableManagedSpotTraining is not true (got false; expected true)",
        f"{step}: no CheckpointConfig.S3Uri (an interrupted spot job would start over)",
    ]


# ---------------------------------------------------------------------------------------------
# The front door


STAGE = "aws:apigateway/stage:Stage"

ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def test_api_stage_without_waf_or_tracing(prod):
    assert policies.api_stages_behind_waf(resources(prod), "prod") == []
    unguarded = mutated(prod, ASSOCIATION, "api-secondary", drop=True)
    assert policies.api_stages_behind_waf(resources(unguarded), "prod") == [
        f"{STAGE} api-secondary: no WAF web ACL (no {ASSOCIATION} names the stage's ARN)"
    ]
    untraced = mutated(prod, STAGE, "api-primary", without=("xrayTracingEnabled",))
    assert [v.message for v in evaluate(resources(untraced), "dev") if v.rule == "api-stage-tracing"] == [
        f"{STAGE} api-primary: X-Ray tracing is off (got xrayTracingEnabled null; expected true)"
    ]


def test_prod_api_access_logs_are_kept_a_year(prod):
    assert policies.prod_api_access_logs_kept_a_year(resources(prod), "prod") == []
    short = mutated(prod, LOG_GROUP, "api-primary-access", inputs={"retentionInDays": 90})
    assert policies.prod_api_access_logs_kept_a_year(resources(short), "prod") == [
        f"{LOG_GROUP} api-primary-access: API access log of api-primary kept 90 days in prod "
        "(expected retentionInDays >= 365)"
    ]
    assert policies.prod_api_access_logs_kept_a_year(resources(short), "dev") == []
    forever = mutated(prod, LOG_GROUP, "api-primary-access", without=("retentionInDays",))
    assert policies.prod_api_access_logs_kept_a_year(resources(forever), "prod") == []
    unlogged = mutated(prod, STAGE, "api-secondary", inputs={"accessLogSettings": None})
    assert policies.prod_api_access_logs_kept_a_year(resources(unlogged), "prod") == [
        f"{STAGE} api-secondary: no access log in prod (accessLogSettings names no log group)"
    ]


def test_prod_api_log_retention_in_a_preview_joins_through_dependencies():
    group = Resource(LOG_GROUP, "api-primary-access", inputs={"retentionInDays": 30}, urn="urn:lg")
    stage = Resource(
        STAGE,
        "api-primary",
        inputs={"accessLogSettings": {"destinationArn": UNKNOWN}},
        urn="urn:stage",
        dependencies={"accessLogSettings": ("urn:lg",)},
    )
    assert policies.prod_api_access_logs_kept_a_year([group, stage], "prod") == [
        f"{LOG_GROUP} api-primary-access: API access log of api-primary kept 30 days in prod "
        "(expected retentionInDays >= 365)"
    ]
    unseen = Resource(STAGE, "api-primary", inputs={"accessLogSettings": {"destinationArn": UNKNOWN}}, urn="urn:s")
    assert policies.prod_api_access_logs_kept_a_year([group, unseen], "prod") == []
