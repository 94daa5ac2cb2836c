"""`Retraining` built alone under the mock engine from plain Args (no stack file, no StackConfig):
the children it declares, their names and the inputs that matter, for the model build alone,
with a schedule, and with monitoring (with and without quality and the no-traffic alarm).
The whole-stack wiring is asserted in tests/test_retraining.py.

What mocks cannot prove: that SageMaker accepts the definitions (see tests/test_pipelines.py for
botocore's request shapes and moto), and that aliases and auto-names survive a real `pulumi up`."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ml_platform.components.drift_alarms import CaptureAlarmsArgs, capture_alarm_args
from ml_platform.components.pipelines import SpotTraining
from ml_platform.components.retraining import (
    MonitoringArgs,
    QualityMonitoringArgs,
    Retraining,
    RetrainingArgs,
    alarm_event_pattern,
    drift_alarm_args,
    model_build_definition,
    monitoring_definition,
    monitoring_jobs_policy,
    pipeline_role_policy,
    quality_alarm_args,
    retraining_jobs_policy,
    start_pipelines_policy,
)
from tests.harness import Synthesis, decoded, in_region, run_component

ACCOUNT = "123456789012"
REGION = "us-gov-west-1"
PARTITION = "aws-us-gov"  # not `aws`: the ARNs the component builds must follow it
KEY = f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/k"
REPOSITORY = f"arn:{PARTITION}:ecr:{REGION}:{ACCOUNT}:repository/model"
TOPIC = f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:alerts"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/model@sha256:" + "b" * 64

ARGS = RetrainingArgs(
    name_prefix="team-a",
    image_uri=IMAGE,
    training=SpotTraining(instance_type="ml.m5.xlarge", hyperparameters={"epochs": "5"}),
    dataset_prefix="tabular/iris",
    holdout_prefix="tabular/iris-holdout",
    evaluation_instance_type="ml.m5.large",
    accuracy_threshold=0.8,
    champion_tolerance=0.02,
    approval_status="PendingManualApproval",
    inference_instance_types=("ml.m5.large",),
    datasets_bucket_name="datasets-b",
    datasets_bucket_arn=f"arn:{PARTITION}:s3:::datasets-b",
    artifacts_bucket_name="artifacts-b",
    artifacts_bucket_arn=f"arn:{PARTITION}:s3:::artifacts-b",
    key_arn=KEY,
    repository_arn=REPOSITORY,
    model_package_group_name="team-a-models",
    topic_arn=TOPIC,
    region=REGION,
    account_id=ACCOUNT,
    partition=PARTITION,
)
MONITORING = MonitoringArgs(
    endpoint_name="team-a-endpoint",
    baseline_s3_uri="s3://artifacts-b/models/e1/evaluation/baseline.json",
    capture_bucket_name="capture-b",
    capture_bucket_arn=f"arn:{PARTITION}:s3:::capture-b",
    capture_prefix="captured",
    metrics_namespace="team-a/Drift",
    processing_instance_type="ml.m5.xlarge",
    interval_hours=2,
    psi_threshold=0.25,
    drift_evaluation_periods=4,
    drift_datapoints_to_alarm=3,
    drift_min_records=100,
    drift_false_alarm_rate=0.02,
    capture_alarms=CaptureAlarmsArgs(
        missing_rate_threshold=0.1,
        out_of_range_rate_threshold=0.1,
        prediction_psi_threshold=0.3,
        skipped_rate_threshold=0.05,
        min_records_per_run=50,
    ),
    quality=QualityMonitoringArgs(accuracy_threshold=0.85, min_joined_records=40, lookback_hours=12),
)


def build(args: RetrainingArgs) -> Synthesis:
    return run_component(lambda: Retraining("rt", args, opts=in_region(REGION)))


def children(run: Synthesis) -> list[tuple[str, str]]:
    component = run.one("ml-platform:retraining:Retraining", "rt")
    return sorted((r.type.rsplit(":", 1)[1], r.name) for r in run.resources if r.parent == component.urn)


def arn(run: Synthesis, type_: str, name: str) -> str:
    return run.one(type_, name).outputs["arn"]


def alarm_inputs(spec: dict[str, Any]) -> dict[str, Any]:
    """A MetricAlarm's builder arguments (without metric queries) as the engine records them."""
    return {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): v for k, v in spec.items()}


MODEL_BUILD_CHILDREN = [
    ("BucketObjectv2", "rt-no-champion"),
    ("EventRule", "rt-failed"),
    ("EventTarget", "rt-failed"),
    ("Pipeline", "rt-retraining"),
    ("Role", "rt-jobs"),
    ("Role", "rt-pipeline"),
    ("RolePolicy", "rt-jobs"),
    ("RolePolicy", "rt-pipeline"),
]


