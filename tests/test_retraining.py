"""Drift monitoring and drift-triggered retraining, as each stack declares them."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from moto.iam.policy_validation import IAMPolicyDocumentValidator

from ml_platform.components.retraining import (
    alarm_event_pattern,
    monitoring_jobs_policy,
    pipeline_failed_event_pattern,
    pipeline_failed_message,
    pipeline_role_policy,
    retraining_jobs_policy,
    start_pipelines_policy,
)
from tests.test_config import problems

ACCOUNT = "123456789012"


def pipeline(synthesis, kind):
    resource = synthesis.one("aws:sagemaker/pipeline:Pipeline", f"retraining-{kind}")
    return resource, json.loads(resource.inputs["pipelineDefinition"])


def test_retraining_config_rules():
    assert problems(
        retraining={
            "holdout_prefix": "/x",
            "evaluation_instance_type": "ml.m5.larg",
            "drift_evaluation_periods": 2,
            "drift_datapoints_to_alarm": 3,
        }
    ) == [
        "retraining.holdout_prefix: not in the required format (got '/x'; expected a relative S3 key prefix: "
        "lowercase letters, digits and . _ / -, no leading or trailing /)",
        "retraining.evaluation_instance_type: unknown instance type (got 'ml.m5.larg'; expected a SageMaker "
        "ProcessingInstanceType, e.g. ml.m5.large, ml.m5.xlarge, ml.m5.4xlarge)",
        "retraining.drift_datapoints_to_alarm: cannot exceed drift_evaluation_periods (got 3; expected <= 2)",
    ]


def test_gate_config_rules():
    # Checked once, here; the pipeline builders trust the values (they used to re-check them).
    assert problems(
        retraining={"holdout_prefix": "tabular/x", "accuracy_threshold": 1.5, "champion_tolerance": 1.0}
    ) == [
        "retraining.accuracy_threshold: out of range (got 1.5; expected <= 1)",
        "retraining.champion_tolerance: out of range (got 1.0; expected < 1)",
    ]
    assert problems(retraining={"holdout_prefix": "tabular/x", "accuracy_threshold": 0}) == [
        "retraining.accuracy_threshold: out of range (got 0; expected > 0)"
    ]


def test_alarm_event_pattern():
    assert alarm_event_pattern(["arn:a", "arn:b"]) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": ["arn:a", "arn:b"],
        "detail": {"state": {"value": ["ALARM"]}},
    }


def test_monitoring_jobs_publish_only_into_the_stack_namespace():
    policy = monitoring_jobs_policy(
        capture_bucket_arn="arn:aws:s3:::c",
        capture_prefix="datacapture",
        artifacts_bucket_arn="arn:aws:s3:::a",
        endpoint_name="ml-platform-prod",
        metrics_namespace="ml-platform/Drift",
        key_arn="arn:aws:kms:us-east-1:1:key/k",
        repository_arn="arn:aws:ecr:us-east-1:1:repository/r",
        region="us-east-1",
        account_id=ACCOUNT,
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["PublishDriftMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ml-platform/Drift"}}
    assert by_sid["ReadCaptureAndLabels"]["Resource"] == [
        "arn:aws:s3:::c/datacapture/ml-platform-prod/*",
        "arn:aws:s3:::c/ground-truth/ml-platform-prod/*",
        "arn:aws:s3:::c/drift-reports/ml-platform-prod/runs/*",  # a sharded drift run's manifest and partials
    ]
    assert by_sid["WriteReports"]["Resource"] == [
        "arn:aws:s3:::c/drift-reports/ml-platform-prod/*",
        "arn:aws:s3:::c/quality-reports/ml-platform-prod/*",
    ]
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()


@pytest.mark.parametrize(("name", "approval"), [("dev", "Approved"), ("prod", "PendingManualApproval")])
def test_retraining_pipeline_trains_on_spot_and_registers_by_environment(stack, name, approval):
    synthesis = stack(name)
    resource, definition = pipeline(synthesis, "retraining")
    assert resource.region == "us-east-1"
    assert resource.inputs["pipelineName"] == f"ml-platform-{name}-retraining"
    assert resource.inputs["roleArn"] == synthesis.one("aws:iam/role:Role", "retraining-pipeline").outputs["arn"]
    steps = {step["Name"]: step for step in definition["Steps"]}
    train = steps["Train"]["Arguments"]
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"]["MaxWaitTimeInSeconds"] >= train["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert train["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert train["AlgorithmSpecification"]["TrainingImage"] == synthesis.outputs["image_uri"]
    condition = steps["CheckAccuracy"]["Arguments"]
    assert condition["Conditions"][0]["RightValue"] == {"dev": 0.9, "prod": 0.95}[name]
    (champion,) = condition["IfSteps"]
    tolerance = {"dev": -0.02, "prod": -0.01}[name]  # retraining.champion_tolerance in the stack files
    assert champion["Arguments"]["Conditions"][0]["Arguments"]["Conditions"][1]["RightValue"] == tolerance
    (register,) = champion["Arguments"]["IfSteps"]
    assert register["Arguments"]["ModelApprovalStatus"] == approval
    assert register["Arguments"]["ModelPackageGroupName"] == f"ml-platform-{name}"
    # Every version declares the instance types the stack serves on, primary and standby.
    served = {"dev": ["ml.m5.large"], "prod": ["ml.c5.xlarge"]}[name]
    assert register["Arguments"]["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == served
    parameters = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert parameters == {
        "DatasetVersion": "latest",
        "GitCommit": "unknown",
        "ChampionModelDataUrl": "latest-approved",
        "TrainingInstanceType": {"dev": "ml.m5.large", "prod": "ml.m5.xlarge"}[name],
    }
    datasets = synthesis.one("aws:s3/bucket:Bucket", "primary-datasets").outputs["bucket"]
    artifacts = synthesis.one("aws:s3/bucket:Bucket", "primary-artifacts").outputs["bucket"]
    resolve = steps["ResolveDataset"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert resolve[resolve.index("--dataset-root") + 1] == f"s3://{datasets}/tabular/breast-cancer/"
    assert resolve[resolve.index("--holdout-root") + 1] == f"s3://{datasets}/tabular/breast-cancer-holdout/"
    assert resolve[resolve.index("--no-champion-uri") + 1] == f"s3://{artifacts}/champion-none/"


def test_the_no_champion_placeholder_exists_before_the_pipeline_runs(stack):
    prod = stack("prod")
    placeholder = prod.one("aws:s3/bucketObjectv2:BucketObjectv2", "retraining-no-champion")
    assert placeholder.region == "us-east-1"
    assert placeholder.inputs["bucket"] == prod.one("aws:s3/bucket:Bucket", "primary-artifacts").outputs["bucket"]
    assert placeholder.inputs["key"] == "champion-none/README"
    assert placeholder.urn in prod.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").depends_on


def test_jobs_read_every_dataset_version_and_nothing_else_there():
    policy = retraining_jobs_policy(
        datasets_bucket_arn="arn:aws:s3:::d",
        dataset_prefixes=["tabular/iris/", "tabular/iris-holdout"],
        artifacts_bucket_arn="arn:aws:s3:::a",
        key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
        repository_arn="arn:aws:ecr:us-east-1:123456789012:repository/r",
        region="us-east-1",
        account_id=ACCOUNT,
        partition="aws",
        group_name="ml-platform-prod",
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadDatasetVersions"]["Resource"] == [
        "arn:aws:s3:::d/tabular/iris/*",
        "arn:aws:s3:::d/tabular/iris-holdout/*",
    ]
    assert by_sid["ListDatasetVersions"]["Condition"] == {
        "StringLike": {"s3:prefix": ["tabular/iris/*", "tabular/iris-holdout/*"]}
    }
    assert by_sid["ReadWriteRuns"]["Resource"] == ["arn:aws:s3:::a/models/*", "arn:aws:s3:::a/checkpoints/*"]
    assert by_sid["ReadNoChampion"]["Resource"] == "arn:aws:s3:::a/champion-none/*"
    assert by_sid["ReadChampion"] == {
        "Sid": "ReadChampion",
        "Effect": "Allow",
        "Action": ["sagemaker:DescribeModelPackage"],
        "Resource": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/ml-platform-prod/*",
    }
    # The steps pass the key for their output, which needs kms:Encrypt (API_OutputDataConfig);
    # grants only for AWS resources (the job's volumes).
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    assert by_sid["UseJobOutputKey"]["Action"] == [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    ]
    assert by_sid["UseJobOutputKey"]["Resource"] == key
    assert by_sid["GrantJobVolumesTheKey"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    # SageMaker publishes the training step's metrics with the job's role, into its own namespace only.
    assert by_sid["PutMetricsInNamespace"] == {
        "Sid": "PutMetricsInNamespace",
        "Effect": "Allow",
        "Action": ["cloudwatch:PutMetricData"],
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
    }
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()


def test_the_pipeline_role_reads_the_property_files_it_evaluates():
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    policy = pipeline_role_policy(
        region="us-east-1",
        account_id=ACCOUNT,
        partition="aws",
        group_name="ml-platform-prod",
        job_role_arns=[f"arn:aws:iam::{ACCOUNT}:role/jobs"],
        artifacts_bucket_arn="arn:aws:s3:::a",
        key_arn=key,
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadPropertyFiles"]["Resource"] == [
        "arn:aws:s3:::a/models/*/resolved/*",
        "arn:aws:s3:::a/models/*/evaluation/*",
    ]
    assert by_sid["DecryptPropertyFiles"] == {
        "Sid": "DecryptPropertyFiles",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": key,
        "Condition": {
            "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::a", "arn:aws:s3:::a/*"]},
        },
    }
    IAMPolicyDocumentValidator(json.dumps(policy)).validate()


# AWS's sample "SageMaker Model Building Pipeline Execution Status Change" event
# (https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-pipeline).
PIPELINE_EVENT = {
    "version": "0",
    "id": "315c1398-40ff-a850-213b-158f73e60175",
    "detail-type": "SageMaker Model Building Pipeline Execution Status Change",
    "source": "aws.sagemaker",
    "account": "123456789012",
    "time": "2021-03-15T16:10:11Z",
    "region": "us-east-1",
    "resources": [
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline",
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline/execution/zs8t4a2jf3oa",
    ],
    "detail": {
        "pipelineExecutionDisplayName": "SomeDisplayName",
        "currentPipelineExecutionStatus": "Failed",
        "previousPipelineExecutionStatus": "Executing",
        "executionStartTime": "2021-03-15T16:03:13Z",
        "executionEndTime": "2021-03-15T16:10:10Z",
        "pipelineExecutionDescription": "SomeDescription",
        "pipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline",
        "pipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline/execution/zs8t4a2jf3oa",
    },
}


def test_a_failed_execution_tells_the_alerts_topic(stack):
    from tests.test_training import matches, render

    pattern = pipeline_failed_event_pattern("arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline")
    assert matches(pattern, PIPELINE_EVENT)
    succeeded = {
        **PIPELINE_EVENT,
        "detail": {**PIPELINE_EVENT["detail"], "currentPipelineExecutionStatus": "Succeeded"},
    }
    assert not matches(pattern, succeeded)
    other = {**PIPELINE_EVENT, "detail": {**PIPELINE_EVENT["detail"], "pipelineArn": "arn:other"}}
    assert not matches(pattern, other)
    assert render(pipeline_failed_message(), PIPELINE_EVENT) == (
        "Model-build execution arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline/execution/zs8t4a2jf3oa "
        "FAILED at 2021-03-15T16:10:10Z: a gate refused the model or a job failed; nothing was registered. The "
        "reason: aws sagemaker list-pipeline-execution-steps --pipeline-execution-arn "
        "arn:aws:sagemaker:us-east-1:123456789012:pipeline/mypipeline/execution/zs8t4a2jf3oa (FailureReason of the "
        "failed step)."
    )
    prod = stack("prod")
    rule = prod.one("aws:cloudwatch/eventRule:EventRule", "retraining-failed")
    retraining = prod.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").outputs["arn"]
    assert json.loads(rule.inputs["eventPattern"]) == pipeline_failed_event_pattern(retraining)
    target = prod.one("aws:cloudwatch/eventTarget:EventTarget", "retraining-failed")
    assert target.inputs["arn"] == prod.one("aws:sns/topic:Topic", "alerts-primary").outputs["arn"]
    assert target.inputs["inputTransformer"]["inputPaths"] == {
        "execution": "$.detail.pipelineExecutionArn",
        "ended": "$.detail.executionEndTime",
    }


def test_monitoring_follows_the_served_version(stack):
    prod = stack("prod")
    _, definition = pipeline(prod, "monitoring")
    assert definition["Parameters"][0]["DefaultValue"] == prod.outputs["model_version"]["baseline_url"]
    assert definition["Parameters"][0]["DefaultValue"] == (
        "s3://primary-artifacts-mock/models/example-execution-2/evaluation/baseline.json"
    )


def test_prod_monitoring_pipeline_runs_drift_and_quality_every_six_hours(stack):
    prod = stack("prod")
    _, definition = pipeline(prod, "monitoring")
    assert [step["Name"] for step in definition["Steps"]] == ["Drift", "Quality"]
    drift_args = definition["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert drift_args[0] == "drift"
    assert "--lookback-hours" in drift_args and drift_args[drift_args.index("--lookback-hours") + 1] == "6"
    assert drift_args[drift_args.index("--metrics-namespace") + 1] == "ml-platform/Drift"
    schedules = {s.name: s.inputs for s in prod.of_type("aws:scheduler/schedule:Schedule")}
    monitoring = prod.one("aws:sagemaker/pipeline:Pipeline", "retraining-monitoring").outputs["arn"]
    retraining = prod.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").outputs["arn"]
    scheduler_role = prod.one("aws:iam/role:Role", "retraining-scheduler").outputs["arn"]
    assert schedules == {
        "retraining-monitoring": {
            "scheduleExpression": "rate(6 hours)",
            "scheduleExpressionTimezone": "UTC",
            "flexibleTimeWindow": {"mode": "OFF"},
            "target": {"arn": monitoring, "roleArn": scheduler_role},
        },
        "retraining-retraining": {
            "scheduleExpression": "cron(0 3 1 * ? *)",
            "scheduleExpressionTimezone": "UTC",
            "flexibleTimeWindow": {"mode": "OFF"},
            "target": {"arn": retraining, "roleArn": scheduler_role},
        },
    }
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "retraining-scheduler").inputs["policy"])
    assert policy == start_pipelines_policy([monitoring, retraining])


def test_dev_monitors_hourly_with_drift_only_and_no_scheduled_retraining(stack):
    dev = stack("dev")
    _, definition = pipeline(dev, "monitoring")
    assert [step["Name"] for step in definition["Steps"]] == ["Drift"]
    assert [s.inputs["scheduleExpression"] for s in dev.of_type("aws:scheduler/schedule:Schedule")] == ["rate(1 hour)"]
    assert [
        a.name
        for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.name.startswith("retraining")
        and a.name in ("retraining-drift", "retraining-accuracy")  # blind-spot alarms: tests/test_drift_alarms.py
    ] == ["retraining-drift"]


def test_prod_drift_alarm(stack):
    prod = stack("prod")
    topic = prod.one("aws:sns/topic:Topic", "alerts-primary").outputs["arn"]
    drift = prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", "retraining-drift")
    assert drift.inputs == {
        "name": "ml-platform-prod-drift",
        "alarmDescription": "feature drift (PSI > 0.2) on ml-platform-prod: starts retraining",
        "namespace": "ml-platform/Drift",
        "metricName": "MaxFeatureDrift",
        "dimensions": {"EndpointName": "ml-platform-prod"},
        "statistic": "Maximum",
        "period": 21600,
        "threshold": 0.2,
        "comparisonOperator": "GreaterThanThreshold",
        "evaluationPeriods": 3,
        "datapointsToAlarm": 2,
        "treatMissingData": "notBreaching",
        "alarmActions": [topic],
        "okActions": [topic],
    }


def test_prod_accuracy_alarm_needs_enough_joined_records(stack):
    accuracy = stack("prod").one("aws:cloudwatch/metricAlarm:MetricAlarm", "retraining-accuracy")
    assert accuracy.inputs["threshold"] == 0.93
    assert accuracy.inputs["comparisonOperator"] == "LessThanThreshold"
    assert accuracy.inputs["metricQueries"][2] == {
        "id": "judged",
        "expression": "IF(joined >= 200, accuracy, 1)",
        "label": "accuracy (enough joined records)",
        "returnData": True,
    }
    assert [q["metric"]["metricName"] for q in accuracy.inputs["metricQueries"][:2]] == ["Accuracy", "JoinedRecords"]


def test_drift_and_accuracy_alarms_start_the_retraining_pipeline(stack):
    prod = stack("prod")
    alarms = [
        prod.one("aws:cloudwatch/metricAlarm:MetricAlarm", f"retraining-{k}").outputs["arn"]
        for k in ("drift", "accuracy")
    ]
    rule = prod.one("aws:cloudwatch/eventRule:EventRule", "retraining-on-alarm")
    assert json.loads(rule.inputs["eventPattern"]) == alarm_event_pattern(alarms)
    target = prod.one("aws:cloudwatch/eventTarget:EventTarget", "retraining-on-alarm")
    retraining = prod.one("aws:sagemaker/pipeline:Pipeline", "retraining-retraining").outputs["arn"]
    assert target.inputs["arn"] == retraining
    assert target.inputs["rule"] == rule.outputs["name"]
    events_role = prod.one("aws:iam/role:Role", "retraining-events")
    assert target.inputs["roleArn"] == events_role.outputs["arn"]
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "retraining-events").inputs["policy"])
    assert policy == start_pipelines_policy([retraining])
    assert json.loads(events_role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }


def test_pipeline_role_passes_only_the_job_roles(stack):
    prod = stack("prod")
    policy = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "retraining-pipeline").inputs["policy"])
    passed = next(s for s in policy["Statement"] if s["Sid"] == "PassJobRoles")
    assert passed["Resource"] == [
        prod.one("aws:iam/role:Role", f"retraining-{r}").outputs["arn"] for r in ("jobs", "monitor")
    ]
    assert passed["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    for name in ("pipeline", "jobs", "monitor", "events", "scheduler"):
        IAMPolicyDocumentValidator(
            prod.one("aws:iam/rolePolicy:RolePolicy", f"retraining-{name}").inputs["policy"]
        ).validate()


@pytest.mark.parametrize("kind", ["retraining", "monitoring"])
def test_synthesized_pipelines_are_accepted_by_moto(stack, kind):
    resource, _ = pipeline(stack("prod"), kind)
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_pipeline(
            PipelineName=resource.inputs["pipelineName"],
            PipelineDefinition=resource.inputs["pipelineDefinition"],
            RoleArn=resource.inputs["roleArn"],
        )
        execution = sagemaker.start_pipeline_execution(PipelineName=resource.inputs["pipelineName"])
    assert execution["PipelineExecutionArn"].startswith("arn:aws:sagemaker:us-east-1:")
