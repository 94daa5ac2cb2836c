"""Where capture files, labels, the baseline and reports live: S3 or a local directory.

Both are addressed by a `Location`: `s3://bucket/key/prefix` or a local path, with the same
layout under either, so `make drift` runs the job on files exactly as SageMaker runs it on S3.
Files are streamed in blocks of whole lines (BLOCK_BYTES), never read whole, so memory does not
grow with the size of a window. AWS errors become `UserError`s naming the object and the error.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_code.atomic import write_json_atomic
from model_code.failure import UserError

BLOCK_BYTES = 4 * 1024 * 1024
# A line longer than this is cut (and so counted as malformed) rather than held in memory;
# SageMaker caps a payload at 6 MB (8 MB once base64-encoded).
MAX_LINE_BYTES = 64 * 1024 * 1024
S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
BASELINE_FILE = "baseline.json"
MODEL_ARCHIVE = "model.tar.gz"


@dataclass(frozen=True)
class Location:
    """An S3 object or prefix (bucket set, key without a leading '/') or a local path (bucket None)."""

    bucket: str | None
    key: str

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def path(self) -> Path:
        return Path(self.key)

    @property
    def name(self) -> str:
        return self.key.rstrip("/").rpartition("/")[2]

    def child(self, *parts: str) -> Location:
        if not self.is_s3:
            return Location(None, str(self.path.joinpath(*parts)))
        base = self.key.rstrip("/")
        return Location(self.bucket, "/".join(p for p in (base, *parts) if p))

    def bucket_root(self) -> Location:
        """The bucket itself (S3) or the directory itself (local): where reports go by default."""
        return Location(self.bucket, "") if self.is_s3 else self

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.is_s3 else self.key


def parse_location(text: str) -> Location:
    """`s3://bucket[/key]` or a local path; ValueError says what is wrong."""
    if text.startswith("s3://"):
        match = S3_URI.match(text)
        if not match:
            raise ValueError("not a valid S3 URI (expected s3://<bucket>/<key prefix>)")
        return Location(match["bucket"], (match["key"] or "").lstrip("/"))
    if "://" in text:
        raise ValueError("only s3:// URIs and local paths are supported")
    if not text:
        raise ValueError("empty path")
    return Location(None, text)


class Storage:
    """Listing, streaming and writing, on S3 (client made on first use) or the local disk."""

    def __init__(self, s3_client: Callable[[], Any]):
        self._make_s3 = s3_client
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._make_s3()
        return self._s3

    def list_dirs(self, where: Location) -> list[Location]:
        """Immediate sub-directories (sub-prefixes) of `where`, sorted."""
        if not where.is_s3:
            entries = sorted(where.path.iterdir()) if where.path.is_dir() else []
            return [Location(None, str(p)) for p in entries if p.is_dir()]
        prefix = where.key.rstrip("/") + "/" if where.key else ""
        found = []
        for page in self._pages(where, Prefix=prefix, Delimiter="/"):
            found += [Location(where.bucket, p["Prefix"].rstrip("/")) for p in page.get("CommonPrefixes", [])]
        return sorted(found, key=str)

    def list_files(self, where: Location, suffix: str = ".jsonl") -> list[Location]:
        """Files (objects) directly under `where` whose names end in `suffix`, sorted."""
        if not where.is_s3:
            entries = sorted(where.path.iterdir()) if where.path.is_dir() else []
            return [Location(None, str(p)) for p in entries if p.is_file() and p.name.endswith(suffix)]
        prefix = where.key.rstrip("/") + "/"
        found = []
        for page in self._pages(where, Prefix=prefix, Delimiter="/"):
            found += [Location(where.bucket, o["Key"]) for o in page.get("Contents", []) if o["Key"].endswith(suffix)]
        return sorted(found, key=str)

    def blocks(self, where: Location, size: int = BLOCK_BYTES) -> Iterator[bytes]:
        """The file's content in blocks of whole lines, each ending in a newline."""
        return whole_lines(self._chunks(where, size))

    def read(self, where: Location) -> bytes:
        if not where.is_s3:
            try:
                return where.path.read_bytes()
            except OSError as exc:
                raise UserError(f"cannot read {where}: {exc.strerror or exc}") from exc
        return self._call("read", where, lambda: self.s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read())

    def write_json(self, where: Location, document: Any) -> None:
        if not where.is_s3:
            write_json_atomic(where.path, document)
            return
        body = (json.dumps(document, indent=2) + "\n").encode("utf-8")
        # No encryption header: the bucket's default encryption (the region key) applies.
        self._call(
            "write",
            where,
            lambda: self.s3.put_object(Bucket=where.bucket, Key=where.key, Body=body, ContentType="application/json"),
        )

    def _chunks(self, where: Location, size: int) -> Iterator[bytes]:
        if not where.is_s3:
            with where.path.open("rb") as handle:
                while chunk := handle.read(size):
                    yield chunk
            return
        body = self._call("read", where, lambda: self.s3.get_object(Bucket=where.bucket, Key=where.key)["Body"])
        try:
            while chunk := self._call("read", where, lambda: body.read(size)):
                yield chunk
        finally:
            body.close()

    def _pages(self, where: Location, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=where.bucket, **kwargs)
        return iter(self._call("list", where, lambda: list(pages)))

    def _call(self, verb: str, where: Location, action: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise UserError(
                f"cannot {verb} {where}: {error.get('Code', 'error')} ({error.get('Message', exc)}); "
                f"check the URI and that the job's role may access it"
            ) from exc
        except BotoCoreError as exc:
            raise UserError(f"cannot {verb} {where}: {exc}") from exc


def whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut arbitrary chunks into blocks of whole lines; the last line gets a newline if it lacks one."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            if len(rest) > MAX_LINE_BYTES:
                yield rest + b"\n"
                rest = b""
            continue
        yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest + b"\n"


# ---------------------------------------------------------------------------------------------
# baseline.json


def load_baseline(storage: Storage, where: Location) -> dict[str, Any]:
    """baseline.json from a file, a directory holding it or model.tar.gz, an S3 object, or a model archive."""
    if not where.is_s3 and where.path.is_dir():
        for name in (BASELINE_FILE, MODEL_ARCHIVE):
            if (where.path / name).is_file():
                return load_baseline(storage, where.child(name))
        raise UserError(f"baseline directory {where} holds neither {BASELINE_FILE} nor {MODEL_ARCHIVE}")
    raw = storage.read(where)
    if where.name.endswith((".tar.gz", ".tgz")):
        raw = _baseline_from_archive(where, raw)
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise UserError(f"baseline {where} is not valid JSON: {exc}") from exc
    return check_baseline(document, str(where))


def _baseline_from_archive(where: Location, raw: bytes) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.removeprefix("./") == BASELINE_FILE:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        return handle.read()
    except tarfile.TarError as exc:
        raise UserError(f"cannot read model archive {where}: {exc}") from exc
    raise UserError(f"model archive {where} has no {BASELINE_FILE} (train writes it next to model.npz)")


def check_baseline(document: Any, where: str) -> dict[str, Any]:
    """The parts of baseline.json (format_version 1) the monitoring jobs rely on."""
    problems = []
    if not isinstance(document, dict) or document.get("format_version") != 1:
        raise UserError(f"baseline {where} is not a format_version 1 baseline.json")
    features = document.get("features")
    if not isinstance(features, dict) or not features:
        problems.append("no features")
    else:
        for name, stats in features.items():
            try:
                edges, share = stats["bin_edges"], stats["proportions"]
                float(stats["min"]), float(stats["max"])
                ok = len(edges) == len(share) + 1 and len(share) >= 1
            except (KeyError, TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(f"feature {name!r} lacks consistent bin_edges, proportions, min and max")
    prediction = document.get("prediction")
    try:
        classes = prediction["classes"]
        ok = len(classes) == len(prediction["predicted_proportions"]) and set(prediction["probability_counts"]) == set(
            classes
        )
        ok = ok and len(prediction["probability_bin_edges"]) >= 2
    except (KeyError, TypeError):
        ok = False
    if not ok:
        problems.append("prediction lacks consistent classes, predicted_proportions and probability histograms")
    if problems:
        raise UserError(f"baseline {where} is not usable: {'; '.join(problems)}")
    return document