def test_without_monitoring_only_the_model_build_is_declared():
    run = build(ARGS)
    assert children(run) == MODEL_BUILD_CHILDREN
    jobs = arn(run, "aws:iam/role:Role", "rt-jobs")
    pipeline = run.one("aws:sagemaker/pipeline:Pipeline", "rt-retraining")
    assert {k: v for k, v in pipeline.inputs.items() if k != "pipelineDefinition"} == {
        "pipelineName": "team-a-retraining",
        "pipelineDisplayName": "team-a-retraining",
        "pipelineDescription": "model build: newest data, spot training, gates (threshold, champion), registration",
        "roleArn": arn(run, "aws:iam/role:Role", "rt-pipeline"),
    }
    assert pipeline.inputs["pipelineDefinition"] == model_build_definition(
        ARGS,
        image_uri=IMAGE,
        role_arn=jobs,
        key_arn=KEY,
        datasets_bucket="datasets-b",
        artifacts_bucket="artifacts-b",
        group_name="team-a-models",
    )
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    resolve = definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert resolve[resolve.index("--dataset-root") + 1] == "s3://datasets-b/tabular/iris/"
    assert resolve[resolve.index("--holdout-root") + 1] == "s3://datasets-b/tabular/iris-holdout/"
    assert run.one("aws:s3/bucketObjectv2:BucketObjectv2", "rt-no-champion").urn in pipeline.depends_on
    policies = {p.name: decoded(p.inputs["policy"]) for p in run.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert policies["rt-pipeline"] == pipeline_role_policy(
        region=REGION,
        account_id=ACCOUNT,
        partition=PARTITION,
        group_name="team-a-models",
        job_role_arns=[jobs],
        artifacts_bucket_arn=f"arn:{PARTITION}:s3:::artifacts-b",
        key_arn=KEY,
    )
    assert policies["rt-jobs"] == retraining_jobs_policy(
        datasets_bucket_arn=f"arn:{PARTITION}:s3:::datasets-b",
        dataset_prefixes=["tabular/iris/", "tabular/iris-holdout/"],
        artifacts_bucket_arn=f"arn:{PARTITION}:s3:::artifacts-b",
        key_arn=KEY,
        repository_arn=REPOSITORY,
        region=REGION,
        account_id=ACCOUNT,
        partition=PARTITION,
        group_name="team-a-models",
    )
    # The partition the caller passes is the one in the registry ARNs.
    by_sid = {s["Sid"]: s for s in policies["rt-pipeline"]["Statement"]}
    assert by_sid["RegisterModels"]["Resource"] == [
        f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:model-package/team-a-models/*",
        f"arn:{PARTITION}:sagemaker:{REGION}:{ACCOUNT}:model-package-group/team-a-models",
    ]
    target = run.one("aws:cloudwatch/eventTarget:EventTarget", "rt-failed")
    assert target.inputs["arn"] == TOPIC
    assert {r.region for r in run.resources if r.custom and not r.is_provider} == {REGION}


def test_a_schedule_starts_the_model_build_with_its_own_role():
    run = build(replace(ARGS, retraining_schedule_expression="cron(0 3 1 * ? *)"))
    assert children(run) == sorted(
        [*MODEL_BUILD_CHILDREN, ("Role", "rt-scheduler"), ("RolePolicy", "rt-scheduler"), ("Schedule", "rt-retraining")]
    )
    retraining = arn(run, "aws:sagemaker/pipeline:Pipeline", "rt-retraining")
    assert run.one("aws:scheduler/schedule:Schedule", "rt-retraining").inputs == {
        "scheduleExpression": "cron(0 3 1 * ? *)",
        "scheduleExpressionTimezone": "UTC",
        "flexibleTimeWindow": {"mode": "OFF"},
        "target": {"arn": retraining, "roleArn": arn(run, "aws:iam/role:Role", "rt-scheduler")},
    }
    policy = decoded(run.one("aws:iam/rolePolicy:RolePolicy", "rt-scheduler").inputs["policy"])
    assert policy == start_pipelines_policy([retraining])


def test_monitoring_declares_its_pipeline_schedule_alarms_and_the_rule_that_retrains():
    run = build(replace(ARGS, monitoring=MONITORING))
    capture = [
        ("MetricAlarm", f"rt-{suffix}") for suffix in capture_alarm_args(MONITORING.capture_alarms, 7200, "", "", "")
    ]
    assert children(run) == sorted(
        [
            *MODEL_BUILD_CHILDREN,
            *capture,
            ("EventRule", "rt-on-alarm"),
            ("EventTarget", "rt-on-alarm"),
            ("MetricAlarm", "rt-accuracy"),
            ("MetricAlarm", "rt-drift"),
            ("Pipeline", "rt-monitoring"),
            ("Role", "rt-events"),
            ("Role", "rt-monitor"),
            ("Role", "rt-scheduler"),
            ("RolePolicy", "rt-events"),
            ("RolePolicy", "rt-monitor"),
            ("RolePolicy", "rt-scheduler"),
            ("Schedule", "rt-monitoring"),
        ]
    )
    assert len(capture) == 6  # the no-traffic alarm is there: min_records_per_run is set
    monitor = arn(run, "aws:iam/role:Role", "rt-monitor")
    pipeline = run.one("aws:sagemaker/pipeline:Pipeline", "rt-monitoring")
    assert pipeline.inputs["pipelineName"] == "team-a-monitoring"
    assert pipeline.inputs["pipelineDefinition"] == monitoring_definition(
        MONITORING,
        REGION,
        image_uri=IMAGE,
        role_arn=monitor,
        key_arn=KEY,
        capture_bucket="capture-b",
        baseline_s3_uri=MONITORING.baseline_s3_uri,
    )
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["Drift", "Quality"]
    drift = definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert drift[drift.index("--capture") + 1] == "s3://capture-b/captured"
    assert drift[drift.index("--lookback-hours") + 1] == "2"
    assert run.one("aws:scheduler/schedule:Schedule", "rt-monitoring").inputs["scheduleExpression"] == "rate(2 hours)"
    drift_alarm = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "rt-drift")
    assert drift_alarm.inputs == alarm_inputs(drift_alarm_args(MONITORING, TOPIC))
    assert (drift_alarm.inputs["period"], drift_alarm.inputs["evaluationPeriods"]) == (7200, 4)
    accuracy = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "rt-accuracy")
    assert accuracy.inputs["threshold"] == 0.85
    assert accuracy.inputs["name"] == quality_alarm_args(MONITORING, MONITORING.quality, TOPIC)["name"]
    rule = run.one("aws:cloudwatch/eventRule:EventRule", "rt-on-alarm")
    alarms = [arn(run, "aws:cloudwatch/metricAlarm:MetricAlarm", f"rt-{k}") for k in ("drift", "accuracy")]
    assert json.loads(rule.inputs["eventPattern"]) == alarm_event_pattern(alarms)
    target = run.one("aws:cloudwatch/eventTarget:EventTarget", "rt-on-alarm")
    assert target.inputs["arn"] == arn(run, "aws:sagemaker/pipeline:Pipeline", "rt-retraining")
    policies = {p.name: decoded(p.inputs["policy"]) for p in run.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert policies["rt-monitor"] == monitoring_jobs_policy(
        capture_bucket_arn=f"arn:{PARTITION}:s3:::capture-b",
        capture_prefix="captured",
        artifacts_bucket_arn=f"arn:{PARTITION}:s3:::artifacts-b",
        endpoint_name="team-a-endpoint",
        metrics_namespace="team-a/Drift",
        key_arn=KEY,
        repository_arn=REPOSITORY,
        region=REGION,
        account_id=ACCOUNT,
    )
    passed = next(s for s in policies["rt-pipeline"]["Statement"] if s["Sid"] == "PassJobRoles")
    assert passed["Resource"] == [arn(run, "aws:iam/role:Role", "rt-jobs"), monitor]
    no_traffic = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "rt-no-traffic")
    assert (no_traffic.inputs["threshold"], no_traffic.inputs["dimensions"]) == (
        50,
        {"EndpointName": "team-a-endpoint"},
    )


def test_monitoring_without_quality_or_traffic_floor_skips_their_step_and_alarms():
    monitoring = replace(
        MONITORING, quality=None, capture_alarms=replace(MONITORING.capture_alarms, min_records_per_run=None)
    )
    run = build(replace(ARGS, monitoring=monitoring))
    names = [r.name for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert sorted(names) == [
        "rt-capture-skipped", "rt-capture-unreadable", "rt-drift", "rt-feature-missing-rate",
        "rt-feature-out-of-range-rate", "rt-prediction-drift",
    ]  # fmt: skip
    rule = run.one("aws:cloudwatch/eventRule:EventRule", "rt-on-alarm")
    drift = arn(run, "aws:cloudwatch/metricAlarm:MetricAlarm", "rt-drift")
    assert json.loads(rule.inputs["eventPattern"]) == alarm_event_pattern([drift])
    definition = json.loads(run.one("aws:sagemaker/pipeline:Pipeline", "rt-monitoring").inputs["pipelineDefinition"])
    assert [s["Name"] for s in definition["Steps"]] == ["Drift"]
