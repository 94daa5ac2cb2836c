"""`trainer=gbt`: gradient-boosted trees with XGBoost, resumable round by round.

The data checks and the stratified holdout are model_code/train.py's (`prepare`); this
module trains on the raw (unstandardised) features, checkpoints the booster every
`gbt_checkpoint_every_rounds` rounds, on the last round and on SIGTERM, and writes the model
directory: model.onnx and model.json (onnx_export.py), xgboost-model.ubj (XGBoost's own
format, to load with `xgboost.Booster(model_file=...)`), and train.py's metrics.json and
baseline.json.

Why a resumed run equals an uninterrupted one, bit for bit:
- the booster is driven one round at a time (`Booster.update`), and a stop is honoured only
  between rounds, so a checkpoint always holds whole rounds;
- a checkpoint is the booster's own UBJSON bytes: trees, base score and configuration, all of
  the state that shapes the next round when no row or column subsampling is used (XGBoost's
  samplers keep random state outside the model, which is why the trainer offers none);
- XGBoost's `hist` tree method builds the same trees whatever the thread count, and the
  feature bins are a function of the data and `gbt_max_bin` alone.
tests/model_code/test_gbt_trainer.py stops a run at round k, resumes it and compares bytes.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import xgboost as xgb

from model_code.atomic import write_atomic, write_json_atomic
from model_code.data import Table
from model_code.exit_codes import EXIT_OK
from model_code.hyperparameters import Hyperparameters
from model_code.metrics import log_loss
from model_code.paths import OptMl
from model_code.signals import StopRequest
from model_code.trainers.gbt_checkpoints import resume_latest_round, save_round
from model_code.trainers.onnx_export import (
    INPUT_NAME,
    OUTPUT_NAMES,
    booster_to_onnx,
    check_export,
    opset_import,
)
from model_code.trainers.prepared import Prepared, write_reports

ONNX_FILE = "model.onnx"
METADATA_FILE = "model.json"
NATIVE_FILE = "xgboost-model.ubj"


def booster_params(hp: Hyperparameters, classes: int) -> dict[str, Any]:
    """XGBoost's parameters for this run (https://xgboost.readthedocs.io/en/stable/parameter.html)."""
    if classes == 2:
        objective = {"objective": "binary:logistic", "eval_metric": "logloss"}
    else:
        objective = {"objective": "multi:softprob", "num_class": classes, "eval_metric": "mlogloss"}
    return {
        **objective,
        "tree_method": "hist",
        "max_depth": hp.gbt_max_depth,
        "eta": hp.gbt_learning_rate,
        "min_child_weight": hp.gbt_min_child_weight,
        "lambda": hp.gbt_reg_lambda,
        "alpha": hp.gbt_reg_alpha,
        "gamma": hp.gbt_gamma,
        "max_bin": hp.gbt_max_bin,
        "seed": hp.seed,
        "verbosity": 1,
    }


def predict_proba(booster: xgb.Booster, matrix: xgb.DMatrix, classes: int) -> np.ndarray:
    """Class probabilities, (rows, classes) in class-index order, as float64.

    binary:logistic predicts P(class 1); the class-0 column is 1 - p in float32, the same
    arithmetic as the ONNX graph's."""
    proba = booster.predict(matrix)
    if classes == 2:
        proba = np.column_stack([np.float32(1) - proba, proba])
    return proba.astype(np.float64)


def train_gbt(
    paths: OptMl, stop: StopRequest, table: Table, hp: Hyperparameters, data: Prepared, fingerprint: str
) -> int:
    classes = len(data.classes)
    # Feature names stay XGBoost's defaults (f0, f1, ...): CSV headers may hold characters
    # XGBoost refuses in names ('[', ']', '<'), and model.json carries the real names.
    train = xgb.DMatrix(data.train_raw, label=data.train_y)
    holdout = xgb.DMatrix(data.holdout_raw, label=data.holdout_y)
    params = booster_params(hp, classes)
    resumed = resume_latest_round(paths.checkpoints, fingerprint)
    if resumed:
        booster = xgb.Booster(params, [train, holdout], model_file=bytearray(resumed.model))
        done = resumed.round
        print(f"resuming from {resumed.path} (round {done})")
    else:
        booster = xgb.Booster(params, [train, holdout])
        done = 0
        print(f"no usable checkpoint in {paths.checkpoints}; starting from round 0")

    while done < hp.gbt_rounds:
        booster.update(train, iteration=done)
        done += 1
        if stop.requested():
            path = save_round(paths.checkpoints, done, booster.save_raw("ubj"), fingerprint)
            print(f"stopped by {stop.name()} at round {done}; checkpoint saved to {path}", file=sys.stderr)
            return stop.exit_code()
        if done % hp.gbt_checkpoint_every_rounds == 0 or done == hp.gbt_rounds:
            loss = log_loss(data.holdout_y, predict_proba(booster, holdout, classes))
            print(f"round={done}/{hp.gbt_rounds} holdout_log_loss={loss:.6f}")
            save_round(paths.checkpoints, done, booster.save_raw("ubj"), fingerprint)
    write_gbt_outputs(paths, table, hp, data, booster, train, holdout, done)
    return EXIT_OK


def write_gbt_outputs(
    paths: OptMl,
    table: Table,
    hp: Hyperparameters,
    data: Prepared,
    booster: xgb.Booster,
    train: xgb.DMatrix,
    holdout: xgb.DMatrix,
    rounds: int,
) -> None:
    classes = len(data.classes)
    holdout_proba = predict_proba(booster, holdout, classes)
    onnx_model = booster_to_onnx(booster, len(table.feature_names))
    export_check = check_export(onnx_model, data.holdout_raw, holdout_proba)
    native = booster.save_raw("ubj")
    write_atomic(paths.model_dir / ONNX_FILE, lambda handle: handle.write(onnx_model))
    write_atomic(paths.model_dir / NATIVE_FILE, lambda handle: handle.write(native))
    write_json_atomic(
        paths.model_dir / METADATA_FILE,
        {
            "format": "onnx",
            "task": "classification",
            "feature_names": list(table.feature_names),
            "classes": list(data.classes),
            "label": table.label_name,
            # XGBoost sends a missing value down each split's learned default branch, and the
            # exported graph does the same (nodes_missing_value_tracks_true).
            "accepts_missing": True,
            "onnx": {
                "file": ONNX_FILE,
                "input": INPUT_NAME,
                "outputs": list(OUTPUT_NAMES),
                "opset_import": opset_import(onnx_model),
            },
            "trainer": {
                "name": "gbt",
                "library": "xgboost",
                "version": xgb.__version__,
                "rounds": rounds,
                "native_model": NATIVE_FILE,
            },
            "export_check": export_check,
        },
    )
    metrics = write_reports(
        paths, table, hp, data, predict_proba(booster, train, classes), holdout_proba, {"rounds": rounds}
    )
    print(
        f"done: holdout accuracy={metrics['holdout']['accuracy']:.4f} "
        f"log_loss={metrics['holdout']['log_loss']:.6f}; ONNX export within "
        f"{export_check['max_abs_difference']:.3g} of XGBoost; wrote {paths.model_dir}"
    )
