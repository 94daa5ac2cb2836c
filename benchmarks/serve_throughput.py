"""The inference server against the SageMaker scikit-learn container's way of serving, side by side.

    .venv/bin/python benchmarks/serve_throughput.py [--model-dir build/model] [--duration 3] [--repeats 3] [--workers N]
        [--baseline DIR]

Starts both servers on 127.0.0.1 with the same model and the same number of worker processes:
- ours: `python -m model_code serve` (FastAPI app, uvicorn with uvloop and httptools);
- the reference: benchmarks/reference_server.py, Flask under gunicorn sync workers.
Then drives each with wrk (Debian's package: apt-get install wrk) for 1-row and 100-row CSV
payloads at concurrency 1, 8 and 64, and prints throughput, p50/p99 latency, errors (socket
errors, timeouts and non-2xx answers), the worst /ping latency seen during the 1-row,
concurrency-64 runs, and each worker's peak RSS. Every configuration is run `--repeats` times,
the two servers alternating and the rounds in sequence, so a burst of load from elsewhere on
the machine hits both servers and at most one round: each figure printed is the median of its
rounds (errors are summed). After each run the benchmark waits until the server it measured
has stopped using CPU (a slow server still answers the requests queued on its socket after wrk
stops), so that work does not land on the next server's run. The load average before and after
is printed to judge the noise.
It also prints the in-process ceiling: `Model.predict_proba` alone on the same payloads, and our
whole request path without HTTP (decode, predict, encode).

A model brought as ONNX is measured in the same rounds (unless --no-onnx): a scikit-learn
random forest (bench_models.ONNX_TREES trees, depth ONNX_DEPTH) trained on the same 30-feature data, exported
with skl2onnx and imported with `import-onnx`, served by `python -m model_code serve` ("onnx",
ONNX Runtime, one thread per worker) and, as its reference ("sklearn-ref"), the same fitted
forest saved with joblib and loaded the way the SageMaker scikit-learn container loads a model
(a pickle; `predict_proba` under Flask/gunicorn). Its targets: at 1 row and concurrency 64, at
least 5x sklearn-ref's throughput and at least 0.9x our numpy model's ("ours"); its answers
equal onnxruntime's own outputs within 1e-6.

With `--baseline DIR` (another checkout of this repository, e.g. a `git worktree` of main), that
checkout's `python -m model_code serve` runs as a third server, "baseline", in the same rounds,
so a change to the server is measured against the code before it under the same load from
elsewhere; ours must then also reach at least 95% of the baseline's 1-row, concurrency-64
throughput.

Before timing, the servers must return exactly `Model.predict_proba`'s numbers for both
payloads. Targets (exit 1 if one is missed): at 1 row and concurrency 64, at least 5x the
reference's throughput and at most a third of its p99; no errors anywhere; at most 300 MB
peak RSS per worker. Without --model-dir, a model is trained on the bundled breast-cancer
data first (needs scikit-learn). Runtime: about 12 x repeats x duration s per pair of servers
plus start-up (about 4 min with the ONNX pair).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from model_code.model import load_model  # noqa: E402
from model_code.serve.decode import CSV, JSON, Decoder  # noqa: E402
from model_code.serve.encode import Encoder  # noqa: E402
from model_code.serve.settings import available_cpus  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import build_onnx_model, train_demo_model  # noqa: E402

CONCURRENCY = (1, 8, 64)
ROWS = (1, 100)
TARGET_SPEEDUP = 5.0
TARGET_P99_RATIO = 1 / 3
TARGET_RSS_MB = 300
TARGET_BASELINE_RATIO = 0.95
TARGET_ONNX_VS_NUMPY = 0.9
ONNX_TOLERANCE = 1e-6
# Whose reference each server's "vs ref" column and speed-up target compare against.
REFERENCE_OF = {"ours": "reference", "baseline": "reference", "onnx": "sklearn-ref"}
WRK_LUA = """
local f = assert(io.open("{body}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


Results = dict[tuple[int, int, str], "Result"]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    worker_filter: str  # a substring of each worker's command line

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payloads(rows: int) -> bytes:
    from model_code.datagen import breast_cancer

    data = breast_cancer(rows=max(ROWS), seed=0, noise=0.05).features[:rows]
    return "".join(",".join(f"{v:.10g}" for v in row) + "\n" for row in data).encode()


def serve_command(name: str, checkout: Path, model_dir: Path, workers: int) -> Server:
    """`python -m model_code serve` from `checkout` on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "ML_PLATFORM_SERVE_HOST": "127.0.0.1",
        "ML_PLATFORM_SERVE_PORT": str(port),
        "ML_PLATFORM_SERVE_WORKERS": str(workers),
        "ML_PLATFORM_SERVE_MODEL_DIR": str(model_dir),
        "ML_PLATFORM_SERVE_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen([sys.executable, "-m", "model_code", "serve"], env=env, cwd=checkout)
    return Server(name, process, port, "spawn_main")


def reference_command(port: int, workers: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "benchmarks.reference_server:create_app()",
    ]


def reference_server(name: str, workers: int, model_env: dict[str, str]) -> Server:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **model_env}
    return Server(name, subprocess.Popen(reference_command(port, workers), env=env, cwd=REPO_ROOT), port, "gunicorn")


def start_servers(
    model_dir: Path, workers: int, baseline: Path | None = None, onnx: tuple[Path, Path] | None = None
) -> list[Server]:
    servers = [
        serve_command("ours", REPO_ROOT, model_dir, workers),
        reference_server("reference", workers, {"BENCH_MODEL_DIR": str(model_dir)}),
    ]
    if baseline is not None:
        servers.append(serve_command("baseline", baseline.resolve(), model_dir, workers))
    if onnx is not None:
        servers.append(serve_command("onnx", REPO_ROOT, onnx[0], workers))
        servers.append(reference_server("sklearn-ref", workers, {"BENCH_SKLEARN_MODEL": str(onnx[1])}))
    try:
        for server in servers:
            wait_ready(server)
    except BaseException:
        for server in servers:
            stop(server)
        raise
    return servers


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} server exited with {server.process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{server.url}/ping", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{server.name} server not ready after {timeout} s")


def post(url: str, body: bytes) -> dict:
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": CSV})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def check_predictions(
    servers: list[Server], model_dir: Path, bodies: dict[int, bytes], onnx_dir: Path | None = None
) -> None:
    model = load_model(model_dir)
    for rows, body in bodies.items():
        features = np.loadtxt(body.decode().splitlines(), delimiter=",", ndmin=2)
        proba = model.predict_proba(features)
        labels = np.asarray(model.classes)[proba.argmax(axis=1)].tolist()
        for server in servers:
            if server.name in ("onnx", "sklearn-ref"):
                continue
            got = post(server.url, body)["predictions"]
            got_proba = np.array([p["probabilities"] for p in got])
            if [p["label"] for p in got] != labels or not np.array_equal(got_proba, proba):
                raise SystemExit(f"{server.name} server's predictions for {rows} row(s) differ from predict_proba")
        if onnx_dir is not None:
            check_onnx_predictions(servers, onnx_dir, rows, body, features)


def check_onnx_predictions(servers: list[Server], onnx_dir: Path, rows: int, body: bytes, features: np.ndarray) -> None:
    """The ONNX server's answers, and the pickled forest's, against onnxruntime's own outputs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    (expected,) = session.run(["probabilities"], {session.get_inputs()[0].name: features.astype(np.float32)})
    expected = np.asarray(expected, dtype=np.float64)
    classes = json.loads((onnx_dir / "model.json").read_text())["classes"]
    for server in servers:
        if server.name not in ("onnx", "sklearn-ref"):
            continue
        got = post(server.url, body)
        probabilities = np.array([p["probabilities"] for p in got["predictions"]])
        difference = float(np.max(np.abs(probabilities - expected)))
        if got["classes"] != classes or difference > ONNX_TOLERANCE:
            raise SystemExit(
                f"{server.name} server's predictions for {rows} row(s) differ from onnxruntime's by {difference:.3g} "
                f"(tolerance {ONNX_TOLERANCE}) or its classes {got['classes']} are not {classes}"
            )


def in_process_rates(model_dir: Path, bodies: dict[int, bytes]) -> dict[int, tuple[float, float]]:
    """Calls per second: (the model's predict alone, decode + predict + encode) for each payload."""
    model = load_model(model_dir)
    decoder = Decoder(model.feature_names, accepts_missing=model.accepts_missing)
    encoder = Encoder(model.classes, model.task)
    rates = {}
    for rows, body in bodies.items():
        features = decoder.decode(body, CSV)
        number = 20000 // rows
        predict = min(timeit.repeat(lambda f=features: model.predict(f), number=number, repeat=5)) / number
        whole = (
            min(
                timeit.repeat(
                    lambda b=body: encoder.encode(model.predict(decoder.decode(b, CSV)), JSON),
                    number=number,
                    repeat=5,
                )
            )
            / number
        )
        rates[rows] = (1 / predict, 1 / whole)
    return rates


def run_wrk(server: Server, script: Path, concurrency: int, duration: int) -> Result:
    threads = 1 if concurrency == 1 else 2
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"{server.url}/invocations",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    [line] = [line for line in output.splitlines() if line.startswith("WRK_JSON ")]
    stats = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(stats[key] for key in ("connect", "read", "write", "status", "timeout"))
    return Result(
        stats["requests"] / (stats["duration_us"] / 1e6), stats["p50_us"] / 1e3, stats["p99_us"] / 1e3, errors
    )


class PingProbe:
    """GET /ping every 100 ms while a load runs; keeps the slowest answer (a failure counts as 5 s)."""

    def __init__(self, url: str) -> None:
        self.url, self.worst, self.failures = url, 0.0, 0

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        stop = threading.Event()
        thread = threading.Thread(target=self._probe, args=(stop,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _probe(self, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as response:
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            self.failures += not ok
            self.worst = max(self.worst, time.perf_counter() - start if ok else 5.0)


def worker_peak_rss_mb(server: Server) -> list[float]:
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        is_worker = server.worker_filter in cmdline and "resource_tracker" not in cmdline
        if int(fields["PPid"]) == server.process.pid and is_worker:
            peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
    return sorted(peaks)


def cpu_ticks(server: Server) -> int:
    """CPU time (clock ticks) used so far by the server process and its children."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if server.process.pid in (pid, parent):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def settle(server: Server, timeout: float = 5.0) -> None:
    """Wait until the server has stopped using CPU: when wrk stops, a server whose latency is
    long still works through the requests queued on its socket, which would otherwise land on
    the next server's run. Idle = no CPU tick used in 0.2 s."""
    deadline = time.monotonic() + timeout
    before = cpu_ticks(server)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_ticks(server)
        if now == before:
            return
        before = now


def stop(server: Server) -> int | None:
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a trained model directory (default: train one)")
    parser.add_argument("--duration", type=int, default=3, help="whole seconds per wrk run (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every run; medians are printed (default 3)")
    parser.add_argument("--workers", type=int, default=available_cpus(), help="worker processes for each server")
    parser.add_argument("--baseline", type=Path, help="another checkout whose server runs in the same rounds")
    parser.add_argument(
        "--onnx", action=argparse.BooleanOptionalAction, default=True, help="also the ONNX forest and its reference"
    )
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get update && apt-get install -y wrk")

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        workdir = Path(tmp)
        model_dir = (args.model_dir or train_demo_model(workdir / "opt_ml")).resolve()
        bodies = {rows: payloads(rows) for rows in ROWS}
        scripts = {}
        for rows, body in bodies.items():
            (workdir / f"{rows}.csv").write_bytes(body)
            scripts[rows] = workdir / f"{rows}.lua"
            scripts[rows].write_text(WRK_LUA.format(body=workdir / f"{rows}.csv"))

        onnx = build_onnx_model(workdir) if args.onnx else None
        ceiling = {"ours": in_process_rates(model_dir, bodies)}
        if onnx is not None:
            ceiling["onnx"] = in_process_rates(onnx[0], bodies)
        servers = start_servers(model_dir, args.workers, args.baseline, onnx)
        try:
            check_predictions(servers, model_dir, bodies, onnx[0] if onnx else None)
            for server in servers:  # warm-up: connections, caches, the first allocations
                run_wrk(server, scripts[1], 8, 1)
            load_before = os.getloadavg()[0]
            results, pings = measure(servers, scripts, args.duration, args.repeats)
            load_after = os.getloadavg()[0]
            rss = {server.name: worker_peak_rss_mb(server) for server in servers}
        finally:
            exit_codes = {server.name: stop(server) for server in servers}

    report(args, results, ceiling, pings, rss, exit_codes)
    print(f"\nload average (1 min) before the runs {load_before:.2f}, after {load_after:.2f} ({os.cpu_count()} CPUs)")
    return 0 if targets_met(results, rss) else 1


def measure(
    servers: list[Server], scripts: dict[int, Path], duration: int, repeats: int
) -> tuple[Results, dict[str, PingProbe]]:
    runs: dict[tuple[int, int, str], list[Result]] = defaultdict(list)
    pings = {server.name: PingProbe(server.url) for server in servers}
    for _ in range(repeats):
        for rows in ROWS:
            for concurrency in CONCURRENCY:
                for server in servers:
                    probing = (
                        pings[server.name].running() if (rows, concurrency) == (1, 64) else contextlib.nullcontext()
                    )
                    with probing:
                        runs[rows, concurrency, server.name].append(
                            run_wrk(server, scripts[rows], concurrency, duration)
                        )
                    settle(server)
    return {key: median_result(rounds) for key, rounds in runs.items()}, pings


def median_result(rounds: list[Result]) -> Result:
    return Result(
        statistics.median(r.rps for r in rounds),
        statistics.median(r.p50_ms for r in rounds),
        statistics.median(r.p99_ms for r in rounds),
        sum(r.errors for r in rounds),
    )


def report(
    args: argparse.Namespace,
    results: Results,
    ceiling: dict[str, dict[int, tuple[float, float]]],
    pings: dict[str, PingProbe],
    rss: dict[str, list[float]],
    exit_codes: dict[str, int | None],
) -> None:
    print(
        f"\nbench-serve: {args.workers} worker processes each, CSV payloads, wrk {args.duration} s per run, "
        f"median of {args.repeats} rounds"
    )
    order = ("ours", "baseline", "reference", "onnx", "sklearn-ref")
    names = [name for name in order if (1, 64, name) in results]
    print(f"{'payload':<9}{'conc':>5}  {'server':<12}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs ref':>8}")
    for rows in ROWS:
        for concurrency in CONCURRENCY:
            for name in names:
                r = results[rows, concurrency, name]
                reference = results.get((rows, concurrency, REFERENCE_OF.get(name, "")))
                ratio = f"{r.rps / reference.rps:.1f}x" if reference is not None else ""
                label = f"{rows} row" + ("s" if rows > 1 else "")
                print(
                    f"{label:<9}{concurrency:>5}  {name:<12}{r.rps:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
                    f"{r.errors:>8}{ratio:>8}"
                )
    print("\nin-process ceiling (one core, no HTTP), calls/s:")
    for name, rates in ceiling.items():
        for rows, (predict, whole) in rates.items():
            print(f"  {name:<5} {rows:>3} row(s): predict {predict:>9.0f}   decode+predict+encode {whole:>9.0f}")
    print("\n/ping under the 1-row, concurrency-64 load (probe every 100 ms):")
    for name, probe in pings.items():
        print(f"  {name:<12} worst {probe.worst * 1000:.1f} ms, failures {probe.failures}")
    print("\npeak RSS per worker (VmHWM), MB:")
    for name, peaks in rss.items():
        print(f"  {name:<12} " + ", ".join(f"{p:.1f}" for p in peaks))
    print("\nexit codes after SIGTERM: " + ", ".join(f"{name} {code}" for name, code in exit_codes.items()))


def targets_met(results: Results, rss: dict[str, list[float]]) -> bool:
    ours, reference = results[1, 64, "ours"], results[1, 64, "reference"]
    baseline = results.get((1, 64, "baseline"))
    checks = [
        (
            f"1-row throughput at c64 >= {TARGET_SPEEDUP:g}x reference",
            ours.rps / reference.rps >= TARGET_SPEEDUP,
            f"{ours.rps / reference.rps:.2f}x",
        ),
        (
            "1-row p99 at c64 <= 1/3 of reference",
            ours.p99_ms <= reference.p99_ms * TARGET_P99_RATIO,
            f"{ours.p99_ms:.2f} ms vs {reference.p99_ms:.2f} ms ({ours.p99_ms / reference.p99_ms:.2f})",
        ),
        (
            "zero errors (ours)",
            all(r.errors == 0 for (_, _, name), r in results.items() if name == "ours"),
            str(sum(r.errors for (_, _, name), r in results.items() if name == "ours")),
        ),
        (
            f"peak RSS per worker <= {TARGET_RSS_MB} MB (ours)",
            max(rss["ours"], default=0) <= TARGET_RSS_MB,
            f"{max(rss['ours'], default=0):.1f} MB",
        ),
    ]
    onnx, sklearn_ref = results.get((1, 64, "onnx")), results.get((1, 64, "sklearn-ref"))
    if onnx is not None and sklearn_ref is not None:
        checks += [
            (
                f"ONNX forest: 1-row throughput at c64 >= {TARGET_SPEEDUP:g}x sklearn-ref",
                onnx.rps / sklearn_ref.rps >= TARGET_SPEEDUP,
                f"{onnx.rps / sklearn_ref.rps:.2f}x",
            ),
            (
                f"ONNX forest: 1-row throughput at c64 >= {TARGET_ONNX_VS_NUMPY:g}x ours (numpy model)",
                onnx.rps / ours.rps >= TARGET_ONNX_VS_NUMPY,
                f"{onnx.rps:.0f} req/s vs {ours.rps:.0f} req/s ({onnx.rps / ours.rps:.3f})",
            ),
            (
                "zero errors (onnx)",
                all(r.errors == 0 for (_, _, name), r in results.items() if name == "onnx"),
                str(sum(r.errors for (_, _, name), r in results.items() if name == "onnx")),
            ),
            (
                f"peak RSS per worker <= {TARGET_RSS_MB} MB (onnx)",
                max(rss.get("onnx", []), default=0) <= TARGET_RSS_MB,
                f"{max(rss.get('onnx', []), default=0):.1f} MB",
            ),
        ]
    if baseline is not None:
        checks.append(
            (
                f"1-row throughput at c64 >= {TARGET_BASELINE_RATIO:.0%} of the baseline's",
                ours.rps >= baseline.rps * TARGET_BASELINE_RATIO,
                f"{ours.rps:.0f} req/s vs {baseline.rps:.0f} req/s ({ours.rps / baseline.rps:.3f})",
            )
        )
    print("\ntargets:")
    for name, ok, value in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
    return all(ok for _, ok, _ in checks)


if __name__ == "__main__":
    sys.exit(main())
