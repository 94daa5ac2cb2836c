"""`python -m ops.models list`, `approve`, `reject`, `rollback` on moto (registry, S3, endpoints
in two regions), and how the commands report outputs they cannot use. `train` is in
test_ops_models_train.py, `register` in test_ops_models_register.py.

What moto cannot prove: that approving emits the EventBridge event that starts a deploy, and
IAM: the operator role needs the actions listed in the README's model-versions section.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from pulumi import automation as auto
from pulumi.automation.errors import create_command_error

from ml_platform.components.model_versions import LATEST_APPROVED, resolve
from ops.models import main
from tests.ops_models_support import OUTPUTS, SECONDARY, SECONDARY_BUCKET, run
from tests.registry_fixtures import (
    BUCKET,
    GROUP,
    IMAGE,
    REGION,
    artifact_bytes,
    moto_registry,
    outputs_writer,
    register_version,
)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    with moto_registry(monkeypatch) as clients:
        yield clients


@pytest.fixture
def outputs_file(tmp_path: Path):
    return outputs_writer(tmp_path, OUTPUTS)


def deploy(region: str, name: str, *, package_arn: str | None = None, model_data_url: str | None = None) -> None:
    sagemaker = boto3.client("sagemaker", region_name=region)
    container = {"ModelPackageName": package_arn} if package_arn else {"Image": IMAGE, "ModelDataUrl": model_data_url}
    sagemaker.create_model(
        ModelName=f"model-{name}",
        ExecutionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/serving",
        PrimaryContainer=container,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"config-{name}",
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": f"model-{name}",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.c5.xlarge",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="ml-platform-prod", EndpointConfigName=f"config-{name}")


# ---------------------------------------------------------------------------------------------
# list


def test_list_shows_versions_newest_first_and_where_each_is_deployed(aws, outputs_file):
    sagemaker, _ = aws
    register_version(sagemaker, version=1, status="Approved", accuracy=0.9561)
    second = register_version(sagemaker, version=2, status="Approved", accuracy=0.9649)
    register_version(sagemaker, version=3, status="PendingManualApproval", accuracy=0.9737)
    deploy(REGION, "east", package_arn=second)
    # The standby serves its own copy of version 2's artifact: same key, its region's bucket.
    deploy(SECONDARY, "west", model_data_url=f"s3://{SECONDARY_BUCKET}/models/exec-2/output/model.tar.gz")
    code, out, err = run("list", "--stack", "prod", "--outputs", outputs_file())
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"ops models · stack prod · group {GROUP} ({REGION})"
    cells = [line.split("  ") for line in lines[2:]]
    rows = [[cell.strip() for cell in row if cell.strip()] for row in cells]
    assert rows[0] == ["version", "status", "created (UTC)", "dataset", "accuracy", "other metrics", "deployed"]
    assert [row[:2] + row[3:] for row in rows[1:]] == [
        ["3", "PendingManualApproval", "v3", "0.9737", "holdout_rows=114", "-"],
        ["2", "Approved", "v2", "0.9649", "holdout_rows=114", f"primary ({REGION}), secondary ({SECONDARY})"],
        ["1", "Approved", "v1", "0.9561", "holdout_rows=114", "-"],
    ]
    assert len(lines) == 6  # no notes: both endpoints serve a registered version


def test_list_json_and_an_endpoint_serving_something_unregistered(aws, outputs_file):
    sagemaker, _ = aws
    first = register_version(sagemaker, version=1, status="Approved")
    deploy(REGION, "east", package_arn=first)
    deploy(SECONDARY, "west", model_data_url="s3://elsewhere/hand-made/model.tar.gz")
    code, out, _ = run("list", "--stack", "prod", "--outputs", outputs_file(), "--json")
    assert code == 0
    document = json.loads(out)
    [version] = document["versions"]
    assert {k: v for k, v in version.items() if k != "created"} == {
        "version": 1,
        "status": "Approved",
        "dataset_version": "v1",
        "dataset_uri": "s3://ml-platform-prod-datasets/breast-cancer/v1/",
        "metrics": {"accuracy": 0.95, "holdout_rows": 114.0},
        "deployed": ["primary"],
        "arn": first,
        "model_data_url": f"s3://{BUCKET}/models/exec-1/output/model.tar.gz",
        "image_uri": IMAGE,
        "baseline_url": f"s3://{BUCKET}/models/exec-1/baseline.json",
        "git_commit": f"{1:040x}",
        "pipeline_execution_arn": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/retraining/execution/e1",
    }
    assert datetime.fromisoformat(version["created"]).tzinfo is not None
    assert document["endpoints"] == [
        {
            "role": "primary",
            "region": REGION,
            "endpoint_name": "ml-platform-prod",
            "package_arn": first,
            "model_data_url": None,
            "version": 1,
            "problem": None,
        },
        {
            "role": "secondary",
            "region": SECONDARY,
            "endpoint_name": "ml-platform-prod",
            "package_arn": None,
            "model_data_url": "s3://elsewhere/hand-made/model.tar.gz",
            "version": None,
            "problem": None,
        },
    ]
    code, out, _ = run("list", "--stack", "prod", "--outputs", outputs_file())
    assert out.splitlines()[-1] == (
        f"note: secondary ({SECONDARY}) serves s3://elsewhere/hand-made/model.tar.gz, which is no version of this group"
    )


def test_list_before_the_first_deploy(aws, outputs_file):
    sagemaker, _ = aws
    without_endpoints = {k: v for k, v in OUTPUTS.items() if k != "endpoints"}
    code, out, _ = run("list", "--stack", "prod", "--outputs", outputs_file(without_endpoints))
    assert code == 0
    assert out.splitlines()[2] == "no model versions yet; train the first with: python -m ops.models train --stack prod"
    register_version(sagemaker, version=1)
    code, out, _ = run("list", "--stack", "prod", "--outputs", outputs_file(without_endpoints))
    assert out.splitlines()[-1] == "note: the stack declares no endpoint yet (nothing deployed)"


def test_list_names_an_endpoint_that_cannot_be_read(aws, outputs_file):
    sagemaker, _ = aws
    register_version(sagemaker, version=1, status="Approved")
    code, out, _ = run("list", "--stack", "prod", "--outputs", outputs_file())
    assert code == 0
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert notes[0].startswith(f"note: primary ({REGION}): cannot read what ml-platform-prod serves: ")
    assert "Could not find endpoint" in notes[0]


# ---------------------------------------------------------------------------------------------
# approve / reject


def test_approve_sets_approved_with_a_reason(aws, outputs_file):
    sagemaker, _ = aws
    arn = register_version(sagemaker, version=1)
    code, out, err = run("approve", "--stack", "prod", "--outputs", outputs_file(), "1", "--reason", "reviewed")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "version 1: PendingManualApproval -> Approved"
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "reviewed")
    code, out, _ = run("approve", "--stack", "prod", "--outputs", outputs_file(), "1")
    assert (code, out) == (0, "version 1 is already Approved; nothing changed\n")


def test_approve_a_missing_version(aws, outputs_file):
    sagemaker, _ = aws
    register_version(sagemaker, version=1)
    code, out, err = run("approve", "--stack", "prod", "--outputs", outputs_file(), "4")
    assert (code, out) == (1, "")
    assert err == (
        f"error: stack prod: model package group '{GROUP}': version 4 does not exist "
        "(versions: 1 PendingManualApproval)\n"
    )


def test_reject_needs_a_reason_and_says_what_latest_approved_becomes(aws, outputs_file, capsys):
    sagemaker, _ = aws
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="Approved")
    with pytest.raises(SystemExit) as exited:
        main(["reject", "--stack", "prod", "--outputs", outputs_file(), "2"])
    assert exited.value.code == 2
    assert "the following arguments are required: --reason" in capsys.readouterr().err
    code, out, _ = run("reject", "--stack", "prod", "--outputs", outputs_file(), "2", "--reason", "drift")
    assert code == 0
    assert out == (
        "version 2: Approved -> Rejected (drift)\n"
        "it was latest-approved; latest-approved is now 1: run `pulumi up --stack prod` to deploy that\n"
    )


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_version_numbers_are_checked(outputs_file, capsys, bad):
    with pytest.raises(SystemExit) as exited:
        main(["approve", "--stack", "prod", "--outputs", outputs_file(), "--", bad])
    assert exited.value.code == 2
    assert f"argument N: must be a model version number >= 1 (got {bad!r})" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# rollback


def _sha256_of(s3, url: str) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return hashlib.sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def test_rollback_rejects_the_latest_and_serves_the_previous_artifact_byte_for_byte(aws, outputs_file):
    sagemaker, s3 = aws
    register_version(sagemaker, version=1, status="Approved", s3=s3)
    register_version(sagemaker, version=2, status="Approved", s3=s3)
    register_version(sagemaker, version=3, status="Rejected", s3=s3)
    register_version(sagemaker, version=4, status="Approved", s3=s3)
    served_before = resolve(sagemaker, GROUP, LATEST_APPROVED)
    assert served_before.version == 4

    code, out, err = run("rollback", "--stack", "prod", "--outputs", outputs_file(), "--reason", "5xx after deploy")
    assert (code, err) == (0, "")

    after = resolve(sagemaker, GROUP, LATEST_APPROVED)
    assert after.version == 2
    assert _sha256_of(s3, after.model_data_url) == hashlib.sha256(artifact_bytes(2)).hexdigest()
    assert _sha256_of(s3, after.model_data_url) != _sha256_of(s3, served_before.model_data_url)
    rejected = sagemaker.describe_model_package(ModelPackageName=served_before.arn)
    assert (rejected["ModelApprovalStatus"], rejected["ApprovalDescription"]) == ("Rejected", "5xx after deploy")
    lines = out.splitlines()
    assert lines[:3] == [
        "rejected version 4 (5xx after deploy)",
        "latest-approved is now version 2:",
        f"  version 2 · Approved · created {after.created:%Y-%m-%d %H:%M} UTC",
    ]
    assert lines[3] == f"  artifact s3://{BUCKET}/models/exec-2/output/model.tar.gz"
    assert "    pulumi up --stack prod" in lines
    assert "    python -m ops.models rollback --stack prod --to 2" in lines
    # No training was started: rollback never retrains.
    assert boto3.client("sagemaker", region_name=REGION).list_training_jobs()["TrainingJobSummaries"] == []


def test_rollback_refuses_when_no_earlier_version_is_approved(aws, outputs_file):
    sagemaker, _ = aws
    register_version(sagemaker, version=1, status="Rejected")
    register_version(sagemaker, version=2, status="Approved")
    code, _, err = run("rollback", "--stack", "prod", "--outputs", outputs_file())
    assert code == 1
    assert err == (
        f"error: stack prod: version 2 is the only approved version of '{GROUP}'; rejecting it would leave "
        "nothing to serve. Approve an earlier version first, or pin one with --to N "
        "(versions: 1 Rejected, 2 Approved)\n"
    )
    assert resolve(sagemaker, GROUP, LATEST_APPROVED).version == 2  # nothing changed


def test_rollback_with_no_versions(aws, outputs_file):
    code, _, err = run("rollback", "--stack", "prod", "--outputs", outputs_file())
    assert (code, err) == (
        1,
        f"error: stack prod: model package group '{GROUP}' has no approved version to roll back from "
        "(versions: none)\n",
    )


def test_rollback_to_prints_the_pin_commands(aws, outputs_file):
    sagemaker, _ = aws
    register_version(sagemaker, version=1, status="Approved")
    register_version(sagemaker, version=2, status="Approved")
    code, out, _ = run("rollback", "--stack", "prod", "--outputs", outputs_file(), "--to", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "version 1 is approved:"
    assert lines[5:] == [
        "",
        "pin it and deploy (commit the changed Pulumi.prod.yaml):",
        "    pulumi config set --path serving.model 1 --stack prod",
        "    pulumi up --stack prod",
        "back to following approvals later:",
        "    pulumi config set --path serving.model latest-approved --stack prod",
    ]
    assert resolve(sagemaker, GROUP, LATEST_APPROVED).version == 2  # pinning changes no status


def test_rollback_to_a_version_that_is_not_approved_or_missing(aws, outputs_file):
    sagemaker, _ = aws
    register_version(sagemaker, version=1, status="Rejected")
    code, _, err = run("rollback", "--stack", "prod", "--outputs", outputs_file(), "--to", "1")
    assert code == 1
    assert err.startswith(
        f"error: stack prod: cannot pin version 1: model package group '{GROUP}': version 1 is Rejected, not Approved"
    )
    code, _, err = run("rollback", "--stack", "prod", "--outputs", outputs_file(), "--to", "9")
    assert err == (
        f"error: stack prod: cannot pin version 9: model package group '{GROUP}': version 9 does not exist "
        "(versions: 1 Rejected)\n"
    )


# ---------------------------------------------------------------------------------------------
# outputs


def test_unknown_stack_is_a_clear_error():
    class Workspace:
        def stack_outputs(self, stack):
            result = auto.CommandResult(stdout="", stderr=f"error: no stack named '{stack}' found", code=255)
            raise create_command_error(result)

    out, err = io.StringIO(), io.StringIO()
    assert main(["list", "--stack", "prdo"], workspace=Workspace, out=out, err=err) == 2
    assert err.getvalue() == (
        "error: stack prdo: no stack named 'prdo' in the backend the Pulumi CLI is logged in to: check the name "
        "(`pulumi stack ls`) or log in to the stack's backend (`pulumi login <backend_url of the bootstrap "
        "outputs>`; `pulumi whoami --verbose` shows the current one)\n"
    )


def test_outputs_without_a_registry_or_pipeline(aws, outputs_file):
    no_group = {k: v for k, v in OUTPUTS.items() if k != "model_package_group"}
    code, _, err = run("list", "--stack", "prod", "--outputs", outputs_file(no_group))
    assert code == 2
    assert err.startswith(
        "error: stack prod: outputs: model_package_group: missing (the stack declares no model registry; "
    )
    no_build = {**OUTPUTS, "pipelines": {"monitoring": "m"}}
    code, _, err = run("train", "--stack", "prod", "--outputs", outputs_file(no_build), "--no-wait")
    assert (code, err) == (
        2,
        "error: stack prod: outputs: pipelines.retraining: missing (the model-build pipeline; "
        "pipelines present: monitoring)\n",
    )
