"""The inference server against slow and hostile clients, as a real process over raw sockets:
bounded request heads (size, field count, memory), header and body read timeouts, a 413 that
clients which write their whole body before reading (http.client) actually receive, and ready
meaning ready (no worker takes a request before its model is loaded).

Timeouts are set to 1 s here so the tests run quickly; the server checks deadlines every 0.5 s,
so a timeout fires between 1 and 1.5 s (the bounds below leave slack for a busy machine).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from model_code.data import read_channel
from model_code.model import load_model
from tests.model_code.helpers import REPO_ROOT, Job
from tests.model_code.serve_helpers import (
    ServerProcess,
    csv_body,
    parse_response,
    raw_exchange,
    start_server,
    wait_until,
    worker_rss_bytes,
)

LIMIT = 1_000_000
TIMEOUT = 1
SETTINGS = {
    "ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES": str(LIMIT),
    "ML_PLATFORM_SERVE_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
    "ML_PLATFORM_SERVE_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
}
HEAD_LIMIT_MESSAGE = (
    "the request line and headers are over 65536 bytes; the limit is 65536 bytes (ML_PLATFORM_SERVE_MAX_HEADER_BYTES)"
)
HEADER_TIMEOUT = {
    "error": "request_timeout",
    "message": "the request line and headers did not arrive within 1 s (ML_PLATFORM_SERVE_HEADER_TIMEOUT_SECONDS); "
    "send the whole request at once",
}
BODY_TIMEOUT = {
    "error": "request_timeout",
    "message": "the request body did not arrive within 1 s (ML_PLATFORM_SERVE_BODY_TIMEOUT_SECONDS); "
    "send the whole request at once",
}


@pytest.fixture(scope="module")
def model_dir(bundled_run: Job) -> Path:
    return bundled_run.model_dir


@pytest.fixture(scope="module")
def rows(bundled_channel: Path, model_dir: Path) -> np.ndarray:
    return read_channel(bundled_channel, load_model(model_dir).label_name).features


@pytest.fixture(scope="module")
def served(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(model_dir, tmp_path_factory.mktemp("limits"), workers=2, env=SETTINGS)
    try:
        server.wait_workers_ready(2)
        yield server
        assert server.stop()[0] == 0
        assert all(isinstance(json.loads(line), dict) for line in server.log_lines())
    finally:
        server.kill()


def refused(answer: bytes) -> tuple[bytes, str, dict]:
    status_line, headers, body = parse_response(answer)
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    return status_line, headers["connection"], json.loads(body)


# --- request heads --------------------------------------------------------------------------


def test_a_head_over_64_kib_gets_431_and_the_connection_closes(served: ServerProcess):
    request = b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    assert refused(raw_exchange(served.port, request)) == (
        b"HTTP/1.1 431 Request Header Fields Too Large",
        "close",
        {"error": "request_header_fields_too_large", "message": HEAD_LIMIT_MESSAGE},
    )


def test_a_head_just_under_the_limit_is_served(served: ServerProcess):
    request = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n"
    status_line, _, body = parse_response(raw_exchange(served.port, request))
    assert (status_line, json.loads(body)) == (b"HTTP/1.1 200 OK", {"status": "ready"})


def test_more_than_100_header_fields_get_431(served: ServerProcess):
    fields = b"".join(b"X-%d: a\r\n" % number for number in range(100))
    request = b"GET /ping HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"  # 101 with Host
    assert refused(raw_exchange(served.port, request)) == (
        b"HTTP/1.1 431 Request Header Fields Too Large",
        "close",
        {
            "error": "request_header_fields_too_large",
            "message": "the request has 101 header fields; the limit is 100 (ML_PLATFORM_SERVE_MAX_HEADERS)",
        },
    )


def test_20000_header_fields_get_431(served: ServerProcess):
    fields = b"".join(b"X-%d: a\r\n" % number for number in range(20_000))
    status_line, connection, document = refused(
        raw_exchange(served.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    )
    # Over 64 KiB too: whichever limit the server meets first answers.
    assert (status_line, connection, document["error"]) == (
        b"HTTP/1.1 431 Request Header Fields Too Large",
        "close",
        "request_header_fields_too_large",
    )


def _send_unfinished_head(port: int, size: int) -> str:
    """Send `size` bytes of one header value and never end the head; how the server ended it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, piece = 0, b"a" * 65536
        while sent < size:
            sent += sock.send(piece)
        return "sent all"
    except OSError as exc:  # the server closed: EPIPE or ECONNRESET
        return type(exc).__name__
    finally:
        sock.close()


