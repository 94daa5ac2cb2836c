"""`python -m ops.models register` on moto: a model directory written by import-onnx (from a
scikit-learn model exported in this run) becomes a new version of the stack's group, with its
artifact and baseline under a run-unique prefix of the artifacts bucket, read back exactly by
the registry reader the deploy uses."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from ml_platform.components.model_versions import describe, list_versions
from model_code import import_onnx
from ops.models import main
from tests.registry_fixtures import BUCKET, GROUP, IMAGE, REGION, moto_registry, outputs_writer

OUTPUTS = {
    "regions": {"primary": REGION, "secondary": "us-west-2"},
    "model_package_group": GROUP,
    "image_uri": IMAGE,
    "buckets": {
        "primary": {"artifacts": BUCKET, "datasets": "ml-platform-prod-datasets"},
        "secondary": {"artifacts": "ml-platform-prod-artifacts-west"},
    },
}
COMMIT = "0123abcd" * 5
PREFIX = re.compile(r"models/register-\d{8}T\d{6}Z-[0-9a-f]{8}")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("register")
    x, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    model = LogisticRegression().fit(x, y)
    (root / "m.onnx").write_bytes(
        to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=15).SerializeToString()
    )
    lines = [
        "a,b,c,d,target",
        *(",".join([*map(repr, row.tolist()), str(label)]) for row, label in zip(x, y, strict=True)),
    ]
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    out = root / "model"
    argv = ["--model", str(root / "m.onnx"), "--data", str(root / "train.csv"), "--label", "target", "--out", str(out)]
    assert import_onnx.main(argv) == 0
    return out


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    with moto_registry(monkeypatch) as clients:
        yield clients


@pytest.fixture
def outputs_file(tmp_path: Path):
    return outputs_writer(tmp_path, OUTPUTS)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err, commit=lambda: COMMIT, user=lambda: "ana")
    return code, out.getvalue(), err.getvalue()


def register(outputs: str, model_dir: Path, *extra: str) -> tuple[int, str, str]:
    return run("register", "--stack", "prod", "--outputs", outputs, "--model-dir", str(model_dir), *extra)


def test_register_uploads_the_archive_and_creates_a_pending_version(aws, outputs_file, model_dir: Path):
    sagemaker, s3 = aws
    code, out, err = register(
        outputs_file(), model_dir, "--instance-type", "ml.c5.xlarge", "--instance-type", "ml.m5.large"
    )
    assert (code, err) == (0, "")
    prefix = PREFIX.search(out).group(0)
    [package] = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    arn = package["ModelPackageArn"]
    archive = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/model.tar.gz")["Body"].read()
    baseline = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/baseline.json")["Body"].read()
    assert out == (
        f"uploaded s3://{BUCKET}/{prefix}/model.tar.gz ({len(archive)} bytes)\n"
        f"uploaded s3://{BUCKET}/{prefix}/baseline.json ({len(baseline)} bytes)\n"
        f"registered version 1 (PendingManualApproval) in {GROUP}: {arn}; "
        f"approve it with: python -m ops.models approve --stack prod 1\n"
    )
    # The archive: the directory's files at the top level, byte for byte.
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert sorted(members) == ["baseline.json", "metrics.json", "model.json", "model.onnx"]
    assert all(members[name] == (model_dir / name).read_bytes() for name in members)
    assert baseline == (model_dir / "baseline.json").read_bytes()

    response = sagemaker.describe_model_package(ModelPackageName=arn)
    assert response["InferenceSpecification"]["Containers"][0]["Image"] == IMAGE
    assert response["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == f"s3://{BUCKET}/{prefix}/model.tar.gz"
    assert response["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == [
        "ml.c5.xlarge",
        "ml.m5.large",
    ]
    assert response["ModelApprovalStatus"] == "PendingManualApproval"
    metrics = json.loads((model_dir / "metrics.json").read_text())["holdout"]
    assert response["CustomerMetadataProperties"] == {
        "source": "ops.models register",
        "model_format": "onnx",
        "task": "classification",
        "git_commit": COMMIT,
        "registered_by": "ana",
        "producer": "skl2onnx 1.20.0",
        "metric.accuracy": f"{metrics['accuracy']:.6g}",
        "metric.log_loss": f"{metrics['log_loss']:.6g}",
        "metric.holdout_rows": "40",
    }
    # What the deploy reads (ml_platform/components/model_versions.py): metrics, artifact and baseline.
    version = describe(sagemaker, arn)
    assert (version.version, version.image_uri, version.baseline_url) == (
        1,
        IMAGE,
        f"s3://{BUCKET}/{prefix}/baseline.json",
    )
    assert version.metrics == {
        "accuracy": float(f"{metrics['accuracy']:.6g}"),
        "log_loss": float(f"{metrics['log_loss']:.6g}"),
        "holdout_rows": 40.0,
    }


def test_each_run_gets_its_own_prefix_and_the_same_archive_bytes(aws, outputs_file, model_dir: Path):
    sagemaker, s3 = aws
    outputs = outputs_file()
    first = PREFIX.search(register(outputs, model_dir, "--instance-type", "ml.c5.xlarge")[1]).group(0)
    second = PREFIX.search(register(outputs, model_dir, "--instance-type", "ml.c5.xlarge")[1]).group(0)
    assert first != second
    bodies = [s3.get_object(Bucket=BUCKET, Key=f"{p}/model.tar.gz")["Body"].read() for p in (first, second)]
    assert bodies[0] == bodies[1]
    assert [v.version for v in list_versions(sagemaker, GROUP)] == [1, 2]


def test_a_directory_without_a_model_is_refused_before_any_upload(aws, outputs_file, tmp_path: Path):
    sagemaker, s3 = aws
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    code, out, err = register(outputs_file(), empty, "--instance-type", "ml.c5.xlarge")
    assert (code, out) == (1, "")
    assert err == (
        f"error: stack prod: --model-dir {empty} holds no model.onnx or model.npz (found: notes.txt); write one "
        f"with python -m model_code import-onnx or train\n"
    )
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []


def test_a_directory_without_metrics_or_baseline_is_refused(aws, outputs_file, model_dir: Path, tmp_path: Path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("model.onnx", "model.json"):
        (partial / name).write_bytes((model_dir / name).read_bytes())
    code, _, err = register(outputs_file(), partial, "--instance-type", "ml.c5.xlarge")
    assert (code, err) == (
        1,
        f"error: stack prod: --model-dir {partial} lacks metrics.json, baseline.json; python -m model_code "
        f"import-onnx writes them\n",
    )


def test_outputs_without_the_artifacts_bucket_exit_2(aws, outputs_file, model_dir: Path):
    document = {**OUTPUTS, "buckets": {"primary": {"datasets": "d"}}}
    code, _, err = register(outputs_file(document), model_dir, "--instance-type", "ml.c5.xlarge")
    assert (code, err) == (
        2,
        "error: stack prod: outputs: buckets.primary.artifacts: missing (got {'datasets': 'd'})\n",
    )


def test_an_instance_type_is_required_and_checked(outputs_file, model_dir: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        register(outputs_file(), model_dir, "--instance-type", "c5.xlarge")
    assert exit_info.value.code == 2
    assert "argument --instance-type: must be a SageMaker instance type such as ml.c5.xlarge (got 'c5.xlarge')" in (
        capsys.readouterr().err
    )
