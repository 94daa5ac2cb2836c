"""Where the SageMaker container contract puts things.

Everything hangs off one root, `/opt/ml` in SageMaker; the environment variable
ML_PLATFORM_OPT_ML moves it (tests, local runs). It is read when a command starts
(`OptMl.from_env()`), never at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV_VAR = "ML_PLATFORM_OPT_ML"
DEFAULT_ROOT = "/opt/ml"
TRAIN_CHANNEL = "train"


@dataclass(frozen=True)
class OptMl:
    root: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OptMl:
        env = os.environ if environ is None else environ
        return cls(Path(env.get(ROOT_ENV_VAR) or DEFAULT_ROOT))

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def input_data_config(self) -> Path:
        return self.root / "input" / "config" / "inputdataconfig.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    # SageMaker Processing jobs (the pipeline's evaluate step) mount inputs and outputs
    # under /opt/ml/processing/<name>; these are the evaluate command's defaults.
    @property
    def processing_model(self) -> Path:
        return self.root / "processing" / "model"

    @property
    def processing_test(self) -> Path:
        return self.root / "processing" / "test"

    @property
    def evaluation_json(self) -> Path:
        return self.root / "processing" / "evaluation" / "evaluation.json"