def test_16_unfinished_8_mib_heads_cost_the_workers_little_memory(served: ServerProcess):
    # Before the limit, 16 of these raised the workers' RSS by 134-170 MiB until they closed.
    # Now each is cut after 64 KiB (plus at most one 256 KiB socket read, plus what the server
    # discards while letting the client read the 431): a few MiB in all.
    pids = served.worker_pids()
    before = worker_rss_bytes(pids)
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, worker_rss_bytes(pids))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            endings = list(pool.map(lambda _: _send_unfinished_head(served.port, 8 * 1024 * 1024), range(16)))
    finally:
        stop.set()
        sampler.join()
    assert set(endings) <= {"BrokenPipeError", "ConnectionResetError"}, endings
    assert peak - before < 24 * 1024 * 1024, (before, peak)
    assert served.worker_pids() == pids
    assert served.ping_status() == 200


# --- read timeouts --------------------------------------------------------------------------


def _trickle(port: int, head: bytes, trickled: bytes, interval: float) -> tuple[bytes, float]:
    """Send `head`, then `trickled` one byte per `interval`; (what came back, seconds it took)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head)
        try:
            for byte in trickled:
                sock.settimeout(interval)
                try:
                    if sock.recv(65536, socket.MSG_PEEK):
                        break  # the server answered
                except TimeoutError:
                    pass
                sock.sendall(bytes([byte]))
            sock.settimeout(15)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
    return answer, time.monotonic() - start


def test_a_head_trickling_in_gets_408_at_the_header_timeout(served: ServerProcess):
    answer, seconds = _trickle(served.port, b"G", b"ET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100, 0.2)
    assert refused(answer) == (b"HTTP/1.1 408 Request Timeout", "close", HEADER_TIMEOUT)
    assert TIMEOUT <= seconds < TIMEOUT + 2


def test_a_body_shorter_than_its_content_length_gets_408_at_the_body_timeout(served: ServerProcess):
    start = time.monotonic()
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n"
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as sock:
        sock.sendall(head + b"1,2,3")  # then nothing: 95 bytes short
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert refused(answer) == (b"HTTP/1.1 408 Request Timeout", "close", BODY_TIMEOUT)
    assert TIMEOUT <= time.monotonic() - start < TIMEOUT + 2


def test_a_body_trickling_in_gets_408_at_the_body_timeout(served: ServerProcess):
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 200\r\n\r\n"
    answer, seconds = _trickle(served.port, head, b"1," * 100, 0.2)
    assert refused(answer) == (b"HTTP/1.1 408 Request Timeout", "close", BODY_TIMEOUT)
    assert TIMEOUT <= seconds < TIMEOUT + 2


def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(served: ServerProcess):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=15) as sock:
        assert sock.recv(65536) == b""  # closed, no answer: there was no request to answer
    assert TIMEOUT <= time.monotonic() - start < TIMEOUT + 2


def test_100_trickling_clients_are_all_dropped_while_ping_stays_fast(served: ServerProcess):
    heads = [(b"G", b"ET /ping HTTP/1.1\r\nHost: x\r\n" + b"X: a\r\n" * 20)] * 50
    post = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 90\r\n\r\n"
    clients = heads + [(post, b"1," * 45)] * 50
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(_trickle, served.port, head, rest, 1.0) for head, rest in clients]
        time.sleep(0.3)
        latencies = []
        for _ in range(5):
            start = time.monotonic()
            assert served.ping_status() == 200
            latencies.append(time.monotonic() - start)
        results = [future.result() for future in futures]
    assert max(latencies) < 1, latencies
    answers = [refused(answer) for answer, _ in results]
    assert (
        answers
        == [(b"HTTP/1.1 408 Request Timeout", "close", HEADER_TIMEOUT)] * 50
        + [(b"HTTP/1.1 408 Request Timeout", "close", BODY_TIMEOUT)] * 50
    )
    assert max(seconds for _, seconds in results) < TIMEOUT + 3


def test_normal_keep_alive_traffic_is_not_timed_out(served: ServerProcess, rows: np.ndarray):
    # Idle between requests for longer than the header timeout: the keep-alive timeout (5 s)
    # governs idle connections, the header timeout only a request that has begun.
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        for _ in range(2):
            connection.request("POST", "/invocations", body=csv_body(rows[:3]), headers={"Content-Type": "text/csv"})
            response = connection.getresponse()
            assert (response.status, len(json.loads(response.read())["predictions"])) == (200, 3)
            time.sleep(TIMEOUT + 0.6)
    finally:
        connection.close()


# --- 413 that http.client receives ------------------------------------------------------------


def _post_with_http_client(port: int, body: bytes | Iterator[bytes], chunked: bool = False) -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        # http.client writes the whole body before it reads anything (so do requests and urllib3).
        connection.request(
            "POST", "/invocations", body=body, headers={"Content-Type": "text/csv"}, encode_chunked=chunked
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read()), response.getheader("connection")
    finally:
        connection.close()


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT], ids=["one-byte-over", "twice-the-limit"])
def test_http_client_receives_the_413_for_a_body_over_the_limit(served: ServerProcess, size: int):
    assert _post_with_http_client(served.port, b"1" * size) == (
        413,
        {
            "error": "payload_too_large",
            "message": f"Content-Length is {size} bytes; the limit is {LIMIT} bytes "
            f"(ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES): split the rows over several requests",
        },
        "close",
    )


def test_http_client_receives_the_413_for_a_chunked_body_over_the_limit(served: ServerProcess):
    chunks = iter([b"1," * 50_000] * 12)  # 1.2 MB without Content-Length
    assert _post_with_http_client(served.port, chunks, chunked=True) == (
        413,
        {
            "error": "payload_too_large",
            "message": f"the body is over {LIMIT} bytes; the limit is {LIMIT} bytes "
            f"(ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES): split the rows over several requests",
        },
        "close",
    )


def test_the_workers_that_started_are_the_ones_still_serving(served: ServerProcess):
    # Last in this file: nothing above cost a worker.
    assert [line for line in served.log_lines() if "starting a replacement" in line] == []
    assert served.ping_status() == 200


# --- ready means ready ------------------------------------------------------------------------

SLOW_LOAD = """
import fcntl, os, time
import model_code.model

