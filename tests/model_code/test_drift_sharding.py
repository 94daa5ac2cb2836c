"""The drift job on several instances (model_code/drift/sharding.py): the plan's manifest, shards
as SageMaker's ShardedByS3Key hands them out, and a merge whose report equals a one-instance
run on the same files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from model_code.drift import job, sharding
from model_code.drift.synthetic import VARIANT, synthetic_baseline
from tests.model_code.test_drift_job import ENDPOINT, START, WINDOW, capture_text

HOURS = ("2024/05/01/10", "2024/05/01/11")


@pytest.fixture(autouse=True)
def contract_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    return tmp_path / "opt_ml"


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """Seven files over two variants and two hours: plain, gzip, a bad line, f02 shifted in some."""
    root = tmp_path / "capture"
    seed = 0
    for variant in (VARIANT, "Canary"):
        for hour in HOURS:
            folder = root / ENDPOINT / variant / hour
            folder.mkdir(parents=True)
            for part in range(2 if variant == VARIANT else 1):
                seed += 1
                text = capture_text(150 + 40 * seed, seed, shift=1.0 if seed % 3 == 0 else 0.0, bad_lines=seed % 2)
                name = f"{part:02d}-00-000-{seed}.jsonl"
                if seed % 4 == 0:
                    (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
                else:
                    (folder / name).write_text(text)
    return root


def drift(tmp_path: Path, capture: Path, *extra: str) -> int:
    baseline = tmp_path / "baseline.json"
    if not baseline.exists():
        baseline.write_text(json.dumps(synthetic_baseline(features=4, rows=4000, seed=0)))
    argv = [
        "--endpoint-name",
        ENDPOINT,
        "--capture",
        str(capture),
        *WINDOW,
        "--no-metrics",
        "--baseline",
        str(baseline),
    ]
    return job.main([*argv, *extra])


def test_the_plan_lists_the_windows_files_as_a_manifest(tmp_path: Path, capture: Path):
    assert drift(tmp_path, capture, "--plan-out", str(tmp_path / "plan")) == 0
    manifest = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    assert manifest[0] == {"prefix": f"{capture}/"}
    assert manifest[1:] == [
        f"{ENDPOINT}/{VARIANT}/2024/05/01/10/00-00-000-1.jsonl",
        f"{ENDPOINT}/{VARIANT}/2024/05/01/10/01-00-000-2.jsonl",
        f"{ENDPOINT}/{VARIANT}/2024/05/01/11/00-00-000-3.jsonl",
        f"{ENDPOINT}/{VARIANT}/2024/05/01/11/01-00-000-4.jsonl.gz",
        f"{ENDPOINT}/Canary/2024/05/01/10/00-00-000-5.jsonl",
        f"{ENDPOINT}/Canary/2024/05/01/11/00-00-000-6.jsonl",
    ]
    assert json.loads((tmp_path / "plan" / "plan.json").read_text()) == {
        "window": {"start": "2024-05-01T10:00:00Z", "end": "2024-05-01T12:00:00Z"},
        "files": 6,
        "capture": str(capture),
    }


def test_an_s3_capture_gets_an_s3_manifest_prefix(tmp_path: Path):
    from model_code.drift.storage import Location
    from model_code.drift.window import Window

    capture = Location("bucket", "datacapture")
    files = [Location("bucket", f"datacapture/{ENDPOINT}/{VARIANT}/2024/05/01/10/a.jsonl")]
    sharding.write_plan(None, capture, tmp_path, Window(START, START.replace(hour=11)), files)  # type: ignore[arg-type]
    assert json.loads((tmp_path / "manifest.json").read_text()) == [
        {"prefix": "s3://bucket/datacapture/"},
        f"{ENDPOINT}/{VARIANT}/2024/05/01/10/a.jsonl",
    ]


@pytest.mark.parametrize("instances", [2, 3, 8])
def test_merged_shards_report_exactly_what_one_instance_reports(
    tmp_path: Path, capture: Path, monkeypatch: pytest.MonkeyPatch, instances: int
):
    assert drift(tmp_path, capture, "--report", str(tmp_path / "single.json")) == 0
    assert drift(tmp_path, capture, "--plan-out", str(tmp_path / "plan")) == 0
    prefix, *keys = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    # ShardedByS3Key: each instance gets a share of the objects under its local path (some may get
    # none when there are more instances than files; SageMaker still creates the directory).
    for index in range(instances):
        shard = tmp_path / f"shard-{index}"
        shard.mkdir()
        for key in keys[index::instances]:
            (shard / key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(prefix["prefix"]) / key, shard / key)
        config = tmp_path / f"resourceconfig-{index}.json"
        config.write_text(json.dumps({"current_host": f"algo-{index + 1}", "hosts": ["algo-1"]}))
        monkeypatch.setattr(sharding, "RESOURCE_CONFIG", config)
        assert drift(tmp_path, shard, "--partial-out", str(tmp_path / "partials")) == 0
    assert sorted(p.name for p in (tmp_path / "partials").iterdir()) == sorted(
        f"algo-{i + 1}.json" for i in range(instances)
    )
    assert (
        drift(tmp_path, capture, "--merge", str(tmp_path / "partials"), "--report", str(tmp_path / "merged.json")) == 0
    )
    single = json.loads((tmp_path / "single.json").read_text())
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged == single
    assert single["counts"]["records"] == sum(150 + 40 * seed for seed in range(1, 7))
    assert (tmp_path / "merged.html").read_text() == (tmp_path / "single.html").read_text()


def test_a_partial_from_another_window_is_refused(tmp_path: Path, capture: Path, contract_root: Path):
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "algo-1.json").write_text(
        json.dumps(
            {"kind": "drift-partial", "window": {"start": "2024-05-01T09:00:00Z", "end": "2024-05-01T10:00:00Z"}}
        )
    )
    assert drift(tmp_path, capture, "--merge", str(tmp_path / "partials")) == 1
    assert (contract_root / "output" / "failure").read_text() == (
        f"partial result {tmp_path}/partials/algo-1.json covers 2024-05-01T09:00:00Z..2024-05-01T10:00:00Z, "
        "not this run's window 2024-05-01T10:00:00Z..2024-05-01T12:00:00Z\n"
    )


def test_merging_nothing_is_a_clear_failure(tmp_path: Path, capture: Path, contract_root: Path):
    (tmp_path / "partials").mkdir()
    assert drift(tmp_path, capture, "--merge", str(tmp_path / "partials")) == 1
    assert (contract_root / "output" / "failure").read_text() == (
        f"no partial results (*.json) in {tmp_path}/partials: did the sharded drift step run?\n"
    )
