"""Running the container's commands as real processes against a temporary /opt/ml root."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_NAME = re.compile(r"^checkpoint-e(\d+)-b(\d+)\.npz$")
# A generous ceiling so a wedged child fails the test instead of hanging it; not a timing check.
PROCESS_TIMEOUT_SECONDS = 120
# Long enough (about 1.5 s of training on 2 cores) that a SIGTERM sent right after the
# epoch-1 checkpoint appears lands mid-run: 20,000 rows, batches of 32, 40 epochs.
LONG_ROWS = 20_000
LONG_HYPERPARAMETERS = {"epochs": "40", "batch_size": "32", "learning_rate": "0.01", "seed": "7"}


@dataclass(frozen=True)
class Job:
    """One SageMaker-style job directory, used as ML_PLATFORM_OPT_ML."""

    root: Path

    @property
    def channel(self) -> Path:
        return self.root / "input" / "data" / "train"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    def write_hyperparameters(self, values: dict[str, object]) -> None:
        path = self.root / "input" / "config" / "hyperparameters.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    def write_input_data_config(self, config: dict[str, object]) -> None:
        path = self.root / "input" / "config" / "inputdataconfig.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))

    def write_csv(self, name: str, text: str) -> Path:
        path = self.channel / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def use_channel(self, source: Path) -> None:
        shutil.copytree(source, self.channel, dirs_exist_ok=True)

    def env(self) -> dict[str, str]:
        return {**os.environ, "ML_PLATFORM_OPT_ML": str(self.root), "PYTHONPATH": str(REPO_ROOT)}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "model_code", *args],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_SECONDS,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "model_code", *args],
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def checkpoint_progress(self) -> list[tuple[int, int]]:
        """(epoch, batch) of every checkpoint file present, in ascending order."""
        if not self.checkpoints.is_dir():
            return []
        found = [CHECKPOINT_NAME.match(p.name) for p in self.checkpoints.iterdir()]
        return sorted((int(m[1]), int(m[2])) for m in found if m)

    def wait_for_checkpoint(self, process: subprocess.Popen[str], min_epoch: int) -> None:
        """Poll until a checkpoint at or past `min_epoch` exists; fail if the process ends first."""
        deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
        while not any(epoch >= min_epoch for epoch, _ in self.checkpoint_progress()):
            if process.poll() is not None:
                raise AssertionError(
                    f"training ended (exit {process.returncode}) before a checkpoint: "
                    f"{process.stderr.read() if process.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise AssertionError("no checkpoint appeared")
            time.sleep(0.005)


def model_arrays(model_dir: Path) -> dict[str, np.ndarray]:
    with np.load(model_dir / "model.npz", allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def assert_same_model_outputs(left: Path, right: Path) -> None:
    """Bit-for-bit: every model array equal, metrics.json and baseline.json byte-identical."""
    a, b = model_arrays(left), model_arrays(right)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), name
    for name in ("metrics.json", "baseline.json"):
        assert (left / name).read_bytes() == (right / name).read_bytes(), name


def copy_job(source: Job, destination: Path) -> Job:
    shutil.copytree(source.root, destination)
    return Job(destination)
