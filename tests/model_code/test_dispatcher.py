"""`python -m model_code <command>`: the container's single entry point."""

from __future__ import annotations

from model_code.__main__ import COMMANDS
from tests.model_code.helpers import Job


def test_the_registry_holds_every_command():
    assert COMMANDS == {
        "train": "model_code.train",
        "evaluate": "model_code.evaluate",
        "serve": "model_code.serve.cli",
        "drift": "model_code.drift.job",
        "quality": "model_code.quality",
        "fetch-model": "model_code.fetch_model",
        "resolve-dataset": "model_code.resolve_dataset",
        "import-onnx": "model_code.import_onnx",
    }


def test_unknown_command_exits_2_and_lists_the_commands(job: Job):
    result = job.run("predict")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "usage: python -m model_code <command> [args...]; command must be one of: train, evaluate, serve, drift, "
        "quality, fetch-model, resolve-dataset, import-onnx (got 'predict')\n"
    )


def test_no_command_exits_2(job: Job):
    result = job.run()
    assert result.returncode == 2
    assert result.stderr == (
        "usage: python -m model_code <command> [args...]; command must be one of: train, evaluate, serve, drift, "
        "quality, fetch-model, resolve-dataset, import-onnx (got no command)\n"
    )


def test_train_takes_no_arguments(job: Job):
    result = job.run("train", "--epochs", "3")
    assert result.returncode == 2
    assert result.stderr == "usage: python -m model_code train (takes no arguments; got ['--epochs', '3'])\n"
    assert not job.failure_file.exists()
