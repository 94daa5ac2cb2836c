"""The inference server as a real process on 127.0.0.1, over real HTTP and raw sockets:
worker processes, JSON logs, /ping under load, graceful drain on SIGTERM, a read-only root
filesystem as a non-root user, and start-up failures.

What these cannot show: SageMaker's own health checks and its SIGTERM/SIGKILL timing, and a
real read-only container root (simulated here with a private mount namespace in which `/` is
remounted read-only, the way Kubernetes' readOnlyRootFilesystem leaves only mounts writable).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model_code.data import read_channel
from model_code.model import Model, load_model
from tests.model_code.helpers import REPO_ROOT, Job
from tests.model_code.serve_helpers import (
    ServerProcess,
    answer,
    csv_body,
    expected_json,
    json_rows_body,
    parse_response,
    start_server,
    wait_until,
    without_generated_id,
)

LIMIT = 200_000
SIGTERM_LIMIT_SECONDS = 30


@pytest.fixture(scope="module")
def model_dir(bundled_run: Job) -> Path:
    return bundled_run.model_dir


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Model:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def rows(bundled_channel: Path, model: Model) -> np.ndarray:
    return read_channel(bundled_channel, model.label_name).features


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Two worker processes behind one port, as on a 2-CPU instance."""
    server = start_server(
        model_dir, tmp_path_factory.mktemp("served"), workers=2, env={"ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES": str(LIMIT)}
    )
    try:
        server.wait_workers_ready(2)
        yield server
        code, seconds = server.stop()
        assert (code, seconds < SIGTERM_LIMIT_SECONDS) == (0, True)
    finally:
        server.kill()


