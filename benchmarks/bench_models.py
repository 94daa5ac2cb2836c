"""The models `serve_throughput.py` serves: the demo model trained by the container's own
entrypoint, and a random forest exported to ONNX (and pickled for the reference server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
ONNX_TREES, ONNX_DEPTH = 100, 8


def train_demo_model(workdir: Path) -> Path:
    env = {**os.environ, "ML_PLATFORM_OPT_ML": str(workdir), "PYTHONPATH": str(REPO_ROOT)}
    channel = workdir / "input" / "data" / "train"
    for args in (["-m", "model_code.datagen", "--out", str(channel), "--rows", "2000"], ["-m", "model_code", "train"]):
        subprocess.run([sys.executable, *args], env=env, check=True, capture_output=True, cwd=REPO_ROOT)
    return workdir / "model"


def build_onnx_model(workdir: Path) -> tuple[Path, Path]:
    """(ONNX model directory, joblib file) of one random forest on the bundled 30-feature data."""
    import joblib
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    from model_code import import_onnx
    from model_code.datagen import breast_cancer

    table = breast_cancer(rows=2000, seed=1, noise=0.05)
    labels = np.asarray(table.labels)
    forest = RandomForestClassifier(n_estimators=ONNX_TREES, max_depth=ONNX_DEPTH, random_state=0)
    forest.fit(table.features, labels)
    onnx_file, train_csv = workdir / "forest.onnx", workdir / "forest-train.csv"
    onnx_file.write_bytes(
        to_onnx(
            forest, table.features[:1].astype(np.float32), options={"zipmap": False}, target_opset=15
        ).SerializeToString()
    )
    names = [f"f{i:02d}" for i in range(table.features.shape[1])]
    lines = [",".join([*names, "target"])]
    lines += [
        ",".join([*map(repr, row.tolist()), str(label)]) for row, label in zip(table.features, labels, strict=True)
    ]
    train_csv.write_text("\n".join(lines) + "\n")
    model_dir = workdir / "onnx-model"
    argv = ["--model", str(onnx_file), "--data", str(train_csv), "--label", "target", "--out", str(model_dir)]
    if import_onnx.main([*argv, "--accepts-missing"]) != 0:
        raise SystemExit("import-onnx failed on the benchmark's forest")
    joblib.dump(forest, workdir / "forest.joblib")
    return model_dir, workdir / "forest.joblib"
