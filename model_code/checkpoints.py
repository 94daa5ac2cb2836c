"""Training checkpoints: atomic, checksummed .npz files (no pickle), newest valid one wins.

SageMaker syncs /opt/ml/checkpoints with S3 during a managed spot job and restores it when
the job restarts. A file is named after its progress, `checkpoint-e<epoch>-b<batch>.npz`,
so "newest" is the one furthest into training. On resume an unreadable, corrupt (checksum
mismatch) or foreign (other data or hyperparameters) file is skipped with a warning on stderr
and the one before it is tried. Only the newest KEEP files are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from model_code.atomic import remove_stale_temp_files, write_atomic
from model_code.softmax_regression import TrainState

FORMAT_VERSION = 1
KEEP = 3
_NAME = re.compile(r"^checkpoint-e(\d+)-b(\d+)\.npz$")
_ARRAYS = ("weights", "bias", "velocity_weights", "velocity_bias")
_SCALARS = ("format_version", "epoch", "batch", "fingerprint")
T = TypeVar("T")


class CheckpointError(Exception):
    """Why one checkpoint file cannot be used."""


@dataclass(frozen=True)
class Resumed:
    path: Path
    state: TrainState


def checkpoint_name(epoch: int, batch: int) -> str:
    return f"checkpoint-e{epoch:06d}-b{batch:09d}.npz"


def save_checkpoint(directory: Path, state: TrainState, fingerprint: str) -> Path:
    path = directory / checkpoint_name(state.epoch, state.batch)
    write_checked(
        path,
        {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "epoch": np.array(state.epoch, dtype=np.int64),
            "batch": np.array(state.batch, dtype=np.int64),
            "fingerprint": np.array(fingerprint),
            **{name: getattr(state, name) for name in _ARRAYS},
        },
    )
    prune(_by_progress(directory), KEEP)
    return path


def load_checkpoint(path: Path, fingerprint: str) -> TrainState:
    arrays = read_checked(path, _ARRAYS + _SCALARS, FORMAT_VERSION, fingerprint)
    return TrainState(
        *(arrays[name].astype(np.float64) for name in _ARRAYS),
        epoch=int(arrays["epoch"]),
        batch=int(arrays["batch"]),
    )


def resume_latest(directory: Path, fingerprint: str) -> Resumed | None:
    """The newest usable checkpoint in `directory`, or None; warns about each one skipped."""
    if not directory.is_dir():
        return None
    return first_usable(
        directory, _by_progress(directory), lambda path: Resumed(path, load_checkpoint(path, fingerprint))
    )


def _by_progress(directory: Path) -> list[Path]:
    """Checkpoint files, furthest into training first."""
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append(((int(match[1]), int(match[2])), path))
    return [path for _, path in sorted(found, reverse=True)]


# ---------------------------------------------------------------------------------------------
# The file format every trainer's checkpoints share (model_code/trainers/gbt_checkpoints.py too)


def write_checked(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """`arrays` plus their checksum, written atomically as .npz (never pickled)."""
    checked = {**arrays, "checksum": np.array(_checksum(arrays))}
    write_atomic(path, lambda handle: np.savez(handle, allow_pickle=False, **checked))


def read_checked(path: Path, fields: tuple[str, ...], format_version: int, fingerprint: str) -> dict[str, np.ndarray]:
    """The arrays of a file `write_checked` wrote, or CheckpointError saying why it cannot be
    used: unreadable, a field missing, another format version, corrupt, or foreign (written
    for other training data or hyperparameters)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read it ({type(exc).__name__}: {exc})") from exc
    missing = sorted({*fields, "checksum"} - set(arrays))
    if missing:
        raise CheckpointError(f"it lacks {', '.join(missing)}")
    if int(arrays["format_version"]) != format_version:
        raise CheckpointError(f"format_version is {int(arrays['format_version'])}; this code reads {format_version}")
    stored = str(arrays.pop("checksum"))
    if _checksum(arrays) != stored:
        raise CheckpointError("checksum mismatch (the file is corrupt)")
    if str(arrays["fingerprint"]) != fingerprint:
        raise CheckpointError("it was written for other training data or hyperparameters")
    return arrays


def first_usable(directory: Path, newest_first: list[Path], load: Callable[[Path], T]) -> T | None:
    """`load` of the newest file it accepts, warning on stderr about each one skipped; None if
    none is usable. Temp files a killed write left behind are removed first."""
    remove_stale_temp_files(directory)
    for path in newest_first:
        try:
            return load(path)
        except CheckpointError as exc:
            print(f"warning: skipping checkpoint {path}: {exc}; trying the previous one", file=sys.stderr)
    return None


def prune(newest_first: list[Path], keep: int) -> None:
    """Delete all but the first `keep` files."""
    for stale in newest_first[keep:]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
