"""`python -m model_code fetch-model`: put a training job's model.tar.gz from S3 into the model directory.

    python -m model_code fetch-model --source s3://BUCKET/KEY/model.tar.gz [--model-dir DIR] [--region REGION]
                                     [--timeout-seconds N]

On Kubernetes it runs as the server pod's init container: the archive streams from S3 straight
through gunzip and tar into the model directory (an `emptyDir` volume), so it needs no temporary
space and writes nothing else; the root filesystem may be read-only. SageMaker does the same job
itself for endpoints, so `serve` never needs this there.

The archive is extracted with tarfile's `data` filter (no absolute paths, no links out of the
directory, no devices), then the model is loaded once, so a bad artifact fails here, with its
reason, instead of in every server worker. Any model format loads (model_code/model.py:
model.npz, or model.onnx with model.json, run once by ONNX Runtime). Files already in the model directory (a previous,
interrupted attempt) are removed first.

`--timeout-seconds` bounds the whole fetch (connect, download, unpack, load): a stalled download
fails with the reason instead of holding the pod in `Init` forever. The kubelet then restarts
the init container with its back-off, and the Deployment's progress deadline (sized from the
same number) reports the rollout as failed.

Exit codes: 0 the model is in place; 1 it could not be fetched or is not a valid model (one
line on stderr says why); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import time
from collections.abc import Callable
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
    parser.add_argument(
        "--timeout-seconds",
        type=positive_seconds,
        default=None,
        help="fail if the model is not in place within this many seconds (default: no limit)",
    )
    return parser


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds (got {text!r}; expected e.g. 120)")
    return value


def main(argv: list[str], s3_client: Any = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    model_dir = args.model_dir or OptMl.from_env().model_dir
    bucket, key = args.source
    try:
        client = s3_client if s3_client is not None else _client(args.region, args.timeout_seconds)
        size = fetch(client, bucket, key, model_dir, timeout_seconds=args.timeout_seconds)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILED
    print(f"fetched s3://{bucket}/{key} ({size} bytes) into {model_dir}")
    return EXIT_OK


class FetchTimeoutError(UserError):
    """The fetch did not finish within --timeout-seconds."""


class _Deadline:
    """A file-like view of the S3 body that raises once the fetch has used up its time."""

    def __init__(self, body: Any, source: str, timeout_seconds: float, clock: Callable[[], float]):
        self._body, self._source, self._timeout, self._clock = body, source, timeout_seconds, clock
        self._ends = clock() + timeout_seconds

    def check(self) -> None:
        if self._clock() > self._ends:
            raise FetchTimeoutError(
                f"{self._source} was not fetched within {self._timeout:g} s (--timeout-seconds); check the node's "
                f"network path to S3 and the artifact's size against kubernetes.model_fetch_timeout_seconds"
            )

    def read(self, size: int = -1) -> bytes:
        self.check()
        return self._body.read(size)


def fetch(
    client: Any,
    bucket: str,
    key: str,
    model_dir: Path,
    *,
    timeout_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Stream the archive into `model_dir` and check the model loads; returns the archive's size."""
    from botocore.exceptions import BotoCoreError, ClientError

    from model_code.model import ModelFormatError, has_model, load_model

    source = f"s3://{bucket}/{key}"
    _empty(model_dir)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        deadline = _Deadline(body, source, timeout_seconds, clock) if timeout_seconds is not None else None
        with tarfile.open(fileobj=deadline or body, mode="r|gz") as archive:
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
    if not has_model(model_dir):
        found = sorted(p.name for p in model_dir.iterdir())
        raise UserError(
            f"{source} holds no model.npz or model.onnx at its top level (found: {', '.join(found) or 'nothing'})"
        )
    try:
        load_model(model_dir)
    except ModelFormatError as exc:
        raise UserError(f"{source} is not a valid model: {exc}") from exc
    if deadline is not None:
        deadline.check()
    return int(response.get("ContentLength", 0))


def _empty(model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    for entry in model_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _client(region: str | None, timeout_seconds: float | None = None) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    # A socket that stops delivering bytes fails after read_timeout instead of blocking a read
    # past the deadline (botocore's defaults are 60 s each).
    socket_seconds = min(60.0, timeout_seconds) if timeout_seconds is not None else 60.0
    try:
        return boto3.session.Session(region_name=region).client(
            "s3",
            config=Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=socket_seconds,
                read_timeout=socket_seconds,
            ),
        )
    except NoRegionError:
        raise UserError("no AWS region for S3: pass --region or set AWS_REGION") from None
