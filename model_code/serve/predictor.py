"""One worker's model: loading, ready or failed, and the prediction call around it.

`load()` runs once per worker process, in a thread the app's lifespan waits for: a worker
accepts connections only after it (app.py). A load that fails leaves the worker up, answering
503 with the reason, and logs it. LOADING is what a request would see before then (the app
called without its lifespan, as in tests).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import numpy as np

from model_code.model import Model, ModelFormatError, TabularModel, has_model, load_model
from model_code.serve.decode import Decoder
from model_code.serve.encode import Encoder
from model_code.serve.errors import ApiError

logger = logging.getLogger("model_code.serve")

ModelLoader = Callable[[Path], TabularModel]


class Status(Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class Predictor:
    def __init__(self, model_dir: Path, load: ModelLoader = load_model) -> None:
        self.model_dir = model_dir
        self._load = load
        self.status = Status.LOADING
        self.error = ""
        self.model: TabularModel | None = None
        self.decoder: Decoder | None = None
        self.encoder: Encoder | None = None

    def load(self) -> None:
        try:
            model = self._load(self.model_dir)
            _check_parameters(model)
            decoder = Decoder(model.feature_names, accepts_missing=model.accepts_missing)
            encoder = Encoder(model.classes, model.task)
        except Exception as exc:  # any load failure must become a 503 with its reason
            self.error = _load_failure(self.model_dir, exc)
            self.status = Status.FAILED
            logger.error(
                "model failed to load: %s",
                self.error,
                exc_info=not isinstance(exc, ModelFormatError),  # an unexpected failure gets its traceback
                extra={"model_dir": str(self.model_dir)},
            )
            return
        self.model, self.decoder, self.encoder = model, decoder, encoder
        self.status = Status.READY  # set last: a request that sees READY sees the model too
        logger.info(
            "model loaded",
            extra={
                "model_dir": str(self.model_dir),
                "model": type(model).__name__,
                "task": model.task,
                "features": len(model.feature_names),
                "classes": model.classes,
                "accepts_missing": model.accepts_missing,
            },
        )

    def not_ready(self) -> ApiError:
        if self.status is Status.FAILED:
            return ApiError(503, "model_load_failed", f"the model failed to load: {self.error}")
        return ApiError(503, "model_not_ready", f"the model is still loading from {self.model_dir}; retry shortly")

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The model's own `predict`; anything it raises is a model failure: logged, then 500.

        Its parameters were checked finite at load, so an output that is not finite can only
        come from inputs so large that the arithmetic overflows: that is the caller's 400.
        """
        assert self.model is not None, "predict called before the model was ready"
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, as a 400
                proba = self.model.predict(rows)
        except Exception as exc:
            logger.exception("model failed to predict", extra={"rows": len(rows)})
            raise ApiError(
                500, "model_error", f"the model failed to predict {len(rows)} row(s): {type(exc).__name__}: {exc}"
            ) from exc
        if not math.isfinite(proba.sum()):  # one reduction instead of isfinite over every cell
            raise _overflow(rows, proba)
        return proba


def _check_parameters(model: TabularModel) -> None:
    if not isinstance(model, Model):
        return  # an ONNX graph was run once at load (onnx_model.bind)
    for name in ("mean", "scale", "weights", "bias"):
        if not np.isfinite(getattr(model, name)).all():
            raise ModelFormatError(f"the model's {name} holds values that are not finite numbers")


def _overflow(rows: np.ndarray, proba: np.ndarray) -> ApiError:
    finite = np.isfinite(proba) if proba.ndim == 1 else np.isfinite(proba).all(axis=1)
    row = int(np.flatnonzero(~finite)[0])
    largest = float(np.nanmax(np.abs(rows[row]))) if not np.isnan(rows[row]).all() else float("nan")
    return ApiError(
        400,
        "out_of_range",
        f"row {row + 1}: the model's arithmetic overflows on these values (largest magnitude {largest:g}); "
        f"send values of the magnitude seen in training",
    )


def _load_failure(model_dir: Path, exc: Exception) -> str:
    message = str(exc) if str(exc) else type(exc).__name__
    archive = model_dir / "model.tar.gz"
    if archive.exists() and not has_model(model_dir):
        message += f"; {archive} is a packed model: SageMaker extracts it, locally run tar -xzf on it first"
    return message