def raw_request(port: int, data: bytes) -> bytes:
    """Send bytes on a fresh connection; read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_predictions_over_real_http_match_predict_proba(served: ServerProcess, model: Model, rows: np.ndarray):
    response = served.client.post("/invocations", content=csv_body(rows), headers={"content-type": "text/csv"})
    assert (response.status_code, answer(response)) == (200, expected_json(model, rows))
    response = served.client.post(
        "/invocations",
        content=json_rows_body(rows[:10]),
        headers={"content-type": "application/json", "accept": "text/csv"},
    )
    assert response.status_code == 200
    got = np.loadtxt(response.text.splitlines(), delimiter=",", ndmin=2, usecols=(1, 2))
    assert np.array_equal(got, model.predict_proba(rows[:10]))


def test_every_log_line_is_a_json_object(served: ServerProcess):
    served.client.get("/ping")
    lines = [json.loads(line) for line in served.log_lines()]
    assert lines and all({"time", "level", "logger", "message", "pid"} <= line.keys() for line in lines)
    loaded = [line for line in lines if line["message"] == "model loaded"]
    assert set(served.worker_pids()) <= {line["pid"] for line in loaded}
    assert all(line["features"] == 30 and line["classes"] == ["0", "1"] for line in loaded)


def test_invalid_http_gets_400_and_the_server_stays_up(served: ServerProcess):
    workers = served.worker_pids()
    for request, problem in [
        (b"NOT HTTP AT ALL\r\n\r\n", "Invalid method encountered"),
        (b"POST /invocations HTTP/1.1\r\nContent-Length: nope\r\n\r\n", "Invalid character in Content-Length"),
    ]:
        status_line, headers, body = parse_response(raw_request(served.port, request))
        assert (status_line, headers["connection"], headers["content-type"], json.loads(body)) == (
            b"HTTP/1.1 400 Bad Request",
            "close",
            "application/json",
            {"error": "malformed_request", "message": f"the request is not valid HTTP/1.1: {problem}"},
        )
    assert served.ping_status() == 200
    assert served.worker_pids() == workers


def test_a_chunked_body_over_the_limit_gets_413_and_a_closed_connection(served: ServerProcess):
    chunk = b"1," * 20_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = raw_request(served.port, head + body)
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"connection: close" in headers.lower()
    error = json.loads(payload)
    assert error["error"] == "payload_too_large"
    # The same words whether the limit was crossed mid-stream or the whole body came at once.
    assert re.fullmatch(
        rf"the body is over {LIMIT} bytes; the limit is {LIMIT} bytes "
        rf"\(ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES\): split the rows over several requests",
        error["message"],
    ), error


def test_ping_answers_quickly_while_big_batches_keep_both_workers_busy(served: ServerProcess, rows: np.ndarray):
    body = csv_body(rows)  # 569 rows, decoded and predicted in a worker thread
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        import httpx2

        with httpx2.Client(base_url=served.url, timeout=30) as client:
            while not stop.is_set():
                statuses.append(
                    client.post("/invocations", content=body, headers={"content-type": "text/csv"}).status_code
                )

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(statuses) >= 4, 30, "the load to start")
        latencies = []
        for _ in range(6):
            start = time.perf_counter()
            assert served.ping_status() == 200
            latencies.append(time.perf_counter() - start)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert set(statuses) == {200}
    assert max(latencies) < 1.0, latencies  # SageMaker's limit is 2 s


def test_a_killed_worker_is_replaced(served: ServerProcess):
    # Last of the tests on `served`: it leaves a new worker behind.
    first, second = served.worker_pids()
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(served.worker_pids()) == 2 and first not in served.worker_pids(), 15, "a replacement")
    assert second in served.worker_pids()
    served.wait_ping(200)
    replaced = [json.loads(line) for line in served.log_lines() if "starting a replacement" in line]
    assert [(line["level"], line["worker_pid"], line["exit_code"]) for line in replaced] == [
        ("error", first, -signal.SIGKILL)
    ]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_do_not_outlive_a_killed_supervisor(model_dir: Path, tmp_path: Path):
    server = start_server(model_dir, tmp_path, workers=2)
    workers: list[int] = []
    try:
        server.wait_workers_ready(2)
        workers = server.worker_pids()
        server.process.kill()  # SIGKILL: no chance to stop its workers itself
        server.process.wait()
        wait_until(lambda: not any(_alive(pid) for pid in workers), 15, "the orphaned workers to exit")
        assert server.ping_status() is None  # nothing listens on the port any more
        orphaned = [json.loads(line) for line in server.log_lines() if "supervisor is gone" in line]
        assert sorted(line["pid"] for line in orphaned) == workers
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.kill()


def test_ping_is_503_and_invocations_refused_without_a_model(tmp_path: Path):
    empty = tmp_path / "no-model"
    empty.mkdir()
    server = start_server(empty, tmp_path / "logs", workers=1)
    try:
        server.wait_ping(503)
        failed = {
            "error": "model_load_failed",
            "message": f"the model failed to load: no model file: {empty}/model.npz does not exist",
        }
        assert server.client.get("/ping").json() == failed
        response = server.client.post("/invocations", content=b"1", headers={"content-type": "text/csv"})
        assert (response.status_code, response.json()) == (503, failed)
        assert server.stop()[0] == 0
        errors = [json.loads(line) for line in server.log_lines() if '"level":"error"' in line]
        assert [(e["message"], e["model_dir"]) for e in errors] == [
            (f"model failed to load: no model file: {empty}/model.npz does not exist", str(empty))
        ]
    finally:
        server.kill()


def _start_slow_request(port: int, body: bytes) -> socket.socket:
    """A request whose body arrives in two halves: the server holds it in flight meanwhile."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % len(body)
    sock.sendall(head + body[: len(body) // 2])
    return sock


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "two-workers"])
def test_sigterm_drains_the_request_in_flight_then_exits_0(
    workers: int, model_dir: Path, model: Model, rows: np.ndarray, tmp_path: Path
):
    server = start_server(model_dir, tmp_path, workers=workers)
    try:
        server.wait_workers_ready(workers)
        body = csv_body(rows[:50])
        sock = _start_slow_request(server.port, body)
        time.sleep(0.5)  # the first half reaches the app, which waits for the rest
        stopped_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: _refuses_connections(server.port), 10, "the listening socket to close")
        assert server.process.poll() is None, "exited with a request in flight"
        sock.sendall(body[len(body) // 2 :])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"connection: close" in head.lower()
        assert without_generated_id(json.loads(payload)) == expected_json(model, rows[:50])
        assert server.process.wait(timeout=SIGTERM_LIMIT_SECONDS) == 0
        assert time.monotonic() - stopped_at < SIGTERM_LIMIT_SECONDS
    finally:
        server.kill()


def test_a_request_that_never_finishes_is_cut_at_the_drain_timeout(model_dir: Path, rows: np.ndarray, tmp_path: Path):
    server = start_server(model_dir, tmp_path, workers=2, env={"ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS": "1"})
    try:
        server.wait_workers_ready(2)
        sock = _start_slow_request(server.port, csv_body(rows[:50]))
        time.sleep(0.5)
        code, seconds = server.stop()
        sock.close()
        assert code == 0
        assert 1 <= seconds < 1 + 3 + 3  # the drain timeout, the kill grace, slack for a busy machine
    finally:
        server.kill()


@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "two-workers"])
def test_a_port_in_use_exits_1(workers: int, model_dir: Path, tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = start_server(model_dir, tmp_path, workers=workers, port=taken.getsockname()[1])
        try:
            assert server.process.wait(timeout=60) == 1
        finally:
            server.kill()
    errors = [json.loads(line) for line in server.log_lines() if '"level":"error"' in line]
    assert [e["logger"] for e in errors] == ["uvicorn.error"]
    assert "address already in use" in errors[0]["message"].lower()


def test_a_worker_that_cannot_start_stops_the_server_with_exit_1(model_dir: Path, tmp_path: Path):
    # The supervisor never imports FastAPI; a broken one on the path fails only the workers.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "fastapi.py").write_text("raise ImportError('fastapi is broken on purpose')\n")
    server = start_server(model_dir, tmp_path, workers=2, env={"PYTHONPATH": f"{shadow}{os.pathsep}{REPO_ROOT}"})
    try:
        assert server.process.wait(timeout=60) == 1
    finally:
        server.kill()
    stopped = [json.loads(line) for line in server.log_lines() if "before it was serving" in line]
    assert len(stopped) == 1
    assert stopped[0]["level"] == "error"
    assert stopped[0]["message"].endswith("before it was serving; stopping the server")
    assert "fastapi is broken on purpose" in server.log_path.read_text()


# --- read-only root filesystem, non-root user ------------------------------------------------

NOBODY = 65534


def _probe_script(spawn: bool) -> str:
    """As the probe user: import the server (the checkout must be readable to that user), start
    a spawned child if workers will be spawned, and fail if the working directory is writable."""
    lines = ["import multiprocessing, os, sys", "import model_code.serve.cli", "code = 0"]
    if spawn:
        lines += [
            "child = multiprocessing.get_context('spawn').Process(target=os.getpid)",
            "child.start()",
            "child.join()",
            "code = child.exitcode",
        ]
    return "\n".join([*lines, "sys.exit(code or os.access('.', os.W_OK))"])


@pytest.fixture
def readable_model(model_dir: Path) -> Iterator[Path]:
    """A copy of the model any user can read (pytest's tmp dirs are private to their owner)."""
    directory = Path(tempfile.mkdtemp(prefix="serve-model-"))
    try:
        directory.chmod(0o755)
        shutil.copy(model_dir / "model.npz", directory / "model.npz")
        (directory / "model.npz").chmod(0o644)
        yield directory
    finally:
        shutil.rmtree(directory)


def _wrapper(read_only_root: bool, non_root: bool) -> list[str]:
    user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] if non_root else []
    if not read_only_root:
        return user
    # A private mount namespace in which / (and so every path not mounted separately) is read-only.
    script = 'mount -o remount,bind,ro / && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *user]


