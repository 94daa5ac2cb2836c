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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_code.atomic import remove_stale_temp_files, write_atomic
from model_code.softmax_regression import TrainState

FORMAT_VERSION = 1
KEEP = 3
_NAME = re.compile(r"^checkpoint-e(\d+)-b(\d+)\.npz$")
_ARRAYS = ("weights", "bias", "velocity_weights", "velocity_bias")
_SCALARS = ("format_version", "epoch", "batch", "fingerprint")


class CheckpointError(Exception):
    """Why one checkpoint file cannot be used."""


@dataclass(frozen=True)
class Resumed:
    path: Path
    state: TrainState


def checkpoint_name(epoch: int, batch: int) -> str:
    return f"checkpoint-e{epoch:06d}-b{batch:09d}.npz"


def save_checkpoint(directory: Path, state: TrainState, fingerprint: str) -> Path:
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "epoch": np.array(state.epoch, dtype=np.int64),
        "batch": np.array(state.batch, dtype=np.int64),
        "fingerprint": np.array(fingerprint),
        **{name: getattr(state, name) for name in _ARRAYS},
    }
    arrays["checksum"] = np.array(_checksum(arrays))
    path = directory / checkpoint_name(state.epoch, state.batch)
    write_atomic(path, lambda handle: np.savez(handle, allow_pickle=False, **arrays))
    _prune(directory)
    return path


def load_checkpoint(path: Path, fingerprint: str) -> TrainState:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read it ({type(exc).__name__}: {exc})") from exc
    missing = sorted(set(_ARRAYS + _SCALARS + ("checksum",)) - set(arrays))
    if missing:
        raise CheckpointError(f"it lacks {', '.join(missing)}")
    if int(arrays["format_version"]) != FORMAT_VERSION:
        raise CheckpointError(f"format_version is {int(arrays['format_version'])}; this code reads {FORMAT_VERSION}")
    stored = str(arrays.pop("checksum"))
    if _checksum(arrays) != stored:
        raise CheckpointError("checksum mismatch (the file is corrupt)")
    if str(arrays["fingerprint"]) != fingerprint:
        raise CheckpointError("it was written for other training data or hyperparameters")
    return TrainState(
        *(arrays[name].astype(np.float64) for name in _ARRAYS),
        epoch=int(arrays["epoch"]),
        batch=int(arrays["batch"]),
    )


def resume_latest(directory: Path, fingerprint: str) -> Resumed | None:
    """The newest usable checkpoint in `directory`, or None; warns about each one skipped."""
    if not directory.is_dir():
        return None
    remove_stale_temp_files(directory)
    for path in _by_progress(directory):
        try:
            return Resumed(path, load_checkpoint(path, fingerprint))
        except CheckpointError as exc:
            print(
                f"warning: skipping checkpoint {path}: {exc}; trying the previous one",
                file=sys.stderr,
            )
    return None


def _by_progress(directory: Path) -> list[Path]:
    """Checkpoint files, furthest into training first."""
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append(((int(match[1]), int(match[2])), path))
    return [path for _, path in sorted(found, reverse=True)]


def _prune(directory: Path) -> None:
    for stale in _by_progress(directory)[KEEP:]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
