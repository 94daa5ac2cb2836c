"""ONNX models: `model.onnx` plus `model.json` in the model directory, run by ONNX Runtime on CPU.

`model.json` says what the graph means (written by `python -m model_code import-onnx`, or by a
trainer that exports ONNX):

    {"format": "onnx", "format_version": 1, "task": "classification" | "regression",
     "feature_names": ["f1", ...], "classes": ["0", "1"],          # classes: classification only
     "label": "target", "accepts_missing": false,
     "onnx": {"file": "model.onnx", "input": "X", "input_type": "tensor(float)",
              "outputs": ["label", "probabilities"], "output": "probabilities",
              "opset_import": {"": 15, "ai.onnx.ml": 1}}}

Only the first six keys are required; the minimal form

    {"format": "onnx", "task": "classification", "feature_names": [...], "classes": [...],
     "label": "target", "accepts_missing": true}

loads too: the input is then the graph's only input, and the output the graph's `probabilities`
(classification) or its only output (regression). The graph must take one float (or double)
tensor of shape [N, len(feature_names)], columns in `feature_names` order, and give:
- classification: a float tensor [N, len(classes)] of probabilities, columns in `classes` order
  (skl2onnx and onnxmltools with `zipmap` off name it `probabilities`; their `label` output is
  not used: the label served is the class with the highest probability);
- regression: a float tensor [N] or [N, 1] of predicted values.

Loading runs the graph once on a row of zeros to prove the shapes; anything wrong is a
ModelFormatError naming the file and what was expected. Nothing here unpickles anything:
an ONNX file is a protobuf message, read by ONNX Runtime's C++ loader.

Each server worker runs one session with one intra-op and one inter-op thread: the workers are
the parallelism, and more threads per session would only contend for the same cores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from model_code.model_interface import ModelFormatError, feature_rows

ONNX_FILE = "model.onnx"
METADATA_FILE = "model.json"
FORMAT_VERSION = 1
TASKS = ("classification", "regression")
PROBABILITIES = "probabilities"
_REQUIRED = ("format", "task", "feature_names", "label", "accepts_missing")
_INPUT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_OUTPUT_TYPES = ("tensor(float)", "tensor(double)")


class OnnxModel:
    """A model directory's ONNX graph behind the model interface (see model_code/model.py)."""

    def __init__(
        self,
        *,
        session: Any,
        feature_names: tuple[str, ...],
        label_name: str,
        task: str,
        classes: tuple[str, ...],
        accepts_missing: bool,
        input_name: str,
        input_dtype: type,
        output_name: str,
    ) -> None:
        self.session = session
        self.feature_names = feature_names
        self.label_name = label_name
        self.task = task
        self.classes = classes
        self.accepts_missing = accepts_missing
        self.input_name = input_name
        self._dtype = input_dtype
        self.output_name = output_name
        self._outputs = [output_name]

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Classification: probabilities (n, len(classes)); regression: values (n,). float64."""
        x = feature_rows(rows, self.feature_names, self._dtype)
        (out,) = self.session.run(self._outputs, {self.input_name: x})
        out = np.asarray(out, dtype=np.float64)
        return out.reshape(len(x)) if self.task == "regression" else out

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        if self.task != "classification":
            raise TypeError("predict_proba: this is a regression model; use predict")
        return self.predict(rows)


def session_options() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: ONNX Runtime's own lines are plain text, not JSON logs
    return options


def open_session(path: Path, data: bytes) -> Any:
    """An ONNX Runtime CPU session over the graph bytes; any failure is a ModelFormatError."""
    import onnxruntime as ort

    if not data:
        raise ModelFormatError(f"{path} is empty; expected an ONNX model (a serialized onnx.ModelProto)")
    try:
        return ort.InferenceSession(data, session_options(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types, all RuntimeError-like
        reason = " ".join(str(exc).split())[:400]
        raise ModelFormatError(
            f"{path} is not a valid ONNX model ONNX Runtime can run: {reason}; expected a complete ModelProto "
            f"file, ai.onnx opset 7 or later, ai.onnx.ml 1 to 5 (model_code/README.md, Bring your own model)"
        ) from exc


def load_onnx_model(model_dir: Path) -> OnnxModel:
    model_dir = Path(model_dir)
    meta_path = model_dir / METADATA_FILE
    meta = read_metadata(meta_path)
    onnx_meta = meta.get("onnx") or {}
    path = model_dir / str(onnx_meta.get("file", ONNX_FILE))
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFormatError(f"no model file: {path} does not exist ({meta_path} names it)") from exc
    except OSError as exc:
        raise ModelFormatError(f"cannot read {path} ({type(exc).__name__}: {exc})") from exc
    session = open_session(path, data)
    return bind(session, path, meta)


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFormatError(
            f"no model metadata: {path} does not exist; an ONNX model directory holds model.onnx and model.json "
            f"(python -m model_code import-onnx writes both)"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"cannot read {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelFormatError(f"{path} must hold a JSON object (got {type(meta).__name__})")
    missing = [key for key in _REQUIRED if key not in meta]
    if meta.get("task") == "classification" and "classes" not in meta:
        missing.append("classes")
    if missing:
        raise ModelFormatError(f"{path} lacks {', '.join(missing)}")
    if meta["format"] != "onnx":
        raise ModelFormatError(f"{path}: format must be 'onnx' (got {meta['format']!r})")
    if meta.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} has format_version {meta['format_version']!r}; this code reads {FORMAT_VERSION}"
        )
    if meta["task"] not in TASKS:
        raise ModelFormatError(f"{path}: task must be one of {', '.join(TASKS)} (got {meta['task']!r})")
    names = meta["feature_names"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ModelFormatError(f"{path}: feature_names must be a non-empty list of names (got {names!r:.80})")
    if len(set(names)) != len(names):
        raise ModelFormatError(f"{path}: feature_names repeats a name")
    if meta["task"] == "classification":
        classes = meta["classes"]
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise ModelFormatError(f"{path}: classes must be a list of 2 or more class names (got {classes!r:.80})")
        if len(set(classes)) != len(classes):
            raise ModelFormatError(f"{path}: classes repeats a name")
    if not isinstance(meta["label"], str) or not meta["label"]:
        raise ModelFormatError(f"{path}: label must be the label column's name (got {meta['label']!r})")
    if not isinstance(meta["accepts_missing"], bool):
        raise ModelFormatError(f"{path}: accepts_missing must be true or false (got {meta['accepts_missing']!r})")
    return meta


def bind(session: Any, path: Path, meta: dict[str, Any]) -> OnnxModel:
    """Check the graph's signature against the metadata, run it once, and wrap it."""
    task = meta["task"]
    features = len(meta["feature_names"])
    classes = tuple(meta.get("classes") or ()) if task == "classification" else ()
    onnx_meta = meta.get("onnx") or {}
    input_arg = check_input(session, path, features, onnx_meta.get("input"))
    output_arg = choose_output(session, path, task, onnx_meta.get("output"))
    model = OnnxModel(
        session=session,
        feature_names=tuple(meta["feature_names"]),
        label_name=meta["label"],
        task=task,
        classes=classes,
        accepts_missing=meta["accepts_missing"],
        input_name=input_arg.name,
        input_dtype=_INPUT_TYPES[input_arg.type],
        output_name=output_arg.name,
    )
    try:
        out = model.predict(np.zeros((2, features)))
    except ModelFormatError:
        raise
    except Exception as exc:
        reason = " ".join(str(exc).split())[:400]
        raise ModelFormatError(f"{path}: running the graph on 2 rows of {features} zeros failed: {reason}") from exc
    expected = (2, len(classes)) if task == "classification" else (2,)
    if out.shape != expected:
        what = f"{len(classes)} class probabilities" if task == "classification" else "one value"
        raise ModelFormatError(
            f"{path}: output {output_arg.name!r} gives shape {out.shape[1:] or '(scalar)'} per row; "
            f"a {task} model must give {what} per row (classes: {', '.join(classes) or 'none'})"
        )
    return model


