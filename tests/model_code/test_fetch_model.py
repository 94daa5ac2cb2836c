"""`python -m model_code fetch-model`: the Kubernetes init container that puts model.tar.gz from S3
into the model volume. S3 is moto's; the archive is a real training run's output.

What moto cannot show: IRSA credentials (the pod's web-identity token) and KMS decryption,
which S3 does server-side for a reader the key policy and IAM allow.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from model_code.fetch_model import FetchTimeoutError, fetch, main
from model_code.model import load_model
from tests.model_code.helpers import Job

BUCKET = "artifacts-primary"
KEY = "models/training-job-1/output/model.tar.gz"
SOURCE = f"s3://{BUCKET}/{KEY}"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def model_files(run: Job) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(run.model_dir.iterdir()) if path.is_file()}


def test_the_model_is_unpacked_into_the_model_dir_replacing_what_was_there(
    s3: Any, bundled_run: Job, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    files = model_files(bundled_run)
    body = archive(files)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    model_dir = tmp_path / "model"
    (model_dir / "partial").mkdir(parents=True)
    (model_dir / "model.npz.tmp").write_bytes(b"left by an interrupted attempt")

    assert main(["--source", SOURCE, "--model-dir", str(model_dir)], s3_client=s3) == 0

    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == files
    assert load_model(model_dir).feature_names == load_model(bundled_run.model_dir).feature_names
    assert capsys.readouterr().out == f"fetched {SOURCE} ({len(body)} bytes) into {model_dir}\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (None, f"error: cannot read {SOURCE}: NoSuchKey (The specified key does not exist.); check the URI"),
        (
            {"../escape.txt": b"x"},
            f"error: {SOURCE} is not a readable model.tar.gz: '../escape.txt' would be extracted to ",
        ),
        (
            {"model/model.npz": b"x"},
            f"error: {SOURCE} holds no model.npz or model.onnx at its top level (found: model)",
        ),
        ({"model.npz": b"not numpy"}, f"error: {SOURCE} is not a valid model: "),
    ],
    ids=["missing-object", "path-traversal", "nested-model", "not-a-model"],
)
def test_a_bad_source_exits_1_saying_why(
    files: dict[str, bytes] | None, expected: str, s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    if files is not None:
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=archive(files))
    model_dir = tmp_path / "volume" / "model"

    assert main(["--source", SOURCE, "--model-dir", str(model_dir)], s3_client=s3) == 1

    assert capsys.readouterr().err.startswith(expected)
    assert not (tmp_path / "volume" / "escape.txt").exists()


def test_the_source_must_be_an_s3_object(capsys: pytest.CaptureFixture[str]):
    assert main(["--source", "s3://bucket-only/"]) == 2
    assert capsys.readouterr().err.endswith(
        "error: argument --source: not an S3 object URI (got 's3://bucket-only/'; expected s3://<bucket>/<key>)\n"
    )


class SteppingClock:
    """A monotonic clock that advances `step` seconds on every reading: time passes per read."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_fetch_that_outlasts_its_timeout_fails_saying_so(s3: Any, bundled_run: Job, tmp_path: Path):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=archive(model_files(bundled_run)))
    model_dir = tmp_path / "model"
    # Every read of the body takes "10 s": the second read is past a 15 s deadline.
    with pytest.raises(FetchTimeoutError) as caught:
        fetch(s3, BUCKET, KEY, model_dir, timeout_seconds=15, clock=SteppingClock(10))
    assert str(caught.value) == (
        f"{SOURCE} was not fetched within 15 s (--timeout-seconds); check the node's network path to S3 and the "
        "artifact's size against kubernetes.model_fetch_timeout_seconds"
    )


def test_a_fetch_within_its_timeout_puts_the_model_in_place(s3: Any, bundled_run: Job, tmp_path: Path):
    files = model_files(bundled_run)
    body = archive(files)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    model_dir = tmp_path / "model"
    assert fetch(s3, BUCKET, KEY, model_dir, timeout_seconds=3600, clock=SteppingClock(1)) == len(body)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == files


def test_the_timeout_reaches_the_command_line(
    s3: Any, bundled_run: Job, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=archive(model_files(bundled_run)))
    args = ["--source", SOURCE, "--model-dir", str(tmp_path / "model")]
    assert main([*args, "--timeout-seconds", "120"], s3_client=s3) == 0
    assert main([*args, "--timeout-seconds", "0"], s3_client=s3) == 2
    assert capsys.readouterr().err.endswith(
        "error: argument --timeout-seconds: not a positive number of seconds (got '0'; expected e.g. 120)\n"
    )
