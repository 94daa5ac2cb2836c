"""Bring your own model, end to end, with real models trained and exported in this test run:
scikit-learn RandomForest (3 string classes) and LogisticRegression (0/1) through skl2onnx,
and a RandomForest regressor. Each is imported (`python -m model_code import-onnx`), served over
real HTTP (its answers equal onnxruntime's own outputs on every parsing path), evaluated, and
drift- and quality-checked (classification) from the captures of its own answers. Bad models get
a clear error from import-onnx and a server that answers 503 with the reason, never ready."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error, r2_score
from sklearn.metrics import log_loss as sk_log_loss

from model_code import quality
from model_code.drift import job as drift_job
from model_code.drift.stats import psi
from model_code.drift.synthetic import VARIANT, capture_line
from model_code.drift.window import hour_prefix
from model_code.model import load_model
from model_code.onnx_model import OnnxModel
from tests.model_code.helpers import REPO_ROOT
from tests.model_code.serve_helpers import ServerProcess, csv_body, json_rows_body, start_server

ENDPOINT = "byom-prod"
HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)
WINDOW = ["--start", "2024-05-01T10:00:00Z", "--end", "2024-05-01T12:00:00Z"]


def run_module(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_code", *args],
        cwd=cwd,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "ML_PLATFORM_OPT_ML": str(cwd / "opt_ml")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_csv(path: Path, names: list[str], features: np.ndarray, labels: list) -> Path:
    lines = [",".join(names)]
    lines += [
        ",".join([*(repr(float(v)) for v in row), str(label)]) for row, label in zip(features, labels, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Case:
    name: str
    onnx_path: Path
    train_csv: Path
    test_dir: Path
    features: np.ndarray  # test rows
    labels: list[str]  # test labels as written
    feature_names: list[str]
    task: str
    classes: list[str]
    accepts_missing: bool


def _classification_data(classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=400, n_features=6, n_informative=4, n_redundant=0, n_classes=classes, random_state=seed
    )
    return x, y


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("byom")
    names6 = [f"f{i}" for i in range(6)]
    made: dict[str, Case] = {}

    # RandomForest, 3 string classes (skl2onnx writes classlabels_strings), accepts missing values.
    x, y = _classification_data(3, seed=1)
    colours = np.array(["red", "green", "blue"])[y]
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(x[:300], colours[:300])
    onnx_path = root / "forest.onnx"
    onnx_path.write_bytes(
        to_onnx(forest, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=15).SerializeToString()
    )
    made["forest"] = Case(
        "forest",
        onnx_path,
        write_csv(root / "forest" / "train.csv", [*names6, "colour"], x[:300], colours[:300].tolist()),
        write_csv(root / "forest" / "test" / "test.csv", [*names6, "colour"], x[300:], colours[300:].tolist()).parent,
        x[300:],
        colours[300:].tolist(),
        names6,
        "classification",
        ["blue", "green", "red"],
        True,
    )

    # LogisticRegression, binary 0/1 labels.
    x, y = _classification_data(2, seed=2)
    logistic = LogisticRegression(max_iter=1000).fit(x[:300], y[:300])
    onnx_path = root / "logistic.onnx"
    onnx_path.write_bytes(
        to_onnx(logistic, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=15).SerializeToString()
    )
    made["logistic"] = Case(
        "logistic",
        onnx_path,
        write_csv(root / "logistic" / "train.csv", [*names6, "target"], x[:300], y[:300].tolist()),
        write_csv(root / "logistic" / "test" / "test.csv", [*names6, "target"], x[300:], y[300:].tolist()).parent,
        x[300:],
        [str(v) for v in y[300:]],
        names6,
        "classification",
        ["0", "1"],
        False,
    )

    # RandomForest regressor.
    x, y = make_regression(n_samples=400, n_features=5, n_informative=4, noise=5.0, random_state=3)
    names5 = [f"x{i}" for i in range(5)]
    regressor = RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0).fit(x[:300], y[:300])
    onnx_path = root / "regressor.onnx"
    onnx_path.write_bytes(to_onnx(regressor, x[:1].astype(np.float32), target_opset=15).SerializeToString())
    made["regressor"] = Case(
        "regressor",
        onnx_path,
        write_csv(root / "regressor" / "train.csv", [*names5, "price"], x[:300], [repr(float(v)) for v in y[:300]]),
        write_csv(
            root / "regressor" / "test" / "test.csv", [*names5, "price"], x[300:], [repr(float(v)) for v in y[300:]]
        ).parent,
        x[300:],
        [repr(float(v)) for v in y[300:]],
        names5,
        "regression",
        [],
        True,
    )
    return made


def reference(case: Case, rows: np.ndarray) -> np.ndarray:
    """onnxruntime's own output for the graph, float64, independently of model_code: one thread,
    as a server worker runs it (a tree ensemble sums its trees in another order with more threads,
    which moves a float32 regression value of magnitude 100 by an ulp, 1.5e-5)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(case.onnx_path.read_bytes(), options, providers=["CPUExecutionProvider"])
    output = "probabilities" if case.task == "classification" else session.get_outputs()[0].name
    (out,) = session.run([output], {session.get_inputs()[0].name: rows.astype(np.float32)})
    return np.asarray(out, dtype=np.float64).reshape(len(rows), -1 if case.task == "classification" else 1)


