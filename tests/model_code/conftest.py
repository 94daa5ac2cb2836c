"""Fixtures for the model container's tests: generated data and shared training runs.

Data comes from scikit-learn's bundled breast-cancer dataset (no download). Runs that several
tests read are made once per session; tests treat them as read-only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model_code.datagen import breast_cancer, write_channel
from tests.model_code.helpers import LONG_HYPERPARAMETERS, LONG_ROWS, Job


@pytest.fixture
def job(tmp_path: Path) -> Job:
    return Job(tmp_path / "opt_ml")


@pytest.fixture(scope="session")
def bundled_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 569 original breast-cancer rows, split over two CSV files."""
    out = tmp_path_factory.mktemp("bundled") / "train"
    write_channel(breast_cancer(rows=569, seed=0, noise=0.05), out, files=2)
    return out


@pytest.fixture(scope="session")
def long_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("long") / "train"
    write_channel(breast_cancer(rows=LONG_ROWS, seed=1, noise=0.05), out, files=4)
    return out


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory: pytest.TempPathFactory, bundled_channel: Path) -> Job:
    """`train` with default hyperparameters on the bundled rows, finished."""
    job = Job(tmp_path_factory.mktemp("bundled_run"))
    job.use_channel(bundled_channel)
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    return job


@pytest.fixture(scope="session")
def long_reference_run(tmp_path_factory: pytest.TempPathFactory, long_channel: Path) -> Job:
    """The uninterrupted run that interrupted and resumed runs must reproduce exactly."""
    job = Job(tmp_path_factory.mktemp("long_reference"))
    job.use_channel(long_channel)
    job.write_hyperparameters(LONG_HYPERPARAMETERS)
    result = job.run("train")
    assert result.returncode == 0, result.stderr
    return job
