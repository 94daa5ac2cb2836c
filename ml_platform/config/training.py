"""`training`: the managed spot training job of the model-build pipeline, and its dataset."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import Field, field_validator

from ml_platform.config.patterns import DATASET_PREFIX_PATTERN, DATASET_VERSION_PATTERN
from ml_platform.config.rules import Section, check_instance_type, fail, rule


class DatasetConfig(Section):
    """Training data: `s3://<datasets bucket>/<prefix>/<version>/`."""

    prefix: str = Field(
        pattern=DATASET_PREFIX_PATTERN,
        description=(
            "Key prefix of the dataset in the datasets bucket; each version is a sub-prefix `<prefix>/<version>/`."
        ),
    )
    version: str = Field(
        pattern=DATASET_VERSION_PATTERN,
        description=(
            "The version the stack was set up with. Executions take the version as the `DatasetVersion` parameter "
            "(default `latest`: the newest version prefix, see *Model versions and rollback*); the jobs role may read "
            "every version under the prefix."
        ),
    )
    channel: str = Field(
        default="train", pattern=r"^[A-Za-z0-9\.\-_]+$", description="Channel name the training code reads."
    )


class VpcConfig(Section):
    subnet_ids: list[str] = Field(
        min_length=1, max_length=16, description="Private subnets for the network interfaces."
    )
    security_group_ids: list[str] = Field(
        min_length=1, max_length=5, description="Security groups of the network interfaces."
    )


# Trainers (the `trainer` hyperparameter) that can spread one run over several instances; none
# yet: `softmax` and `gbt` train on one host.
MULTI_HOST_TRAINERS: frozenset[str] = frozenset()
CUSTOMER_METADATA_VALUE_MAX = 256


def hyperparameters_json(hyperparameters: Mapping[str, str | int | float | bool]) -> str:
    """The hyperparameters as SageMaker passes them (strings; booleans as `true`/`false`), in the
    JSON the model-build pipeline records on each registered version."""
    strings = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in hyperparameters.items()}
    return json.dumps(dict(sorted(strings.items())), sort_keys=True)


class TrainingConfig(Section):
    """The managed spot training job that produces the deployed model."""

    instance_type: str = Field(
        default="ml.m5.xlarge",
        description=(
            "Training instance type, checked against botocore's SageMaker `TrainingInstanceType` enumeration; close "
            "matches are suggested."
        ),
    )
    instance_count: int = Field(
        default=1,
        ge=1,
        le=100,
        description=(
            "Training instances; more than 1 is refused while the chosen trainer (hyperparameter `trainer`) has no "
            "multi-host mode, which is so for `softmax` and `gbt`."
        ),
    )
    volume_size_gb: int = Field(default=30, ge=1, le=16384, description="Training volume size in GB.")
    max_runtime_seconds: int = Field(
        default=3600, ge=60, le=28 * 24 * 3600, description="Stop training after this long."
    )
    max_wait_seconds: int = Field(
        default=7200,
        ge=60,
        le=28 * 24 * 3600,
        description="Runtime plus time waiting for spot capacity; must be >= `max_runtime_seconds`.",
    )
    max_retry_attempts: int = Field(
        default=3, ge=1, le=30, description="Retries after an internal error or a spot interruption."
    )
    dataset: DatasetConfig = Field(description="The dataset and version to train on.")
    hyperparameters: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description=(
            "Passed to the training code (as strings); see `model_code/README.md`. As JSON at most 256 characters: "
            "each registered version records them."
        ),
    )
    network_isolation: bool = Field(default=True, description="No outbound network from the training container.")
    inter_container_encryption: bool = Field(
        default=False, description="Encrypt traffic between training instances (multi-instance jobs)."
    )
    vpc: VpcConfig | None = Field(default=None, description="Run the job in these subnets and security groups.")

    @field_validator("instance_type")
    @classmethod
    def _known_instance_type(cls, value: str) -> str:
        return check_instance_type(value, "TrainingInstanceType")

    @field_validator("hyperparameters")
    @classmethod
    def _fit_the_registry(cls, value: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
        # The model-build pipeline records the hyperparameters on the registered version as one
        # CustomerMetadataProperties value, which holds at most 256 characters
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html,
        # CustomerMetadataProperties); the pipeline writes them as the JSON below.
        text = hyperparameters_json(value)
        if len(text) > CUSTOMER_METADATA_VALUE_MAX:
            fail(
                "too long",
                text,
                f"at most {CUSTOMER_METADATA_VALUE_MAX} characters as JSON (a CustomerMetadataProperties value)",
            )
        return value

    @rule("hyperparameters", "instance_count")
    def _one_instance_per_single_host_trainer(v):
        # SageMaker starts every instance of a job on a full copy of the data; a trainer without
        # a multi-host mode trains the same model on each, so the others only add cost. The
        # training code refuses it too (model_code/trainers/hosts.py, resourceconfig.json).
        trainer = str(v.hyperparameters.get("trainer", "softmax"))
        if v.instance_count > 1 and trainer not in MULTI_HOST_TRAINERS:
            fail(f"trainer {trainer!r} trains on one instance; more only add cost", v.instance_count, "1")

    @rule("max_runtime_seconds", "max_wait_seconds")
    def _wait_covers_runtime(v):
        if v.max_wait_seconds < v.max_runtime_seconds:
            fail(
                "spot max wait must cover the max runtime",
                v.max_wait_seconds,
                f">= max_runtime_seconds ({v.max_runtime_seconds})",
            )