def label_column(case: Case) -> str:
    return {"forest": "colour", "logistic": "target", "regressor": "price"}[case.name]


@pytest.fixture(scope="module")
def imported(cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("imported")
    out: dict[str, Path] = {}
    for case in cases.values():
        model_dir = root / case.name
        argv = ["import-onnx", "--model", str(case.onnx_path), "--data", str(case.train_csv)]
        argv += ["--label", label_column(case), "--out", str(model_dir)]
        if case.accepts_missing:
            argv.append("--accepts-missing")
        result = run_module(*argv, cwd=root)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"imported {case.onnx_path} as a {case.task} model of ")
        out[case.name] = model_dir
    return out


@pytest.mark.parametrize("name", ["forest", "logistic", "regressor"])
def test_import_writes_the_model_directory(name: str, cases: dict[str, Case], imported: dict[str, Path]):
    case, model_dir = cases[name], imported[name]
    assert sorted(p.name for p in model_dir.iterdir()) == ["baseline.json", "metrics.json", "model.json", "model.onnx"]
    assert (model_dir / "model.onnx").read_bytes() == case.onnx_path.read_bytes()
    meta = json.loads((model_dir / "model.json").read_text())
    outputs = ["label", "probabilities"] if case.task == "classification" else ["variable"]
    expected = {
        "format": "onnx",
        "format_version": 1,
        "task": case.task,
        "feature_names": case.feature_names,
        **({"classes": case.classes} if case.task == "classification" else {}),
        "label": label_column(case),
        "accepts_missing": case.accepts_missing,
        "onnx": {
            "file": "model.onnx",
            "input": "X",
            "input_type": "tensor(float)",
            "outputs": outputs,
            "output": outputs[-1],
            "opset_import": {"": 15, "ai.onnx.ml": 1},
            "producer": "skl2onnx 1.20.0",
        },
    }
    assert meta == expected
    model = load_model(model_dir)
    assert isinstance(model, OnnxModel)
    assert (model.task, list(model.classes), model.accepts_missing) == (case.task, case.classes, case.accepts_missing)
    assert model.session.get_session_options().intra_op_num_threads == 1
    baseline = json.loads((model_dir / "baseline.json").read_text())
    assert list(baseline["features"]) == case.feature_names
    metrics = json.loads((model_dir / "metrics.json").read_text())
    if case.task == "classification":
        assert baseline["prediction"]["classes"] == case.classes
        assert baseline["label"]["classes"] == case.classes
        # Stratified 20 % holdout of 300 rows: 60 rows, each class in proportion.
        assert metrics["holdout"]["rows"] == 60 and sum(metrics["holdout_rows_per_class"].values()) == 60
        assert metrics["holdout"]["accuracy"] > 0.6
    else:
        assert baseline["prediction"]["task"] == "regression" and baseline["prediction"]["value"]["rows"] == 60
        assert baseline["label"]["task"] == "regression" and baseline["label"]["rows"] == 240
        assert metrics["holdout"]["rows"] == 60 and metrics["holdout"]["r2"] > 0.5


