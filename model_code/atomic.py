"""Atomic file writes: temp file in the target directory, fsync, os.replace, fsync the dir.

A reader (or a spot interruption mid-write) sees either the old file or the complete new one,
never a torn one. Temp files start with '.tmp-' so checkpoint scans and S3 sync skip them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_PREFIX = ".tmp-"


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            # mkstemp creates 0600; outputs are read by other users (the serving container's
            # non-root user, SageMaker's packaging), so make them world-readable like any file.
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_json_atomic(path: Path, document: Any) -> None:
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_stale_temp_files(directory: Path) -> None:
    """Delete temp files a killed writer left behind in `directory`."""
    for leftover in directory.glob(TEMP_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
