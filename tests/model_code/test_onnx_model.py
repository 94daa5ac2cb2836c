"""The model interface's ONNX side, unit by unit: model.json in its full and minimal forms (the
minimal one is what a trainer exporting ONNX writes: an XGBoost booster through onnxmltools, the
`input` / `label` / `probabilities` convention), metadata errors naming the field, the missing-
value switch in decode, regression answers in encode, and fetch-model with an ONNX artifact."""

from __future__ import annotations

import io
import json
import math
import tarfile
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import onnxruntime as ort
import pytest
from moto import mock_aws
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

from model_code.fetch_model import main as fetch_main
from model_code.model import ModelFormatError, label_of, load_model
from model_code.onnx_model import OnnxModel
from model_code.serve.decode import CSV, JSON, Decoder
from model_code.serve.encode import Encoder
from model_code.serve.errors import ApiError

FEATURES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def logistic_onnx() -> bytes:
    x, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    model = LogisticRegression().fit(x, y)
    return to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}, target_opset=15).SerializeToString()


def write_dir(path: Path, graph: bytes, meta: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.onnx").write_bytes(graph)
    (path / "model.json").write_text(json.dumps(meta))
    return path


MINIMAL = {
    "format": "onnx",
    "task": "classification",
    "feature_names": FEATURES,
    "classes": ["0", "1"],
    "label": "target",
    "accepts_missing": False,
}


def test_the_minimal_model_json_loads_and_predicts_like_onnxruntime(logistic_onnx: bytes, tmp_path: Path):
    model = load_model(write_dir(tmp_path, logistic_onnx, MINIMAL))
    assert isinstance(model, OnnxModel)
    assert (model.feature_names, model.label_name, model.task, model.classes, model.accepts_missing) == (
        tuple(FEATURES),
        "target",
        "classification",
        ("0", "1"),
        False,
    )
    assert (model.input_name, model.output_name) == ("X", "probabilities")
    rows = np.random.default_rng(0).normal(size=(5, 4))
    session = ort.InferenceSession(logistic_onnx, providers=["CPUExecutionProvider"])
    (expected,) = session.run(["probabilities"], {"X": rows.astype(np.float32)})
    assert np.array_equal(model.predict(rows), expected.astype(np.float64))
    assert model.predict(rows).dtype == np.float64
    assert label_of(model, model.predict(rows)).tolist() == [["0", "1"][i] for i in expected.argmax(axis=1)]


def test_a_boosted_tree_export_in_the_trainer_convention_loads_with_missing_values(tmp_path: Path):
    """XGBoost through onnxmltools, as the gbt trainer exports it: input `input`, outputs `label`
    and `probabilities`, model.json with its extra keys (ignored here)."""
    xgb = pytest.importorskip("xgboost")
    from onnxmltools.convert import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=1)
    booster = xgb.XGBClassifier(n_estimators=10, max_depth=3).fit(x, y)
    graph = convert_xgboost(booster, initial_types=[("input", FloatTensorType([None, 4]))], target_opset=15)
    meta = {
        **MINIMAL,
        "accepts_missing": True,
        "onnx": {"file": "model.onnx", "input": "input", "outputs": ["label", "probabilities"]},
        "trainer": {"name": "gbt", "library": "xgboost"},
    }
    model = load_model(write_dir(tmp_path, graph.SerializeToString(), meta))
    rows = x[:3].copy()
    rows[0, 1] = math.nan
    got = model.predict(rows)
    expected = booster.predict_proba(rows.astype(np.float32))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "npz"}, "format must be 'onnx' (got 'npz')"),
        ({"task": "ranking"}, "task must be one of classification, regression (got 'ranking')"),
        ({"classes": ["only"]}, "classes must be a list of 2 or more class names (got ['only'])"),
        ({"feature_names": ["a", "a", "b", "c"]}, "feature_names repeats a name"),
        ({"accepts_missing": "yes"}, "accepts_missing must be true or false (got 'yes')"),
        ({"format_version": 2}, "has format_version 2; this code reads 1"),
    ],
)
def test_bad_metadata_is_a_model_format_error_naming_the_field(
    logistic_onnx: bytes, tmp_path: Path, change: dict, message: str
):
    model_dir = write_dir(tmp_path, logistic_onnx, {**MINIMAL, **change})
    with pytest.raises(ModelFormatError) as error:
        load_model(model_dir)
    path = model_dir / "model.json"
    assert str(error.value) in (f"{path}: {message}", f"{path} {message}")


def test_missing_keys_are_listed(logistic_onnx: bytes, tmp_path: Path):
    meta = {key: value for key, value in MINIMAL.items() if key not in ("label", "classes")}
    model_dir = write_dir(tmp_path, logistic_onnx, meta)
    with pytest.raises(ModelFormatError, match=r"model\.json lacks label, classes$"):
        load_model(model_dir)