_load = model_code.model.load_model


def _slow_load(directory):
    # The n-th load in this server sleeps DELAYS[n % len(DELAYS)] seconds first.
    with open(os.environ["SERVE_TEST_LOAD_COUNTER"], "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        number = len(counter.read())
        counter.write("x")
    delays = [float(d) for d in os.environ["SERVE_TEST_LOAD_DELAYS"].split(",")]
    time.sleep(delays[number % len(delays)])
    return _load(directory)


model_code.model.load_model = _slow_load
"""


def _burst(port: int, body: bytes, count: int) -> list[tuple[int, str]]:
    """`count` requests at once, each on a fresh connection: (status, error code or "")."""

    def one(_: int) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
            response = connection.getresponse()
            document = json.loads(response.read())
            return response.status, document.get("error", "")
        finally:
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def _first_ping_200(server: ServerProcess) -> None:
    def ready() -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.2)
            connection.request("GET", "/ping")
            return connection.getresponse().status == 200
        except OSError:
            return False

    wait_until(ready, 30, "the first 200 from /ping")


def test_one_200_from_ping_means_every_accepting_worker_can_predict(model_dir: Path, rows: np.ndarray, tmp_path: Path):
    # Of each pair of workers, one loads its model in 0.2 s and the other in 3 s. Before, the slow
    # one accepted connections while loading and answered them 503 model_not_ready.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SLOW_LOAD)
    env = {
        "PYTHONPATH": f"{shim}{os.pathsep}{REPO_ROOT}",
        "SERVE_TEST_LOAD_COUNTER": str(tmp_path / "loads"),
        "SERVE_TEST_LOAD_DELAYS": "0.2,3",
    }
    server = start_server(model_dir, tmp_path / "logs", workers=2, env=env)
    body = csv_body(rows[:1])
    try:
        _first_ping_200(server)
        assert _burst(server.port, body, 24) == [(200, "")] * 24
        server.wait_workers_ready(2)
        # Replace every worker at once: the same must hold for the replacements.
        workers = server.worker_pids()
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not set(workers) & set(server.worker_pids()), 10, "the killed workers to be reaped")
        _first_ping_200(server)
        assert _burst(server.port, body, 24) == [(200, "")] * 24
        assert server.stop()[0] == 0
    finally:
        server.kill()
    loaded = [json.loads(line) for line in server.log_lines() if '"message":"model loaded"' in line]
    assert len(loaded) == 4
