"""Where capture files, labels, the baseline and reports live: S3 or a local directory.

Both are addressed by a `Location`: `s3://bucket/key/prefix` or a local path, with the same
layout under either, so `make drift` runs the job on files exactly as SageMaker runs it on S3.
Files are streamed in blocks of whole lines (BLOCK_BYTES), never read whole, so memory does not
grow with the size of a window. A capture file that starts with the gzip magic bytes is
inflated as it streams, whatever its name (`.jsonl.gz`, or gzip under a `.jsonl` name), in
pieces of at most BLOCK_BYTES. A line longer than MAX_LINE_BYTES is skipped and counted, never
held: memory per file stays under MAX_LINE_BYTES plus two blocks. AWS errors become `UserError`s
naming the object and the error; a file that cannot be read or inflated raises
`UnreadableCaptureError` (a `UserError`), which the jobs count per file and carry on.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_code.atomic import write_atomic, write_json_atomic
from model_code.failure import UserError

BLOCK_BYTES = 4 * 1024 * 1024
# A capture line longer than this is skipped and counted (`line_too_long`) rather than held in
# memory. SageMaker caps a request and a response at 6 MB each (8 MB once base64-encoded), so a
# real capture line holding both is under 16 MiB plus its JSON wrapping.
MAX_LINE_BYTES = 16 * 1024 * 1024 + 64 * 1024
CAPTURE_SUFFIXES = (".jsonl", ".jsonl.gz")
GZIP_MAGIC = b"\x1f\x8b"
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


class UnreadableCaptureError(UserError):
    """A capture file exists but cannot be read or inflated."""


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

    def list_files(self, where: Location, suffix: str | tuple[str, ...] = CAPTURE_SUFFIXES) -> list[Location]:
        """Files (objects) directly under `where` whose names end in `suffix`, sorted."""
        if not where.is_s3:
            entries = sorted(where.path.iterdir()) if where.path.is_dir() else []
            return [Location(None, str(p)) for p in entries if p.is_file() and p.name.endswith(suffix)]
        prefix = where.key.rstrip("/") + "/"
        found = []
        for page in self._pages(where, Prefix=prefix, Delimiter="/"):
            found += [Location(where.bucket, o["Key"]) for o in page.get("Contents", []) if o["Key"].endswith(suffix)]
        return sorted(found, key=str)

    def blocks(
        self, where: Location, size: int = BLOCK_BYTES, on_long_line: Callable[[], None] | None = None
    ) -> Iterator[bytes]:
        """The file's content (inflated if gzip) in blocks of whole lines, each ending in a newline;
        `on_long_line` is called once per line over MAX_LINE_BYTES, which is left out."""
        return whole_lines(inflated(self._chunks(where, size), where, size), on_long_line)

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

    def write_text(self, where: Location, text: str, content_type: str) -> None:
        body = text.encode("utf-8")
        if not where.is_s3:
            write_atomic(where.path, lambda handle: handle.write(body))
            return
        self._call(
            "write",
            where,
            lambda: self.s3.put_object(Bucket=where.bucket, Key=where.key, Body=body, ContentType=content_type),
        )

    def _chunks(self, where: Location, size: int) -> Iterator[bytes]:
        if not where.is_s3:
            try:
                with where.path.open("rb") as handle:
                    while chunk := handle.read(size):
                        yield chunk
            except OSError as exc:
                raise UnreadableCaptureError(f"cannot read {where}: {exc.strerror or exc}") from exc
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


def inflated(chunks: Iterable[bytes], where: Location, size: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The bytes as they are, or, if they start with the gzip magic, inflated (every member of a
    multi-member file) in pieces of at most `size` bytes, so a small compressed chunk cannot
    become a huge block. Corrupt or truncated gzip raises UnreadableCaptureError."""
    iterator = iter(chunks)
    first = next(iterator, b"")
    if not first.startswith(GZIP_MAGIC):
        if first:
            yield first
        yield from iterator
        return
    inflater, fed = zlib.decompressobj(wbits=31), False
    for chunk in _chain(first, iterator):
        data = chunk
        while data:
            if inflater.eof:  # another member follows
                inflater, fed = zlib.decompressobj(wbits=31), False
            try:
                piece = inflater.decompress(data, size)
            except zlib.error as exc:
                raise UnreadableCaptureError(f"cannot inflate {where}: not valid gzip ({exc})") from exc
            fed = True
            if piece:
                yield piece
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
    if fed and not inflater.eof:
        raise UnreadableCaptureError(f"cannot inflate {where}: the gzip stream is truncated")


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def whole_lines(
    chunks: Iterable[bytes], on_long_line: Callable[[], None] | None = None, limit: int = MAX_LINE_BYTES
) -> Iterator[bytes]:
    """Re-cut arbitrary chunks into blocks of whole lines; the last line gets a newline if it lacks
    one. A line longer than `limit` is dropped as it streams (`on_long_line` counts it)."""
    counted = on_long_line or (lambda: None)
    rest = b""
    dropping = False  # inside an over-long line: discard up to its newline
    for chunk in chunks:
        if dropping:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            chunk, dropping = chunk[end + 1 :], False
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            rest += chunk
            if len(rest) > limit:
                counted()
                rest, dropping = b"", True
            continue
        # One copy at most: the chunk itself when it is whole lines, else the joined bytes.
        block = chunk if not rest and cut == len(chunk) else b"".join((rest, memoryview(chunk)[:cut]))
        rest = chunk[cut:]
        if len(block) > limit:
            block = _without_long_lines(block, limit, counted)
        if block:
            yield block
        if len(rest) > limit:
            counted()
            rest, dropping = b"", True
    if rest:
        yield rest + b"\n"


def _without_long_lines(block: bytes, limit: int, counted: Callable[[], None]) -> bytes:
    lines = block.split(b"\n")[:-1]
    kept = [line for line in lines if len(line) <= limit]
    for _ in range(len(lines) - len(kept)):
        counted()
    return b"".join(line + b"\n" for line in kept)


# ---------------------------------------------------------------------------------------------
# baseline.json

# 1: quantile bins only; 2: a `kind` per feature, discrete features binned per value.
BASELINE_VERSIONS = (1, 2)


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
    """The parts of baseline.json (format_version 1 or 2) the monitoring jobs rely on."""
    problems = []
    if not isinstance(document, dict) or document.get("format_version") not in BASELINE_VERSIONS:
        raise UserError(f"baseline {where} is not a format_version 1 or 2 baseline.json")
    features = document.get("features")
    if not isinstance(features, dict) or not features:
        problems.append("no features")
    else:
        for name, stats in features.items():
            if not _feature_ok(stats):
                problems.append(
                    f"feature {name!r} lacks consistent bin_edges (continuous) or values (discrete), "
                    f"proportions, min and max"
                )
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


def _feature_ok(stats: Any) -> bool:
    try:
        share = stats["proportions"]
        float(stats["min"]), float(stats["max"])
        if stats.get("kind") == "discrete":
            values = stats["values"]
            return len(share) == len(values) + 1 and values == sorted(float(v) for v in values)
        return stats.get("kind", "continuous") == "continuous" and len(stats["bin_edges"]) == len(share) + 1 >= 2
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
