"""Typed building blocks of SageMaker Pipeline definitions (schema 2020-12-01): references, and the
requests of the steps (CreateTrainingJob, CreateProcessingJob) as plain data.

A pipeline reference is JSON that SageMaker Pipelines resolves at run time:

    {"Get": "Parameters.DatasetVersion"}                     a pipeline parameter      Parameter.ref
    {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}   a property of a step       StepRef.get
    {"Get": "Execution.PipelineExecutionId"}                 the execution's id         EXECUTION_ID
    {"Std:Join": {"On": "/", "Values": [...]}}               string concatenation       join
    {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                     "Path": "metrics.accuracy.value"}}      a value of a step's JSON   PropertyFile.get

The builders here write them, so a misspelt path cannot reach a definition:
- `StepRef.get` checks the property path against the step's Describe response in botocore's
  SageMaker model ("The properties attribute of a step matches the object returned by a Describe
  call for the corresponding job type":
  https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-propertyfile.html and
  https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html#build-and-manage-properties);
- `PropertyFile.get` accepts only the JSON paths the file is declared to hold (the keys the model
  code writes, see model_code/resolve_dataset.py and model_code/evaluate.py);
- `Parameter.ref` comes from a declared parameter, never from a bare name.
They raise `ValueError` at import of the definitions' module, where the constants are built.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = "2020-12-01"
PROCESSING_ROOT = "/opt/ml/processing"

StepType = Literal["Training", "Processing", "RegisterModel"]
# The Describe response whose fields a step of this type exposes as properties.
DESCRIBE_RESPONSE: dict[str, str] = {
    "Training": "DescribeTrainingJobResponse",
    "Processing": "DescribeProcessingJobResponse",
    "RegisterModel": "DescribeModelPackageOutput",
}

EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
EXECUTION_ARN = {"Get": "Execution.PipelineExecutionArn"}


# ---------------------------------------------------------------------------------------------
# References


@functools.cache
def _sagemaker_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def property_shape(step_type: StepType, path: str) -> Any:
    """The botocore shape at `path` of the step type's Describe response; ValueError naming the
    first unknown member and the members allowed there."""
    shape = _sagemaker_model().shape_for(DESCRIBE_RESPONSE[step_type])
    walked = []
    for member in path.split("."):
        members = getattr(shape, "members", {})
        if member not in members:
            where = ".".join(walked) or DESCRIBE_RESPONSE[step_type]
            raise ValueError(
                f"{step_type} step property {path!r}: {where} has no member {member!r} "
                f"(members: {', '.join(sorted(members)) or 'none, it is a ' + shape.type_name})"
            )
        shape, walked = members[member], [*walked, member]
    return shape


@dataclass(frozen=True)
class StepRef:
    """A step of a definition, by name and type: `get` writes a reference to one of its properties."""

    name: str
    type: StepType

    def get(self, path: str) -> dict[str, str]:
        property_shape(self.type, path)
        return {"Get": f"Steps.{self.name}.{path}"}


@dataclass(frozen=True)
class PropertyFile:
    """A JSON file a Processing step writes to one of its outputs, read by later steps and
    conditions through `Std:JsonGet` (the pipeline's role reads it from S3).

    paths: the JSON paths the file holds (dotted); `get` accepts only these."""

    step: str
    name: str
    output_name: str
    file_path: str
    paths: tuple[str, ...]

    def declaration(self) -> dict[str, str]:
        """The step's `PropertyFiles` entry."""
        return {"PropertyFileName": self.name, "OutputName": self.output_name, "FilePath": self.file_path}

    def get(self, path: str) -> dict[str, Any]:
        if path not in self.paths:
            raise ValueError(
                f"property file {self.name} of step {self.step}: no path {path!r} (paths: {', '.join(self.paths)})"
            )
        return {"Std:JsonGet": {"PropertyFile": {"Get": f"Steps.{self.step}.PropertyFiles.{self.name}"}, "Path": path}}


@dataclass(frozen=True)
class Parameter:
    """A String pipeline parameter; `declaration` goes into the definition's Parameters."""

    name: str
    description: str

    @property
    def ref(self) -> dict[str, str]:
        return {"Get": f"Parameters.{self.name}"}

    def declaration(self, default: str) -> dict[str, str]:
        return {"Name": self.name, "Type": "String", "DefaultValue": default, "Description": self.description}


def join(*values: Any, on: str = "/") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def references(value: Any) -> list[str]:
    """Every `{"Get": ...}` path in `value`, in order (PropertyFile gets included)."""
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    if not isinstance(value, dict):
        return []
    if set(value) == {"Get"}:
        return [value["Get"]]
    return [ref for item in value.values() for ref in references(item)]


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class SpotTraining:
    """The retraining job. `instance_type` is the default of the TrainingInstanceType parameter;
    `hyperparameters` as SageMaker passes them (strings)."""

    instance_type: str
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600
    max_wait_seconds: int = 7200  # runtime plus time waiting for spot capacity; >= max_runtime_seconds
    max_retry_attempts: int = 3  # after an internal error or a spot interruption
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    network_isolation: bool = True


@dataclass(frozen=True)
class Processing:
    """A processing job's cluster and time limit."""

    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_runtime_seconds: int = 3600


def s3_input(name: str, uri: Any, data_type: str = "S3Prefix", distribution: str = "FullyReplicated") -> dict:
    """A ProcessingInput downloaded to /opt/ml/processing/<name>."""
    return {
        "InputName": name,
        "AppManaged": False,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"{PROCESSING_ROOT}/{name}",
            "S3DataType": data_type,
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
            "S3CompressionType": "None",
        },
    }


def processing_outputs(kms_key_arn: str, outputs: list[tuple[str, Any]]) -> dict[str, Any]:
    """ProcessingOutputConfig: each /opt/ml/processing/<name> uploaded to its URI at the job's end."""
    return {
        "Outputs": [
            {
                "OutputName": name,
                "AppManaged": False,
                "S3Output": {
                    "S3Uri": uri,
                    "LocalPath": f"{PROCESSING_ROOT}/{name}",
                    "S3UploadMode": "EndOfJob",
                },
            }
            for name, uri in outputs
        ],
        "KmsKeyId": kms_key_arn,
    }


def processing_arguments(
    *,
    image_uri: str,
    role_arn: str,
    kms_key_arn: str,
    processing: Processing,
    container_arguments: list[Any],
    inputs: list[tuple[str, Any]],
    network_isolation: bool,
) -> dict[str, Any]:
    """CreateProcessingJob's request; the image's ENTRYPOINT (python -m model_code) gets the arguments."""
    request = {
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": processing.instance_type,
                "InstanceCount": processing.instance_count,
                "VolumeSizeInGB": processing.volume_size_gb,
                "VolumeKmsKeyId": kms_key_arn,
            }
        },
        "AppSpecification": {"ImageUri": image_uri, "ContainerArguments": container_arguments},
        "RoleArn": role_arn,
        "ProcessingInputs": [s3_input(name, uri) for name, uri in inputs],
        "StoppingCondition": {"MaxRuntimeInSeconds": processing.max_runtime_seconds},
        "NetworkConfig": {"EnableNetworkIsolation": network_isolation},
    }
    if not inputs:
        del request["ProcessingInputs"]
    return request


def definition_json(definition: dict[str, Any]) -> str:
    """The text `aws.sagemaker.Pipeline(pipeline_definition=...)` and CreatePipeline take."""
    return json.dumps(definition, separators=(",", ":"))
