"""Typed pipeline references (ml_platform/components/pipeline_steps.py): a step property is checked
against botocore's Describe response of its step type, a property file accepts only its declared
paths, and every reference in the built definitions names something the definition declares.
The stacks' definitions are pinned byte for byte (tests/golden/, rendered before the builders were
split), so a refactoring of the builders cannot change what `pulumi up` sends.

What this cannot prove: that SageMaker Pipelines resolves the references at run time the way the
documentation says (step properties mirror the Describe response)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ml_platform.components import monitoring_pipeline, pipelines
from ml_platform.components.pipeline_steps import (
    DESCRIBE_RESPONSE,
    Parameter,
    PropertyFile,
    StepRef,
    property_shape,
    references,
)
from tests.test_pipelines import all_steps, monitoring_args, retraining_args

GOLDEN = Path(__file__).parent / "golden"
IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}")


def test_a_step_property_is_written_as_sagemaker_reads_it():
    assert StepRef("Train", "Training").get("ModelArtifacts.S3ModelArtifacts") == {
        "Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"
    }
    assert StepRef("Evaluate", "Processing").get("ProcessingOutputConfig.KmsKeyId") == {
        "Get": "Steps.Evaluate.ProcessingOutputConfig.KmsKeyId"
    }
    assert StepRef("RegisterModel", "RegisterModel").get("ModelPackageArn") == {
        "Get": "Steps.RegisterModel.ModelPackageArn"
    }


def test_a_misspelt_step_property_cannot_be_written():
    with pytest.raises(ValueError) as error:
        StepRef("Train", "Training").get("ModelArtifacts.S3ModelArtifact")
    assert str(error.value) == (
        "Training step property 'ModelArtifacts.S3ModelArtifact': ModelArtifacts has no member "
        "'S3ModelArtifact' (members: S3ModelArtifacts)"
    )
    with pytest.raises(ValueError) as error:
        StepRef("Train", "Training").get("ModelArtifacts.S3ModelArtifacts.Bucket")
    assert str(error.value) == (
        "Training step property 'ModelArtifacts.S3ModelArtifacts.Bucket': ModelArtifacts.S3ModelArtifacts has "
        "no member 'Bucket' (members: none, it is a string)"
    )
    with pytest.raises(ValueError) as error:
        StepRef("Evaluate", "Processing").get("ModelArtifacts")
    assert str(error.value).startswith(
        "Processing step property 'ModelArtifacts': DescribeProcessingJobResponse has no member 'ModelArtifacts' "
        "(members: AppSpecification, AutoMLJobArn,"
    )


def test_the_describe_shapes_exist_in_botocore():
    arn_of = {"Training": "TrainingJobArn", "Processing": "ProcessingJobArn", "RegisterModel": "ModelPackageArn"}
    assert {kind: property_shape(kind, arn_of[kind]).type_name for kind in DESCRIBE_RESPONSE} == {
        "Training": "string",
        "Processing": "string",
        "RegisterModel": "string",
    }


def test_a_property_file_reads_only_its_declared_paths():
    report = PropertyFile("Evaluate", "EvaluationReport", "evaluation", "evaluation.json", ("metrics.accuracy.value",))
    assert report.declaration() == {
        "PropertyFileName": "EvaluationReport",
        "OutputName": "evaluation",
        "FilePath": "evaluation.json",
    }
    assert report.get("metrics.accuracy.value") == {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
            "Path": "metrics.accuracy.value",
        }
    }
    with pytest.raises(ValueError) as error:
        report.get("metrics.acuracy.value")
    assert str(error.value) == (
        "property file EvaluationReport of step Evaluate: no path 'metrics.acuracy.value' "
        "(paths: metrics.accuracy.value)"
    )


def test_a_parameter_is_declared_and_referenced_by_one_name():
    parameter = Parameter("GitCommit", "Commit of the code that started the run (lineage).")
    assert parameter.ref == {"Get": "Parameters.GitCommit"}
    assert parameter.declaration("unknown") == {
        "Name": "GitCommit",
        "Type": "String",
        "DefaultValue": "unknown",
        "Description": "Commit of the code that started the run (lineage).",
    }


def _undeclared(definition: dict[str, Any]) -> list[str]:
    """References that name no parameter, step, property file or property the definition has."""
    parameters = {p["Name"] for p in definition["Parameters"]}
    steps = {step["Name"]: step for step in all_steps(definition)}
    wrong = []
    for ref in references(definition["Steps"]):
        kind, _, rest = ref.partition(".")
        if kind == "Parameters":
            ok = rest in parameters
        elif kind == "Execution":
            ok = rest in ("PipelineExecutionId", "PipelineExecutionArn")
        else:
            name, _, path = rest.partition(".")
            step = steps.get(name)
            if step is None:
                ok = False
            elif path.startswith("PropertyFiles."):
                ok = path.removeprefix("PropertyFiles.") in {f["PropertyFileName"] for f in step["PropertyFiles"]}
            else:
                ok = bool(property_shape(step["Type"], path))
        if not ok:
            wrong.append(ref)
    return wrong


@pytest.mark.parametrize(
    "definition",
    [
        pipelines.retraining_pipeline_definition(retraining_args()),
        monitoring_pipeline.monitoring_pipeline_definition(monitoring_args()),
        monitoring_pipeline.monitoring_pipeline_definition(monitoring_args(drift_instance_count=4)),
    ],
    ids=["retraining", "monitoring", "sharded-monitoring"],
)
def test_every_reference_names_what_the_definition_declares(definition: dict[str, Any]):
    refs = references(definition["Steps"])
    assert refs, "the definition uses references"
    assert _undeclared(definition) == []


def test_the_definitions_read_the_property_files_model_code_writes():
    assert pipelines.RESOLVED.paths == ("dataset_version", "dataset_s3_uri", "holdout_s3_uri", "champion_s3_uri")
    assert pipelines.EVALUATION.paths == (
        "metrics.accuracy.value",
        "comparison.accuracy_delta.value",
        "comparison.champion_present",
    )
    assert monitoring_pipeline.DRIFT_PLAN.paths == ("window.start", "window.end", "files")
    assert pipelines.MODEL_DATA == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


@pytest.mark.parametrize("name", ["prod", "dev"])
@pytest.mark.parametrize("kind", ["retraining", "monitoring"])
def test_the_stacks_definitions_are_unchanged_byte_for_byte(stack, name: str, kind: str):
    """Byte for byte, apart from the image digest: dev builds its image during `up`, and the mock
    engine derives that digest from the build context, so any change under model_code/ moves it.
    The digest is asserted apart: every image in the definition is the stack's own image."""
    synthesis = stack(name)
    definition = synthesis.one("aws:sagemaker/pipeline:Pipeline", f"retraining-{kind}").inputs["pipelineDefinition"]
    image_uri = synthesis.outputs["image_uri"]
    assert set(IMAGE_DIGEST.findall(definition)) == set(IMAGE_DIGEST.findall(image_uri))
    golden = (GOLDEN / f"{name}-{kind}-pipeline.json").read_text()
    assert IMAGE_DIGEST.sub("@sha256:<digest>", definition) == IMAGE_DIGEST.sub("@sha256:<digest>", golden)
