"""Inputs for the policy tests: real synthesized stacks, their mutations, and a stand-in.

Failing cases are mutations of what the mock engine synthesized for a committed stack file
(`mutated(...)` replaces or drops one registration). The one resource type a rule reads that
the program does not declare yet (the retraining pipeline, issue 5) comes from
`pending_synthesis()`: a compliant pipeline declared through pulumi-aws 7.51.1's own SDK
class under the same mock engine, so its inputs arrive in the exact wire shape the
provider's schema gives them (camelCase names, the definition as JSON text). Move those
cases onto the real pipeline when it lands.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pulumi
import pulumi_aws as aws

from offline.engine import Registration, Synthesis, run_under_mocks
from offline.policy_check import resources_of
from policy.policies import Resource

DEFAULT_TAGS = {
    "project": "ml-platform",
    "environment": "prod",
    "owner": "ml-platform-team",
    "cost-center": "ml-1001",
    "managed-by": "pulumi",
}
ROLE_ARN = "arn:aws:iam::123456789012:role/ml-platform-serving"


def mutated(
    synthesis: Synthesis,
    type_: str,
    name: str,
    *,
    drop: bool = False,
    inputs: dict[str, Any] | None = None,
    without: tuple[str, ...] = (),
    **options: Any,
) -> Synthesis:
    """A copy of `synthesis` with one registration dropped, or with some inputs replaced
    (`inputs`), removed (`without`), or options changed (`protect=False`, `provider=None`)."""
    target = synthesis.one(type_, name)
    changed: list[Registration] = []
    for r in synthesis.resources:
        if r is not target:
            changed.append(r)
        elif not drop:
            # The mock engine's outputs repeat the inputs; keep the two consistent.
            new_inputs = {k: v for k, v in r.inputs.items() if k not in without} | (inputs or {})
            new_outputs = {k: v for k, v in r.outputs.items() if k not in without} | (inputs or {})
            changed.append(dataclasses.replace(r, inputs=new_inputs, outputs=new_outputs, **options))
    return dataclasses.replace(synthesis, resources=changed)


def resources(synthesis: Synthesis) -> list[Resource]:
    return resources_of(synthesis)


def pending_program() -> None:
    """A retraining pipeline whose training step uses spot with checkpoints: compliant, in
    the provider's wire shape."""
    provider = aws.Provider("aws-primary", region="us-east-1", default_tags={"tags": DEFAULT_TAGS})
    opts = pulumi.ResourceOptions(provider=provider)
    aws.sagemaker.Pipeline(
        "retrain",
        pipeline_name="retrain",
        pipeline_display_name="retrain",
        role_arn=ROLE_ARN,
        pipeline_definition=json.dumps(
            {
                "Version": "2020-12-01",
                "Steps": [
                    {
                        "Name": "Train",
                        "Type": "Training",
                        "Arguments": {
                            "EnableManagedSpotTraining": True,
                            "CheckpointConfig": {"S3Uri": "s3://artifacts/checkpoints/retrain/"},
                        },
                    }
                ],
            }
        ),
        opts=opts,
    )


def pending_synthesis() -> Synthesis:
    return run_under_mocks(pending_program, stack="prod")


def training_job_program(environment: str) -> None:
    """A standalone managed spot TrainingJob with checkpoints: compliant, in the provider's wire
    shape. The stacks declare none (training runs as model-build pipeline executions), but the
    rule still guards any job a program might declare."""
    provider = aws.Provider(
        "aws-primary", region="us-east-1", default_tags={"tags": DEFAULT_TAGS | {"environment": environment}}
    )
    aws.sagemaker.TrainingJob(
        "training",
        training_job_name="training",
        role_arn=ROLE_ARN,
        algorithm_specification={"training_image": "image@sha256:" + "a" * 64, "training_input_mode": "File"},
        output_data_config={"s3_output_path": "s3://artifacts/models/"},
        resource_config={"instance_type": "ml.m5.xlarge", "instance_count": 1, "volume_size_in_gb": 30},
        enable_managed_spot_training=True,
        stopping_condition={"max_runtime_in_seconds": 3600, "max_wait_time_in_seconds": 7200},
        checkpoint_config={"s3_uri": "s3://artifacts/checkpoints/training/", "local_path": "/opt/ml/checkpoints"},
        opts=pulumi.ResourceOptions(provider=provider),
    )


def training_job_synthesis(environment: str) -> Synthesis:
    return run_under_mocks(lambda: training_job_program(environment), stack=environment)
