"""Fixtures for the model container's tests: generated data and shared training runs.

Data comes from scikit-learn's bundled breast-cancer dataset (no download). Runs that several
tests read are made once per session; tests treat them as read-only. The in-process inference
app (`client`, with `model_dir`, `model` and `rows`) serves test_serve_app.py and
test_serve_errors.py; a module that defines a fixture of the same name uses its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from model_code.data import read_channel
from model_code.datagen import breast_cancer, write_channel
from model_code.model import Model, load_model
from model_code.serve.app import create_app
from model_code.serve.settings import ServeSettings
from tests.model_code.helpers import LONG_HYPERPARAMETERS, LONG_ROWS, Job
from tests.model_code.serve_helpers import APP_PAYLOAD_LIMIT, wait_until


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


# ---------------------------------------------------------------------------------------------
# The in-process inference app


@pytest.fixture(scope="module")
def model_dir(bundled_run: Job) -> Path:
    return bundled_run.model_dir


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Model:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def rows(bundled_channel: Path, model: Model) -> np.ndarray:
    """The 569 training rows' features, in the model's feature order."""
    table = read_channel(bundled_channel, model.label_name)
    assert table.feature_names == model.feature_names
    return table.features


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    app = create_app(ServeSettings(model_dir=model_dir, max_payload_bytes=APP_PAYLOAD_LIMIT))
    with TestClient(app) as client:
        wait_until(lambda: client.get("/ping").status_code == 200, 10, "the model to load")
        yield client
