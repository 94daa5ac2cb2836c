"""`python -m model_code quality` on moto: captured predictions joined with late labels give exactly
the accuracy, precision and recall worked out by hand; duplicates, orphans and bad lines are
counted, never fatal. In-process through `main`, so moto's mock covers the boto3 clients."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws
from sklearn.metrics import accuracy_score, precision_score, recall_score

from model_code import quality
from model_code.drift.synthetic import VARIANT, capture_line, synthetic_baseline

ENDPOINT = "churn-prod"
BUCKET = "capture-bucket"
NAMESPACE = "MLPlatform/Monitoring"
# Labels uploaded 2024-05-02 10:00-12:00; predictions looked for from 24 hours earlier.
WINDOW = ["--start", "2024-05-02T10:00:00Z", "--end", "2024-05-02T12:00:00Z"]


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    (tmp_path / "baseline.json").write_text(json.dumps(synthetic_baseline(features=3, rows=500)))


def prediction(inference_id: str, label: str, p1: float, rows: int = 1) -> str:
    features = "\n".join(["0.1,0.2,0.3"] * rows)
    outputs = "\n".join([f"{label},{1 - p1},{p1}"] * rows)
    return capture_line(features, outputs, event_id=f"e-{inference_id}", inference_time="x", inference_id=inference_id)


def json_prediction(inference_id: str, label: str) -> str:
    body = json.dumps({"classes": ["0", "1"], "predictions": [{"label": label, "probabilities": [0.2, 0.8]}]})
    return capture_line(
        "0.1,0.2,0.3",
        body,
        event_id=f"e-{inference_id}",
        inference_time="x",
        inference_id=inference_id,
        output_encoding="JSON",
        output_content_type="application/json",
    )


def label(inference_id: str, value: object) -> str:
    return json.dumps({"inferenceId": inference_id, "label": value, "timestamp": "2024-05-02T10:30:00Z"})


def put_lines(s3, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())


def capture_key(hour: str, name: str) -> str:
    return f"datacapture/{ENDPOINT}/{VARIANT}/{hour}/{name}.jsonl"


def setup_bucket() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    put_lines(
        s3,
        capture_key("2024/05/01/15", "a"),
        [
            prediction("a", "1", 0.9),
            prediction("b", "1", 0.7),
            prediction("c", "0", 0.2),
            prediction("d", "0", 0.4),
            prediction("dup", "1", 0.8),
            prediction("x", "1", 0.8),  # never labelled
        ],
    )
    put_lines(
        s3,
        capture_key("2024/05/02/10", "b"),
        [
            prediction("e", "1", 0.6),
            prediction("f", "0", 0.1),
            prediction("dup", "0", 0.3),  # the same id captured twice
            prediction("g", "1", 0.9, rows=2),  # two rows under one id: no single prediction
            json_prediction("h", "1"),
            "garbage",
        ],
    )
    # Before the prediction lookback window: its label is an orphan.
    put_lines(s3, capture_key("2024/04/29/10", "c"), [prediction("old", "1", 0.9)])
    labels = "ground-truth/churn-prod/2024/05/02"
    put_lines(
        s3,
        f"{labels}/10/labels-1.jsonl",
        [label("a", "1"), label("b", 0), label("c", "0"), label("d", 1.0), label("e", "1"), "oops"],
    )
    put_lines(
        s3,
        f"{labels}/11/labels-2.jsonl",
        [
            label("f", "1"),
            label("h", "1"),
            label("dup", "1"),
            label("g", "1"),
            label("orphan", "0"),
            label("old", "1"),
            label("z", "1"),
            label("z", "0"),
            label("u", "2"),
        ],
    )
    put_lines(s3, f"{labels}/12/late.jsonl", [label("a", "0")])  # after the window: not read


def statistic(cloudwatch, name: str) -> list[float]:
    points = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}],
        StartTime=datetime(2024, 5, 2, tzinfo=UTC),
        EndTime=datetime(2024, 5, 3, tzinfo=UTC),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [p["Maximum"] for p in points]


@mock_aws
def test_quality_on_moto_matches_the_hand_computed_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    setup_bucket()
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", f"s3://{BUCKET}/datacapture", *WINDOW,
        "--baseline", str(tmp_path / "baseline.json"), "--metrics-namespace", NAMESPACE, "--region", "us-east-1",
    ]  # fmt: skip
    assert quality.main(argv) == 0, capsys.readouterr().err
    # Joined (label / predicted): a 1/1, b 0/1, c 0/0, d 1/0, e 1/1, f 1/0, h 1/1.
    # Correct: a, c, e, h = 4 of 7. Positive class "1": TP a, e, h = 3; predicted 1: a, b, e, h = 4;
    # labelled 1: a, d, e, f, h = 5. So precision 3/4 and recall 3/5.
    s3 = boto3.client("s3", region_name="us-east-1")
    key = f"quality-reports/{ENDPOINT}/20240502T10Z-20240502T12Z.json"
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert report["status"] == "ok"
    assert report["metrics"] == {"accuracy": 4 / 7, "precision": 3 / 4, "recall": 3 / 5}
    assert (report["averaging"], report["positive_class"]) == ("binary", "1")
    assert report["confusion_matrix"] == [[1, 1], [2, 3]]
    assert report["per_class"] == {
        "0": {"support": 2, "predicted": 3, "precision": 1 / 3, "recall": 1 / 2},
        "1": {"support": 5, "predicted": 4, "precision": 3 / 4, "recall": 3 / 5},
    }
    assert report["counts"] == {
        "label_files": 2,
        "label_lines": 15,
        "malformed_label_lines": 1,
        "unknown_class_labels": 1,
        "duplicate_label_ids": 1,
        "duplicate_prediction_ids": 1,
        "orphan_labels": 2,
        "unreadable_predictions": 1,
        "joined": 7,
    }
    assert report["prediction_window"] == {"start": "2024-05-01T10:00:00Z", "end": "2024-05-02T12:00:00Z"}
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    assert statistic(cloudwatch, "Accuracy") == [pytest.approx(4 / 7)]
    assert statistic(cloudwatch, "Precision") == [0.75]
    assert statistic(cloudwatch, "Recall") == [0.6]
    assert statistic(cloudwatch, "JoinedRecords") == [7.0]
    assert statistic(cloudwatch, "OrphanLabels") == [2.0]
    assert statistic(cloudwatch, "DuplicateIds") == [2.0]
    assert capsys.readouterr().out == (
        f"quality: accuracy 0.5714 on 7 joined records; report s3://{BUCKET}/{key}; 6 metrics to {NAMESPACE}\n"
    )


@mock_aws
def test_no_labels_in_the_window_reports_no_data_and_only_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    setup_bucket()
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", f"s3://{BUCKET}/datacapture",
        "--start", "2024-05-03T10:00:00Z", "--end", "2024-05-03T11:00:00Z",
        "--baseline", str(tmp_path / "baseline.json"), "--metrics-namespace", NAMESPACE, "--region", "us-east-1",
        "--report", str(tmp_path / "quality.json"),
    ]  # fmt: skip
    assert quality.main(argv) == 0
    report = json.loads((tmp_path / "quality.json").read_text())
    assert (report["status"], report["metrics"]) == ("no_data", {"accuracy": None, "precision": None, "recall": None})
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    names = sorted(m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"])
    assert names == ["DuplicateIds", "JoinedRecords", "OrphanLabels"]
    assert capsys.readouterr().out.startswith("quality: no data on 0 joined records;")


def test_macro_averages_for_more_than_two_classes_match_scikit_learn():
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0, 0])
    metrics, matrix = quality.classification_metrics(true, predicted, 4, positive=None)
    assert matrix == [[1, 1, 0, 0], [0, 2, 0, 0], [2, 0, 1, 0], [0, 0, 0, 0]]
    # Precision per predicted class: 0 -> 1/3, 1 -> 2/3, 2 -> 1/1; recall per true class:
    # 0 -> 1/2, 1 -> 2/2, 2 -> 1/3. Class 3 is neither true nor predicted: not averaged.
    assert metrics == {
        "accuracy": 4 / 7,
        "precision": pytest.approx((1 / 3 + 2 / 3 + 1) / 3),
        "recall": pytest.approx((1 / 2 + 1 + 1 / 3) / 3),
    }


def test_a_class_never_predicted_counts_zero_precision_as_scikit_learn_does():
    # Class 2 is true 3 times and never predicted: its precision is 0/0, which scikit-learn's
    # default (zero_division=0) counts as 0. Leaving it out would give (1/3 + 2/3) / 2 = 0.5.
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 0, 1])
    metrics, matrix = quality.classification_metrics(true, predicted, 3, positive=None)
    assert metrics["precision"] == pytest.approx((1 / 3 + 2 / 4 + 0) / 3)
    assert metrics["precision"] == pytest.approx(precision_score(true, predicted, average="macro", zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(true, predicted, average="macro", zero_division=0))
    assert quality.per_class_metrics(matrix, ("a", "b", "c")) == {
        "a": {"support": 2, "predicted": 3, "precision": 1 / 3, "recall": 1 / 2},
        "b": {"support": 2, "predicted": 4, "precision": 2 / 4, "recall": 2 / 2},
        "c": {"support": 3, "predicted": 0, "precision": None, "recall": 0.0},
    }


@pytest.mark.parametrize("seed", range(20))
def test_macro_figures_match_scikit_learn_on_random_labels(seed: int):
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(3, 7))
    true = rng.integers(0, classes, size=int(rng.integers(1, 40)))
    # A skewed model: some classes are rarely or never predicted.
    predicted = rng.choice(classes, size=len(true), p=rng.dirichlet(np.full(classes, 0.3)))
    metrics, _ = quality.classification_metrics(true, predicted, classes, positive=None)
    assert metrics["precision"] == pytest.approx(precision_score(true, predicted, average="macro", zero_division=0))
    assert metrics["recall"] == pytest.approx(recall_score(true, predicted, average="macro", zero_division=0))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(true, predicted))


def test_a_positive_class_the_model_lacks_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", str(tmp_path), *WINDOW, "--no-metrics",
        "--baseline", str(tmp_path / "baseline.json"), "--positive-class", "yes",
    ]  # fmt: skip
    assert quality.main(argv) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m model_code quality: error: argument --positive-class: not a class of the model "
        "(got 'yes'; expected one of 0, 1)"
    )


def test_bad_prediction_lookback_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["--endpoint-name", ENDPOINT, "--capture", str(tmp_path), *WINDOW, "--no-metrics"]
    assert quality.main([*argv, "--prediction-lookback-hours", "-1"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m model_code quality: error: argument --prediction-lookback-hours: not a number of hours "
        "(got '-1'; expected a whole number from 0 to 744)"
    )


@mock_aws
def test_a_server_generated_inference_id_in_the_response_joins_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Without an InferenceId from the caller, SageMaker records none; the server's own id,
    returned in its JSON response, is what the caller saw and labels later."""
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    body = json.dumps(
        {"classes": ["0", "1"], "predictions": [{"label": "1", "probabilities": [0.2, 0.8]}], "inferenceId": "srv-1"}
    )
    line = capture_line(
        "0.1,0.2,0.3",
        body,
        event_id="e-srv-1",
        inference_time="x",
        output_encoding="JSON",
        output_content_type="application/json",
    )
    assert '"inferenceId": "srv-1"' not in line.split('"eventMetadata"')[1]
    put_lines(s3, capture_key("2024/05/02/09", "a"), [line])
    put_lines(s3, "ground-truth/churn-prod/2024/05/02/10/labels.jsonl", [label("srv-1", "1")])
    argv = [
        "--endpoint-name", ENDPOINT, "--capture", f"s3://{BUCKET}/datacapture", *WINDOW,
        "--baseline", str(tmp_path / "baseline.json"), "--no-metrics",
    ]  # fmt: skip
    assert quality.main(argv) == 0, capsys.readouterr().err
    report = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"quality-reports/{ENDPOINT}/20240502T10Z-20240502T12Z.json")["Body"].read()
    )
    assert report["counts"]["joined"] == 1
    assert report["metrics"]["accuracy"] == 1.0
