"""The gbt trainer's serving artifact: `model.onnx` and `model.json`.

`model.onnx` is onnxmltools' conversion of the XGBoost booster: one float tensor input named
`input` of shape [None, n_features] (columns in `feature_names` order) and the outputs
`label` (int64 class index into `classes`) and `probabilities` (float, [None, n_classes],
columns in `classes` order), with no ZipMap, the convention skl2onnx uses with
`zipmap=False`. XGBoost itself reads features as float32 and compares them with float32
thresholds, so the float32 ONNX input loses nothing: the graph's TreeEnsembleClassifier takes
the same branches (NaN follows each split's default direction, as in XGBoost) and its
probabilities differ from XGBoost's only by float32 rounding. `check_export` measures that on
the holdout and refuses an export that differs by more than EXPORT_TOLERANCE.

`model.json` is what a server needs besides the graph:

    {"format": "onnx", "task": "classification", "feature_names": [...], "classes": [...],
     "label": "<label column>", "accepts_missing": true,
     "onnx": {"file": "model.onnx", "input": "input", "outputs": ["label", "probabilities"],
              "opset_import": {"ai.onnx.ml": 1}},
     "trainer": {"name": "gbt", "library": "xgboost", "version": "3.2.0", "rounds": 100,
                 "native_model": "xgboost-model.ubj"},
     "export_check": {"rows": 114, "max_abs_difference": 5.96e-08, "tolerance": 1e-06}}
"""

from __future__ import annotations

from typing import Any

import numpy as np

INPUT_NAME = "input"
OUTPUT_NAMES = ("label", "probabilities")
# ONNX opset of the default domain the graph is written for: onnxruntime has run it since
# 1.10, so servers on older runtimes load the model too. The tree ensemble itself is in the
# ai.onnx.ml domain, whose version onnxmltools picks for that opset.
TARGET_OPSET = 15
EXPORT_TOLERANCE = 1e-6
# A fixed graph name (onnxmltools draws a random one otherwise) so the same booster always
# exports to the same bytes and a resumed run's model.onnx equals an uninterrupted run's.
GRAPH_NAME = "ml_platform_gbt"


class ExportMismatchError(RuntimeError):
    """The ONNX graph's probabilities differ from the library's beyond EXPORT_TOLERANCE."""


def booster_to_onnx(booster: Any, features: int) -> bytes:
    """Serialized ONNX model of an XGBoost booster over `features` float inputs."""
    from onnxmltools.convert import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = convert_xgboost(
        booster,
        name=GRAPH_NAME,
        initial_types=[(INPUT_NAME, FloatTensorType([None, features]))],
        target_opset=TARGET_OPSET,
    )
    outputs = tuple(output.name for output in model.graph.output)
    if outputs != OUTPUT_NAMES:
        raise ExportMismatchError(f"the ONNX graph's outputs are {outputs}; serving expects {OUTPUT_NAMES}")
    return model.SerializeToString()


def onnx_probabilities(onnx_model: bytes, rows: np.ndarray) -> np.ndarray:
    """Run the graph with onnxruntime on CPU, one thread, as a server worker would."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    _, probabilities = session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.asarray(rows, dtype=np.float32)})
    return np.asarray(probabilities)


def check_export(onnx_model: bytes, rows: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """Compare the graph's probabilities on `rows` with the library's own (`expected`)."""
    got = onnx_probabilities(onnx_model, rows)
    if got.shape != expected.shape:
        raise ExportMismatchError(f"the ONNX graph gives probabilities of shape {got.shape}, expected {expected.shape}")
    difference = float(np.max(np.abs(got.astype(np.float64) - expected))) if len(rows) else 0.0
    if not difference <= EXPORT_TOLERANCE:
        raise ExportMismatchError(
            f"the ONNX export's probabilities differ from XGBoost's by up to {difference:.3g} on the "
            f"{len(rows)} holdout rows (tolerance {EXPORT_TOLERANCE}); the model was not written"
        )
    return {"rows": len(rows), "max_abs_difference": difference, "tolerance": EXPORT_TOLERANCE}


def opset_import(onnx_model: bytes) -> dict[str, int]:
    import onnx

    return {entry.domain: entry.version for entry in onnx.load_from_string(onnx_model).opset_import}