def check_input(session: Any, path: Path, features: int, expected_name: str | None) -> Any:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
        raise ModelFormatError(
            f"{path}: the graph has {len(inputs)} inputs ({names}); a served model takes exactly one float tensor "
            f"of shape [N, {features}] (convert with one input, e.g. skl2onnx initial_types=[('X', "
            f"FloatTensorType([None, {features}]))])"
        )
    arg = inputs[0]
    if expected_name is not None and arg.name != expected_name:
        raise ModelFormatError(f"{path}: the graph's input is {arg.name!r}; model.json says {expected_name!r}")
    if arg.type not in _INPUT_TYPES:
        raise ModelFormatError(f"{path}: input {arg.name!r} is {arg.type}; expected tensor(float) or tensor(double)")
    shape = list(arg.shape)
    if len(shape) != 2:
        raise ModelFormatError(f"{path}: input {arg.name!r} has shape {shape}; expected [N, {features}]")
    if isinstance(shape[1], int) and shape[1] != features:
        raise ModelFormatError(
            f"{path}: input {arg.name!r} takes {shape[1]} features per row; the model has {features} feature names"
        )
    return arg


def choose_output(session: Any, path: Path, task: str, expected_name: str | None) -> Any:
    outputs = session.get_outputs()
    by_name = {o.name: o for o in outputs}
    listing = ", ".join(f"{o.name} {o.type}" for o in outputs)
    if expected_name is not None:
        if expected_name not in by_name:
            raise ModelFormatError(
                f"{path}: model.json names output {expected_name!r}, which the graph lacks; "
                + _unsupported_outputs(path, listing, task).split(": ", 1)[1]
            )
        chosen = by_name[expected_name]
    elif task == "classification":
        chosen = by_name.get(PROBABILITIES)
        if chosen is None:
            floats = [o for o in outputs if o.type in _OUTPUT_TYPES and len(o.shape) == 2]
            if len(floats) != 1:
                raise ModelFormatError(_unsupported_outputs(path, listing, task))
            chosen = floats[0]
    else:
        floats = [o for o in outputs if o.type in _OUTPUT_TYPES]
        if len(floats) != 1:
            raise ModelFormatError(_unsupported_outputs(path, listing, task))
        chosen = floats[0]
    if chosen.type not in _OUTPUT_TYPES:
        raise ModelFormatError(_unsupported_outputs(path, listing, task))
    return chosen


def _unsupported_outputs(path: Path, listing: str, task: str) -> str:
    if task == "classification":
        want = (
            "a float tensor 'probabilities' of shape [N, classes] (skl2onnx: options={'zipmap': False}; "
            "onnxmltools: zipmap=False; PyTorch: end the module with softmax)"
        )
    else:
        want = "exactly one float tensor of shape [N] or [N, 1]"
    return f"{path}: unsupported outputs ({listing}); a {task} model needs {want}"
