"""trainer=gbt: XGBoost on real data, its ONNX export checked with onnxruntime, exact resume.

Models are trained in the test run itself (no binary fixtures): the bundled breast-cancer rows
(binary) and scikit-learn's iris rows with string class names (three classes).
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import onnx
import pytest
import xgboost as xgb

from model_code.data import read_channel
from model_code.hyperparameters import parse_hyperparameters
from model_code.paths import OptMl
from model_code.signals import StopRequest
from model_code.train import prepare, train
from model_code.trainers.gbt import NATIVE_FILE, booster_params, predict_proba
from model_code.trainers.gbt_checkpoints import checkpoint_rounds, load_round, save_round
from model_code.trainers.onnx_export import EXPORT_TOLERANCE, onnx_probabilities
from tests.model_code.helpers import PROCESS_TIMEOUT_SECONDS, Job

GBT = {"trainer": "gbt", "gbt_rounds": "40", "gbt_max_depth": "4", "gbt_checkpoint_every_rounds": "10"}
MODEL_FILES = ["baseline.json", "metrics.json", "model.json", "model.onnx", NATIVE_FILE]
# Boosted trees on the standardised-free breast-cancer features reach about 0.96 on the
# 114-row holdout; 0.93 leaves room for other seeds without hiding a broken trainer.
MIN_HOLDOUT_ACCURACY = 0.93


class StopAtRound(StopRequest):
    """The stop mechanism SIGTERM drives, tripped after `rounds` polls (one per boosting round)."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.rounds, self.polls = rounds, 0

    def requested(self) -> bool:
        self.polls += 1
        if self.polls >= self.rounds:
            self.signum = signal.SIGTERM
        return super().requested()


def gbt_job(root: Path, channel: Path, hyperparameters: dict[str, str]) -> Job:
    job = Job(root)
    job.use_channel(channel)
    job.write_hyperparameters(hyperparameters)
    return job


def model_bytes(model_dir: Path) -> dict[str, bytes]:
    return {name: (model_dir / name).read_bytes() for name in sorted(os.listdir(model_dir))}


@pytest.fixture(scope="session")
def iris_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris

    iris = load_iris()
    out = tmp_path_factory.mktemp("iris") / "train"
    out.mkdir()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    lines = [",".join([*names, "species"])]
    for row, target in zip(iris.data, iris.target, strict=True):
        lines.append(",".join([*(f"{v:g}" for v in row), iris.target_names[target]]))
    (out / "iris.csv").write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="session")
def gbt_bundled_run(tmp_path_factory: pytest.TempPathFactory, bundled_channel: Path) -> Job:
    job = gbt_job(tmp_path_factory.mktemp("gbt") / "opt_ml", bundled_channel, GBT)
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    return job


@pytest.fixture(scope="session")
def gbt_iris_run(tmp_path_factory: pytest.TempPathFactory, iris_channel: Path) -> Job:
    job = gbt_job(tmp_path_factory.mktemp("gbt_iris") / "opt_ml", iris_channel, {**GBT, "label": "species"})
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    return job