def test_classes_that_do_not_match_the_probability_columns(logistic_onnx: bytes, tmp_path: Path):
    model_dir = write_dir(tmp_path, logistic_onnx, {**MINIMAL, "classes": ["a", "b", "c"]})
    with pytest.raises(ModelFormatError) as error:
        load_model(model_dir)
    assert str(error.value) == (
        f"{model_dir / 'model.onnx'}: output 'probabilities' gives shape (2,) per row; a classification model must "
        f"give 3 class probabilities per row (classes: a, b, c)"
    )


def test_model_json_without_model_onnx(tmp_path: Path):
    tmp_path.joinpath("model.json").write_text(json.dumps(MINIMAL))
    with pytest.raises(ModelFormatError) as error:
        load_model(tmp_path)
    assert (
        str(error.value)
        == f"no model file: {tmp_path / 'model.onnx'} does not exist ({tmp_path / 'model.json'} names it)"
    )


def test_a_regression_graph_gives_one_value_per_row(tmp_path: Path):
    x, y = make_regression(n_samples=100, n_features=4, random_state=0)
    graph = to_onnx(LinearRegression().fit(x, y), x[:1].astype(np.float32), target_opset=15).SerializeToString()
    meta = {key: value for key, value in MINIMAL.items() if key != "classes"} | {"task": "regression"}
    model = load_model(write_dir(tmp_path, graph, meta))
    assert (model.task, model.classes, model.output_name) == ("regression", (), "variable")
    got = model.predict(x[:3])
    assert got.shape == (3,)
    np.testing.assert_allclose(got, y[:3], rtol=1e-4)


# --- decode and encode -------------------------------------------------------------------------


def test_missing_values_decode_to_nan_only_when_the_model_accepts_them():
    accepting, refusing = Decoder(("a", "b", "c"), accepts_missing=True), Decoder(("a", "b", "c"))
    for body, media in ((b"1,,3\n,2,\n", CSV), (b"[[1, null, 3], [null, 2, null]]", JSON)):
        got = accepting.decode(body, media)
        assert np.array_equal(got, np.array([[1, np.nan, 3], [np.nan, 2, np.nan]]), equal_nan=True)
        with pytest.raises(ApiError) as error:
            refusing.decode(body, media)
        assert error.value.status == 400
    got = accepting.decode(b'[{"a": 1, "b": null, "c": 3}]', JSON)
    assert np.array_equal(got, np.array([[1, np.nan, 3]]), equal_nan=True)
    # The literal NaN stays refused: a missing value is an empty cell or null, never a number.
    with pytest.raises(ApiError) as error:
        accepting.decode(b"1,nan,3\n", CSV)
    assert (
        json.loads(error.value.body())["message"]
        == "row 1, column 2 (b): nan is not a finite number; values must be finite numbers"
    )


def test_regression_answers_carry_one_value_per_row():
    encoder = Encoder((), "regression")
    values = np.array([182.5, 0.1 + 0.2])
    assert json.loads(encoder.encode(values, JSON, "id-1")) == {
        "predictions": [{"value": 182.5}, {"value": 0.30000000000000004}],
        "inferenceId": "id-1",
    }
    assert encoder.encode(values, CSV) == b"182.5\n0.30000000000000004\n"


# --- fetch-model ---------------------------------------------------------------------------------


def test_fetch_model_unpacks_and_loads_an_onnx_artifact(
    logistic_onnx: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    buffer = io.BytesIO()
    files = {"model.onnx": logistic_onnx, "model.json": json.dumps(MINIMAL).encode()}
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        s3.put_object(Bucket="artifacts", Key="m/model.tar.gz", Body=buffer.getvalue())
        ok = fetch_main(["--source", "s3://artifacts/m/model.tar.gz", "--model-dir", str(tmp_path / "a")], s3)
        files["model.onnx"] = logistic_onnx[:100]  # truncated: fetch-model fails with the loader's reason
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        s3.put_object(Bucket="artifacts", Key="m/bad.tar.gz", Body=buffer.getvalue())
        bad = fetch_main(["--source", "s3://artifacts/m/bad.tar.gz", "--model-dir", str(tmp_path / "b")], s3)
    assert (ok, bad) == (0, 1)
    assert capsys.readouterr().err == (
        f"error: s3://artifacts/m/bad.tar.gz is not a valid model: {tmp_path / 'b' / 'model.onnx'} is not a valid "
        f"ONNX model ONNX Runtime can run: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Failed to load model because "
        f"protobuf parsing failed.; expected a complete ModelProto file, ai.onnx opset 7 or later, ai.onnx.ml 1 to 5 "
        f"(model_code/README.md, Bring your own model)\n"
    )
    assert isinstance(load_model(tmp_path / "a"), OnnxModel)
