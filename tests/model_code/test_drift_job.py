"""`python -m model_code drift`: arguments, local runs, and end to end on moto (S3 captures in,
report in S3 and metrics in CloudWatch out). The job runs in-process through its `main`, so
moto's mock covers its boto3 clients. What moto cannot prove: real IAM permissions, KMS
default encryption on the put, and CloudWatch's refusal of timestamps older than two weeks."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from model_code.drift import job
from model_code.drift.synthetic import VARIANT, capture_line, synthetic_baseline
from model_code.drift.window import hour_prefix

ENDPOINT = "churn-prod"
BUCKET = "capture-bucket"
NAMESPACE = "MLPlatform/Monitoring"
START = datetime(2024, 5, 1, 10, tzinfo=UTC)
WINDOW = ["--start", "2024-05-01T10:00:00Z", "--end", "2024-05-01T12:00:00Z"]


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


def capture_text(records: int, seed: int, shift: float = 0.0, bad_lines: int = 0) -> str:
    """Capture lines whose features follow the baseline's distribution, feature f02 moved by `shift`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(records, 4))
    rows[:, 2] += shift
    lines = [
        capture_line(
            ",".join(f"{v:.6f}" for v in row),
            f"{int(row.mean() > 0)},{0.5 - row.mean() / 10:.6f},{0.5 + row.mean() / 10:.6f}",
            event_id=f"e-{seed}-{i}",
            inference_time="2024-05-01T10:00:00Z",
        )
        for i, row in enumerate(rows)
    ]
    lines += ["this is not a capture record"] * bad_lines
    return "\n".join(lines) + "\n"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = job.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------------
