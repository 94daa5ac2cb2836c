"""The config refuses, before anything is declared, every stack-config value the pipeline
builders (`_check_retraining`, `_check_monitoring` in ml_platform/components/pipelines.py)
would refuse mid-`pulumi up`: the same rule or a stricter one, each with its message.

The builders' other inputs are not stack-config values and stay theirs to check: ARNs, bucket
names and S3 URIs the program derives from resources, the registry group and endpoint names,
the approval status (from `environment`), and the processing cluster and quality-step values
the program fixes (`Processing()` defaults, `prediction_lookback_hours`).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ml_platform.config import StackConfigError, parse_stack_config
from tests.test_config import VALID as MINIMAL_STACK

VALID = {
    **MINIMAL_STACK,
    "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
    "retraining": {"holdout_prefix": "holdout"},
}
PREFIX = "a relative S3 key prefix: lowercase letters, digits and . _ / -, no leading or trailing /"


def problems_at(path: str, value: Any) -> list[str]:
    raw = copy.deepcopy(VALID)
    node = raw
    *parents, key = path.split(".")
    for parent in parents:
        node = node.setdefault(parent, {})
    node[key] = value
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.lines


# (pipeline rule, config key, a value the pipeline refuses, the config's message)
RULES = [
    ("training.hyperparameters <= 256 characters as JSON", "training.hyperparameters", {"notes": "x" * 245},
     "training.hyperparameters: too long (got '{\"notes\": \"" + "x" * 245 + "\"}'; expected at most 256 characters "
     "as JSON (a CustomerMetadataProperties value))"),
    ("training.instance_type in TrainingInstanceType", "training.instance_type", "ml.m5.huge",
     "training.instance_type: unknown instance type (got 'ml.m5.huge'; expected a SageMaker TrainingInstanceType, "
     "e.g. ml.m5.large, ml.m5.xlarge, ml.m5.4xlarge)"),
    ("training.instance_count 1..100", "training.instance_count", 101,
     "training.instance_count: out of range (got 101; expected <= 100)"),
    ("training.max_runtime_seconds 1..2419200", "training.max_runtime_seconds", 2419201,
     "training.max_runtime_seconds: out of range (got 2419201; expected <= 2419200)"),
    ("training.max_wait_seconds >= max_runtime_seconds", "training.max_wait_seconds", 3000,
     "training.max_wait_seconds: spot max wait must cover the max runtime (got 3000; expected >= "
     "max_runtime_seconds (3600))"),
    ("training.max_retry_attempts 1..30", "training.max_retry_attempts", 31,
     "training.max_retry_attempts: out of range (got 31; expected <= 30)"),
    ("dataset_root_s3_uri s3://<bucket>/<prefix>/", "training.dataset.prefix", "/abs/",
     f"training.dataset.prefix: not in the required format (got '/abs/'; expected {PREFIX})"),
    ("holdout_root_s3_uri s3://<bucket>/<prefix>/", "retraining.holdout_prefix", "/abs/",
     f"retraining.holdout_prefix: not in the required format (got '/abs/'; expected {PREFIX})"),
    ("accuracy_threshold > 0 and <= 1", "retraining.accuracy_threshold", 0,
     "retraining.accuracy_threshold: out of range (got 0; expected > 0)"),
    ("champion_tolerance >= 0 and < 1", "retraining.champion_tolerance", 1,
     "retraining.champion_tolerance: out of range (got 1; expected < 1)"),
    ("evaluation.instance_type / processing.instance_type in ProcessingInstanceType",
     "retraining.evaluation_instance_type", "ml.m5.huge",
     "retraining.evaluation_instance_type: unknown instance type (got 'ml.m5.huge'; expected a SageMaker "
     "ProcessingInstanceType, e.g. ml.m5.large, ml.m5.xlarge, ml.m5.4xlarge)"),
    ("inference_instance_types in ProductionVariantInstanceType", "serving.instance.instance_type", "ml.m5.huge",
     "serving.instance.instance_type: unknown instance type (got 'ml.m5.huge'; expected a SageMaker "
     "ProductionVariantInstanceType, e.g. ml.m5.large, ml.m5d.large, ml.m5.xlarge)"),
    ("inference_instance_types in ProductionVariantInstanceType (standby)", "standby", {"instance_type": "ml.m5.huge"},
     "standby.instance_type: unknown instance type (got 'ml.m5.huge'; expected a SageMaker "
     "ProductionVariantInstanceType, e.g. ml.m5.large, ml.m5d.large, ml.m5.xlarge)"),
    ("region", "regions.primary", "us-east-9",
     "regions.primary: unknown AWS region (got 'us-east-9'; expected a region where SageMaker is offered, e.g. "
     "us-east-2, us-east-1, us-west-2)"),
    ("metrics_namespace outside AWS/", "monitoring.metrics_namespace", "AWS/SageMaker",
     "monitoring.metrics_namespace: AWS/ namespaces belong to AWS services (got 'AWS/SageMaker'; expected a "
     "CloudWatch namespace outside AWS/)"),
    ("metrics_namespace format", "monitoring.metrics_namespace", ":drift",
     "monitoring.metrics_namespace: not in the required format (got ':drift'; expected 1-255 letters, digits and "
     ". - _ / # :, not starting with :)"),
    ("psi_threshold > 0", "retraining.psi_threshold", 0,
     "retraining.psi_threshold: out of range (got 0; expected > 0)"),
    ("drift_min_records >= 1", "retraining.drift_min_records", 0,
     "retraining.drift_min_records: out of range (got 0; expected >= 1)"),
    ("drift_false_alarm_rate > 0 and < 1", "retraining.drift_false_alarm_rate", 1,
     "retraining.drift_false_alarm_rate: out of range (got 1; expected < 1)"),
    ("drift_instance_count 1..100", "monitoring.drift_instance_count", 101,
     "monitoring.drift_instance_count: out of range (got 101; expected <= 100)"),
    ("lookback_hours 1..744", "retraining.monitoring_interval_hours", 25,
     "retraining.monitoring_interval_hours: out of range (got 25; expected <= 24)"),
    ("quality.lookback_hours 1..744", "retraining.quality", {"lookback_hours": 745},
     "retraining.quality.lookback_hours: out of range (got 745; expected <= 744)"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "key", "value", "message"), RULES, ids=[r[0] for r in RULES])
def test_the_config_refuses_what_the_pipeline_would(rule, key, value, message):
    assert problems_at(key, value) == [message]


def test_hyperparameters_are_measured_as_the_pipeline_writes_them():
    # Booleans as SageMaker passes them, values as strings, keys sorted: 256 characters fit.
    fits = {"trainer": "softmax", "flag": True, "notes": "x" * 205}
    assert len('{"flag": "true", "notes": "' + "x" * 205 + '", "trainer": "softmax"}') == 256
    parsed = parse_stack_config({**VALID, "training": {**VALID["training"], "hyperparameters": fits}})
    assert parsed.training.hyperparameters == fits
    assert problems_at("training.hyperparameters", {**fits, "notes": "x" * 206}) == [
        'training.hyperparameters: too long (got \'{"flag": "true", "notes": "'
        + "x" * 206
        + '", "trainer": "softmax"}\'; expected at most 256 characters as JSON (a CustomerMetadataProperties value))'
    ]


def test_a_namespace_of_our_own_is_accepted():
    config = parse_stack_config({**VALID, "monitoring": {"metrics_namespace": "ml-platform/Drift:v2#a"}})
    assert config.monitoring.metrics_namespace == "ml-platform/Drift:v2#a"