def _probe(wrapper: list[str], cwd: Path, workers: int) -> None:
    """Skip, saying why, when this machine cannot run the server that way at all."""
    missing = [tool for tool in ("unshare", "setpriv") if tool in wrapper and not shutil.which(tool)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    probe = subprocess.run(
        [*wrapper, sys.executable, "-c", _probe_script(spawn=workers > 1)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(
            f"this machine cannot run {sys.executable} that way (exit {probe.returncode}; for a non-root user the "
            f"interpreter, the checkout and the worker processes must be readable by that user): "
            f"{probe.stderr.strip()[-300:]}"
        )


@pytest.mark.parametrize(
    ("read_only_root", "non_root", "workers"),
    [(True, False, 2), (True, True, 2), (False, True, 1)],
    ids=["read-only-root", "read-only-root-non-root", "unwritable-cwd-non-root"],
)
def test_serves_without_writing_anywhere(
    read_only_root: bool,
    non_root: bool,
    workers: int,
    readable_model: Path,
    model: Model,
    rows: np.ndarray,
    tmp_path: Path,
):
    if non_root and os.geteuid() != 0:
        non_root = False  # already not root: the unwritable directory is enough
    cwd = Path(tempfile.mkdtemp(prefix="serve-cwd-"))
    try:
        cwd.chmod(0o555)
        wrapper = _wrapper(read_only_root, non_root)
        _probe(wrapper, cwd, workers)
        server = start_server(readable_model, tmp_path, workers=workers, cwd=cwd, wrapper=wrapper)
        try:
            server.wait_workers_ready(workers)
            response = server.client.post(
                "/invocations", content=csv_body(rows[:5]), headers={"content-type": "text/csv"}
            )
            assert (response.status_code, answer(response)) == (200, expected_json(model, rows[:5]))
            assert server.stop()[0] == 0
        finally:
            server.kill()
        levels = {json.loads(line)["level"] for line in server.log_lines()}
        assert levels == {"info"}, server.log_lines()
        assert list(cwd.iterdir()) == []
    finally:
        cwd.chmod(0o755)
        shutil.rmtree(cwd)
