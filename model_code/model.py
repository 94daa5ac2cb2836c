"""The model interface, and the built-in model artifact: `model.npz` in the model directory.

Every model the platform serves, evaluates or monitors is a `TabularModel`, chosen by what the
model directory holds (`load_model`):
- `model.onnx` + `model.json`: any ONNX graph, run by ONNX Runtime (model_code/onnx_model.py);
- `model.npz`: the built-in numpy softmax regression (below).

    model = load_model(Path("/opt/ml/model"))
    out = model.predict(rows)   # rows: (n, len(model.feature_names)) float64, NaN only if model.accepts_missing
    # classification: out is (n, len(model.classes)) probabilities; regression: out is (n,) values

The file holds only plain numeric and fixed-width string arrays and is read with
`allow_pickle=False`, so loading it cannot execute code. Standardisation is folded into the
weights at load time, so a prediction is one matrix product and a softmax: a single row
takes microseconds.

"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model_code.atomic import write_atomic
from model_code.model_interface import (
    CLASSIFICATION,
    REGRESSION,
    ModelFormatError,
    TabularModel,
    feature_rows,
    label_of,
)
from model_code.onnx_model import METADATA_FILE, ONNX_FILE, load_onnx_model
from model_code.softmax_regression import softmax

# The interface's names stay importable from here, where callers have always found them.
__all__ = [
    "CLASSIFICATION",
    "MODEL_FILE",
    "REGRESSION",
    "Model",
    "ModelFormatError",
    "TabularModel",
    "feature_rows",
    "has_model",
    "label_of",
    "load_model",
    "load_npz_model",
    "save_model",
]

MODEL_FILE = "model.npz"
FORMAT_VERSION = 1
_NUMERIC = ("mean", "scale", "weights", "bias")
_TEXT = ("feature_names", "label_name", "classes")


@dataclass(frozen=True)
class Model:
    feature_names: tuple[str, ...]
    label_name: str
    classes: tuple[str, ...]
    mean: np.ndarray  # (features,) training mean, subtracted before the weights
    scale: np.ndarray  # (features,) training standard deviation (1 where it was 0)
    weights: np.ndarray  # (features, classes), on standardised inputs
    bias: np.ndarray  # (classes,)
    task: str = field(default=CLASSIFICATION, init=False)
    accepts_missing: bool = field(default=False, init=False)
    _raw_weights: np.ndarray = field(init=False, repr=False, compare=False)
    _raw_bias: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ((x - mean) / scale) @ W + b == x @ (W / scale) + (b - (mean / scale) @ W)
        raw_weights = self.weights / self.scale[:, None]
        object.__setattr__(self, "_raw_weights", raw_weights)
        object.__setattr__(self, "_raw_bias", self.bias - (self.mean / self.scale) @ self.weights)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, len(classes)); a 1-D row is treated as one row."""
        x = feature_rows(rows, self.feature_names, np.float64)
        return softmax(x @ self._raw_weights + self._raw_bias)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The model interface's predict: class probabilities, as `predict_proba`."""
        return self.predict_proba(rows)

    def predict_label(self, rows: np.ndarray) -> np.ndarray:
        """The most probable class name of each row."""
        return label_of(self, self.predict_proba(rows))


def save_model(model: Model, model_dir: Path) -> Path:
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "feature_names": np.array(model.feature_names, dtype=str),
        "label_name": np.array(model.label_name, dtype=str),
        "classes": np.array(model.classes, dtype=str),
        **{name: getattr(model, name) for name in _NUMERIC},
    }
    path = model_dir / MODEL_FILE
    write_atomic(path, lambda handle: np.savez(handle, allow_pickle=False, **arrays))
    return path


def load_model(model_dir: Path) -> TabularModel:
    """The model in `model_dir`: model.onnx (with model.json) if present, else model.npz."""
    if (Path(model_dir) / ONNX_FILE).exists() or (Path(model_dir) / METADATA_FILE).exists():
        return load_onnx_model(Path(model_dir))
    return load_npz_model(model_dir)


def has_model(model_dir: Path) -> bool:
    """Whether `model_dir` holds a model file of any supported format."""
    return any((Path(model_dir) / name).is_file() for name in (MODEL_FILE, ONNX_FILE))


def load_npz_model(model_dir: Path) -> Model:
    path = Path(model_dir) / MODEL_FILE
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError as exc:
        raise ModelFormatError(f"no model file: {path} does not exist") from exc
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ModelFormatError(
                f"refusing to load {path}: it contains pickled data, which could run code; "
                f"a model file holds only numeric and string arrays"
            ) from exc
        raise ModelFormatError(f"cannot read {path}: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFormatError(f"cannot read {path} ({type(exc).__name__}: {exc})") from exc
    return _from_arrays(path, arrays)


def _from_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Model:
    missing = sorted(set(_NUMERIC + _TEXT + ("format_version",)) - set(arrays))
    if missing:
        raise ModelFormatError(f"{path} lacks {', '.join(missing)}")
    if int(arrays["format_version"]) != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} has format_version {int(arrays['format_version'])}; this code reads {FORMAT_VERSION}"
        )
    for name in _NUMERIC:
        if arrays[name].dtype.kind != "f":
            raise ModelFormatError(f"{path}: {name} must be floating point, got {arrays[name].dtype}")
    features, classes = len(arrays["feature_names"]), len(arrays["classes"])
    expected = {"mean": (features,), "scale": (features,), "weights": (features, classes), "bias": (classes,)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise ModelFormatError(f"{path}: {name} has shape {arrays[name].shape}, expected {shape}")
    return Model(
        feature_names=tuple(str(n) for n in arrays["feature_names"]),
        label_name=str(arrays["label_name"]),
        classes=tuple(str(c) for c in arrays["classes"]),
        **{name: arrays[name].astype(np.float64) for name in _NUMERIC},
    )
