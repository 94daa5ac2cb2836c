"""What the drift job does with inputs it used to ignore: gzip captures (by name or by content),
lines over the size limit, capture files that cannot be read, windows too small to judge, and
the HTML report written beside the JSON one."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from model_code.drift import job
from model_code.drift.storage import Location, UnreadableCaptureError, inflated, whole_lines
from model_code.drift.synthetic import VARIANT, synthetic_baseline
from model_code.drift.window import hour_prefix
from tests.model_code.test_drift_job import BUCKET, ENDPOINT, NAMESPACE, START, WINDOW, capture_text, run

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def contract_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return tmp_path / "opt_ml"


@pytest.fixture(scope="module")
def baseline() -> dict:
    return synthetic_baseline(features=4, rows=4000, seed=0)


def local_run(tmp_path: Path, baseline: dict, files: dict[str, bytes], capsys: pytest.CaptureFixture[str], *extra):
    capture = tmp_path / "capture"
    hour_dir = capture / ENDPOINT / VARIANT / hour_prefix(START)
    hour_dir.mkdir(parents=True)
    for name, body in files.items():
        (hour_dir / name).write_bytes(body)
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    report_path = tmp_path / "report.json"
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", str(capture), *WINDOW, "--no-metrics",
        "--baseline", str(tmp_path / "baseline.json"), "--report", str(report_path), *extra,
    ]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    return json.loads(report_path.read_text()), out


# ---------------------------------------------------------------------------------------------
# gzip


def test_gzip_captures_are_read_by_name_and_by_content(
    tmp_path: Path, baseline: dict, capsys: pytest.CaptureFixture[str]
):
    plain, packed, disguised = capture_text(300, 1), capture_text(300, 2), capture_text(300, 3)
    files = {
        "00-plain.jsonl": plain.encode(),
        "01-packed.jsonl.gz": gzip.compress(packed.encode()),
        "02-disguised.jsonl": gzip.compress(disguised.encode()),  # gzip bytes under a .jsonl name
        "03-other.json": b"not a capture file: neither .jsonl nor .jsonl.gz",
    }
    report, _ = local_run(tmp_path, baseline, files, capsys)
    assert (report["files"], report["counts"]["records"], report["unreadable_files"]) == (3, 900, [])
    reference, _ = local_run(tmp_path / "ref", baseline, {"all.jsonl": (plain + packed + disguised).encode()}, capsys)
    assert report["features"] == reference["features"]


def test_a_multi_member_gzip_is_read_whole():
    text = capture_text(50, 4).encode()
    members = gzip.compress(text[:1000]) + gzip.compress(text[1000:])
    assert b"".join(inflated([members[:7], members[7:]], Location(None, "x"), size=64)) == text


def test_inflating_never_yields_more_than_the_block_size():
    bomb = gzip.compress(b"\n" * 5_000_000)  # 5 MB from about 5 kB
    assert max(len(piece) for piece in inflated([bomb], Location(None, "x"), size=65536)) == 65536


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            gzip.compress(capture_text(20, 1).encode())[:-30],
            "cannot inflate bad.jsonl.gz: the gzip stream is truncated",
        ),
        (
            b"\x1f\x8b" + b"\x00" * 40,
            "cannot inflate bad.jsonl.gz: not valid gzip (Error -3 while decompressing data: ",
        ),
    ],
)
def test_corrupt_gzip_is_unreadable(body: bytes, error: str):
    with pytest.raises(UnreadableCaptureError) as raised:
        list(inflated([body], Location(None, "bad.jsonl.gz")))
    assert str(raised.value).startswith(error)


def test_an_unreadable_file_is_reported_and_the_others_still_count(
    tmp_path: Path, baseline: dict, capsys: pytest.CaptureFixture[str]
):
    files = {"00-good.jsonl": capture_text(300, 1).encode(), "01-bad.jsonl.gz": b"\x1f\x8b" + b"\x00" * 40}
    report, out = local_run(tmp_path, baseline, files, capsys)
    assert report["counts"]["records"] == 300
    [unreadable] = report["unreadable_files"]
    assert unreadable["file"].endswith("/2024/05/01/10/01-bad.jsonl.gz")
    assert unreadable["error"].startswith(f"cannot inflate {unreadable['file']}: not valid gzip")
    assert "from 2 files, 1 unreadable files;" in out


@mock_aws
def test_unreadable_files_are_published_as_a_count(baseline: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    prefix = f"datacapture/{ENDPOINT}/{VARIANT}/{hour_prefix(START)}"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/a.jsonl.gz", Body=b"\x1f\x8b" + b"\x00" * 40)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/b.jsonl", Body=gzip.compress(b"{")[:-4])
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", f"s3://{BUCKET}/datacapture", *WINDOW,
        "--baseline", str(tmp_path / "baseline.json"), "--metrics-namespace", NAMESPACE, "--region", "us-east-1",
    ]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert out.startswith(
        "drift: no data in 2024-05-01T10:00:00Z..2024-05-01T12:00:00Z (0 skipped, 2 unreadable files);"
    )
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    stats = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="CaptureFilesUnreadable",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}],
        StartTime=START, EndTime=START.replace(hour=13), Period=3600, Statistics=["Maximum"],
    )  # fmt: skip
    assert [point["Maximum"] for point in stats["Datapoints"]] == [2.0]


# ---------------------------------------------------------------------------------------------
# Line size


def test_lines_over_the_limit_are_dropped_as_they_stream_and_counted():
    counted = []
    chunks = [b"short\nlo", b"ng" * 20, b"ng\nnext\nanother-long", b"-line" * 10, b"\nlast"]
    blocks = list(whole_lines(chunks, lambda: counted.append(1), limit=16))
    assert b"".join(blocks) == b"short\nnext\nlast\n"
    assert counted == [1, 1]  # the "long..." and "another-long..." lines, once each


def test_a_long_line_inside_one_chunk_is_dropped_too():
    counted = []
    blocks = list(whole_lines([b"a\n" + b"x" * 40 + b"\nb\n"], lambda: counted.append(1), limit=16))
    assert (b"".join(blocks), len(counted)) == (b"a\nb\n", 1)


def test_an_over_long_capture_line_is_skipped_counted_and_costs_no_memory(tmp_path: Path, baseline: dict):
    """A 50 MB line among normal ones: counted as line_too_long, the rest read, and the job's peak
    memory stays within 60 MiB of a run without it (it used to cost over 1 GB)."""
    capture = tmp_path / "capture" / ENDPOINT / VARIANT / hour_prefix(START)
    capture.mkdir(parents=True)
    good = capture_text(300, 1)
    huge = '{"captureData":{"endpointInput":{"data":"' + "1," * 25_000_000 + '","encoding":"CSV"}}}\n'
    (capture / "a.jsonl").write_text(good + huge + good)
    (capture.parent / "11").mkdir()
    (capture.parent / "11" / "b.jsonl").write_text(good + good)
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))

    def peak(hours: list[str]) -> tuple[dict, float]:
        report = tmp_path / f"report-{hours[1][11:13]}.json"
        code = (
            "import resource, sys; from model_code.drift import job; "
            "code = job.main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
        )
        argv = [
            "--endpoint-name", ENDPOINT, "--capture", str(tmp_path / "capture"), "--start", hours[0],
            "--end", hours[1], "--no-metrics", "--baseline", str(tmp_path / "baseline.json"), "--report", str(report),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=True
        )
        return json.loads(report.read_text()), float(result.stdout.splitlines()[-1])

    with_huge, huge_peak = peak(["2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"])
    without, plain_peak = peak(["2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"])
    assert with_huge["counts"]["skipped"]["line_too_long"] == 1
    assert (with_huge["counts"]["lines"], with_huge["counts"]["records"]) == (601, 600)
    assert with_huge["features"] == without["features"]
    assert huge_peak - plain_peak < 60, (huge_peak, plain_peak)


# ---------------------------------------------------------------------------------------------
# Small windows and the report


def test_a_window_under_the_minimum_is_insufficient_data_and_flags_nothing(
    tmp_path: Path, baseline: dict, capsys: pytest.CaptureFixture[str]
):
    shifted = capture_text(150, 1, shift=3.0)  # a huge shift, but only 150 rows
    report, out = local_run(tmp_path, baseline, {"a.jsonl": shifted.encode()}, capsys)
    assert report["status"] == "insufficient_data"
    assert report["features"]["f02"]["psi"] > 2
    assert report["flagged_features"] == []
    assert report["max_significant_drift"]["feature"] == "f02"
    assert out.startswith("drift: insufficient data, 150 records (0 skipped) of the 200 needed; nothing flagged;")
    lowered, _ = local_run(tmp_path / "low", baseline, {"a.jsonl": shifted.encode()}, capsys, "--min-records", "100")
    assert (lowered["status"], lowered["flagged_features"]) == ("ok", ["f02"])


def test_insufficient_data_publishes_only_the_counts(baseline: dict):
    from model_code.drift.cloudwatch import drift_metric_data

    report = {
        "endpoint_name": ENDPOINT, "status": "insufficient_data", "unreadable_files": [],
        "counts": {"records": 150, "skipped": {"malformed_line": 2}},
    }  # fmt: skip
    names = [datum["MetricName"] for datum in drift_metric_data(report, START)]
    assert names == ["CaptureRecords", "CaptureRecordsSkipped", "CaptureFilesUnreadable"]


def test_the_html_report_is_self_contained_and_sorted_by_drift(
    tmp_path: Path, baseline: dict, capsys: pytest.CaptureFixture[str]
):
    report, _ = local_run(tmp_path, baseline, {"a.jsonl": capture_text(800, 1, shift=1.5).encode()}, capsys)
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    # Nothing fetched from elsewhere: no scripts, stylesheets, images or fonts by URL.
    for needle in ("<script", "<link", "src=", "url(", "https://", "@import"):
        assert needle not in html, needle
    names = [line.split('<td class="name">')[1].split("<")[0] for line in html.splitlines() if 'class="name"' in line]
    by_psi = sorted(report["features"], key=lambda name: -report["features"][name]["psi"])
    assert names == by_psi and names[0] == "f02"
    assert '<tr class="flagged"><td class="name">f02</td>' in html
    assert html.count("<svg") == 4 + 1  # a chart per feature, and the predicted classes
    assert f"{report['features']['f02']['psi']:.4f}" in html


def test_cli_rejects_bad_decision_arguments(capsys: pytest.CaptureFixture[str]):
    base = ["--endpoint-name", ENDPOINT, "--capture", ".", *WINDOW, "--no-metrics"]
    assert job.main([*base, "--false-alarm-rate", "1.5"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m model_code drift: error: argument --false-alarm-rate: not a probability "
        "(got '1.5'; expected a number > 0 and < 1, e.g. 0.01)"
    )
    assert job.main([*base, "--min-records", "0"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m model_code drift: error: argument --min-records: not a whole number >= 1 "
        "(got '0'; expected a whole number >= 1, e.g. 200)"
    )


def test_version_1_baselines_are_still_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    old = synthetic_baseline(features=4, rows=4000, seed=0)
    old["format_version"] = 1
    for stats in old["features"].values():
        del stats["kind"]
    report, _ = local_run(tmp_path, old, {"a.jsonl": capture_text(400, 1).encode()}, capsys)
    assert report["status"] == "ok" and len(report["features"]) == 4


def test_zlib_level_data_is_not_mistaken_for_gzip(tmp_path: Path, baseline: dict, capsys: pytest.CaptureFixture[str]):
    # Only the gzip magic (1f 8b) switches inflating on; raw zlib bytes are read as they are
    # (and are malformed lines).
    body = zlib.compress(capture_text(10, 1).encode())
    report, _ = local_run(tmp_path, baseline, {"a.jsonl": body}, capsys)
    assert report["status"] == "no_data" and report["counts"]["skipped"]["malformed_line"] >= 1
    assert np.isfinite(report["counts"]["lines"])
