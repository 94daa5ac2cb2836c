"""Checkpoints: SIGTERM mid-run, exact resume, corrupt files skipped, retention, atomicity."""

from __future__ import annotations

import os
import re
import signal

import numpy as np
import pytest

from model_code.checkpoints import (
    CheckpointError,
    load_checkpoint,
    resume_latest,
    save_checkpoint,
)
from model_code.softmax_regression import TrainState
from tests.model_code.helpers import LONG_HYPERPARAMETERS, Job, assert_same_model_outputs, copy_job

STOPPED = re.compile(r"^stopped by SIGTERM at epoch (\d+), batch (\d+); checkpoint saved to (\S+)$")


def test_sigterm_saves_a_checkpoint_exits_143_and_the_resumed_run_matches_exactly(
    job: Job, long_channel, long_reference_run: Job
):
    job.use_channel(long_channel)
    job.write_hyperparameters(LONG_HYPERPARAMETERS)
    process = job.start("train")
    job.wait_for_checkpoint(process, min_epoch=1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 143, stderr
    stopped = STOPPED.match(stderr.splitlines()[-1])
    assert stopped, stderr
    epoch, batch, saved = int(stopped[1]), int(stopped[2]), stopped[3]
    # It stopped mid-run, after at least one batch past the checkpoint it had written.
    assert 1 <= epoch < 40 and batch >= 1
    assert saved == str(job.checkpoints / f"checkpoint-e{epoch:06d}-b{batch:09d}.npz")
    assert job.checkpoint_progress()[-1] == (epoch, batch)
    assert not (job.model_dir / "model.npz").exists()
    assert "done:" not in stdout

    resumed = job.run("train")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0] == f"resuming from {saved} (epoch {epoch}, batch {batch})"
    assert job.checkpoint_progress() == [(38, 0), (39, 0), (40, 0)]
    # Tolerance: none. Same batch order, same optimizer state, same arithmetic -> same bits.
    assert_same_model_outputs(job.model_dir, long_reference_run.model_dir)


def test_a_truncated_newest_checkpoint_is_skipped_and_the_previous_one_used(long_reference_run: Job, tmp_path):
    job = copy_job(long_reference_run, tmp_path / "copy")
    (job.model_dir / "model.npz").unlink()
    newest = job.checkpoints / "checkpoint-e000040-b000000000.npz"
    previous = job.checkpoints / "checkpoint-e000039-b000000000.npz"
    os.truncate(newest, newest.stat().st_size // 2)

    result = job.run("train")

    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"warning: skipping checkpoint {newest}: cannot read it (BadZipFile: File is not a zip file); "
        "trying the previous one\n"
    )
    assert result.stdout.splitlines()[0] == f"resuming from {previous} (epoch 39, batch 0)"
    assert_same_model_outputs(job.model_dir, long_reference_run.model_dir)


def _state(value: float, epoch: int, batch: int = 0) -> TrainState:
    state = TrainState.initial(features=3, classes=2)
    state.weights += value
    state.epoch, state.batch = epoch, batch
    return state


def test_save_then_load_round_trips_every_field(tmp_path):
    state = _state(0.25, epoch=4, batch=17)
    state.velocity_bias += 0.5
    path = save_checkpoint(tmp_path, state, "run-a")
    assert path.name == "checkpoint-e000004-b000000017.npz"
    loaded = load_checkpoint(path, "run-a")
    assert (loaded.epoch, loaded.batch) == (4, 17)
    for name in ("weights", "bias", "velocity_weights", "velocity_bias"):
        assert np.array_equal(getattr(loaded, name), getattr(state, name)), name


def test_only_the_three_furthest_checkpoints_remain_and_no_temp_files(tmp_path):
    for epoch in (1, 2, 3, 4, 5):
        save_checkpoint(tmp_path, _state(epoch, epoch), "run-a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-e000003-b000000000.npz",
        "checkpoint-e000004-b000000000.npz",
        "checkpoint-e000005-b000000000.npz",
    ]


def test_altered_contents_fail_the_checksum(tmp_path):
    path = save_checkpoint(tmp_path, _state(1.0, epoch=2), "run-a")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["weights"] = arrays["weights"] + 1e-9  # a valid file whose numbers changed
    np.savez(path, allow_pickle=False, **arrays)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, "run-a")
    assert str(caught.value) == "checksum mismatch (the file is corrupt)"


def test_checkpoint_of_another_run_is_skipped(tmp_path, capsys):
    save_checkpoint(tmp_path, _state(1.0, epoch=2), "run-a")
    assert resume_latest(tmp_path, "run-b") is None
    assert capsys.readouterr().err == (
        f"warning: skipping checkpoint {tmp_path / 'checkpoint-e000002-b000000000.npz'}: it was written "
        "for other training data or hyperparameters; trying the previous one\n"
    )


def test_resume_prefers_mid_epoch_progress_and_clears_stale_temp_files(tmp_path):
    save_checkpoint(tmp_path, _state(1.0, epoch=2), "run-a")
    save_checkpoint(tmp_path, _state(2.0, epoch=2, batch=5), "run-a")
    (tmp_path / ".tmp-abc.npz").write_bytes(b"half a checkpoint")
    resumed = resume_latest(tmp_path, "run-a")
    assert resumed is not None
    assert resumed.path.name == "checkpoint-e000002-b000000005.npz"
    assert float(resumed.state.weights[0, 0]) == 2.0
    assert not (tmp_path / ".tmp-abc.npz").exists()


def test_a_pickled_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "checkpoint-e000001-b000000000.npz"
    np.savez(path, weights=np.array([object()], dtype=object))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, "run-a")
    assert str(caught.value) == ("cannot read it (ValueError: Object arrays cannot be loaded when allow_pickle=False)")
