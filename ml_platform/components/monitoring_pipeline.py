"""The monitoring pipeline's definition (plain data): the drift job and, when configured, the
quality job over the endpoint's captured traffic; with drift_instance_count > 1 the drift job
runs sharded (plan, shard by S3 key, merge). See ml_platform/components/pipelines.py for the
layout both pipelines share, and model_code/drift/ for the jobs.

The builders trust their arguments: values from the stack config are validated there once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ml_platform.components.pipeline_steps import (
    EXECUTION_ID,
    PROCESSING_ROOT,
    SCHEMA_VERSION,
    Parameter,
    Processing,
    PropertyFile,
    join,
    processing_arguments,
    processing_outputs,
    s3_input,
)

DRIFT_STEP = "Drift"
QUALITY_STEP = "Quality"
DRIFT_PLAN_STEP = "DriftPlan"
DRIFT_CONDITION_STEP = "HasCapture"
DRIFT_MERGE_STEP = "DriftMerge"
DRIFT_EMPTY_STEP = "DriftEmptyWindow"

BASELINE_S3_URI = Parameter("BaselineS3Uri", "The deployed model's model.tar.gz or baseline.json.")
# model_code/drift/sharding.py writes the plan: the window and how many capture files it holds.
DRIFT_PLAN = PropertyFile(DRIFT_PLAN_STEP, "DriftPlan", "plan", "plan.json", ("window.start", "window.end", "files"))
DRIFT_PLAN_PROPERTY_FILE = DRIFT_PLAN.name


@dataclass(frozen=True)
class QualityJob:
    """The optional quality step: ground truth defaults to <capture bucket>/ground-truth/<endpoint>."""

    ground_truth_s3_uri: str | None = None
    lookback_hours: int = 24
    prediction_lookback_hours: int = 24
    positive_class: str | None = None


@dataclass(frozen=True)
class MonitoringPipelineArgs:
    """Inputs of the monitoring pipeline.

    capture_s3_uri: the endpoint config's data capture DestinationS3Uri.
    baseline_s3_uri: default of the BaselineS3Uri parameter: the deployed model's model.tar.gz (or
      its baseline.json).
    region: where the jobs publish metrics.
    lookback_hours: each run covers the last N whole hours (schedule the pipeline every N hours).
    drift_min_records / drift_false_alarm_rate: the drift decision (model_code/drift/stats.py).
    drift_instance_count: above 1, the drift job runs sharded across that many instances.
    quality: None runs drift only.
    """

    image_uri: str
    role_arn: str
    kms_key_arn: str
    region: str
    endpoint_name: str
    capture_s3_uri: str
    baseline_s3_uri: str
    metrics_namespace: str
    psi_threshold: float = 0.2
    lookback_hours: int = 1
    processing: Processing = field(default_factory=Processing)
    quality: QualityJob | None = None
    drift_min_records: int = 200
    drift_false_alarm_rate: float = 0.01
    drift_instance_count: int = 1


# ---------------------------------------------------------------------------------------------
# Monitoring


def monitoring_pipeline_definition(args: MonitoringPipelineArgs) -> dict[str, Any]:
    common = [
        "--endpoint-name",
        args.endpoint_name,
        "--capture",
        args.capture_s3_uri,
        "--baseline",
        f"{PROCESSING_ROOT}/baseline",
        "--metrics-namespace",
        args.metrics_namespace,
        "--region",
        args.region,
    ]
    decision = [
        "--psi-threshold",
        str(args.psi_threshold),
        "--false-alarm-rate",
        str(args.drift_false_alarm_rate),
        "--min-records",
        str(args.drift_min_records),
    ]
    drift = ["drift", *common, "--lookback-hours", str(args.lookback_hours), *decision]
    if args.drift_instance_count == 1:
        steps = [_monitoring_step(args, DRIFT_STEP, drift)]
    else:
        steps = sharded_drift_steps(args, common, decision)
    if args.quality is not None:
        quality = [
            "quality",
            *common,
            "--lookback-hours",
            str(args.quality.lookback_hours),
            "--prediction-lookback-hours",
            str(args.quality.prediction_lookback_hours),
        ]
        if args.quality.ground_truth_s3_uri:
            quality += ["--ground-truth", args.quality.ground_truth_s3_uri]
        if args.quality.positive_class:
            quality += ["--positive-class", args.quality.positive_class]
        steps.append(_monitoring_step(args, QUALITY_STEP, quality))
    return {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [BASELINE_S3_URI.declaration(args.baseline_s3_uri)],
        "Steps": steps,
    }


def _monitoring_step(
    args: MonitoringPipelineArgs,
    name: str,
    container_arguments: list[Any],
    processing: Processing | None = None,
    output: tuple[str, Any] | None = None,
) -> dict[str, Any]:
    arguments = processing_arguments(
        image_uri=args.image_uri,
        role_arn=args.role_arn,
        kms_key_arn=args.kms_key_arn,
        processing=processing or args.processing,
        container_arguments=container_arguments,
        inputs=[("baseline", BASELINE_S3_URI.ref)],
        # The jobs read captures from S3 and write reports and metrics through the AWS APIs.
        network_isolation=False,
    )
    if output is not None:
        arguments["ProcessingOutputConfig"] = processing_outputs(args.kms_key_arn, [output])
    return {"Name": name, "Type": "Processing", "Arguments": arguments}


def sharded_drift_steps(args: MonitoringPipelineArgs, common: list[str], decision: list[str]) -> list[dict[str, Any]]:
    """DriftPlan, then HasCapture: [Drift (N instances, ShardedByS3Key), DriftMerge] or [DriftEmptyWindow]."""
    runs = join(f"{_bucket_root(args.capture_s3_uri)}/drift-reports/{args.endpoint_name}/runs", EXECUTION_ID)
    plan_uri, partials_uri = join(runs, "plan"), join(runs, "partials")
    window = [
        "--start",
        DRIFT_PLAN.get("window.start"),
        "--end",
        DRIFT_PLAN.get("window.end"),
    ]
    one = replace(args.processing, instance_count=1)
    plan = _monitoring_step(
        args,
        DRIFT_PLAN_STEP,
        ["drift", *common, "--lookback-hours", str(args.lookback_hours), "--plan-out", f"{PROCESSING_ROOT}/plan"],
        processing=one,
        output=("plan", plan_uri),
    )
    plan["PropertyFiles"] = [DRIFT_PLAN.declaration()]
    local_capture = f"{PROCESSING_ROOT}/capture"
    shard_arguments = ["drift", *_replaced(common, "--capture", local_capture), *window, *decision]
    shard = _monitoring_step(
        args,
        DRIFT_STEP,
        [*shard_arguments, "--partial-out", f"{PROCESSING_ROOT}/partial"],
        processing=replace(args.processing, instance_count=args.drift_instance_count),
        output=("partial", partials_uri),
    )
    # The manifest lists the window's files; SageMaker gives each instance a share of them, keys
    # relative to the manifest's prefix kept, so each sees <endpoint>/<variant>/yyyy/mm/dd/hh/.
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingS3Input.html
    shard["Arguments"]["ProcessingInputs"].append(
        s3_input("capture", join(plan_uri, "manifest.json"), "ManifestFile", "ShardedByS3Key")
    )
    merge = _monitoring_step(
        args,
        DRIFT_MERGE_STEP,
        ["drift", *common, *window, *decision, "--merge", f"{PROCESSING_ROOT}/partials"],
        processing=one,
    )
    merge["Arguments"]["ProcessingInputs"].append(s3_input("partials", partials_uri, "S3Prefix", "FullyReplicated"))
    # The partials' URI is built from the execution id, not read from the Drift step: say the order.
    merge["DependsOn"] = [DRIFT_STEP]
    empty = _monitoring_step(args, DRIFT_EMPTY_STEP, ["drift", *common, *window, *decision], processing=one)
    condition = {
        "Name": DRIFT_CONDITION_STEP,
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {
                    "Type": "GreaterThan",
                    "LeftValue": DRIFT_PLAN.get("files"),
                    "RightValue": 0,
                }
            ],
            "IfSteps": [shard, merge],
            "ElseSteps": [empty],
        },
    }
    return [plan, condition]


def _bucket_root(s3_uri: str) -> str:
    return "s3://" + s3_uri.removeprefix("s3://").split("/", 1)[0]


def _replaced(arguments: list[str], flag: str, value: str) -> list[str]:
    index = arguments.index(flag)
    return [*arguments[: index + 1], value, *arguments[index + 2 :]]
