"""Helpers for the inference-server tests: a real `python -m model_code serve` process on
127.0.0.1 (random free port), request bodies, and waiting without sleeping blindly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import numpy as np

from model_code.model import Model
from tests.model_code.helpers import REPO_ROOT

# Generous ceilings so a wedged server fails the test instead of hanging it; not timing checks.
START_TIMEOUT_SECONDS = 30
# The in-process app's payload limit (the `client` fixture, tests/model_code/conftest.py).
APP_PAYLOAD_LIMIT = 300_000
CSV = {"content-type": "text/csv"}
JSON = {"content-type": "application/json"}
STOP_TIMEOUT_SECONDS = 35


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def csv_body(rows: np.ndarray) -> bytes:
    """Rows as the shortest decimals that read back exactly (repr), one per line."""
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in np.atleast_2d(rows)).encode()


def json_rows_body(rows: np.ndarray) -> bytes:
    return json.dumps(np.atleast_2d(rows).tolist()).encode()


GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def without_generated_id(body: dict) -> dict:
    """The body minus the inference id the server generated (the caller sent none)."""
    body = dict(body)
    assert GENERATED_ID.fullmatch(body.pop("inferenceId")), "expected a server-generated inferenceId"
    return body


def answer(response) -> dict:
    """A 200's JSON body without its generated inference id, checked against the header."""
    body = response.json()
    assert body["inferenceId"] == response.headers["x-amzn-sagemaker-inference-id"]
    return without_generated_id(body)


def expected_json(model: Model, rows: np.ndarray) -> dict:
    """The JSON answer built from `Model.predict_proba` and `Model.predict` directly."""
    proba = model.predict_proba(np.atleast_2d(rows))
    labels = model.predict_label(np.atleast_2d(rows)).tolist()
    predictions = [{"label": label, "probabilities": row} for label, row in zip(labels, proba.tolist(), strict=True)]
    return {"classes": list(model.classes), "predictions": predictions}


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    host: str = "127.0.0.1"
    _client: httpx2.Client | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> httpx2.Client:
        if self._client is None:
            self._client = httpx2.Client(base_url=self.url, timeout=10)
        return self._client

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def ping_status(self) -> int | None:
        try:
            return httpx2.get(f"{self.url}/ping", timeout=2).status_code
        except httpx2.TransportError:
            return None

    def wait_ping(self, status: int = 200) -> None:
        def answered() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            return self.ping_status() == status

        wait_until(answered, START_TIMEOUT_SECONDS, f"/ping {status} from {self.url}")

    def wait_workers_ready(self, workers: int) -> None:
        """Until `workers` worker processes run and each has logged that its model is loaded
        (/ping answering 200 proves it for one of them only)."""

        if workers == 1:  # served in the main process
            self.wait_ping(200)
            return

        def ready() -> bool:
            pids = self.worker_pids()
            loaded = {json.loads(line)["pid"] for line in self.log_lines() if '"message":"model loaded"' in line}
            return len(pids) == workers and set(pids) <= loaded

        wait_until(ready, START_TIMEOUT_SECONDS, f"{workers} workers with the model loaded")

    def worker_pids(self) -> list[int]:
        """Children of the server process running a worker (spawned interpreters)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                found.append(int(entry.name))
        return sorted(found)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Send `signum`; return (exit code, seconds until the process was gone)."""
        if self._client is not None:
            self._client.close()
        start = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not exit within {STOP_TIMEOUT_SECONDS} s of {signum}") from None
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_server(
    model_dir: Path,
    log_dir: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    wrapper: Sequence[str] = (),
    user: int | None = None,
    port: int | None = None,
) -> ServerProcess:
    """Start the server; the caller waits for the state it expects (`wait_ping`) and stops it."""
    port = port or free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "ML_PLATFORM_SERVE_HOST": "127.0.0.1",
        "ML_PLATFORM_SERVE_PORT": str(port),
        "ML_PLATFORM_SERVE_WORKERS": str(workers),
        "ML_PLATFORM_SERVE_MODEL_DIR": str(model_dir),
        **(env or {}),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "model_code", "serve"],
            cwd=cwd,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
        )
    return ServerProcess(process, port, log_path)


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes on a fresh connection; read until the server closes it (or resets it: then
    whatever arrived before the reset)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def parse_response(answer: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """(status line, lower-cased headers, body) of one raw HTTP/1.1 response."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


def worker_rss_bytes(pids: Sequence[int]) -> int:
    """The resident memory of these processes together (VmRSS)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def features(model: Model) -> str:
    return ", ".join(model.feature_names)


def error(code: str, message: str) -> dict:
    return {"error": code, "message": message}
