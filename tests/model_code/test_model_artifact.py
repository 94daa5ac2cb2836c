"""model.npz: safe to load (no pickle), consistent, and the predict API the server will use."""

from __future__ import annotations

import pickle  # only to build the hostile files the loader must refuse
from pathlib import Path

import numpy as np
import pytest

from model_code.model import Model, ModelFormatError, load_model, save_model
from model_code.softmax_regression import softmax


def _model() -> Model:
    return Model(
        feature_names=("x1", "x2"),
        label_name="target",
        classes=("a", "b", "c"),
        mean=np.array([1.0, -2.0]),
        scale=np.array([2.0, 0.5]),
        weights=np.array([[0.3, -0.1, 0.2], [-0.4, 0.5, 0.0]]),
        bias=np.array([0.1, 0.0, -0.1]),
    )


def test_save_and_load_round_trip(tmp_path: Path):
    save_model(_model(), tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.feature_names == ("x1", "x2")
    assert loaded.label_name == "target"
    assert loaded.classes == ("a", "b", "c")
    for name in ("mean", "scale", "weights", "bias"):
        assert np.array_equal(getattr(loaded, name), getattr(_model(), name))


def test_predict_proba_is_softmax_of_standardised_inputs():
    model = _model()
    rows = np.array([[1.0, -2.0], [3.0, 0.0], [-5.0, 4.0]])
    expected = softmax((rows - model.mean) / model.scale @ model.weights + model.bias)
    # Standardisation is folded into the weights, so equality holds to rounding only.
    np.testing.assert_allclose(model.predict_proba(rows), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(rows).sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert model.predict_label(rows).tolist() == np.asarray(model.classes)[expected.argmax(axis=1)].tolist()


def test_a_single_row_may_be_one_dimensional():
    model = _model()
    assert model.predict_proba(np.array([1.0, 2.0])).shape == (1, 3)


def test_wrong_feature_count_names_the_expected_shape():
    with pytest.raises(ValueError) as caught:
        _model().predict_proba(np.zeros((4, 3)))
    assert str(caught.value) == (
        "rows must have shape (n, 2), one column per feature in model.feature_names order; got shape (4, 3)"
    )


def test_object_arrays_are_refused(tmp_path: Path):
    arrays = {"weights": np.array([{"__reduce__": "os.system"}], dtype=object)}
    np.savez(tmp_path / "model.npz", **arrays)  # np.savez pickles object arrays by default
    with pytest.raises(ModelFormatError) as caught:
        load_model(tmp_path)
    assert str(caught.value) == (
        f"refusing to load {tmp_path / 'model.npz'}: it contains pickled data, which could run code; "
        "a model file holds only numeric and string arrays"
    )


def test_a_plain_pickle_named_model_npz_is_refused(tmp_path: Path):
    (tmp_path / "model.npz").write_bytes(pickle.dumps({"weights": [1.0]}))
    with pytest.raises(ModelFormatError) as caught:
        load_model(tmp_path)
    assert str(caught.value) == (
        f"refusing to load {tmp_path / 'model.npz'}: it contains pickled data, which could run code; "
        "a model file holds only numeric and string arrays"
    )


def test_missing_model_file(tmp_path: Path):
    with pytest.raises(ModelFormatError) as caught:
        load_model(tmp_path)
    assert str(caught.value) == f"no model file: {tmp_path / 'model.npz'} does not exist"


def test_inconsistent_shapes_are_refused(tmp_path: Path):
    save_model(_model(), tmp_path)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["bias"] = np.zeros(2)
    np.savez(tmp_path / "model.npz", allow_pickle=False, **arrays)
    with pytest.raises(ModelFormatError) as caught:
        load_model(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'model.npz'}: bias has shape (2,), expected (3,)"