@pytest.fixture(scope="module")
def servers(imported: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    started: dict[str, ServerProcess] = {}
    try:
        for name, model_dir in imported.items():
            started[name] = start_server(model_dir, tmp_path_factory.mktemp(f"serve-{name}"))
        for server in started.values():
            server.wait_ping(200)
        yield started
    finally:
        for server in started.values():
            server.kill()


def _post(server: ServerProcess, body: bytes, content_type: str, accept: str = "application/json"):
    return server.client.post("/invocations", content=body, headers={"content-type": content_type, "accept": accept})


@pytest.mark.parametrize("name", ["forest", "logistic", "regressor"])
def test_served_answers_equal_onnxruntime_on_every_parsing_path(
    name: str, cases: dict[str, Case], servers: dict[str, ServerProcess]
):
    case, server = cases[name], servers[name]
    rows = case.features
    expected = reference(case, rows)
    records = json.dumps([dict(zip(case.feature_names, row.tolist(), strict=True)) for row in rows]).encode()
    bodies = {
        "csv one row (fast)": (csv_body(rows[:1]), "text/csv", slice(0, 1)),
        "csv many rows (fast)": (csv_body(rows), "text/csv", slice(None)),
        "csv with spaces and CRLF (strict)": (
            "".join(", ".join(repr(float(v)) for v in row) + "\r\n" for row in rows).encode(),
            "text/csv",
            slice(None),
        ),
        "json rows (fast)": (json_rows_body(rows), "application/json", slice(None)),
        "json records (strict)": (records, "application/json", slice(None)),
    }
    for what, (body, content_type, part) in bodies.items():
        response = _post(server, body, content_type)
        assert response.status_code == 200, (what, response.text)
        document = response.json()
        want = expected[part]
        if case.task == "classification":
            got = np.array([p["probabilities"] for p in document["predictions"]])
            assert document["classes"] == case.classes
            labels = [p["label"] for p in document["predictions"]]
            assert labels == [case.classes[i] for i in want.argmax(axis=1)], what
        else:
            assert "classes" not in document
            assert all(set(p) == {"value"} for p in document["predictions"])
            got = np.array([[p["value"]] for p in document["predictions"]])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=what)
    # CSV answers: label then probabilities, or the value.
    response = _post(server, csv_body(rows[:3]), "text/csv", accept="text/csv")
    lines = response.text.splitlines()
    if case.task == "classification":
        assert [line.split(",")[0] for line in lines] == [case.classes[i] for i in expected[:3].argmax(axis=1)]
        got = np.array([[float(v) for v in line.split(",")[1:]] for line in lines])
    else:
        got = np.array([[float(line)] for line in lines])
    np.testing.assert_allclose(got, expected[:3], rtol=0, atol=1e-6)


def test_missing_values_reach_a_model_that_accepts_them_as_nan(
    cases: dict[str, Case], servers: dict[str, ServerProcess]
):
    for name in ("forest", "regressor"):
        case, server = cases[name], servers[name]
        row = case.features[0].copy()
        row[1] = np.nan
        want = reference(case, row.reshape(1, -1))
        cells = [repr(float(v)) for v in case.features[0]]
        cells[1] = ""
        csv_answer = _post(server, (",".join(cells) + "\n").encode(), "text/csv")
        values: list = case.features[0].tolist()
        values[1] = None
        json_answer = _post(server, json.dumps([values]).encode(), "application/json")
        for response in (csv_answer, json_answer):
            assert response.status_code == 200, response.text
            prediction = response.json()["predictions"][0]
            got = prediction["probabilities"] if case.task == "classification" else [prediction["value"]]
            np.testing.assert_allclose(got, want[0], rtol=0, atol=1e-6)


