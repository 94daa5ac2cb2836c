"""GET /metrics (the `metrics` setting): request counts and latency in Prometheus text format,
in-process and across worker processes, and start-up with a read-only root filesystem.

The exposition is parsed with prometheus_client's own text parser, so what is checked is what
a Prometheus server would read. What these cannot show: a real scrape by Prometheus, and a
real container's read-only root (simulated, as in test_serve_process.py, by a private mount
namespace in which `/` is remounted read-only; /dev/shm, a separate mount, plays the emptyDir
volume mounted at /tmp).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from model_code.data import read_channel
from model_code.model import Model, load_model
from model_code.serve.app import create_app
from model_code.serve.metrics import LATENCY_BUCKETS
from model_code.serve.settings import ServeSettings
from tests.model_code.helpers import Job
from tests.model_code.serve_helpers import answer, csv_body, expected_json, start_server, wait_until

CSV = {"content-type": "text/csv"}
READ_ONLY_ROOT = [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount -o remount,bind,ro / && exec "$@"',
    "sh",
]


@pytest.fixture(scope="module")
def model_dir(bundled_run: Job) -> Path:
    return bundled_run.model_dir


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Model:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def rows(bundled_channel: Path, model: Model) -> np.ndarray:
    return read_channel(bundled_channel, model.label_name).features


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def invocation_counts(found: dict) -> dict[str, float]:
    return {
        dict(labels)["status"]: value for (name, labels), value in found.items() if name == "model_invocations_total"
    }


# --- in-process ------------------------------------------------------------------------------


@pytest.fixture
def metered(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServeSettings(model_dir=model_dir, workers=1, metrics=True))) as client:
        wait_until(lambda: client.get("/ping").status_code == 200, 10, "the model to load")
        yield client


def test_metrics_count_invocations_by_status_and_time_them(metered: TestClient, rows: np.ndarray, model: Model):
    for _ in range(3):
        response = metered.post("/invocations", content=csv_body(rows[:2]), headers=CSV)
        assert (response.status_code, answer(response)) == (200, expected_json(model, rows[:2]))
    assert metered.post("/invocations", content=b"1,2", headers={"content-type": "text/plain"}).status_code == 415
    metered.get("/ping")  # not an invocation: not counted

    response = metered.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    found = samples(response.text)
    assert invocation_counts(found) == {"200": 3.0, "415": 1.0}
    assert found[("model_invocation_duration_seconds_count", ())] == 4.0
    buckets = [found[("model_invocation_duration_seconds_bucket", (("le", repr(b)),))] for b in LATENCY_BUCKETS]
    assert buckets == sorted(buckets)  # cumulative
    assert found[("model_invocation_duration_seconds_bucket", (("le", "+Inf"),))] == 4.0
    assert 0 < found[("model_invocation_duration_seconds_sum", ())] < 4 * 10


def test_metrics_are_off_by_default_and_then_404(model_dir: Path):
    with TestClient(create_app(ServeSettings(model_dir=model_dir, workers=1))) as client:
        response = client.get("/metrics")
    assert (response.status_code, response.json()) == (
        404,
        {
            "error": "not_found",
            "message": "no route for GET /metrics; the server answers GET /ping and POST /invocations",
        },
    )


# --- worker processes on a read-only root ----------------------------------------------------


@pytest.fixture
def unwritable_cwd() -> Iterator[Path]:
    """A working directory nobody may write, as the image's /opt/program."""
    cwd = Path(tempfile.mkdtemp(prefix="serve-cwd-"))
    cwd.chmod(0o555)
    try:
        yield cwd
    finally:
        cwd.chmod(0o755)
        shutil.rmtree(cwd)


@pytest.fixture
def volume() -> Iterator[Path]:
    """A writable directory on a mount of its own, standing in for the pod's /tmp emptyDir."""
    if not Path("/dev/shm").is_mount():
        pytest.skip("needs /dev/shm as a mount of its own")
    directory = Path(tempfile.mkdtemp(prefix="serve-tmp-", dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def _skip_without_read_only_root(cwd: Path) -> None:
    if not shutil.which("unshare"):
        pytest.skip("needs unshare")
    probe = subprocess.run([*READ_ONLY_ROOT, "true"], cwd=cwd, capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot remount / read-only in a private mount namespace here: {probe.stderr.strip()[-200:]}")


def test_workers_share_their_counts_and_write_only_to_the_tmp_volume(
    model_dir: Path, model: Model, rows: np.ndarray, unwritable_cwd: Path, volume: Path, tmp_path: Path
):
    _skip_without_read_only_root(unwritable_cwd)
    server = start_server(
        model_dir,
        tmp_path,
        workers=2,
        cwd=unwritable_cwd,
        wrapper=READ_ONLY_ROOT,
        env={"ML_PLATFORM_SERVE_METRICS": "true", "TMPDIR": str(volume)},
    )
    try:
        server.wait_workers_ready(2)
        [metrics_dir] = list(volume.iterdir())
        assert metrics_dir.name.startswith("serve-metrics-")
        for _ in range(20):  # new connections, so both workers answer some
            response = server.client.post(
                "/invocations", content=csv_body(rows[:1]), headers={**CSV, "connection": "close"}
            )
            assert (response.status_code, answer(response)) == (200, expected_json(model, rows[:1]))
        # Each worker keeps its own file, named by its pid.
        histograms = {path.name for path in metrics_dir.glob("histogram_*.db")}
        assert histograms == {f"histogram_{pid}.db" for pid in server.worker_pids()}
        # Whichever worker answers a scrape reports the sum over both.
        for _ in range(4):
            scrape = server.client.get("/metrics", headers={"connection": "close"})
            assert scrape.status_code == 200
            assert invocation_counts(samples(scrape.text)) == {"200": 20.0}
        assert server.stop()[0] == 0
    finally:
        server.kill()
    levels = {json.loads(line)["level"] for line in server.log_lines()}
    assert levels == {"info"}, server.log_lines()
    assert list(volume.iterdir()) == []  # the metrics directory is removed on exit
    assert list(unwritable_cwd.iterdir()) == []


def test_metrics_with_workers_and_no_writable_tmp_exit_1_saying_what_to_mount(
    model_dir: Path, unwritable_cwd: Path, tmp_path: Path
):
    _skip_without_read_only_root(unwritable_cwd)
    server = start_server(
        model_dir,
        tmp_path,
        workers=2,
        cwd=unwritable_cwd,
        wrapper=READ_ONLY_ROOT,
        env={"ML_PLATFORM_SERVE_METRICS": "true", "TMPDIR": "/tmp"},
    )
    try:
        assert server.process.wait(timeout=30) == 1
    finally:
        server.kill()
    errors = [json.loads(line) for line in server.log_lines() if '"level":"error"' in line]
    assert [e["message"].split(" (")[0] for e in errors] == [
        "cannot start: metrics with 2 workers keep their counts in a temporary directory, and none is writable"
    ]
    assert errors[0]["message"].endswith(
        "mount a volume at /tmp or set TMPDIR to a writable directory, or set ML_PLATFORM_SERVE_WORKERS=1"
    )
