"""What a spot interruption costs: an uninterrupted `train` vs one stopped by SIGTERM midway
and restarted, timed side by side in one invocation.

    .venv/bin/python benchmarks/resume_overhead.py [--rows 50000] [--epochs 120] [--repeats 3]

The interrupted run is timed from its first start to the resumed process's exit, so it pays
for the second interpreter start, re-reading the data, the checkpoint write and the resume.
No work is lost (the stop lands on a batch boundary and is checkpointed there), so the extra
time is a fixed cost of a few tenths of a second: the ratio shrinks as runs get longer, which
is why the absolute overhead is printed too. The defaults make each run take about 4 s.
Runs alternate (plain, interrupted, plain, ...) so drift in machine load hits both; the
medians' ratio is compared with the target (<= 1.15). Every interrupted run must also end
with a model identical to the uninterrupted one. Needs scikit-learn (the data generator).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from model_code.datagen import breast_cancer, write_channel  # noqa: E402

TARGET_RATIO = 1.15
CHECKPOINT = re.compile(r"^checkpoint-e(\d+)-b\d+\.npz$")


def start_train(root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ML_PLATFORM_OPT_ML": str(root), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "model_code", "train"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def prepare(root: Path, channel: Path, hyperparameters: dict[str, str]) -> None:
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (root / "input" / "data").mkdir(parents=True)
    (root / "input" / "data" / "train").symlink_to(channel)


def finish(process: subprocess.Popen[bytes], expected: int) -> None:
    _, stderr = process.communicate()
    if process.returncode != expected:
        raise SystemExit(f"train exited {process.returncode}, expected {expected}: {stderr.decode()}")


def furthest_epoch(checkpoints: Path) -> int:
    if not checkpoints.is_dir():
        return -1
    epochs = [int(m[1]) for p in checkpoints.iterdir() if (m := CHECKPOINT.match(p.name))]
    return max(epochs, default=-1)


def uninterrupted(root: Path) -> float:
    began = time.perf_counter()
    finish(start_train(root), 0)
    return time.perf_counter() - began


def interrupted(root: Path, stop_at_epoch: int) -> float:
    began = time.perf_counter()
    process = start_train(root)
    while furthest_epoch(root / "checkpoints") < stop_at_epoch:
        if process.poll() is not None:
            raise SystemExit("training finished before it could be interrupted; raise --epochs")
        time.sleep(0.002)
    process.send_signal(signal.SIGTERM)
    finish(process, 143)
    finish(start_train(root), 0)
    return time.perf_counter() - began


def same_model(left: Path, right: Path) -> bool:
    return all((left / n).read_bytes() == (right / n).read_bytes() for n in ("metrics.json", "baseline.json")) and (
        (left / "model.npz").read_bytes() == (right / "model.npz").read_bytes()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    hyperparameters = {"epochs": str(args.epochs), "batch_size": "64", "learning_rate": "0.01"}

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        channel = work / "channel"
        write_channel(breast_cancer(rows=args.rows, seed=0, noise=0.05), channel, files=4)
        print(f"data: {args.rows} rows x 30 features in 4 files; hyperparameters {hyperparameters}")
        plain_times, resumed_times = [], []
        for repeat in range(args.repeats):
            plain_root, resumed_root = work / f"plain-{repeat}", work / f"resumed-{repeat}"
            prepare(plain_root, channel, hyperparameters)
            prepare(resumed_root, channel, hyperparameters)
            plain_times.append(uninterrupted(plain_root))
            resumed_times.append(interrupted(resumed_root, stop_at_epoch=args.epochs // 2))
            identical = same_model(plain_root / "model", resumed_root / "model")
            print(
                f"run {repeat + 1}: uninterrupted {plain_times[-1]:.3f} s, "
                f"interrupted at epoch {args.epochs // 2} + resumed {resumed_times[-1]:.3f} s, "
                f"ratio {resumed_times[-1] / plain_times[-1]:.3f}, identical model: {identical}"
            )
            if not identical:
                print("error: the resumed run's model differs from the uninterrupted one", file=sys.stderr)
                return 1
    plain, resumed = statistics.median(plain_times), statistics.median(resumed_times)
    ratio = resumed / plain
    verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
    print(f"median: uninterrupted {plain:.3f} s, interrupted+resumed {resumed:.3f} s, overhead {resumed - plain:.3f} s")
    print(f"ratio {ratio:.3f} ({verdict} the target of {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