# Arguments


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--start", "2024-05-01T10:30:00Z", "--end", "2024-05-01T12:00:00Z"],
            "argument --start: not on a whole hour (capture files are grouped by hour) "
            "(got '2024-05-01T10:30:00Z'; expected an ISO 8601 time on the hour, e.g. 2024-05-01T10:00:00Z)",
        ),
        (
            ["--start", "yesterday", "--end", "2024-05-01T12:00:00Z"],
            "argument --start: not an ISO 8601 time "
            "(got 'yesterday'; expected an ISO 8601 time on the hour, e.g. 2024-05-01T10:00:00Z)",
        ),
        (
            ["--start", "2024-05-01T12:00:00Z", "--end", "2024-05-01T10:00:00Z"],
            "argument --end: must be after --start "
            "(got '2024-05-01T10:00:00+00:00'; expected a time after '2024-05-01T12:00:00+00:00')",
        ),
        (
            ["--start", "2024-05-01T10:00:00Z"],
            "argument --end: required with --start (got nothing; expected an ISO 8601 time on the hour)",
        ),
        (
            [*WINDOW, "--lookback-hours", "3"],
            "argument --lookback-hours: not allowed with --start/--end "
            "(got 3; expected either --start and --end, or --lookback-hours)",
        ),
        (
            ["--lookback-hours", "0"],
            "argument --lookback-hours: not a number of hours (got '0'; expected a whole number from 1 to 744)",
        ),
        (
            [*WINDOW, "--psi-threshold", "-0.1"],
            "argument --psi-threshold: not a positive number (got '-0.1'; expected a number > 0, e.g. 0.2)",
        ),
        (
            [*WINDOW, "--metrics-namespace", "AWS/SageMaker"],
            "argument --metrics-namespace: not a CloudWatch namespace (got 'AWS/SageMaker'; "
            "expected 1-255 of letters, digits and . - _ / # :, not starting with ':' or 'AWS/')",
        ),
        (
            [*WINDOW, "--region", "Europe"],
            "argument --region: not an AWS region (got 'Europe'; expected a region name such as us-east-1)",
        ),
        (
            [*WINDOW, "--report", "gs://bucket/report.json"],
            "argument --report: only s3:// URIs and local paths are supported "
            "(got 'gs://bucket/report.json'; expected s3://<bucket>/<prefix> or a local path)",
        ),
        (
            WINDOW,
            "argument --metrics-namespace: required unless --no-metrics is given "
            "(got nothing; expected a CloudWatch namespace such as MLPlatform/Monitoring)",
        ),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument_and_value(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code, out, err = run(["--endpoint-name", ENDPOINT, "--capture", str(tmp_path), *argv], capsys)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"python -m model_code drift: error: {message}"


def test_bad_endpoint_name_and_missing_capture_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, _, err = run(["--endpoint-name", "churn_prod", "--capture", str(tmp_path), "--no-metrics"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        "python -m model_code drift: error: argument --endpoint-name: not a SageMaker endpoint name "
        "(got 'churn_prod'; expected 1-63 letters, digits and hyphens, starting and ending with a letter or digit)"
    )
    code, _, err = run(["--endpoint-name", ENDPOINT, "--capture", str(tmp_path / "nope"), "--no-metrics"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        f"python -m model_code drift: error: argument --capture: no such directory "
        f"(got '{tmp_path / 'nope'}'; expected s3://<bucket>/<prefix> or an existing local directory)"
    )


# ---------------------------------------------------------------------------------------------
# Local files


def write_local(root: Path, hour: datetime, name: str, text: str) -> None:
    path = root / ENDPOINT / VARIANT / hour_prefix(hour) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_local_run_writes_the_report_next_to_the_captures(
    tmp_path: Path, baseline: dict, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    write_local(tmp_path / "capture", START, "a.jsonl", capture_text(300, seed=1, shift=2.0, bad_lines=2))
    # Outside the window: ignored.
    write_local(tmp_path / "capture", START.replace(hour=12), "b.jsonl", capture_text(50, seed=9, shift=-5.0))
    argv = ["--endpoint-name", ENDPOINT, "--capture", str(tmp_path / "capture"), *WINDOW]
    code, out, _ = run([*argv, "--baseline", str(tmp_path / "baseline.json"), "--no-metrics"], capsys)
    assert code == 0
    report_path = tmp_path / "capture" / "drift-reports" / ENDPOINT / "20240501T10Z-20240501T12Z.json"
    report = json.loads(report_path.read_text())
    assert report["status"] == "ok" and report["files"] == 1
    assert report["counts"]["records"] == 300
    assert report["counts"]["skipped"]["malformed_line"] == 2
    assert report["flagged_features"] == ["f02"]
    assert out == (
        f"drift: 300 records (2 skipped) from 1 files; 1 of 4 features over PSI 0.2; max PSI "
        f"{report['max_feature_drift']['psi']:.4f} (f02); report {report_path}; no metrics\n"
    )


def test_missing_baseline_fails_with_the_reason_in_the_failure_file(
    tmp_path: Path, contract_root: Path, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / "capture").mkdir()
    code, _, err = run(
        ["--endpoint-name", ENDPOINT, "--capture", str(tmp_path / "capture"), *WINDOW, "--no-metrics"], capsys
    )
    baseline_dir = contract_root / "processing" / "baseline"
    assert code == 1
    assert (
        contract_root / "output" / "failure"
    ).read_text() == f"cannot read {baseline_dir}: No such file or directory\n"
    assert err.endswith(f"error: cannot read {baseline_dir}: No such file or directory\n")


# ---------------------------------------------------------------------------------------------
# moto


def model_archive(baseline: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("model.npz", b"not used"), ("baseline.json", json.dumps(baseline).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def metric_values(cloudwatch, name: str, dimensions: dict[str, str]) -> list[float]:
    statistics = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=datetime(2024, 5, 1, tzinfo=UTC),
        EndTime=datetime(2024, 5, 2, tzinfo=UTC),
        Period=3600,
        Statistics=["Maximum"],
    )
    return [point["Maximum"] for point in statistics["Datapoints"]]


@mock_aws
def test_end_to_end_on_moto_flags_the_shifted_feature_only(baseline: dict, capsys: pytest.CaptureFixture[str]):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="models/job-1/output/model.tar.gz", Body=model_archive(baseline))
    for hour, seed in ((START, 1), (START.replace(hour=11), 2)):
        for part in range(2):
            key = f"datacapture/{ENDPOINT}/{VARIANT}/{hour_prefix(hour)}/{part:02d}-00-000-x.jsonl"
            s3.put_object(Bucket=BUCKET, Key=key, Body=capture_text(400, seed=seed * 10 + part, shift=1.5).encode())
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", f"s3://{BUCKET}/datacapture", *WINDOW,
        "--baseline", "s3://artifacts/models/job-1/output/model.tar.gz",
        "--metrics-namespace", NAMESPACE, "--region", "us-east-1",
    ]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err

    key = f"drift-reports/{ENDPOINT}/20240501T10Z-20240501T12Z.json"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert (report["status"], report["files"], report["counts"]["records"]) == ("ok", 4, 1600)
    assert report["flagged_features"] == ["f02"]
    assert {name: stats["flagged"] for name, stats in report["features"].items()} == {
        "f00": False, "f01": False, "f02": True, "f03": False,
    }  # fmt: skip
    assert report["features"]["f02"]["psi"] > 0.5
    assert all(report["features"][name]["psi"] < 0.1 for name in ("f00", "f01", "f03"))
    assert report["max_feature_drift"] == {"feature": "f02", "psi": report["features"]["f02"]["psi"]}
    assert report["max_significant_drift"] == report["max_feature_drift"]
    # 1,600 rows, ten bins, four features at a 1% false-alarm rate: noise alone reaches a PSI of
    # a few hundredths, far under the shift's. Only a feature over the threshold needs its value.
    assert 0.01 < report["features"]["f02"]["critical_psi"] < 0.06
    assert [stats["critical_psi"] for name, stats in report["features"].items() if name != "f02"] == [None] * 3
    assert out.endswith(f"report s3://{BUCKET}/{key}; 25 metrics to {NAMESPACE}\n")
    html = s3.get_object(Bucket=BUCKET, Key=key.removesuffix(".json") + ".html")
    assert html["ContentType"] == "text/html; charset=utf-8"

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    names = sorted({(m["MetricName"], tuple(sorted(d["Name"] for d in m["Dimensions"]))) for m in listed})
    assert names == [
        ("CaptureFilesUnreadable", ("EndpointName",)),
        ("CaptureRecords", ("EndpointName",)),
        ("CaptureRecordsSkipped", ("EndpointName",)),
        ("DriftedFeatures", ("EndpointName",)),
        ("FeatureJSDistance", ("EndpointName", "Feature")),
        ("FeatureMissingRate", ("EndpointName", "Feature")),
        ("FeatureOutOfRangeRate", ("EndpointName", "Feature")),
        ("FeaturePSI", ("EndpointName", "Feature")),
        ("MaxFeatureDrift", ("EndpointName",)),
        ("MaxFeatureMissingRate", ("EndpointName",)),
        ("MaxFeatureOutOfRangeRate", ("EndpointName",)),
        ("PredictionJSDistance", ("EndpointName",)),
        ("PredictionPSI", ("EndpointName",)),
    ]
    endpoint = {"EndpointName": ENDPOINT}
    assert metric_values(cloudwatch, "MaxFeatureDrift", endpoint) == [pytest.approx(report["features"]["f02"]["psi"])]
    assert metric_values(cloudwatch, "FeaturePSI", {**endpoint, "Feature": "f01"}) == [
        pytest.approx(report["features"]["f01"]["psi"])
    ]
    assert metric_values(cloudwatch, "DriftedFeatures", endpoint) == [1.0]
    assert metric_values(cloudwatch, "CaptureRecords", endpoint) == [1600.0]


@mock_aws
def test_an_empty_window_reports_no_data_and_publishes_only_counts(
    baseline: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", f"s3://{BUCKET}/datacapture", *WINDOW,
        "--baseline", str(tmp_path / "baseline.json"), "--metrics-namespace", NAMESPACE, "--region", "us-east-1",
    ]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    report = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"drift-reports/{ENDPOINT}/20240501T10Z-20240501T12Z.json")["Body"].read()
    )
    assert report["status"] == "no_data"
    assert (report["features"], report["flagged_features"], report["max_feature_drift"], report["prediction"]) == (
        {},
        [],
        None,
        None,
    )
    assert out.startswith("drift: no data in 2024-05-01T10:00:00Z..2024-05-01T12:00:00Z (0 skipped);")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    names = sorted(m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"])
    assert names == ["CaptureFilesUnreadable", "CaptureRecords", "CaptureRecordsSkipped"]
    assert metric_values(cloudwatch, "CaptureRecords", {"EndpointName": ENDPOINT}) == [0.0]


@mock_aws
def test_an_unreachable_capture_bucket_is_a_clear_failure(
    baseline: dict, tmp_path: Path, contract_root: Path, capsys: pytest.CaptureFixture[str]
):
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", "s3://no-such-bucket/datacapture", *WINDOW,
        "--baseline", str(tmp_path / "baseline.json"), "--no-metrics", "--region", "us-east-1",
    ]  # fmt: skip
    code, _, _ = run(argv, capsys)
    assert code == 1
    assert (contract_root / "output" / "failure").read_text() == (
        f"cannot list s3://no-such-bucket/datacapture/{ENDPOINT}: NoSuchBucket (The specified bucket does not exist); "
        "check the URI and that the job's role may access it\n"
    )
