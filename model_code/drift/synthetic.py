"""Dev tool: synthetic data-capture files and a matching baseline, to try `drift` without an endpoint.

    python -m model_code.drift.synthetic --out build/capture --endpoint-name demo \\
        --start 2024-05-01T10:00:00Z --hours 2 --records 20000 [--shift-feature f03 --shift 1.5] \\
        [--baseline-out build/capture/baseline.json]

Features are independent standard normals named f00, f01, ...; the baseline is built from a
training sample of the same distribution with `model_code.baseline.build_baseline`, so an
unshifted capture shows no drift and `--shift-feature` moves one feature's mean. Lines are in
SageMaker's exact layout with CSV encoding (model_code/drift/capture.py). Rows are drawn from a
pool of pre-formatted rows, which makes writing millions of lines fast (the benchmark uses it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from model_code.baseline import build_baseline
from model_code.drift.window import hour_prefix, iso, parse_hour

CLASSES = ("0", "1")
VARIANT = "AllTraffic"
POOL_ROWS = 4096


def feature_names(count: int) -> tuple[str, ...]:
    return tuple(f"f{i:02d}" for i in range(count))


def probabilities(rows: np.ndarray) -> np.ndarray:
    """A fixed 'model': P(class 1) = logistic(mean of the features)."""
    p1 = 1.0 / (1.0 + np.exp(-rows.mean(axis=1) * 3.0))
    return np.column_stack([1.0 - p1, p1])


def synthetic_baseline(features: int = 30, rows: int = 5000, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(rows, features))
    holdout = rng.normal(size=(rows // 4, features))
    labels = (probabilities(train)[:, 1] > rng.uniform(size=rows)).astype(np.int64)
    return build_baseline(feature_names(features), "target", CLASSES, train, labels, probabilities(holdout))


def capture_line(
    input_data: str,
    output_data: str,
    *,
    event_id: str,
    inference_time: str,
    inference_id: str | None = None,
    input_encoding: str = "CSV",
    output_encoding: str = "CSV",
    input_content_type: str = "text/csv",
    output_content_type: str = "text/csv; charset=utf-8",
) -> str:
    """One line exactly as SageMaker writes it (key order included)."""
    metadata = {"eventId": event_id}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = inference_time
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": input_content_type,
                "mode": "INPUT",
                "data": input_data,
                "encoding": input_encoding,
            },
            "endpointOutput": {
                "observedContentType": output_content_type,
                "mode": "OUTPUT",
                "data": output_data,
                "encoding": output_encoding,
            },
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }
    return json.dumps(record, separators=(",", ":"))


def csv_row(values: np.ndarray, digits: int = 6) -> str:
    return ",".join(f"{v:.{digits}g}" for v in values)


def row_pool(
    features: int, seed: int, shift_feature: int | None = None, shift: float = 0.0, size: int = POOL_ROWS
) -> list[tuple[str, str]]:
    """(input CSV, output CSV) pairs to draw lines from."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(size, features))
    if shift_feature is not None:
        rows[:, shift_feature] += shift
    proba = probabilities(rows)
    # The server's CSV response: the predicted label, then one probability per class.
    return [(csv_row(r), f"{CLASSES[int(p.argmax())]},{csv_row(p)}") for r, p in zip(rows, proba, strict=True)]


def capture_lines(
    pool: list[tuple[str, str]], count: int, hour: datetime, seed: int, first_id: int = 0
) -> Iterator[str]:
    """`count` lines drawn from `pool`, each with its own event and inference id."""
    picks = np.random.default_rng(seed).integers(0, len(pool), size=count)
    stamp = iso(hour)
    for offset, pick in enumerate(picks.tolist()):
        inputs, outputs = pool[pick]
        number = first_id + offset
        yield capture_line(
            inputs,
            outputs,
            event_id=f"00000000-0000-4000-8000-{number:012d}",
            inference_time=stamp,
            inference_id=f"req-{number}",
        )


def write_capture_files(
    out: Path,
    endpoint_name: str,
    start: datetime,
    hours: int,
    records: int,
    *,
    features: int = 30,
    shift_feature: int | None = None,
    shift: float = 0.0,
    files_per_hour: int = 1,
    seed: int = 1,
) -> list[Path]:
    """`records` lines spread evenly over `hours` hourly prefixes (and `files_per_hour` files each)."""
    pool = row_pool(features, seed, shift_feature, shift)
    written = []
    per_file = np.array_split(np.arange(records), hours * files_per_hour)
    for index, ids in enumerate(per_file):
        hour = start + timedelta(hours=index // files_per_hour)
        path = (
            out / endpoint_name / VARIANT / hour_prefix(hour) / f"{index % files_per_hour:02d}-00-000-synthetic.jsonl"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        first = int(ids[0]) if len(ids) else 0
        with path.open("w", encoding="utf-8") as handle:
            batch: list[str] = []
            for line in capture_lines(pool, len(ids), hour, seed + index, first_id=first):
                batch.append(line)
                if len(batch) == 100_000:
                    handle.write("\n".join(batch) + "\n")
                    batch = []
            if batch:
                handle.write("\n".join(batch) + "\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_code.drift.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--endpoint-name", default="demo")
    parser.add_argument("--start", type=parse_hour, required=True)
    parser.add_argument("--hours", type=int, default=1)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--shift-feature", type=int, help="index of the feature to shift")
    parser.add_argument("--shift", type=float, default=1.5, help="added to the shifted feature")
    parser.add_argument("--baseline-out", type=Path, help="also write the matching baseline.json here")
    args = parser.parse_args(argv)
    files = write_capture_files(
        args.out,
        args.endpoint_name,
        args.start,
        args.hours,
        args.records,
        features=args.features,
        shift_feature=args.shift_feature,
        shift=args.shift,
    )
    if args.baseline_out:
        args.baseline_out.parent.mkdir(parents=True, exist_ok=True)
        args.baseline_out.write_text(json.dumps(synthetic_baseline(args.features), indent=2) + "\n")
    print(f"wrote {args.records} capture lines in {len(files)} files under {args.out / args.endpoint_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
