"""`ops.models register`: a model directory made outside the pipeline (import-onnx, a local
`train`) packed, uploaded under a run-unique prefix and registered as a new version."""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import math
import re
import tarfile
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml_platform.components.model_versions import describe
from ops.models.common import EXIT_OK, CommandError, Context, Stack
from ops.outputs import OutputsError, section

MODEL_FILES = {"model.onnx": "onnx", "model.npz": "npz"}

PACKED_FILES = ("model.onnx", "model.json", "model.npz", "metrics.json", "baseline.json")

# CreateModelPackage CustomerMetadataProperties: at most 50 entries, keys 1-128 and values
# 1-256 characters of letters, spaces, digits and _.:/=+-@ (botocore's sagemaker model, shape
# CustomerMetadataMap; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html).
_METADATA_VALUE = re.compile(r"[\w .:/=+\-@]{1,256}")

_METRICS = ("accuracy", "log_loss", "rmse", "mae", "r2")


def pack_model_dir(model_dir: Path) -> tuple[bytes, dict[str, Any], dict[str, Any], bytes]:
    """(model.tar.gz bytes, model metadata, metrics.json, baseline.json bytes) of a model directory.

    The archive holds the directory's model files at its top level, as a training job's
    model.tar.gz does (SageMaker extracts it into /opt/ml/model), in a fixed order with fixed
    owners and times, so the same directory always packs to the same bytes.
    """
    if not model_dir.is_dir():
        raise CommandError(f"--model-dir {model_dir} is not a directory")
    present = [name for name in MODEL_FILES if (model_dir / name).is_file()]
    if not present:
        found = ", ".join(sorted(p.name for p in model_dir.iterdir())) or "nothing"
        raise CommandError(
            f"--model-dir {model_dir} holds no model.onnx or model.npz (found: {found}); write one with "
            f"python -m model_code import-onnx or train"
        )
    missing = [name for name in ("metrics.json", "baseline.json") if not (model_dir / name).is_file()]
    if present[0] == "model.onnx" and not (model_dir / "model.json").is_file():
        missing.insert(0, "model.json")
    if missing:
        raise CommandError(
            f"--model-dir {model_dir} lacks {', '.join(missing)}; python -m model_code import-onnx writes them"
        )
    meta = _json_file(model_dir / "model.json") if present[0] == "model.onnx" else {"format": "npz"}
    if present[0] == "model.onnx" and meta.get("format") != "onnx":
        raise CommandError(f"{model_dir / 'model.json'}: format must be 'onnx' (got {meta.get('format')!r})")
    metrics = _json_file(model_dir / "metrics.json")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in PACKED_FILES:
            path = model_dir / name
            if not path.is_file():
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    archive_bytes = gzip.compress(buffer.getvalue(), mtime=0)
    return archive_bytes, meta, metrics, (model_dir / "baseline.json").read_bytes()


def _json_file(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise CommandError(f"{path} must hold a JSON object (got {type(document).__name__})")
    return document


def version_metadata(meta: Mapping[str, Any], metrics: Mapping[str, Any], commit: str, user: str) -> dict[str, str]:
    """CustomerMetadataProperties: lineage, and the holdout metrics as `metric.<name>` (the keys
    ml_platform/components/model_versions.py reads back into ModelVersion.metrics)."""
    holdout = metrics.get("holdout") if isinstance(metrics.get("holdout"), dict) else {}
    properties = {
        "source": "ops.models register",
        "model_format": str(meta.get("format", "npz")),
        "task": str(meta.get("task", "classification")),
        "git_commit": commit,
        "registered_by": user,
    }
    producer = (meta.get("onnx") or {}).get("producer") if isinstance(meta.get("onnx"), dict) else None
    if producer:
        properties["producer"] = str(producer)
    for name in _METRICS:
        value = holdout.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            properties[f"metric.{name}"] = f"{value:.6g}"
    if isinstance(holdout.get("rows"), int):
        properties["metric.holdout_rows"] = str(holdout["rows"])
    # Values outside SageMaker's character set (a user name with a comma, say) become "_".
    return {
        key: value if _METADATA_VALUE.fullmatch(value) else re.sub(r"[^\w .:/=+\-@]", "_", value)[:256] or "_"
        for key, value in properties.items()
    }


def artifacts_bucket(stack: Stack) -> str:
    buckets = section(stack.outputs, "buckets", dict[str, dict[str, str]], "every stack exports its buckets")
    primary = next((role for role, region in stack.outputs["regions"].items() if region == stack.region), "primary")
    bucket = buckets.get(primary, {}).get("artifacts")
    if not bucket:
        raise OutputsError(f"outputs: buckets.{primary}.artifacts: missing (got {buckets.get(primary)!r})")
    return bucket


def command_register(args: argparse.Namespace, stack: Stack, ctx: Context) -> int:
    archive, meta, metrics, baseline = pack_model_dir(args.model_dir)
    bucket = artifacts_bucket(stack)
    image = section(stack.outputs, "image_uri", str, "the stack exports the serving image as image_uri")
    now = datetime.now(UTC)
    prefix = f"models/register-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    s3 = ctx.clients("s3", stack.region)
    # A new prefix per run: a registered version's artifact is never overwritten (rollback serves
    # it byte for byte). ChecksumSHA256 makes S3 refuse a corrupted upload
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html); the
    # bucket's default SSE-KMS encryption applies, as the bucket policy requires.
    uploads = (
        (f"{prefix}/model.tar.gz", archive, "application/gzip"),
        (f"{prefix}/baseline.json", baseline, "application/json"),
    )
    for key, body, content_type in uploads:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumSHA256=_b64_sha256(body),
        )
        print(f"uploaded s3://{bucket}/{key} ({len(body)} bytes)", file=ctx.out)
    model_data_url = f"s3://{bucket}/{prefix}/model.tar.gz"
    description = (
        args.description or f"Registered from {args.model_dir.resolve().name} by python -m ops.models register"
    )
    sagemaker = ctx.clients("sagemaker", stack.region)
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html: with
    # ModelPackageGroupName the package is a versioned one, numbered after the group's last;
    # ClientToken makes a retried call create one version, not two.
    response = sagemaker.create_model_package(
        ModelPackageGroupName=stack.group,
        ModelPackageDescription=description[:1024],
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
            "SupportedRealtimeInferenceInstanceTypes": list(args.instance_type),
        },
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties=version_metadata(meta, metrics, ctx.commit(), ctx.user()),
        DriftCheckBaselines={
            "ModelDataQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{prefix}/baseline.json"}
            }
        },
        ClientToken=str(uuid.uuid4()),
    )
    version = describe(sagemaker, response["ModelPackageArn"])
    print(
        f"registered version {version.version} ({version.status}) in {stack.group}: {version.arn}; "
        f"approve it with: python -m ops.models approve --stack {stack.name} {version.version}",
        file=ctx.out,
    )
    return EXIT_OK


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
