"""`python -m model_code resolve-dataset` on moto: the newest dataset version, the champion
from the Model Registry, and the errors a run fails with."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from model_code import resolve_dataset
from model_code.resolve_dataset import natural_key

REGION = "us-east-1"
GROUP = "ml-platform-dev"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/m@sha256:" + "a" * 64


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        s3.create_bucket(Bucket="datasets")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield s3, sagemaker


def put(s3, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket="datasets", Key=key, Body=b"a,b\n1,2\n")


def register(sagemaker, url: str, status: str) -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def run(tmp_path: Path, aws, version: str = "latest", champion: str = "latest-approved") -> tuple[int, dict | None]:
    output = tmp_path / "dataset.json"
    code = resolve_dataset.main(
        [
            "--dataset-root",
            "s3://datasets/tabular/iris/",
            "--holdout-root",
            "s3://datasets/tabular/iris-holdout/",
            "--version",
            version,
            "--champion",
            champion,
            "--model-package-group",
            GROUP,
            "--no-champion-uri",
            "s3://artifacts/champion-none/",
            "--output",
            str(output),
        ],
        clients=aws,
    )
    return code, json.loads(output.read_text()) if output.exists() else None


def test_versions_sort_naturally():
    assert sorted(["v10", "v9", "v1", "v2"], key=natural_key) == ["v1", "v2", "v9", "v10"]
    assert sorted(["2024-06-01", "2024-05-30"], key=natural_key) == ["2024-05-30", "2024-06-01"]


def test_latest_is_the_newest_non_empty_version_and_no_approved_model_means_no_champion(tmp_path, aws, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    s3, _ = aws
    put(s3, "tabular/iris/v9/a.csv", "tabular/iris/v10/a.csv", "tabular/iris-holdout/v10/h.csv")
    s3.put_object(Bucket="datasets", Key="tabular/iris/v11/", Body=b"")  # an empty "folder" marker only
    s3.delete_object(Bucket="datasets", Key="tabular/iris/v11/")
    code, resolved = run(tmp_path, aws)
    assert code == 0
    assert resolved == {
        "dataset_version": "v10",
        "dataset_s3_uri": "s3://datasets/tabular/iris/v10/",
        "holdout_s3_uri": "s3://datasets/tabular/iris-holdout/v10/",
        "champion_s3_uri": "s3://artifacts/champion-none/",
        "champion_version": None,
    }


def test_the_champion_is_the_newest_approved_package_not_a_newer_pending_one(tmp_path, aws, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    s3, sagemaker = aws
    put(s3, "tabular/iris/v1/a.csv", "tabular/iris-holdout/v1/h.csv")
    register(sagemaker, "s3://artifacts/models/e1/job/output/model.tar.gz", "Approved")
    register(sagemaker, "s3://artifacts/models/e2/job/output/model.tar.gz", "Approved")
    register(sagemaker, "s3://artifacts/models/e3/job/output/model.tar.gz", "PendingManualApproval")
    code, resolved = run(tmp_path, aws, version="v1")
    assert code == 0
    assert (resolved["champion_s3_uri"], resolved["champion_version"]) == (
        "s3://artifacts/models/e2/job/output/model.tar.gz",
        2,
    )
    code, resolved = run(tmp_path, aws, version="v1", champion="none")
    assert resolved["champion_s3_uri"] == "s3://artifacts/champion-none/"


def test_a_missing_holdout_version_fails_with_the_reason(tmp_path, aws, monkeypatch):
    opt_ml = tmp_path / "opt_ml"
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(opt_ml))
    s3, _ = aws
    put(s3, "tabular/iris/v2/a.csv", "tabular/iris-holdout/v1/h.csv")
    code, resolved = run(tmp_path, aws)
    assert (code, resolved) == (1, None)
    assert (opt_ml / "output" / "failure").read_text() == (
        "holdout version 'v2' has no objects at s3://datasets/tabular/iris-holdout/v2/\n"
    )


def test_no_version_at_all_and_a_bad_champion_selector_fail_clearly(tmp_path, aws, monkeypatch):
    opt_ml = tmp_path / "opt_ml"
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(opt_ml))
    assert run(tmp_path, aws) == (1, None)
    assert (opt_ml / "output" / "failure").read_text() == (
        "no dataset version under s3://datasets/tabular/iris/ "
        "(expected prefixes such as s3://datasets/tabular/iris/v1/ holding CSV files)\n"
    )
    put(aws[0], "tabular/iris/v1/a.csv", "tabular/iris-holdout/v1/h.csv")
    assert run(tmp_path, aws, champion="newest") == (1, None)
    assert (opt_ml / "output" / "failure").read_text() == (
        "ChampionModelDataUrl: not allowed (got 'newest'; expected 'latest-approved', 'none' or "
        "s3://<bucket>/<key>/model.tar.gz)\n"
    )
