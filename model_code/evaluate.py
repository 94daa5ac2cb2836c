"""`python -m model_code evaluate`: score a trained model on a labelled test channel.

    python -m model_code evaluate [--model-dir DIR] [--test-dir DIR] [--output FILE]

Defaults follow the SageMaker Processing layout under the contract root (ML_PLATFORM_OPT_ML,
default /opt/ml): model from processing/model (a directory holding model.npz, or the training
job's model.tar.gz), test CSVs from processing/test (same columns as the training data, any
order), report to processing/evaluation/evaluation.json:

    {"metrics": {"accuracy": {"value": 0.97}, "log_loss": {"value": 0.08}},
     "rows": 114, "classes": ["0", "1"], "confusion_matrix": [[40, 2], [1, 71]]}

A pipeline ConditionStep reads it with JsonGet path `metrics.accuracy.value`. Failures go to
the failure file and exit 1, as for `train`.
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from model_code.atomic import write_json_atomic
from model_code.data import read_channel
from model_code.exit_codes import EXIT_OK, EXIT_USAGE
from model_code.failure import UserError, run_command
from model_code.metrics import accuracy, confusion_matrix, log_loss
from model_code.model import MODEL_FILE, Model, ModelFormatError, load_model
from model_code.paths import OptMl

MODEL_ARCHIVE = "model.tar.gz"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_code evaluate")
    parser.add_argument("--model-dir", type=Path, help="default: <root>/processing/model")
    parser.add_argument("--test-dir", type=Path, help="default: <root>/processing/test")
    parser.add_argument("--output", type=Path, help="default: <root>/processing/evaluation/evaluation.json")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    return run_command(lambda paths: evaluate(paths, args))


def evaluate(paths: OptMl, args: argparse.Namespace) -> int:
    model_dir = args.model_dir or paths.processing_model
    output = args.output or paths.evaluation_json
    model = _load(model_dir)
    table = read_channel(args.test_dir or paths.processing_test, model.label_name)
    features = _columns_in_model_order(model, table.feature_names, table.features)
    unknown = sorted(set(table.labels.tolist()) - set(model.classes))
    if unknown:
        raise UserError(
            f"test labels {', '.join(unknown)} are not classes the model knows ({', '.join(model.classes)})"
        )
    true_index = np.searchsorted(np.asarray(model.classes), table.labels)
    proba = model.predict_proba(features)
    report = {
        "metrics": {
            "accuracy": {"value": accuracy(true_index, proba)},
            "log_loss": {"value": log_loss(true_index, proba)},
        },
        "rows": len(true_index),
        "classes": list(model.classes),
        "confusion_matrix": confusion_matrix(true_index, proba, len(model.classes)),
    }
    write_json_atomic(output, report)
    print(f"accuracy={report['metrics']['accuracy']['value']:.4f} on {len(true_index)} rows; wrote {output}")
    return EXIT_OK


def _load(model_dir: Path) -> Model:
    """Load model.npz from `model_dir`, or from the model.tar.gz a training job produced."""
    archive = model_dir / MODEL_ARCHIVE
    try:
        if (model_dir / MODEL_FILE).exists() or not archive.exists():
            return load_model(model_dir)
        with tempfile.TemporaryDirectory() as unpacked, tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")  # rejects absolute paths, links out, devices
            return load_model(Path(unpacked))
    except (ModelFormatError, tarfile.TarError) as exc:
        raise UserError(str(exc)) from exc


def _columns_in_model_order(model: Model, names: tuple[str, ...], features: np.ndarray) -> np.ndarray:
    missing = [n for n in model.feature_names if n not in names]
    unexpected = [n for n in names if n not in model.feature_names]
    if missing or unexpected:
        raise UserError(
            f"test data columns do not match the model's features: "
            f"missing {', '.join(missing) or 'none'}; unexpected {', '.join(unexpected) or 'none'}"
        )
    return features[:, [names.index(n) for n in model.feature_names]]
