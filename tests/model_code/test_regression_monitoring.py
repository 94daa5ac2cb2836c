"""Drift and quality for a regression model, unit by unit: the predicted-value histogram on the
baseline's bins from JSON and CSV answers, shard states that add up to a one-pass run, and the
quality job's numeric labels (malformed ones counted, never fatal)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from model_code import quality
from model_code.baseline import build_regression_baseline
from model_code.drift.regression import RegressionMeasurement, ValueDrift, measurement_for, prediction_value
from model_code.drift.synthetic import VARIANT, capture_line
from model_code.drift.window import hour_prefix
from model_code.failure import UserError

NAMES = ("x0", "x1")
HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def baseline() -> dict:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 2))
    values = features @ np.array([3.0, -2.0]) + 10
    return build_regression_baseline(NAMES, "price", features[:300], values[:300], values[300:])


def lines(values: list[float], json_answers: bool) -> bytes:
    out = []
    for number, value in enumerate(values):
        answer = (
            json.dumps({"predictions": [{"value": value}], "inferenceId": f"id-{number}"})
            if json_answers
            else f"{value!r}\n"
        )
        out.append(
            capture_line(
                "0.1,0.2\n",
                answer,
                event_id=f"e-{number}",
                inference_time="x",
                output_encoding="JSON" if json_answers else "CSV",
                output_content_type="application/json" if json_answers else "text/csv",
            )
        )
    return ("\n".join(out) + "\n").encode()


def test_the_baseline_keeps_the_classifier_keys_empty_and_describes_values(baseline: dict):
    prediction = baseline["prediction"]
    assert (prediction["task"], prediction["rows"], prediction["classes"]) == ("regression", 100, [])
    assert (prediction["predicted_proportions"], prediction["probability_counts"]) == ([], {})
    assert prediction["value"]["kind"] == "continuous" and prediction["value"]["rows"] == 100
    assert (baseline["label"]["task"], baseline["label"]["name"], baseline["label"]["rows"]) == (
        "regression",
        "price",
        300,
    )


def test_predicted_values_from_json_and_csv_answers_land_in_the_baseline_bins(baseline: dict):
    values = [5.0, 10.0, 15.0, 100.0]
    measurement = measurement_for(baseline)
    assert isinstance(measurement, RegressionMeasurement)
    measurement.add_block(lines(values[:2], json_answers=True))
    measurement.add_block(lines(values[2:], json_answers=False))
    summary = measurement.prediction.summary()
    edges = np.asarray(baseline["prediction"]["value"]["bin_edges"])
    expected = np.bincount(np.searchsorted(edges[1:-1], values, side="right"), minlength=len(edges) - 1)
    assert summary["counts"] == expected.tolist()
    assert (summary["predictions"], summary["mean"], summary["min"], summary["max"]) == (4, 32.5, 5.0, 100.0)
    assert summary["psi"] is not None and summary["task"] == "regression"
    assert (measurement.counts.records, measurement.counts.predictions, measurement.counts.predictions_skipped) == (
        4,
        4,
        0,
    )


def test_shard_states_add_up_to_a_single_pass(baseline: dict):
    values = [float(v) for v in np.linspace(0, 20, 30)]
    whole = measurement_for(baseline)
    whole.add_block(lines(values, json_answers=True))
    first, second, merged = (measurement_for(baseline) for _ in range(3))
    first.add_block(lines(values[:11], json_answers=True))
    second.add_block(lines(values[11:], json_answers=True))
    for part in (first, second):
        merged.merge_state(json.loads(json.dumps(part.state())))
    merged_summary, whole_summary = merged.prediction.summary(), whole.prediction.summary()
    # Counts add up exactly; the mean is a float sum, equal up to the order of the additions.
    assert merged_summary.pop("mean") == pytest.approx(whole_summary.pop("mean"), rel=1e-12)
    assert merged_summary == whole_summary
    assert merged.counts.as_dict() == whole.counts.as_dict()


@pytest.mark.parametrize(
    ("item", "expected"),
    [(b"12.5", 12.5), ({"value": 3}, 3.0), (7, 7.0), ({"value": True}, None), (b"nan", None), ({"label": "1"}, None)],
)
def test_prediction_value(item, expected):
    assert prediction_value(item) == expected


def test_a_baseline_without_value_bins_is_refused():
    with pytest.raises(UserError, match=r"prediction\.value lacks consistent bins and proportions"):
        ValueDrift({"task": "regression", "value": {"bin_edges": [0, 1], "proportions": [0.5, 0.5]}})


def test_quality_counts_labels_that_are_not_numbers_and_scores_the_rest(
    baseline: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    capture = tmp_path / "capture" / "ep" / VARIANT / hour_prefix(HOUR) / "a.jsonl"
    capture.parent.mkdir(parents=True)
    capture.write_bytes(lines([10.0, 20.0, 30.0], json_answers=True))
    truth = tmp_path / "truth" / hour_prefix(HOUR) / "labels.jsonl"
    truth.parent.mkdir(parents=True)
    labels = [
        {"inferenceId": "id-0", "label": 12.0},
        {"inferenceId": "id-1", "label": "18"},
        {"inferenceId": "id-2", "label": "high"},
        {"inferenceId": "id-9", "label": 1.0},
    ]
    truth.write_text("".join(json.dumps(label) + "\n" for label in labels))
    argv = ["--endpoint-name", "ep", "--capture", str(tmp_path / "capture"), "--ground-truth", str(tmp_path / "truth")]
    argv += [
        "--start",
        "2024-05-01T10:00:00Z",
        "--end",
        "2024-05-01T11:00:00Z",
        "--baseline",
        str(tmp_path / "baseline.json"),
    ]
    argv += ["--no-metrics", "--report", str(tmp_path / "q.json")]
    assert quality.main(argv) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "q.json").read_text())
    assert report["task"] == "regression" and report["status"] == "ok"
    assert report["counts"] == {
        "label_files": 1,
        "label_lines": 4,
        "malformed_label_lines": 1,
        "unknown_class_labels": 0,
        "duplicate_label_ids": 0,
        "duplicate_prediction_ids": 0,
        "orphan_labels": 1,
        "unreadable_predictions": 0,
        "joined": 2,
    }
    # Errors -2 and +2: RMSE 2, MAE 2, R² = 1 - 8 / 18.
    assert report["metrics"] == pytest.approx({"rmse": 2.0, "mae": 2.0, "r2": 1 - 8 / 18})
    assert capsys.readouterr().out.startswith("quality: rmse 2 mae 2 r2 0.5556 on 2 joined records; report ")