def holdout_of(job: Job, channel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The run's holdout rows (recomputed by the same split) and the booster's probabilities."""
    hp = parse_hyperparameters(json.loads((job.root / "input/config/hyperparameters.json").read_text()))
    data = prepare(read_channel(channel, hp.label), hp)
    booster = xgb.Booster(model_file=str(job.model_dir / NATIVE_FILE))
    return data.holdout_raw, predict_proba(booster, xgb.DMatrix(data.holdout_raw), len(data.classes))


def test_the_model_directory_follows_the_serving_contract(gbt_bundled_run: Job):
    model_dir = gbt_bundled_run.model_dir
    assert sorted(os.listdir(model_dir)) == MODEL_FILES
    metadata = json.loads((model_dir / "model.json").read_text())
    check = metadata.pop("export_check")
    assert metadata == {
        "format": "onnx",
        "task": "classification",
        "feature_names": list(read_channel(gbt_bundled_run.channel, "target").feature_names),
        "classes": ["0", "1"],
        "label": "target",
        "accepts_missing": True,
        "onnx": {
            "file": "model.onnx",
            "input": "input",
            "outputs": ["label", "probabilities"],
            "opset_import": {"ai.onnx.ml": 1},
        },
        "trainer": {
            "name": "gbt",
            "library": "xgboost",
            "version": xgb.__version__,
            "rounds": 40,
            "native_model": "xgboost-model.ubj",
        },
    }
    assert check["rows"] == 114 and check["tolerance"] == 1e-6
    assert 0 <= check["max_abs_difference"] <= 1e-6


def test_the_onnx_graph_has_one_float_input_and_label_and_probabilities_outputs(gbt_bundled_run: Job):
    graph = onnx.load(str(gbt_bundled_run.model_dir / "model.onnx")).graph
    [model_input] = graph.input
    assert model_input.name == "input"
    assert model_input.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = model_input.type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [30] and not dims[0].HasField("dim_value")
    assert [(o.name, o.type.tensor_type.elem_type) for o in graph.output] == [
        ("label", onnx.TensorProto.INT64),
        ("probabilities", onnx.TensorProto.FLOAT),
    ]
    assert [node.op_type for node in graph.node if node.op_type == "ZipMap"] == []


@pytest.mark.parametrize("run", ["gbt_bundled_run", "gbt_iris_run"])
def test_onnx_probabilities_equal_xgboosts_on_the_holdout(run: str, request: pytest.FixtureRequest):
    job: Job = request.getfixturevalue(run)
    rows, expected = holdout_of(job, job.channel)
    got = onnx_probabilities((job.model_dir / "model.onnx").read_bytes(), rows)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= EXPORT_TOLERANCE
    # The holdout metrics are XGBoost's own numbers on those rows.
    metrics = json.loads((job.model_dir / "metrics.json").read_text())
    assert metrics["holdout"]["rows"] == len(rows)


@pytest.mark.parametrize("run", ["gbt_bundled_run", "gbt_iris_run"])
def test_missing_values_take_the_same_branch_in_onnx_as_in_xgboost(run: str, request: pytest.FixtureRequest):
    job: Job = request.getfixturevalue(run)
    rows, _ = holdout_of(job, job.channel)
    rows = rows.copy()
    rng = np.random.default_rng(3)
    rows[rng.random(rows.shape) < 0.3] = np.nan  # about 30% of cells missing
    rows[0, :] = np.nan  # and one row with nothing at all
    booster = xgb.Booster(model_file=str(job.model_dir / NATIVE_FILE))
    classes = len(json.loads((job.model_dir / "model.json").read_text())["classes"])
    expected = predict_proba(booster, xgb.DMatrix(rows), classes)
    got = onnx_probabilities((job.model_dir / "model.onnx").read_bytes(), rows)
    assert np.max(np.abs(got - expected)) <= EXPORT_TOLERANCE


def test_string_classes_keep_their_names_and_order(gbt_iris_run: Job):
    metadata = json.loads((gbt_iris_run.model_dir / "model.json").read_text())
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert metadata["label"] == "species"
    metrics = json.loads((gbt_iris_run.model_dir / "metrics.json").read_text())
    # 150 rows, 50 per class: holdout 30, 10 of each.
    assert metrics["holdout_rows_per_class"] == {"setosa": 10, "versicolor": 10, "virginica": 10}
    assert metrics["holdout"]["accuracy"] >= 0.9
    baseline = json.loads((gbt_iris_run.model_dir / "baseline.json").read_text())
    assert baseline["prediction"]["classes"] == ["setosa", "versicolor", "virginica"]
    assert baseline["prediction"]["rows"] == 30


def test_metrics_describe_the_gbt_run(gbt_bundled_run: Job):
    metrics = json.loads((gbt_bundled_run.model_dir / "metrics.json").read_text())
    assert list(metrics) == [
        "holdout",
        "train",
        "rounds",
        "rows",
        "features",
        "classes",
        "holdout_rows_per_class",
        "hyperparameters",
    ]
    assert metrics["holdout"]["accuracy"] >= MIN_HOLDOUT_ACCURACY
    assert metrics["rounds"] == 40
    # The same stratified split as the softmax trainer (test_training_run.py): 42 and 72.
    assert metrics["holdout_rows_per_class"] == {"0": 42, "1": 72}
    assert metrics["hyperparameters"] == {
        "seed": 0,
        "label": "target",
        "holdout_fraction": 0.2,
        "max_classes": 100,
        "min_holdout_rows_per_class": 5,
        "trainer": "gbt",
        "gbt_rounds": 40,
        "gbt_max_depth": 4,
        "gbt_learning_rate": 0.3,
        "gbt_min_child_weight": 1.0,
        "gbt_reg_lambda": 1.0,
        "gbt_reg_alpha": 0.0,
        "gbt_gamma": 0.0,
        "gbt_max_bin": 256,
        "gbt_checkpoint_every_rounds": 10,
    }


def test_checkpoints_every_n_rounds_newest_three_kept(gbt_bundled_run: Job):
    assert checkpoint_rounds(gbt_bundled_run.checkpoints) == [20, 30, 40]
    assert sorted(os.listdir(gbt_bundled_run.checkpoints)) == [
        "gbt-round-000020.npz",
        "gbt-round-000030.npz",
        "gbt-round-000040.npz",
    ]


@pytest.mark.parametrize("stop_round", [1, 7, 10, 39])
def test_a_run_stopped_at_round_k_and_resumed_equals_an_uninterrupted_one(
    stop_round: int, gbt_bundled_run: Job, bundled_channel: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    job = gbt_job(tmp_path / "opt_ml", bundled_channel, GBT)
    paths = OptMl(job.root)

    assert train(paths, StopAtRound(stop_round)) == 143
    saved = job.checkpoints / f"gbt-round-{stop_round:06d}.npz"
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"stopped by SIGTERM at round {stop_round}; checkpoint saved to {saved}"
    )
    assert checkpoint_rounds(job.checkpoints)[-1] == stop_round
    assert not job.model_dir.exists()

    assert train(paths, StopRequest()) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"resuming from {saved} (round {stop_round})"
    # Tolerance: none. The booster, its ONNX export, metrics and baseline are the same bytes.
    assert model_bytes(job.model_dir) == model_bytes(gbt_bundled_run.model_dir)


STOPPED = re.compile(r"^stopped by SIGTERM at round (\d+); checkpoint saved to (\S+)$")
LONG_GBT = {**GBT, "gbt_rounds": "150", "gbt_max_depth": "6", "gbt_checkpoint_every_rounds": "5"}


@pytest.fixture(scope="session")
def gbt_long_reference_run(tmp_path_factory: pytest.TempPathFactory, long_channel: Path) -> Job:
    job = gbt_job(tmp_path_factory.mktemp("gbt_long") / "opt_ml", long_channel, LONG_GBT)
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    return job


def test_sigterm_mid_run_exits_143_and_the_resumed_process_matches_exactly(
    tmp_path: Path, long_channel: Path, gbt_long_reference_run: Job
):
    job = gbt_job(tmp_path / "opt_ml", long_channel, LONG_GBT)
    process = job.start("train")
    try:
        wait_for_round_checkpoint(job, process, min_round=5)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    stopped = STOPPED.match(stderr.splitlines()[-1])
    assert stopped, stderr
    stop_round = int(stopped[1])
    assert 5 <= stop_round < 150
    assert stopped[2] == str(job.checkpoints / f"gbt-round-{stop_round:06d}.npz")

    resumed = job.run("train")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[0] == f"resuming from {stopped[2]} (round {stop_round})"
    assert model_bytes(job.model_dir) == model_bytes(gbt_long_reference_run.model_dir)


def wait_for_round_checkpoint(job: Job, process, min_round: int) -> None:
    import time

    deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
    while not any(r >= min_round for r in checkpoint_rounds(job.checkpoints)):
        assert process.poll() is None, f"training ended (exit {process.returncode}) before a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)


def test_a_corrupt_newest_checkpoint_is_skipped_and_the_run_still_matches(
    gbt_bundled_run: Job, bundled_channel: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    job = gbt_job(tmp_path / "opt_ml", bundled_channel, GBT)
    paths = OptMl(job.root)
    assert train(paths, StopAtRound(25)) == 143
    newest = job.checkpoints / "gbt-round-000025.npz"
    os.truncate(newest, newest.stat().st_size // 2)
    capsys.readouterr()

    assert train(paths, StopRequest()) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"warning: skipping checkpoint {newest}: cannot read it (BadZipFile: File is not a zip file); "
        "trying the previous one\n"
    )
    assert captured.out.splitlines()[0] == f"resuming from {job.checkpoints / 'gbt-round-000020.npz'} (round 20)"
    assert model_bytes(job.model_dir) == model_bytes(gbt_bundled_run.model_dir)


def test_a_checkpoint_of_other_hyperparameters_is_not_resumed(tmp_path: Path):
    save_round(tmp_path, 3, b"booster bytes", "run-a")
    with pytest.raises(Exception) as caught:
        load_round(tmp_path / "gbt-round-000003.npz", "run-b")
    assert str(caught.value) == "it was written for other training data or hyperparameters"
    loaded = load_round(tmp_path / "gbt-round-000003.npz", "run-a")
    assert (loaded.round, loaded.model) == (3, b"booster bytes")


def test_the_checkpoint_cadence_does_not_change_the_fingerprint(
    gbt_bundled_run: Job, bundled_channel: Path, tmp_path: Path, capsys: pytest.CaptureFixture
):
    job = gbt_job(tmp_path / "opt_ml", bundled_channel, GBT)
    assert train(OptMl(job.root), StopAtRound(12)) == 143
    job.write_hyperparameters({**GBT, "gbt_checkpoint_every_rounds": "3"})
    capsys.readouterr()
    assert train(OptMl(job.root), StopRequest()) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("(round 12)")
    assert (job.model_dir / NATIVE_FILE).read_bytes() == (gbt_bundled_run.model_dir / NATIVE_FILE).read_bytes()


def test_gbt_runs_the_same_data_checks_as_softmax(job: Job):
    job.write_csv("d.csv", "a,b,target\n" + "".join(f"{i},{i * 2},{int(i < 18)}\n" for i in range(20)))
    job.write_hyperparameters({"trainer": "gbt"})
    result = job.run("train")
    assert result.returncode == 1
    assert job.failure_file.read_text() == (
        "label column 'target': the stratified holdout (holdout_fraction 0.2) gives these classes fewer than "
        "min_holdout_rows_per_class 5 holdout rows, or no training row (class: holdout rows of rows): "
        "'0' 0 of 2, '1' 4 of 18; add rows of those classes, raise holdout_fraction, or lower "
        "min_holdout_rows_per_class\n"
    )


def test_a_multiclass_run_stopped_and_resumed_equals_an_uninterrupted_one(
    gbt_iris_run: Job, iris_channel: Path, tmp_path: Path
):
    job = gbt_job(tmp_path / "opt_ml", iris_channel, {**GBT, "label": "species"})
    assert train(OptMl(job.root), StopAtRound(13)) == 143
    assert train(OptMl(job.root), StopRequest()) == 0
    assert model_bytes(job.model_dir) == model_bytes(gbt_iris_run.model_dir)


def test_the_trees_do_not_depend_on_the_thread_count(bundled_channel: Path):
    # A resumed job may run on an instance with another vCPU count; XGBoost's CPU `hist`
    # method must grow the same trees whatever the number of threads.
    hp = parse_hyperparameters(GBT)
    data = prepare(read_channel(bundled_channel, "target"), hp)
    matrix = xgb.DMatrix(data.train_raw, label=data.train_y)
    models = []
    for threads in (1, 2):
        booster = xgb.Booster({**booster_params(hp, 2), "nthread": threads}, [matrix])
        for round_ in range(hp.gbt_rounds):
            booster.update(matrix, iteration=round_)
        models.append(booster.save_raw("ubj"))
    assert models[0] == models[1]
