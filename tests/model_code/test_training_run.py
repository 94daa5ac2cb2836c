"""`train` on real data: the bundled breast-cancer rows, run as a real process."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np

from model_code.data import read_channel
from model_code.model import load_model
from tests.model_code.helpers import Job

# Multinomial logistic regression on standardised breast-cancer features reaches about 0.98
# on a 114-row holdout; 0.95 leaves room for other seeds without hiding a broken optimiser.
MIN_HOLDOUT_ACCURACY = 0.95


def test_training_reaches_the_stated_holdout_accuracy(bundled_run: Job):
    metrics = json.loads((bundled_run.model_dir / "metrics.json").read_text())
    assert metrics["holdout"]["accuracy"] >= MIN_HOLDOUT_ACCURACY
    assert 0 < metrics["holdout"]["log_loss"] < 0.15


def test_metrics_describe_the_run(bundled_run: Job):
    metrics = json.loads((bundled_run.model_dir / "metrics.json").read_text())
    assert list(metrics) == [
        "holdout",
        "train",
        "epochs",
        "rows",
        "features",
        "classes",
        "holdout_rows_per_class",
        "hyperparameters",
    ]
    assert metrics["epochs"] == 30
    assert metrics["rows"] == 569
    assert metrics["features"] == 30
    assert metrics["classes"] == ["0", "1"]
    # holdout_fraction 0.2 of 569 rows: round(113.8) = 114 holdout, 455 training rows.
    assert metrics["holdout"]["rows"] == 114
    assert metrics["train"]["rows"] == 455
    # Stratified: 212 rows of class 0 and 357 of class 1 share the 114 in proportion (42.47 and
    # 71.53); the one row left after flooring goes to the larger remainder, class 1.
    assert metrics["holdout_rows_per_class"] == {"0": 42, "1": 72}
    assert metrics["hyperparameters"] == {
        "epochs": 30,
        "learning_rate": 0.05,
        "batch_size": 64,
        "l2": 0.0001,
        "momentum": 0.9,
        "seed": 0,
        "label": "target",
        "holdout_fraction": 0.2,
        "checkpoint_every_epochs": 1,
        "max_classes": 100,
        "min_holdout_rows_per_class": 5,
        "trainer": "softmax",
    }


def test_only_the_three_newest_checkpoints_are_kept(bundled_run: Job):
    assert bundled_run.checkpoint_progress() == [(28, 0), (29, 0), (30, 0)]
    assert sorted(p.name for p in bundled_run.checkpoints.iterdir()) == [
        "checkpoint-e000028-b000000000.npz",
        "checkpoint-e000029-b000000000.npz",
        "checkpoint-e000030-b000000000.npz",
    ]


def test_the_saved_model_reproduces_the_metrics(bundled_run: Job, bundled_channel: Path):
    model = load_model(bundled_run.model_dir)
    table = read_channel(bundled_channel, "target")
    assert model.feature_names == table.feature_names
    assert model.classes == ("0", "1")
    accuracy_on_all_rows = float(np.mean(model.predict_label(table.features) == table.labels))
    assert accuracy_on_all_rows >= MIN_HOLDOUT_ACCURACY


def test_stdout_logs_one_line_per_epoch_for_metric_definitions(bundled_run: Job, tmp_path: Path):
    job = Job(tmp_path / "again")
    job.use_channel(bundled_run.channel)
    job.write_hyperparameters({"epochs": "2"})
    result = job.run("train")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"no usable checkpoint in {job.checkpoints}; starting from epoch 0"
    assert [line.split(" ")[0] for line in lines[1:3]] == ["epoch=1/2", "epoch=2/2"]
    assert lines[3].startswith("done: holdout accuracy=")
    assert result.stderr == ""


def test_evaluate_writes_the_report(bundled_run: Job, bundled_channel: Path, job: Job):
    output = job.root / "eval" / "evaluation.json"
    result = job.run(
        "evaluate",
        "--model-dir",
        str(bundled_run.model_dir),
        "--test-dir",
        str(bundled_channel),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert list(report) == ["metrics", "rows", "classes", "confusion_matrix", "comparison"]
    assert list(report["metrics"]) == ["accuracy", "log_loss"]
    assert report["rows"] == 569
    assert report["classes"] == ["0", "1"]
    # 212 malignant (class 0) and 357 benign (class 1) rows in the bundled dataset.
    assert [sum(row) for row in report["confusion_matrix"]] == [212, 357]
    correct = report["confusion_matrix"][0][0] + report["confusion_matrix"][1][1]
    assert report["metrics"]["accuracy"]["value"] == correct / 569
    assert report["metrics"]["accuracy"]["value"] >= MIN_HOLDOUT_ACCURACY


def test_evaluate_defaults_to_the_processing_layout_and_reads_model_tar_gz(
    bundled_run: Job, bundled_channel: Path, job: Job
):
    model_input = job.root / "processing" / "model"
    model_input.mkdir(parents=True)
    with tarfile.open(model_input / "model.tar.gz", "w:gz") as tar:
        for name in ("model.npz", "metrics.json", "baseline.json"):
            tar.add(bundled_run.model_dir / name, arcname=name)
    (job.root / "processing").joinpath("test").symlink_to(bundled_channel)
    result = job.run("evaluate")
    assert result.returncode == 0, result.stderr
    report = json.loads((job.root / "processing" / "evaluation" / "evaluation.json").read_text())
    assert report["rows"] == 569


def test_evaluate_rejects_test_data_with_other_columns(bundled_run: Job, job: Job):
    job.write_csv("t.csv", "mean_radius,target\n1.0,0\n")
    result = job.run("evaluate", "--model-dir", str(bundled_run.model_dir), "--test-dir", str(job.channel))
    assert result.returncode == 1
    reason = job.failure_file.read_text()
    assert reason.startswith("test data columns do not match the model's features: missing mean_texture, ")
    assert reason.endswith("; unexpected none\n")


def test_checkpoint_every_epochs_spaces_checkpoints_and_the_last_epoch_is_always_saved(bundled_channel: Path, job: Job):
    job.use_channel(bundled_channel)
    job.write_hyperparameters({"epochs": "5", "checkpoint_every_epochs": "2"})
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    assert job.checkpoint_progress() == [(2, 0), (4, 0), (5, 0)]
