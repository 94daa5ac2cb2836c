"""A model registry on moto: a group and versions registered the way the model-build pipeline
registers them (artifact, image, metrics and lineage as customer metadata, drift baseline)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
GROUP = "ml-platform-prod-models"
BUCKET = "ml-platform-prod-artifacts"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/ml-platform@sha256:" + "a" * 64
INSTANCE_TYPES = ["ml.m5.large", "ml.c5.xlarge"]


def create_group(sagemaker: Any, group: str = GROUP) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="test group")


@contextmanager
def moto_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """SageMaker and S3 clients on moto, with the group and the artifacts bucket created and
    no real profile or credentials in reach."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        create_group(sagemaker)
        yield sagemaker, s3


def outputs_writer(tmp_path: Path, default: dict) -> Callable[..., str]:
    """Writes stack outputs (`default`, or another document) to a file for `--outputs`."""

    def write(document: dict = default) -> str:
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(document))
        return str(path)

    return write


def artifact_bytes(version: int) -> bytes:
    """A real, distinct model.tar.gz per version (one member naming the version), the same bytes
    on every call (gzip's header time is fixed at 0)."""
    buffer = io.BytesIO()
    payload = f"weights of version {version}\n".encode()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("model.json")
        info.size = len(payload)
        info.mtime = 0
        archive.addfile(info, io.BytesIO(payload))
    return gzip.compress(buffer.getvalue(), mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def register_version(
    sagemaker: Any,
    *,
    version: int,
    status: str = "PendingManualApproval",
    accuracy: float = 0.95,
    group: str = GROUP,
    s3: Any = None,
    extra_metadata: dict[str, str] | None = None,
) -> str:
    """Register one package; with `s3`, upload its model.tar.gz first. Returns the package ARN.

    `version` only shapes the names (moto numbers packages itself, 1, 2, ... in creation order):
    register in order.
    """
    key = f"models/exec-{version}/output/model.tar.gz"
    if s3 is not None:
        s3.put_object(Bucket=BUCKET, Key=key, Body=artifact_bytes(version))
    metadata = {
        "dataset_uri": f"s3://ml-platform-prod-datasets/breast-cancer/v{version}/",
        "dataset_version": f"v{version}",
        "git_commit": f"{version:040x}",
        "pipeline_execution_arn": f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/retraining/execution/e{version}",
        "metric.accuracy": f"{accuracy:.4f}",
        "metric.holdout_rows": "114",
        **(extra_metadata or {}),
    }
    response = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"version {version}",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": INSTANCE_TYPES,
        },
        ModelApprovalStatus=status,
        CustomerMetadataProperties=metadata,
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{BUCKET}/models/exec-{version}/baseline.json",
                }
            }
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{BUCKET}/evaluations/exec{version}/evaluation.json",
                }
            }
        },
    )
    return response["ModelPackageArn"]
