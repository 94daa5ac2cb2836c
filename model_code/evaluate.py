"""`python -m model_code evaluate`: score a trained model on a labelled test channel.

    python -m model_code evaluate [--model-dir DIR] [--test-dir DIR] [--champion-dir DIR] [--output FILE]

Defaults follow the SageMaker Processing layout under the contract root (ML_PLATFORM_OPT_ML,
default /opt/ml): model from processing/model (a directory holding model.npz, or the training
job's model.tar.gz), test CSVs from processing/test (same columns as the training data, any
order), the champion (the version currently approved) from processing/champion, report to
processing/evaluation/evaluation.json:

    {"metrics": {"accuracy": {"value": 0.97}, "log_loss": {"value": 0.08}},
     "rows": 114, "classes": ["0", "1"], "confusion_matrix": [[40, 2], [1, 71]],
     "champion": {"metrics": {"accuracy": {"value": 0.96}, "log_loss": {"value": 0.09}}, "rows": 114},
     "comparison": {"champion_present": true, "accuracy_delta": {"value": 0.01}}}

The candidate's baseline.json (the drift baseline `train` wrote beside the model) is copied
next to the report, so the pipeline can register it as a plain object.

Champion/challenger: the champion directory holds the approved version's model.tar.gz (or a
model directory), or no model at all (a placeholder file: the first version has no champion).
The champion is scored on the same rows as the candidate; `accuracy_delta` is candidate minus
champion accuracy (0.0 and no `champion` key when there is none). A champion trained on other
features is scored if the test data has its features; rows whose label the champion does not
know count as wrong for it (and at the log-loss ceiling). A pipeline ConditionStep reads the
report with JsonGet paths `metrics.accuracy.value` and `comparison.accuracy_delta.value`.
Failures go to the failure file and exit 1, as for `train`.

Any model format loads (model_code/model.py: model.npz, or model.onnx with model.json). A
regression model's report has `"task": "regression"`, the metrics `rmse`, `mae` and `r2`
(`metrics.rmse.value` ...), no classes or confusion matrix, and `comparison.rmse_delta`
(candidate minus champion RMSE: negative is better) instead of `accuracy_delta`.
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from model_code.atomic import write_atomic, write_json_atomic
from model_code.data import Table, read_channel
from model_code.exit_codes import EXIT_OK, EXIT_USAGE
from model_code.failure import UserError, run_command
from model_code.metrics import UNKNOWN_CLASS, accuracy, confusion_matrix, log_loss, regression_metrics
from model_code.model import REGRESSION, ModelFormatError, TabularModel, has_model, load_model
from model_code.paths import OptMl

MODEL_ARCHIVE = "model.tar.gz"
CHAMPION_INPUT = "champion"
BASELINE_FILE = "baseline.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_code evaluate")
    parser.add_argument("--model-dir", type=Path, help="default: <root>/processing/model")
    parser.add_argument("--test-dir", type=Path, help="default: <root>/processing/test")
    parser.add_argument(
        "--champion-dir", type=Path, help="default: <root>/processing/champion (no model there: no champion)"
    )
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
    model, baseline = _load_with_baseline(model_dir)
    table = read_channel(args.test_dir or paths.processing_test, model.label_name)
    features = _columns_in_model_order(model, table.feature_names, table.features)
    if model.task == REGRESSION:
        return _evaluate_regression(paths, args, model, baseline, table, features, output)
    unknown = sorted(set(table.labels.tolist()) - set(model.classes))
    if unknown:
        raise UserError(
            f"test labels {', '.join(unknown)} are not classes the model knows ({', '.join(model.classes)})"
        )
    true_index = np.searchsorted(np.asarray(model.classes), table.labels)
    proba = model.predict(features)
    report = {
        "metrics": _metrics(true_index, proba),
        "rows": len(true_index),
        "classes": list(model.classes),
        "confusion_matrix": confusion_matrix(true_index, proba, len(model.classes)),
    }
    champion_dir = args.champion_dir or paths.processing_model.parent / CHAMPION_INPUT
    champion = _load_champion(champion_dir)
    delta = 0.0
    if champion is not None:
        champion_metrics = _score_champion(champion, model, table, champion_dir)
        report["champion"] = {"metrics": champion_metrics, "rows": len(true_index)}
        delta = report["metrics"]["accuracy"]["value"] - champion_metrics["accuracy"]["value"]
    report["comparison"] = {"champion_present": champion is not None, "accuracy_delta": {"value": delta}}
    write_json_atomic(output, report)
    _write_baseline(output, baseline)
    against = (
        f"; champion accuracy={report['champion']['metrics']['accuracy']['value']:.4f} (delta {delta:+.4f})"
        if champion is not None
        else f"; no champion in {champion_dir}"
    )
    print(f"accuracy={report['metrics']['accuracy']['value']:.4f} on {len(true_index)} rows{against}; wrote {output}")
    return EXIT_OK


def _write_baseline(output: Path, baseline: bytes | None) -> None:
    if baseline is not None:
        # A processing output uploads each file as its own object, so the pipeline can register
        # <evaluation prefix>/baseline.json as the version's drift baseline (DriftCheckBaselines),
        # where the training job only leaves it inside model.tar.gz.
        write_atomic(output.parent / BASELINE_FILE, lambda handle: handle.write(baseline))


def _evaluate_regression(
    paths: OptMl,
    args: argparse.Namespace,
    model: TabularModel,
    baseline: bytes | None,
    table: Table,
    features: np.ndarray,
    output: Path,
) -> int:
    true = _numeric_labels(table)
    metrics = _regression_report(true, model.predict(features))
    report: dict = {"task": REGRESSION, "metrics": metrics, "rows": len(true)}
    champion_dir = args.champion_dir or paths.processing_model.parent / CHAMPION_INPUT
    champion = _load_champion(champion_dir)
    delta = 0.0
    if champion is not None:
        if champion.task != REGRESSION:
            raise UserError(f"champion in {champion_dir} is a {champion.task} model; the candidate is a regression")
        champion_features = _champion_features(champion, model, table, champion_dir)
        champion_metrics = _regression_report(true, champion.predict(champion_features))
        report["champion"] = {"metrics": champion_metrics, "rows": len(true)}
        delta = metrics["rmse"]["value"] - report["champion"]["metrics"]["rmse"]["value"]
    report["comparison"] = {"champion_present": champion is not None, "rmse_delta": {"value": delta}}
    write_json_atomic(output, report)
    _write_baseline(output, baseline)
    against = f"; champion delta {delta:+.4g}" if champion is not None else f"; no champion in {champion_dir}"
    print(
        f"rmse={metrics['rmse']['value']:.4g} mae={metrics['mae']['value']:.4g} r2={metrics['r2']['value']:.4f} "
        f"on {len(true)} rows{against}; wrote {output}"
    )
    return EXIT_OK


def _regression_report(true: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, float]]:
    return {name: {"value": value} for name, value in regression_metrics(true, predicted).items()}


def _numeric_labels(table: Table) -> np.ndarray:
    try:
        return table.labels.astype(np.float64)
    except ValueError:
        bad = next(label for label in table.labels.tolist() if not _is_number(label))
        raise UserError(
            f"label column '{table.label_name}' holds {bad!r}, not a number; a regression model's label must be numeric"
        ) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _metrics(true_index: np.ndarray, proba: np.ndarray) -> dict[str, dict[str, float]]:
    return {"accuracy": {"value": accuracy(true_index, proba)}, "log_loss": {"value": log_loss(true_index, proba)}}


def _load_champion(champion_dir: Path) -> TabularModel | None:
    """The champion model, or None when the directory is absent or holds no model."""
    if not has_model(champion_dir) and not (champion_dir / MODEL_ARCHIVE).exists():
        return None
    try:
        return _load(champion_dir)
    except UserError as exc:
        raise UserError(f"champion in {champion_dir}: {exc}") from exc


def _score_champion(
    champion: TabularModel, candidate: TabularModel, table: Table, champion_dir: Path
) -> dict[str, dict[str, float]]:
    """The champion's metrics on the candidate's test rows.

    Its features are taken from the test data by name (extra columns are the candidate's and
    are ignored); a label the champion does not know is UNKNOWN_CLASS (see metrics.py).
    """
    if champion.task != candidate.task:
        raise UserError(
            f"champion in {champion_dir} is a {champion.task} model; the candidate is a {candidate.task} model"
        )
    features = _champion_features(champion, candidate, table, champion_dir)
    position = {name: index for index, name in enumerate(champion.classes)}
    true_index = np.array([position.get(label, UNKNOWN_CLASS) for label in table.labels.tolist()], dtype=np.int64)
    return _metrics(true_index, champion.predict(features))


def _champion_features(champion: TabularModel, candidate: TabularModel, table: Table, champion_dir: Path) -> np.ndarray:
    if champion.label_name != candidate.label_name:
        raise UserError(
            f"champion in {champion_dir} predicts label '{champion.label_name}', the candidate "
            f"'{candidate.label_name}'; they cannot be compared on the same test data"
        )
    missing = [n for n in champion.feature_names if n not in table.feature_names]
    if missing:
        raise UserError(
            f"champion in {champion_dir} needs features the test data lacks: {', '.join(missing)}; "
            f"a champion is scored on the candidate's test data, so it must have every champion feature"
        )
    return table.features[:, [table.feature_names.index(n) for n in champion.feature_names]]


def _load(model_dir: Path) -> TabularModel:
    return _load_with_baseline(model_dir)[0]


def _load_with_baseline(model_dir: Path) -> tuple[TabularModel, bytes | None]:
    """The model in `model_dir`, or in the model.tar.gz a training job produced, and the
    bytes of the baseline.json beside it (None when there is none)."""
    archive = model_dir / MODEL_ARCHIVE
    try:
        if has_model(model_dir) or not archive.exists():
            return load_model(model_dir), _read_if_file(model_dir / BASELINE_FILE)
        with tempfile.TemporaryDirectory() as unpacked, tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")  # rejects absolute paths, links out, devices
            return load_model(Path(unpacked)), _read_if_file(Path(unpacked) / BASELINE_FILE)
    except (ModelFormatError, tarfile.TarError) as exc:
        raise UserError(str(exc)) from exc


def _read_if_file(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _columns_in_model_order(model: TabularModel, names: tuple[str, ...], features: np.ndarray) -> np.ndarray:
    missing = [n for n in model.feature_names if n not in names]
    unexpected = [n for n in names if n not in model.feature_names]
    if missing or unexpected:
        raise UserError(
            f"test data columns do not match the model's features: "
            f"missing {', '.join(missing) or 'none'}; unexpected {', '.join(unexpected) or 'none'}"
        )
    return features[:, [names.index(n) for n in model.feature_names]]
