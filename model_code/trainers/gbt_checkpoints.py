"""Boosting-round checkpoints of the gbt trainer: atomic, checksummed .npz files, no pickle.

A checkpoint holds the booster after `round` rounds as XGBoost's own UBJSON model bytes
(`Booster.save_raw("ubj")`: every tree, the base score and the learner's configuration), so a
booster loaded from it continues exactly where the saved one stopped. Files are named
`gbt-round-<round>.npz` in the checkpoint directory SageMaker syncs with S3; the newest valid
one wins, and an unreadable, corrupt (checksum mismatch) or foreign (other data or
hyperparameters) file is skipped with a warning, as for the softmax trainer's checkpoints
(model_code/checkpoints.py). Only the newest KEEP files are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_code.checkpoints import first_usable, prune, read_checked, write_checked

FORMAT_VERSION = 1
KEEP = 3
_NAME = re.compile(r"^gbt-round-(\d+)\.npz$")
_FIELDS = ("format_version", "round", "fingerprint", "model")


@dataclass(frozen=True)
class RoundCheckpoint:
    path: Path
    round: int  # boosting rounds the booster holds
    model: bytes  # Booster.save_raw("ubj")


def checkpoint_name(round_: int) -> str:
    return f"gbt-round-{round_:06d}.npz"


def save_round(directory: Path, round_: int, model: bytes, fingerprint: str) -> Path:
    path = directory / checkpoint_name(round_)
    write_checked(
        path,
        {
            "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
            "round": np.array(round_, dtype=np.int64),
            "fingerprint": np.array(fingerprint),
            "model": np.frombuffer(model, dtype=np.uint8),
        },
    )
    prune(_by_round(directory), KEEP)
    return path


def load_round(path: Path, fingerprint: str) -> RoundCheckpoint:
    arrays = read_checked(path, _FIELDS, FORMAT_VERSION, fingerprint)
    return RoundCheckpoint(path, int(arrays["round"]), arrays["model"].tobytes())


def resume_latest_round(directory: Path, fingerprint: str) -> RoundCheckpoint | None:
    """The newest usable checkpoint in `directory`, or None; warns about each one skipped."""
    if not directory.is_dir():
        return None
    return first_usable(directory, _by_round(directory), lambda path: load_round(path, fingerprint))


def checkpoint_rounds(directory: Path) -> list[int]:
    """Rounds of the checkpoint files present, ascending."""
    return sorted(int(_NAME.match(p.name)[1]) for p in _by_round(directory))


def _by_round(directory: Path) -> list[Path]:
    """Checkpoint files, furthest into training first."""
    if not directory.is_dir():
        return []
    found = [(int(m[1]), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [path for _, path in sorted(found, reverse=True)]