def test_a_model_without_accepts_missing_keeps_the_400(cases: dict[str, Case], servers: dict[str, ServerProcess]):
    case, server = cases["logistic"], servers["logistic"]
    cells = [repr(float(v)) for v in case.features[0]]
    cells[1] = ""
    response = _post(server, (",".join(cells) + "\n").encode(), "text/csv")
    assert response.status_code == 400
    assert response.json() == {"error": "non_numeric", "message": "row 1, column 2 (f1): an empty cell is not a number"}
    values: list = case.features[0].tolist()
    values[1] = None
    response = _post(server, json.dumps([values]).encode(), "application/json")
    assert (response.status_code, response.json()["message"]) == (
        400,
        "row 1, column 2 (f1): null (null) is not a number",
    )


@pytest.mark.parametrize("name", ["forest", "logistic", "regressor"])
def test_evaluate_reports_the_metrics_of_onnxruntimes_predictions(
    name: str, cases: dict[str, Case], imported: dict[str, Path], tmp_path: Path
):
    case = cases[name]
    output = tmp_path / "evaluation" / "evaluation.json"
    result = run_module(
        "evaluate", "--model-dir", str(imported[name]), "--test-dir", str(case.test_dir),
        "--champion-dir", str(tmp_path / "no-champion"), "--output", str(output), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    predicted = reference(case, case.features)
    if case.task == "classification":
        truth = [case.classes.index(label) for label in case.labels]
        assert report["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(truth, predicted.argmax(axis=1)))
        assert report["metrics"]["log_loss"]["value"] == pytest.approx(
            sk_log_loss(truth, predicted / predicted.sum(axis=1, keepdims=True), labels=range(len(case.classes))),
            rel=1e-5,
        )
        assert report["classes"] == case.classes
        assert report["comparison"] == {"champion_present": False, "accuracy_delta": {"value": 0.0}}
    else:
        truth = np.array([float(v) for v in case.labels])
        values = predicted[:, 0]
        assert report["task"] == "regression" and report["rows"] == 100
        assert report["metrics"]["rmse"]["value"] == pytest.approx(np.sqrt(mean_squared_error(truth, values)))
        assert report["metrics"]["mae"]["value"] == pytest.approx(mean_absolute_error(truth, values))
        assert report["metrics"]["r2"]["value"] == pytest.approx(r2_score(truth, values))
        assert report["comparison"] == {"champion_present": False, "rmse_delta": {"value": 0.0}}
        assert result.stdout.startswith(f"rmse={report['metrics']['rmse']['value']:.4g} ")
    assert (output.parent / "baseline.json").read_bytes() == (imported[name] / "baseline.json").read_bytes()


def _capture(case: Case, server: ServerProcess, capture_root: Path, shift: float = 0.0) -> list[tuple[str, str]]:
    """One request per test row over HTTP; the captures of the answers, as SageMaker writes them.
    Returns (inference id, true label) per request."""
    lines, ids = [], []
    for number, (row, label) in enumerate(zip(case.features, case.labels, strict=True)):
        shifted = row.copy()
        shifted[0] += shift
        body = csv_body(shifted.reshape(1, -1))
        response = _post(server, body, "text/csv")
        assert response.status_code == 200
        inference_id = response.headers["x-amzn-sagemaker-inference-id"]
        lines.append(
            capture_line(
                body.decode(),
                response.text,
                event_id=f"e-{number}",
                inference_time="2024-05-01T10:00:00Z",
                output_encoding="JSON",
                output_content_type="application/json",
            )
        )
        ids.append((inference_id, label))
    path = capture_root / ENDPOINT / VARIANT / hour_prefix(HOUR) / "part.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return ids


@pytest.mark.parametrize("name", ["forest", "logistic", "regressor"])
def test_drift_and_quality_read_the_served_answers(
    name: str,
    cases: dict[str, Case],
    imported: dict[str, Path],
    servers: dict[str, ServerProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setenv("ML_PLATFORM_OPT_ML", str(tmp_path / "opt_ml"))
    case = cases[name]
    first = case.feature_names[0]
    baseline = str(imported[name] / "baseline.json")
    capture = tmp_path / "capture"
    ids = _capture(case, servers[name], capture, shift=5.0)
    argv = ["--endpoint-name", ENDPOINT, "--capture", str(capture), *WINDOW, "--baseline", baseline, "--no-metrics"]
    assert drift_job.main([*argv, "--min-records", "100"]) == 0
    report = json.loads((capture / "drift-reports" / ENDPOINT / "20240501T10Z-20240501T12Z.json").read_text())
    assert report["counts"]["records"] == 100 and report["counts"]["predictions"] == 100
    assert report["counts"]["predictions_skipped"] == 0
    # The first feature moved by 5 standard deviations: the largest drift by far (100 rows may
    # flag another by chance).
    assert report["max_feature_drift"]["feature"] == first and report["features"][first]["psi"] > 2.0
    assert first in report["flagged_features"]
    shifted = case.features.copy()
    shifted[:, 0] += 5.0
    predicted = reference(case, shifted)
    if case.task == "classification":
        assert report["prediction"]["classes"] == case.classes
    else:
        value = json.loads((imported[name] / "baseline.json").read_text())["prediction"]["value"]
        expected_counts = np.bincount(
            np.searchsorted(value["bin_edges"][1:-1], predicted[:, 0], side="right"), minlength=len(value["counts"])
        )
        assert report["prediction"]["task"] == "regression" and report["prediction"]["predictions"] == 100
        assert report["prediction"]["counts"] == expected_counts.tolist()
        assert report["prediction"]["mean"] == pytest.approx(predicted[:, 0].mean(), abs=1e-6)
        # The predicted-value histogram against the baseline's, as the drift statistics compute it.
        expected_psi = psi(np.asarray(value["proportions"]), expected_counts / expected_counts.sum())
        assert report["prediction"]["psi"] == pytest.approx(expected_psi, rel=1e-12)
    truth = tmp_path / "ground-truth" / hour_prefix(HOUR)
    truth.mkdir(parents=True)
    (truth / "labels.jsonl").write_text(
        "".join(json.dumps({"inferenceId": i, "label": label}) + "\n" for i, label in ids)
    )
    argv = ["--endpoint-name", ENDPOINT, "--capture", str(capture), "--ground-truth", str(tmp_path / "ground-truth")]
    argv += [*WINDOW, "--baseline", baseline, "--no-metrics", "--report", str(tmp_path / "quality.json")]
    assert quality.main(argv) == 0, capsys.readouterr().err
    quality_report = json.loads((tmp_path / "quality.json").read_text())
    assert quality_report["counts"]["joined"] == 100
    if case.task == "classification":
        truth_index = [case.classes.index(label) for label in case.labels]
        assert quality_report["metrics"]["accuracy"] == pytest.approx(
            accuracy_score(truth_index, predicted.argmax(axis=1))
        )
    else:
        true_values = np.array([float(v) for v in case.labels])
        assert quality_report["task"] == "regression"
        assert quality_report["metrics"]["rmse"] == pytest.approx(
            np.sqrt(mean_squared_error(true_values, predicted[:, 0]))
        )
        assert quality_report["metrics"]["mae"] == pytest.approx(mean_absolute_error(true_values, predicted[:, 0]))
        assert quality_report["metrics"]["r2"] == pytest.approx(r2_score(true_values, predicted[:, 0]))


# ---------------------------------------------------------------------------------------------
# Bad models: a clear error from import-onnx, and a server that answers 503 and never reports ready.


def _unsupported_output_model(path: Path) -> Path:
    """A classifier exported with ZipMap on: its probabilities are a sequence of maps."""
    x, y = _classification_data(2, seed=4)
    model = LogisticRegression().fit(x, y)
    path.write_bytes(to_onnx(model, x[:1].astype(np.float32), target_opset=15).SerializeToString())
    return path


@pytest.fixture(scope="module")
def bad_models(cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    good = cases["logistic"].onnx_path.read_bytes()
    (root / "truncated.onnx").write_bytes(good[: len(good) // 2])
    (root / "not-onnx.onnx").write_bytes(b"PK\x03\x04 this is a zip file, not an ONNX model")
    x, y = _classification_data(2, seed=5)
    narrow = LogisticRegression().fit(x[:, :4], y)
    (root / "narrow.onnx").write_bytes(
        to_onnx(narrow, x[:1, :4].astype(np.float32), options={"zipmap": False}, target_opset=15).SerializeToString()
    )
    _unsupported_output_model(root / "zipmap.onnx")
    return {p.stem: p for p in root.iterdir()}


UNREADABLE = "is not a valid ONNX model ONNX Runtime can run"
PROTOBUF = "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Failed to load model because protobuf parsing failed."
OPSETS = "file, ai.onnx opset 7 or later, ai.onnx.ml 1 to 5 (model_code/README.md, Bring your own model)"


def bad_import_error(name: str, path: Path, train_csv: Path) -> str:
    return {
        "truncated": f"{path} {UNREADABLE}: {PROTOBUF}; expected a complete ModelProto {OPSETS}",
        "not-onnx": f"{path} {UNREADABLE}: {PROTOBUF}; expected a complete ModelProto {OPSETS}",
        "narrow": (
            f"feature count mismatch: {path} input 'X' takes 4 features per row; {train_csv} has 6 feature columns "
            f"besides the label 'target' (f0, f1, f2, f3, f4, f5); pass --features with the 4 columns the model was "
            f"trained on, in its order"
        ),
        "zipmap": (
            "unsupported outputs (output_label tensor(int64), output_probability seq(map(int64,tensor(float)))); "
            "a classification model needs a float tensor 'probabilities' of shape [N, classes] "
            "(skl2onnx: options={'zipmap': False}; onnxmltools: zipmap=False)"
        ),
    }[name]


@pytest.mark.parametrize("name", ["truncated", "not-onnx", "narrow", "zipmap"])
def test_import_refuses_a_bad_model_with_the_reason(
    name: str, bad_models: dict[str, Path], cases: dict[str, Case], tmp_path: Path
):
    path, train_csv = bad_models[name], cases["logistic"].train_csv
    out = str(tmp_path / "m")
    result = run_module(
        "import-onnx", "--model", str(path), "--data", str(train_csv), "--label", "target", "--out", out, cwd=tmp_path
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {bad_import_error(name, path, train_csv)}\n"
    assert not (tmp_path / "m").exists()


def bad_load_error(name: str, model_dir: Path) -> str:
    path = model_dir / "model.onnx"
    return {
        "truncated": f"{path} {UNREADABLE}: {PROTOBUF}; expected a complete ModelProto {OPSETS}",
        "not-onnx": f"{path} {UNREADABLE}: {PROTOBUF}; expected a complete ModelProto {OPSETS}",
        "narrow": f"{path}: input 'X' takes 4 features per row; the model has 6 feature names",
        "zipmap": (
            f"{path}: model.json names output 'probabilities', which the graph lacks; unsupported outputs "
            f"(output_label tensor(int64), output_probability "
            f"seq(map(int64,tensor(float)))); a classification model needs a float tensor 'probabilities' of shape "
            f"[N, classes] (skl2onnx: options={{'zipmap': False}}; onnxmltools: zipmap=False; PyTorch: end the module "
            f"with softmax)"
        ),
    }[name]


@pytest.mark.parametrize("name", ["truncated", "not-onnx", "narrow", "zipmap"])
def test_a_server_with_a_bad_model_answers_503_with_the_reason_and_never_ready(
    name: str, bad_models: dict[str, Path], imported: dict[str, Path], tmp_path: Path
):
    """The good logistic model's directory with the graph swapped for a bad one."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.json").write_text((imported["logistic"] / "model.json").read_text())
    (model_dir / "model.onnx").write_bytes(bad_models[name].read_bytes())
    server = start_server(model_dir, tmp_path / "logs")
    try:
        server.wait_ping(503)
        message = f"the model failed to load: {bad_load_error(name, model_dir)}"
        expected = {"error": "model_load_failed", "message": message}
        ping = server.client.get("/ping")
        assert (ping.status_code, ping.json()) == (503, expected)
        response = _post(server, b"1,2,3,4,5,6\n", "text/csv")
        assert (response.status_code, response.json()) == (503, expected)
    finally:
        server.kill()
