"""`python -m model_code import-onnx`: turn an ONNX model trained anywhere into a servable model directory.

    python -m model_code import-onnx --model M.onnx --data TRAIN.csv --label target --out DIR
        [--task classification|regression] [--classes A,B,...] [--features F1,F2,...]
        [--accepts-missing] [--holdout-fraction 0.2] [--seed 0]

`--data` is a CSV file (or a directory of them) with a header row: the label column and the
feature columns, as for `train`. The features are the data's columns besides the label, in the
data's order, unless `--features` names them (then in that order: the order of the graph's
input columns). The command:
1. opens the graph with ONNX Runtime (a truncated or non-ONNX file is refused here) and checks
   it has one float tensor input [N, features] and the outputs of the task (onnx_model.py);
2. takes the classes from the graph's classifier node (skl2onnx's and onnxmltools'
   TreeEnsembleClassifier / LinearClassifier / SVMClassifier `classlabels_*`, in the order of
   the probability columns), else from `--classes` (in output column order), else the data's
   labels sorted as `train` sorts them; every label in the data must be one of them;
3. runs the model on every row, checks a classifier's output is probabilities (each row in
   [0, 1], summing to 1), and writes to DIR: model.onnx, model.json (onnx_model.py),
   metrics.json (on a holdout: stratified by class for classification, as `train` splits) and
   baseline.json (features and label on the rest, predictions on the holdout, as `train`).

`--task` is inferred when absent: classification if the graph has a classifier node, a
`probabilities` output, or a single float output with more than one column; regression if it
has a single float output with one column.

`--accepts-missing` marks the model as taking NaN for a missing value (tree ensembles do): the
server then passes empty CSV cells and JSON nulls to it as NaN. Without it they are refused.

Exit codes: 0 written; 1 the model or data is not usable (the reason on stderr and in the
failure file); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from model_code.atomic import write_json_atomic
from model_code.baseline import build_baseline, build_regression_baseline
from model_code.data import Table, read_channel
from model_code.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from model_code.failure import UserError
from model_code.metrics import regression_metrics, summary
from model_code.model import CLASSIFICATION, REGRESSION, ModelFormatError
from model_code.onnx_model import (
    FORMAT_VERSION,
    METADATA_FILE,
    ONNX_FILE,
    TASKS,
    bind,
    open_session,
)

_CLASSIFIER_OPS = ("TreeEnsembleClassifier", "LinearClassifier", "SVMClassifier")
PROBABILITY_TOLERANCE = 1e-3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model_code import-onnx",
        description="Check an ONNX model against its training data and write a servable model directory.",
    )
    parser.add_argument("--model", type=Path, required=True, help="the .onnx file")
    parser.add_argument("--data", type=Path, required=True, help="training CSV (file or directory) with a header")
    parser.add_argument("--label", required=True, help="the label column's name")
    parser.add_argument("--out", type=Path, required=True, help="the model directory to write")
    parser.add_argument("--task", choices=TASKS, default=None, help="default: inferred from the graph")
    parser.add_argument("--classes", default=None, help="class names in probability column order, comma-separated")
    parser.add_argument("--features", default=None, help="feature columns in graph input order, comma-separated")
    parser.add_argument("--accepts-missing", action="store_true", help="the model takes NaN as a missing value")
    parser.add_argument("--holdout-fraction", type=_fraction, default=0.2, help="default 0.2")
    parser.add_argument("--seed", type=int, default=0, help="holdout split seed (default 0)")
    return parser


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number strictly between 0 and 1 (got {text!r})")
    return value


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    try:
        meta, metrics = import_onnx(args)
    except (UserError, ModelFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if meta["task"] == CLASSIFICATION:
        figures = f"holdout accuracy={metrics['holdout']['accuracy']:.4f} log_loss={metrics['holdout']['log_loss']:.6f}"
    else:
        figures = f"holdout rmse={metrics['holdout']['rmse']:.6g} r2={metrics['holdout']['r2']:.4f}"
    print(
        f"imported {args.model} as a {meta['task']} model of {len(meta['feature_names'])} features: {figures}; "
        f"wrote {args.out}"
    )
    return EXIT_OK


def import_onnx(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    model_path: Path = args.model
    try:
        data = model_path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read --model {model_path}: {exc.strerror or exc}") from exc
    session = open_session(model_path, data)
    graph = _parse(model_path, data)
    table = _read_data(args.data, args.label)
    feature_names, features = _select_features(table, args.features, args.data)
    _check_width(session, model_path, feature_names, args.data, table.label_name)
    task = args.task or _infer_task(session, graph, model_path)
    classes = _classes(graph, args.classes, table, model_path) if task == CLASSIFICATION else ()
    output = _output_name(session, task)
    meta: dict[str, Any] = {
        "format": "onnx",
        "format_version": FORMAT_VERSION,
        "task": task,
        "feature_names": list(feature_names),
        **({"classes": list(classes)} if task == CLASSIFICATION else {}),
        "label": table.label_name,
        "accepts_missing": bool(args.accepts_missing),
        "onnx": {
            "file": ONNX_FILE,
            "input": session.get_inputs()[0].name,
            "input_type": session.get_inputs()[0].type,
            "outputs": [o.name for o in session.get_outputs()],
            "output": output,
            "opset_import": {entry.domain: entry.version for entry in graph.opset_import},
            "producer": f"{graph.producer_name} {graph.producer_version}".strip(),
        },
    }
    model = bind(session, model_path, meta)
    if task == CLASSIFICATION:
        metrics, baseline = _classification_outputs(model, table, features, classes, args)
    else:
        metrics, baseline = _regression_outputs(model, table, features, args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out, delete=False) as handle:
        handle.write(data)
    Path(handle.name).replace(out / ONNX_FILE)
    write_json_atomic(out / METADATA_FILE, meta)
    write_json_atomic(out / "metrics.json", metrics)
    write_json_atomic(out / "baseline.json", baseline)
    return meta, metrics


def _parse(path: Path, data: bytes) -> Any:
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError as exc:
        raise UserError(
            f"import-onnx reads the graph with the onnx package, which is not installed ({exc}); "
            f"pip install onnx==1.22.0 (pinned in requirements-dev.txt)"
        ) from exc

    try:
        return onnx.load_from_string(data)
    except (DecodeError, ValueError) as exc:
        raise ModelFormatError(f"{path} is not an ONNX model: {exc}") from exc


def _read_data(data: Path, label: str) -> Table:
    if data.is_file():
        with tempfile.TemporaryDirectory() as channel:
            shutil.copyfile(data, Path(channel) / "data.csv")
            return read_channel(Path(channel), label)
    return read_channel(data, label)


def _select_features(table: Table, named: str | None, data: Path) -> tuple[tuple[str, ...], np.ndarray]:
    if named is None:
        return table.feature_names, table.features
    names = tuple(name.strip() for name in named.split(","))
    missing = [n for n in names if n not in table.feature_names]
    if missing or len(set(names)) != len(names) or not all(names):
        problem = f"not columns of {data}: {', '.join(missing)}" if missing else "repeats or empty names"
        raise UserError(f"--features {named!r}: {problem} (columns: {', '.join(table.feature_names)})")
    return names, table.features[:, [table.feature_names.index(n) for n in names]]


def _check_width(session: Any, path: Path, names: tuple[str, ...], data: Path, label: str) -> None:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        return  # onnx_model.check_input reports it
    shape = list(inputs[0].shape)
    if len(shape) == 2 and isinstance(shape[1], int) and shape[1] != len(names):
        raise UserError(
            f"feature count mismatch: {path} input {inputs[0].name!r} takes {shape[1]} features per row; "
            f"{data} has {len(names)} feature columns besides the label '{label}' ({', '.join(names)}); "
            f"pass --features with the {shape[1]} columns the model was trained on, in its order"
        )


def _infer_task(session: Any, graph: Any, path: Path) -> str:
    if any(node.op_type in _CLASSIFIER_OPS for node in graph.graph.node):
        return CLASSIFICATION
    outputs = session.get_outputs()
    if any(o.name == "probabilities" for o in outputs):
        return CLASSIFICATION
    floats = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)")]
    if len(floats) == 1:
        shape = list(floats[0].shape)
        if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
            return REGRESSION
        if len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 1:
            return CLASSIFICATION
    listing = ", ".join(f"{o.name} {o.type} {o.shape}" for o in outputs)
    raise ModelFormatError(
        f"{path}: unsupported outputs ({listing}); expected a float tensor 'probabilities' [N, classes] "
        f"(classification, zipmap off) or one float tensor [N] or [N, 1] (regression); pass --task if the "
        f"graph is one of those"
    )


def _output_name(session: Any, task: str) -> str:
    outputs = session.get_outputs()
    names = [o.name for o in outputs]
    if task == CLASSIFICATION and "probabilities" in names:
        return "probabilities"
    floats = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)")]
    if len(floats) == 1:
        return floats[0].name
    listing = ", ".join(f"{o.name} {o.type}" for o in outputs)
    raise ModelFormatError(
        f"unsupported outputs ({listing}); a {task} model needs "
        + (
            "a float tensor 'probabilities' of shape [N, classes] (skl2onnx: options={'zipmap': False}; "
            "onnxmltools: zipmap=False)"
            if task == CLASSIFICATION
            else "exactly one float tensor of shape [N] or [N, 1]"
        )
    )


def _graph_classes(graph: Any) -> tuple[str, ...] | None:
    from model_code.data import _label_name

    for node in graph.graph.node:
        if node.op_type not in _CLASSIFIER_OPS:
            continue
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings":
                return tuple(_label_name(s.decode()) for s in attribute.strings)
            if attribute.name in ("classlabels_int64s", "classlabels_ints"):
                return tuple(str(int(i)) for i in attribute.ints)
    return None


def _classes(graph: Any, given: str | None, table: Table, path: Path) -> tuple[str, ...]:
    from model_code.data import _label_name

    in_graph = _graph_classes(graph)
    if given is not None:
        classes = tuple(_label_name(c) for c in given.split(","))
        if in_graph is not None and classes != in_graph:
            raise UserError(
                f"--classes {', '.join(classes)} differ from the classes in {path}'s classifier "
                f"({', '.join(in_graph)}); leave --classes out to use the graph's"
            )
    elif in_graph is not None:
        classes = in_graph
    else:
        classes = tuple(str(c) for c in np.unique(table.labels))
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise UserError(f"classes must be 2 or more distinct names (got {', '.join(classes)})")
    unknown = sorted(set(table.labels.tolist()) - set(classes))
    if unknown:
        raise UserError(
            f"labels in the data's '{table.label_name}' column are not classes of the model: {', '.join(unknown[:10])} "
            f"(the model's classes: {', '.join(classes)})"
        )
    return classes


def _classification_outputs(
    model: Any, table: Table, features: np.ndarray, classes: tuple[str, ...], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    from model_code.train import stratified_split

    position = {name: i for i, name in enumerate(classes)}
    label_index = np.array([position[label] for label in table.labels.tolist()], dtype=np.int64)
    proba = model.predict(features)
    _check_probabilities(proba, model.output_name)
    rows = len(label_index)
    holdout_rows = round(rows * args.holdout_fraction)
    if holdout_rows < 1 or rows - holdout_rows < 1:
        raise UserError(f"--holdout-fraction {args.holdout_fraction} of {rows} rows leaves no holdout or no rest")
    holdout, rest = stratified_split(label_index, len(classes), holdout_rows, args.seed)
    metrics = {
        "holdout": summary(label_index[holdout], proba[holdout]),
        "all_rows": summary(label_index, proba),
        "rows": rows,
        "features": len(model.feature_names),
        "classes": list(classes),
        "holdout_rows_per_class": dict(
            zip(classes, np.bincount(label_index[holdout], minlength=len(classes)).tolist(), strict=True)
        ),
        "source": {"model": str(args.model), "data": str(args.data), "seed": args.seed},
    }
    baseline = build_baseline(
        model.feature_names, table.label_name, classes, features[rest], label_index[rest], proba[holdout]
    )
    return metrics, baseline


def _check_probabilities(proba: np.ndarray, output: str) -> None:
    if not np.isfinite(proba).all():
        row = int(np.flatnonzero(~np.isfinite(proba).all(axis=1))[0])
        raise UserError(f"output {output!r} is not finite on data row {row + 1}; a classifier must give probabilities")
    sums = proba.sum(axis=1)
    tolerance = PROBABILITY_TOLERANCE
    outside = (proba < -tolerance).any(axis=1) | (proba > 1 + tolerance).any(axis=1)
    bad = np.flatnonzero((np.abs(sums - 1.0) > tolerance) | outside)
    if len(bad):
        row = int(bad[0])
        raise UserError(
            f"output {output!r} is not class probabilities: data row {row + 1} gives "
            f"{np.round(proba[row], 4).tolist()} (sum {sums[row]:.4g}); each row must be in [0, 1] and sum to 1 "
            f"(PyTorch: end the exported module with torch.softmax)"
        )


def _regression_outputs(
    model: Any, table: Table, features: np.ndarray, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        values = table.labels.astype(np.float64)
    except ValueError:
        raise UserError(f"label column '{table.label_name}' is not numeric; a regression label must be") from None
    predicted = model.predict(features)
    if not np.isfinite(predicted).all():
        raise UserError("the model's predictions on the data are not all finite numbers")
    rows = len(values)
    holdout_rows = round(rows * args.holdout_fraction)
    if holdout_rows < 1 or rows - holdout_rows < 1:
        raise UserError(f"--holdout-fraction {args.holdout_fraction} of {rows} rows leaves no holdout or no rest")
    order = np.random.default_rng(args.seed).permutation(rows)
    holdout, rest = order[:holdout_rows], order[holdout_rows:]
    metrics = {
        "holdout": {**regression_metrics(values[holdout], predicted[holdout]), "rows": len(holdout)},
        "all_rows": {**regression_metrics(values, predicted), "rows": rows},
        "rows": rows,
        "features": len(model.feature_names),
        "source": {"model": str(args.model), "data": str(args.data), "seed": args.seed},
    }
    baseline = build_regression_baseline(
        model.feature_names, table.label_name, features[rest], values[rest], predicted[holdout]
    )
    return metrics, baseline
