"""The trained model artifact: `model.npz` in the model directory, and the API to use it.

The file holds only plain numeric and fixed-width string arrays and is read with
`allow_pickle=False`, so loading it cannot execute code. Standardisation is folded into the
weights at load time, so a prediction is one matrix product and a softmax: a single row
takes microseconds.

    model = load_model(Path("/opt/ml/model"))
    proba = model.predict_proba(rows)   # rows: (n, len(model.feature_names)); columns follow model.classes
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model_code.atomic import write_atomic
from model_code.softmax_regression import softmax

MODEL_FILE = "model.npz"
FORMAT_VERSION = 1
_NUMERIC = ("mean", "scale", "weights", "bias")
_TEXT = ("feature_names", "label_name", "classes")


class ModelFormatError(ValueError):
    """The model file is missing, unreadable, unsafe or inconsistent."""


@dataclass(frozen=True)
class Model:
    feature_names: tuple[str, ...]
    label_name: str
    classes: tuple[str, ...]
    mean: np.ndarray  # (features,) training mean, subtracted before the weights
    scale: np.ndarray  # (features,) training standard deviation (1 where it was 0)
    weights: np.ndarray  # (features, classes), on standardised inputs
    bias: np.ndarray  # (classes,)
    _raw_weights: np.ndarray = field(init=False, repr=False, compare=False)
    _raw_bias: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # ((x - mean) / scale) @ W + b == x @ (W / scale) + (b - (mean / scale) @ W)
        raw_weights = self.weights / self.scale[:, None]
        object.__setattr__(self, "_raw_weights", raw_weights)
        object.__setattr__(self, "_raw_bias", self.bias - (self.mean / self.scale) @ self.weights)

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, len(classes)); a 1-D row is treated as one row."""
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise ValueError(
                f"rows must have shape (n, {len(self.feature_names)}), one column per feature "
                f"in model.feature_names order; got shape {np.shape(rows)}"
            )
        return softmax(x @ self._raw_weights + self._raw_bias)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The most probable class name of each row."""
        return np.asarray(self.classes)[self.predict_proba(rows).argmax(axis=1)]


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


def load_model(model_dir: Path) -> Model:
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
