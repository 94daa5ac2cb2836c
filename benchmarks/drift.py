"""Throughput and peak memory of the drift job, side by side with a plain pandas version.

    .venv/bin/python benchmarks/drift.py [--sizes 100000,1000000,5000000] [--pandas-max 1000000]
                                         [--shapes realistic,synthetic] [--workdir DIR] [--keep]

For each shape and size it writes SageMaker data-capture files (30 features, CSV encoding inside
JSON Lines, 100,000 lines per file, ten files per hourly prefix, feature f03 shifted). Shapes:
- `realistic` (the default, first): what the endpoint really captures when callers send CSV and
  take the server's default answer: each CSV payload ends in a newline (`...,0.5\n`, escaped in the
  capture as `\n`), and the answer is the server's JSON (model_code/serve/encode.py) with
  probabilities at full float64 precision (up to 17 significant digits) and the generated
  `inferenceId` (32 hex digits); the capture's own metadata has no inferenceId;
- `synthetic`: payloads without the trailing newline and the server's CSV answer with
  6-digit probabilities (the shape of the first benchmark, kept for comparison);
- `json`: the synthetic rows with the server's compact JSON answer and no inferenceId.
Then it runs, each in its own process pinned to one CPU:
- `drift`: the job itself (`model_code.drift.job.main`, local files, --no-metrics), timed from
  the call to its return (listing, reading, parsing, statistics, writing the report);
- `pandas`: the straightforward version of the same statistics: `pd.read_json(lines=True)` on
  every file, concat, split the CSV payloads, then histogram / missing / out-of-range per feature
  and the predicted-class distribution, with the same PSI and JS functions.
It prints records per CPU-second (the process is single-threaded: one core) and per wall-clock
second, and the child's peak RSS (VmHWM); checks that both versions agree on every feature's PSI
and on the counts; and compares with the targets: drift >= 150k records/s; drift peak RSS at 5M
within 1.5x of 1M; drift >= 10x pandas' rate at 1M with less memory. pandas loads everything, so
it runs only up to --pandas-max records (default 1M: at 5M it would need well over 10 GB and
several minutes). Needs pandas (dev-only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from model_code.drift.synthetic import (  # noqa: E402
    POOL_ROWS,
    VARIANT,
    capture_line,
    csv_row,
    probabilities,
    row_pool,
    synthetic_baseline,
)
from model_code.drift.window import hour_prefix, iso, parse_hour  # noqa: E402

FEATURES = 30
SHIFTED_FEATURE = 3
LINES_PER_FILE = 100_000
FILES_PER_HOUR = 10
START = parse_hour("2024-05-01T00:00:00Z")
ENDPOINT = "bench"
TARGET_RATE = 150_000
TARGET_MEMORY_GROWTH = 1.5
TARGET_SPEEDUP = 10.0


# ---------------------------------------------------------------------------------------------
# Data


SHAPES = ("realistic", "synthetic", "json")
JSON_ANSWER = {"output_encoding": "JSON", "output_content_type": "application/json"}


def line_template(hour_stamp: str, shape: str) -> str:
    """capture_line's exact output with printf slots (input, output, event number, id number), so
    millions of lines are cheap to write."""
    if shape == "realistic":
        sample = capture_line("@IN@", "@OUT@", event_id="@EVENT@", inference_time=hour_stamp, **JSON_ANSWER)
        # The server's generated id ends its answer (uuid4().hex: 32 hex digits).
        answer_end = json.dumps(',"inferenceId":"')[1:-1] + "%032x" + json.dumps('"}')[1:-1]
        sample = sample.replace("%", "%%").replace("@IN@", "%s\\n").replace("@OUT@", "%s" + answer_end)
        return sample.replace("@EVENT@", "00000000-0000-4000-8000-%012d") + "\n"
    encoding = {"synthetic": {}, "json": JSON_ANSWER}[shape]
    sample = capture_line(
        "@IN@", "@OUT@", event_id="@EVENT@", inference_time=hour_stamp, inference_id="@ID@", **encoding
    ).replace("%", "%%")
    return (
        sample.replace("@IN@", "%s").replace("@OUT@", "%s").replace("@EVENT@", "00000000-0000-4000-8000-%012d")
    ).replace("@ID@", "req-%d") + "\n"


def realistic_pool(seed: int) -> list[tuple[str, str]]:
    """(input CSV, the server's JSON answer without its closing brace), escaped for the data string;
    the probabilities exactly as the server writes them (repr of float64)."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(POOL_ROWS, FEATURES))
    rows[:, SHIFTED_FEATURE] += 0.5
    proba = probabilities(rows)
    pool = []
    for row, p in zip(rows, proba, strict=True):
        body = {"classes": ["0", "1"], "predictions": [{"label": str(int(p.argmax())), "probabilities": p.tolist()}]}
        answer = json.dumps(body, separators=(",", ":"))[:-1]
        pool.append((csv_row(row), json.dumps(answer)[1:-1]))
    return pool


def json_response(csv_response: str) -> str:
    """The server's compact JSON for one row, already escaped for the capture's data string."""
    label, *probabilities = csv_response.split(",")
    body = {
        "classes": ["0", "1"],
        "predictions": [{"label": label, "probabilities": [float(p) for p in probabilities]}],
    }
    return json.dumps(json.dumps(body, separators=(",", ":")))[1:-1]


def write_captures(root: Path, records: int, shape: str) -> int:
    if shape == "realistic":
        pool = realistic_pool(seed=records)
    else:
        pool = row_pool(FEATURES, seed=records, shift_feature=SHIFTED_FEATURE, shift=0.5)
    if shape == "json":
        pool = [(inputs, json_response(outputs)) for inputs, outputs in pool]
    files = 0
    for first in range(0, records, LINES_PER_FILE):
        count = min(LINES_PER_FILE, records - first)
        hour = START + timedelta(hours=files // FILES_PER_HOUR)
        template = line_template(iso(hour), shape)
        path = root / ENDPOINT / VARIANT / hour_prefix(hour) / f"{files % FILES_PER_HOUR:02d}-00-000-bench.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = len(pool)
        text = "".join(
            template % (*pool[(number * 7919) % size], number, number) for number in range(first, first + count)
        )
        path.write_text(text, encoding="ascii")
        files += 1
    return files


def window_args(files: int) -> list[str]:
    hours = -(-files // FILES_PER_HOUR)
    return ["--start", iso(START), "--end", iso(START + timedelta(hours=hours))]


# ---------------------------------------------------------------------------------------------
# Children (run in their own process, pinned to one CPU)


def child_drift(capture: Path, baseline: Path, report: Path, window: list[str]) -> dict[str, object]:
    from model_code.drift import job

    started, cpu_started = time.perf_counter(), time.process_time()
    code = job.main(
        [
            "--endpoint-name",
            ENDPOINT,
            "--capture",
            str(capture),
            "--baseline",
            str(baseline),
            *window,
            "--report",
            str(report),
            "--no-metrics",
        ]
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    result = json.loads(report.read_text())
    psi = {name: stats["psi"] for name, stats in result["features"].items()}
    return {
        "code": code,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "records": result["counts"]["records"],
        "psi": psi,
        "class_counts": result["prediction"]["class_counts"],
    }


def child_pandas(capture: Path, baseline_path: Path) -> dict[str, object]:
    import numpy as np
    import pandas as pd

    from model_code.drift.stats import compare

    started, cpu_started = time.perf_counter(), time.process_time()
    baseline = json.loads(baseline_path.read_text())
    files = sorted(capture.glob(f"{ENDPOINT}/*/*/*/*/*/*.jsonl"))
    frame = pd.concat([pd.read_json(path, lines=True) for path in files], ignore_index=True)
    inputs = frame["captureData"].map(lambda c: c["endpointInput"]["data"])
    outputs = frame["captureData"].map(lambda c: c["endpointOutput"]["data"])
    features = inputs.str.split(",", expand=True).astype(np.float64)
    features.columns = list(baseline["features"])
    classes = baseline["prediction"]["classes"]
    if outputs.iloc[0].startswith("{"):  # the server's JSON response
        predictions = outputs.map(lambda text: json.loads(text)["predictions"][0])
        labels = predictions.map(lambda p: p["label"])
        proba = pd.DataFrame(predictions.map(lambda p: p["probabilities"]).tolist(), dtype=np.float64)
    else:  # the server's CSV response: the label, then one probability per class
        response = outputs.str.split(",", expand=True)
        labels = response[0]
        proba = response.iloc[:, 1:].astype(np.float64)
    predicted = labels.map({name: index for index, name in enumerate(classes)})
    psi = {}
    for name, stats in baseline["features"].items():
        column = features[name]
        edges = [-np.inf, *stats["bin_edges"][1:-1], np.inf]
        counts = pd.cut(column.dropna(), bins=edges, right=False).value_counts(sort=False).to_numpy()
        psi[name] = compare(np.asarray(stats["proportions"]), counts)["psi"]
        _ = column.isna().mean(), ((column < stats["min"]) | (column > stats["max"])).mean()
    class_counts = np.bincount(predicted.to_numpy(), minlength=len(classes))
    compare(np.asarray(baseline["prediction"]["predicted_proportions"]), class_counts)
    edges = [-np.inf, *baseline["prediction"]["probability_bin_edges"][1:-1], np.inf]
    for index, name in enumerate(classes):
        counts = pd.cut(proba.iloc[:, index], bins=edges, right=False).value_counts(sort=False).to_numpy()
        total = max(sum(baseline["prediction"]["probability_counts"][name]), 1)
        compare(np.asarray(baseline["prediction"]["probability_counts"][name]) / total, counts)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "code": 0,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "records": len(features),
        "psi": psi,
        "class_counts": class_counts.tolist(),
    }


def run_child(kind: str, capture: Path, baseline: Path, report: Path, window: list[str]) -> dict[str, object]:
    """Run one measurement in a fresh process and return what it printed."""
    command = [sys.executable, __file__, "--child", kind, str(capture), str(baseline), str(report), *window]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(command, stdout=subprocess.PIPE, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind} child failed with exit {result.returncode}")
    return json.loads(result.stdout.splitlines()[-1])  # the job prints its own summary line first


def peak_rss_mib() -> float:
    """VmHWM of this process. Not getrusage: its ru_maxrss survives exec, so a child started by a
    big parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# ---------------------------------------------------------------------------------------------
# Main


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, capture, baseline, report, *window = sys.argv[2:]
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        if kind == "drift":
            result = child_drift(Path(capture), Path(baseline), Path(report), window)
        else:
            result = child_pandas(Path(capture), Path(baseline))
        print(json.dumps({**result, "peak_rss_mib": peak_rss_mib()}))
        return 0

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--pandas-max", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument(
        "--shapes",
        default="realistic,synthetic",
        help=f"capture shapes to measure, comma-separated, of {', '.join(SHAPES)} (default realistic,synthetic)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    unknown = sorted(set(shapes) - set(SHAPES))
    if unknown:
        parser.error(f"argument --shapes: unknown shape {unknown[0]!r} (expected some of {', '.join(SHAPES)})")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-drift-"))
    baseline = workdir / "baseline.json"
    workdir.mkdir(parents=True, exist_ok=True)
    baseline.write_text(json.dumps(synthetic_baseline(FEATURES)))

    rows: list[Row] = []
    try:
        for shape in shapes:
            for size in sizes:
                rows += measure_size(workdir, baseline, shape, size, args)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows)
    return 0


Row = tuple[str, int, str, dict[str, object]]  # shape, records, implementation, measurement


def measure_size(workdir: Path, baseline: Path, shape: str, size: int, args: argparse.Namespace) -> list[Row]:
    capture = workdir / f"capture-{shape}-{size}"
    started = time.perf_counter()
    files = write_captures(capture, size, shape)
    megabytes = sum(p.stat().st_size for p in capture.rglob("*.jsonl")) / 2**20
    print(
        f"generated {size:,} {shape} records in {files} files ({megabytes:,.0f} MiB) "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    window = window_args(files)
    drift = run_child("drift", capture, baseline, workdir / f"report-{shape}-{size}.json", window)
    rows: list[Row] = [(shape, size, "drift", drift)]
    if size <= args.pandas_max:
        reference = run_child("pandas", capture, baseline, workdir / "unused.json", window)
        rows.append((shape, size, "pandas", reference))
        check_agreement(size, drift, reference)
    if not args.keep:
        shutil.rmtree(capture)
    return rows


def check_agreement(size: int, drift: dict[str, object], reference: dict[str, object]) -> None:
    assert drift["records"] == reference["records"] == size, (drift["records"], reference["records"], size)
    assert drift["class_counts"] == reference["class_counts"]
    worst = max(abs(drift["psi"][name] - reference["psi"][name]) for name in drift["psi"])  # type: ignore[index]
    assert worst < 1e-9, f"PSI differs by {worst} between drift and pandas at {size}"


def print_table(rows: list[Row]) -> None:
    print()
    header = ("shape", "records", "impl", "CPU s", "wall s", "records/CPU-s", "records/s wall", "peak RSS MiB")
    print("{:<10} {:>10}  {:<7} {:>7} {:>7} {:>14} {:>15} {:>13}".format(*header))
    for shape, size, kind, r in rows:
        cpu, wall = float(r["cpu_seconds"]), float(r["seconds"])  # type: ignore[arg-type]
        print(
            f"{shape:<10} {size:>10,}  {kind:<7} {cpu:>7.2f} {wall:>7.2f} {size / cpu:>14,.0f} {size / wall:>15,.0f} "
            f"{float(r['peak_rss_mib']):>13,.0f}"  # type: ignore[arg-type]
        )
    print()
    print("rates are per CPU-second of the single-threaded process (one core), so other load on the machine")
    print("does not distort them; wall-clock rates are shown beside them")
    for shape in dict.fromkeys(shape for shape, *_ in rows):
        print(f"{shape}:")
        print_targets([row[1:] for row in rows if row[0] == shape])
    print("drift and pandas agree on every feature's PSI (< 1e-9) and on the counts wherever both ran")


def print_targets(rows: list[tuple[int, str, dict[str, object]]]) -> None:
    drift = {size: r for size, kind, r in rows if kind == "drift"}
    pandas = {size: r for size, kind, r in rows if kind == "pandas"}
    rates = {size: size / float(r["cpu_seconds"]) for size, r in drift.items()}  # type: ignore[arg-type]
    rss = {size: float(r["peak_rss_mib"]) for size, r in drift.items()}  # type: ignore[arg-type]
    slowest = min(rates.values())
    _target(f"drift >= {TARGET_RATE:,} records/s on one core", slowest >= TARGET_RATE, f"slowest {slowest:,.0f}")
    if 1_000_000 in drift and 5_000_000 in drift:
        growth = rss[5_000_000] / rss[1_000_000]
        _target(f"drift peak RSS 5M / 1M <= {TARGET_MEMORY_GROWTH}", growth <= TARGET_MEMORY_GROWTH, f"x{growth:.2f}")
    if 1_000_000 in drift and 1_000_000 in pandas:
        pandas_rate = 1_000_000 / float(pandas[1_000_000]["cpu_seconds"])  # type: ignore[arg-type]
        speedup = rates[1_000_000] / pandas_rate
        _target(f"drift >= {TARGET_SPEEDUP:.0f}x pandas' rate at 1M", speedup >= TARGET_SPEEDUP, f"x{speedup:.1f}")
        pandas_rss = float(pandas[1_000_000]["peak_rss_mib"])  # type: ignore[arg-type]
        ratio = f"{rss[1_000_000]:,.0f} vs {pandas_rss:,.0f} MiB"
        _target("drift uses less memory than pandas at 1M", rss[1_000_000] < pandas_rss, ratio)


def _target(what: str, ok: bool, measured: str) -> None:
    print(f"target {what}: {'PASS' if ok else 'FAIL'} ({measured})")


if __name__ == "__main__":
    sys.exit(main())
