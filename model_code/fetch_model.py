"""`python -m model_code fetch-model`: put a training job's model.tar.gz from S3 into the model directory.

    python -m model_code fetch-model --source s3://BUCKET/KEY/model.tar.gz [--model-dir DIR] [--region REGION]

On Kubernetes it runs as the server pod's init container: the archive streams from S3 straight
through gunzip and tar into the model directory (an `emptyDir` volume), so it needs no temporary
space and writes nothing else; the root filesystem may be read-only. SageMaker does the same job
itself for endpoints, so `serve` never needs this there.

The archive is extracted with tarfile's `data` filter (no absolute paths, no links out of the
directory, no devices), then the model is loaded once, so a bad artifact fails here, with its
reason, instead of in every server worker. Files already in the model directory (a previous,
interrupted attempt) are removed first.

Exit codes: 0 the model is in place; 1 it could not be fetched or is not a valid model (one
line on stderr says why); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
from pathlib import Path
from typing import Any

from model_code.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from model_code.failure import UserError
from model_code.paths import OptMl


def s3_uri(text: str) -> tuple[str, str]:
    bucket, _, key = text.removeprefix("s3://").partition("/")
    if not text.startswith("s3://") or not bucket or not key or key.endswith("/"):
        raise argparse.ArgumentTypeError(f"not an S3 object URI (got {text!r}; expected s3://<bucket>/<key>)")
    return bucket, key


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_code fetch-model",
        description="Download and unpack model.tar.gz into the model directory.",
    )
    parser.add_argument("--source", type=s3_uri, required=True, help="s3://<bucket>/<key> of model.tar.gz")
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="where to unpack it (default <ML_PLATFORM_OPT_ML or /opt/ml>/model)",
    )
    parser.add_argument("--region", default=None, help="the bucket's region (default AWS_REGION)")
    return parser


def main(argv: list[str], s3_client: Any = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    model_dir = args.model_dir or OptMl.from_env().model_dir
    bucket, key = args.source
    try:
        client = s3_client if s3_client is not None else _client(args.region)
        size = fetch(client, bucket, key, model_dir)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILED
    print(f"fetched s3://{bucket}/{key} ({size} bytes) into {model_dir}")
    return EXIT_OK


def fetch(client: Any, bucket: str, key: str, model_dir: Path) -> int:
    """Stream the archive into `model_dir` and check the model loads; returns the archive's size."""
    from botocore.exceptions import BotoCoreError, ClientError

    from model_code.model import MODEL_FILE, ModelFormatError, load_model

    source = f"s3://{bucket}/{key}"
    _empty(model_dir)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        with tarfile.open(fileobj=response["Body"], mode="r|gz") as archive:
            archive.extractall(model_dir, filter="data")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UserError(
            f"cannot read {source}: {error.get('Code', 'error')} ({error.get('Message', exc)}); check the URI and "
            f"that the pod's IAM role (service account annotation eks.amazonaws.com/role-arn) may read it"
        ) from exc
    except BotoCoreError as exc:
        raise UserError(f"cannot read {source}: {exc}") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(f"{source} is not a readable model.tar.gz: {exc}") from exc
    if not (model_dir / MODEL_FILE).is_file():
        found = sorted(p.name for p in model_dir.iterdir())
        raise UserError(f"{source} holds no {MODEL_FILE} at its top level (found: {', '.join(found) or 'nothing'})")
    try:
        load_model(model_dir)
    except ModelFormatError as exc:
        raise UserError(f"{source} is not a valid model: {exc}") from exc
    return int(response.get("ContentLength", 0))


def _empty(model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    for entry in model_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _client(region: str | None) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    try:
        return boto3.session.Session(region_name=region).client(
            "s3", config=Config(retries={"mode": "standard", "max_attempts": 5})
        )
    except NoRegionError:
        raise UserError("no AWS region for S3: pass --region or set AWS_REGION") from None
