"""`evaluate` with a champion: the approved version scored on the candidate's test rows.

Every model here is trained by the real `train` command on the bundled breast-cancer rows; the
expected numbers are recomputed from the saved models, not copied from the report.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model_code.data import read_channel
from model_code.datagen import breast_cancer, write_channel
from model_code.model import load_model
from tests.model_code.helpers import Job


def _train(root: Path, channel: Path, hyperparameters: dict[str, str] | None = None) -> Job:
    job = Job(root)
    job.use_channel(channel)
    if hyperparameters:
        job.write_hyperparameters(hyperparameters)
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    return job


@pytest.fixture(scope="session")
def weak_champion(tmp_path_factory: pytest.TempPathFactory, bundled_channel: Path) -> Job:
    """One epoch at a tiny learning rate: a worse model on the same features and classes."""
    return _train(tmp_path_factory.mktemp("weak"), bundled_channel, {"epochs": "1", "learning_rate": "0.0005"})


@pytest.fixture(scope="session")
def fewer_features_champion(tmp_path_factory: pytest.TempPathFactory) -> Job:
    """Trained on the first 10 features only (an older feature set)."""
    data = breast_cancer(rows=569, seed=0, noise=0.05)
    narrow = replace(data, feature_names=data.feature_names[:10], features=data.features[:, :10])
    channel = tmp_path_factory.mktemp("narrow") / "train"
    write_channel(narrow, channel, files=1)
    return _train(tmp_path_factory.mktemp("narrow_run"), channel)


def _accuracy_of(model_dir: Path, test_dir: Path) -> float:
    model = load_model(model_dir)
    table = read_channel(test_dir, model.label_name)
    features = table.features[:, [table.feature_names.index(n) for n in model.feature_names]]
    predicted = np.asarray(model.classes)[model.predict_proba(features).argmax(axis=1)]
    return float(np.mean(predicted == table.labels))


def _evaluate(job: Job, candidate: Job, test_dir: Path, *extra: str) -> tuple[int, dict | None, str]:
    output = job.root / "eval" / "evaluation.json"
    result = job.run(
        "evaluate",
        "--model-dir",
        str(candidate.model_dir),
        "--test-dir",
        str(test_dir),
        "--output",
        str(output),
        *extra,
    )
    report = json.loads(output.read_text()) if result.returncode == 0 else None
    return result.returncode, report, result.stdout + result.stderr


def _archive(model_dir: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(into / "model.tar.gz", "w:gz") as tar:
        for name in ("model.npz", "metrics.json", "baseline.json"):
            tar.add(model_dir / name, arcname=name)
    return into


def test_no_champion_placeholder_only(bundled_run: Job, bundled_channel: Path, job: Job):
    champion = job.root / "champion"
    champion.mkdir(parents=True)
    (champion / "README").write_text("no approved version yet\n")
    code, report, output = _evaluate(job, bundled_run, bundled_channel, "--champion-dir", str(champion))
    assert code == 0, output
    assert list(report) == ["metrics", "rows", "classes", "confusion_matrix", "comparison"]
    assert report["comparison"] == {"champion_present": False, "accuracy_delta": {"value": 0.0}}
    assert f"no champion in {champion}" in output


def test_champion_archive_is_scored_on_the_same_rows(
    bundled_run: Job, weak_champion: Job, bundled_channel: Path, job: Job
):
    champion = _archive(weak_champion.model_dir, job.root / "processing" / "champion")
    # The default --champion-dir is <root>/processing/champion.
    code, report, output = _evaluate(job, bundled_run, bundled_channel)
    assert code == 0, output
    candidate_accuracy = _accuracy_of(bundled_run.model_dir, bundled_channel)
    champion_accuracy = _accuracy_of(weak_champion.model_dir, bundled_channel)
    assert candidate_accuracy > champion_accuracy  # the weak champion really is weaker
    assert report["metrics"]["accuracy"]["value"] == candidate_accuracy
    assert report["champion"]["rows"] == report["rows"] == 569
    assert list(report["champion"]["metrics"]) == ["accuracy", "log_loss"]
    assert report["champion"]["metrics"]["accuracy"]["value"] == champion_accuracy
    assert report["comparison"]["champion_present"] is True
    assert report["comparison"]["accuracy_delta"]["value"] == candidate_accuracy - champion_accuracy
    assert str(champion) not in output


def test_champion_model_directory_equal_to_the_candidate_gives_zero_delta(
    bundled_run: Job, bundled_channel: Path, job: Job
):
    code, report, _ = _evaluate(job, bundled_run, bundled_channel, "--champion-dir", str(bundled_run.model_dir))
    assert code == 0
    assert report["champion"]["metrics"] == report["metrics"]
    assert report["comparison"]["accuracy_delta"]["value"] == 0.0


def test_champion_on_fewer_features_is_scored_on_its_own_columns(
    bundled_run: Job, fewer_features_champion: Job, bundled_channel: Path, job: Job
):
    code, report, output = _evaluate(
        job, bundled_run, bundled_channel, "--champion-dir", str(fewer_features_champion.model_dir)
    )
    assert code == 0, output
    assert report["champion"]["metrics"]["accuracy"]["value"] == _accuracy_of(
        fewer_features_champion.model_dir, bundled_channel
    )


def test_candidate_on_fewer_features_against_a_champion_needing_more_is_an_error(
    bundled_run: Job, fewer_features_champion: Job, job: Job
):
    # The test data has the candidate's 10 features; the champion needs all 30.
    narrow_test = fewer_features_champion.channel
    code, _, _ = _evaluate(job, fewer_features_champion, narrow_test, "--champion-dir", str(bundled_run.model_dir))
    assert code == 1
    missing = ", ".join(breast_cancer(rows=1, seed=0, noise=0.0).feature_names[10:])
    assert job.failure_file.read_text() == (
        f"champion in {bundled_run.model_dir} needs features the test data lacks: {missing}; "
        "a champion is scored on the candidate's test data, so it must have every champion feature\n"
    )


def test_rows_of_a_class_the_champion_does_not_know_count_as_wrong(job: Job, tmp_path: Path):
    # Candidate knows classes a, b, c; the champion only a and b; the test rows hold all three.
    def rows(labels: str) -> str:
        return "x,y,target\n" + "".join(
            f"{i % 13 + (5 if label == 'b' else 0)},{i % 7 + (9 if label == 'c' else 0)},{label}\n"
            for i in range(120)
            for label in labels
        )

    champion_channel, candidate_channel = tmp_path / "champion", tmp_path / "candidate"
    for channel, labels in ((champion_channel, "ab"), (candidate_channel, "abc")):
        channel.mkdir()
        (channel / "d.csv").write_text(rows(labels))
    champion = _train(tmp_path / "champion_run", champion_channel)
    candidate = _train(tmp_path / "candidate_run", candidate_channel)
    code, report, output = _evaluate(job, candidate, candidate_channel, "--champion-dir", str(champion.model_dir))
    assert code == 0, output
    champion_model = load_model(champion.model_dir)
    table = read_channel(candidate_channel, "target")
    predicted = np.asarray(champion_model.classes)[champion_model.predict_proba(table.features).argmax(axis=1)]
    assert report["champion"]["metrics"]["accuracy"]["value"] == float(np.mean(predicted == table.labels))
    # A third of the rows are class c, which the champion can never predict.
    assert report["champion"]["metrics"]["accuracy"]["value"] <= 2 / 3
    # Those rows count at the log-loss ceiling: -log(1e-15) / 3 at least.
    assert report["champion"]["metrics"]["log_loss"]["value"] >= -np.log(1e-15) / 3


def test_a_broken_champion_archive_is_an_error(bundled_run: Job, bundled_channel: Path, job: Job):
    champion = job.root / "champion"
    champion.mkdir(parents=True)
    (champion / "model.tar.gz").write_bytes(b"not a tar archive")
    code, _, _ = _evaluate(job, bundled_run, bundled_channel, "--champion-dir", str(champion))
    assert code == 1
    assert job.failure_file.read_text().startswith(f"champion in {champion}: ")


def test_the_candidates_baseline_is_copied_next_to_the_report(bundled_run: Job, bundled_channel: Path, job: Job):
    # From the training job's model.tar.gz (the pipeline's layout) to a plain object beside
    # evaluation.json, byte for byte, for the pipeline to register as the drift baseline.
    _archive(bundled_run.model_dir, job.root / "processing" / "model")
    (job.root / "processing" / "test").symlink_to(bundled_channel)
    result = job.run("evaluate")
    assert result.returncode == 0, result.stderr
    evaluation = job.root / "processing" / "evaluation"
    assert sorted(p.name for p in evaluation.iterdir()) == ["baseline.json", "evaluation.json"]
    assert (evaluation / "baseline.json").read_bytes() == (bundled_run.model_dir / "baseline.json").read_bytes()
