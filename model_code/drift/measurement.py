"""What one pass over an endpoint's captured lines measured: the counts (model_code/drift/capture.py)
and the feature and prediction histograms (model_code/drift/stats.py), as plain integers that
add up exactly across instances (model_code/drift/sharding.py). A regression model's variant is
model_code/drift/regression.py; the job (model_code/drift/job.py) turns either into a report.
"""

from __future__ import annotations

from typing import Any

from model_code.drift.capture import decode_block
from model_code.drift.schema import Counts, Schema
from model_code.drift.stats import FeatureDrift, PredictionDrift
from model_code.drift.storage import Location, Storage
from model_code.failure import UserError


class Measurement:
    """Counts and accumulated statistics of one pass over the captured lines."""

    def __init__(self, baseline: dict[str, Any]):
        self.schema = Schema(tuple(baseline["features"]), tuple(baseline["prediction"]["classes"]))
        self.counts = Counts()
        self.features = FeatureDrift(baseline["features"])
        self.prediction = PredictionDrift(baseline["prediction"])
        self.unreadable: list[dict[str, str]] = []

    def add_block(self, block: bytes) -> None:
        decoded = decode_block(block, self.schema, self.counts)
        self.features.add(decoded.features)
        self.prediction.add(decoded.predicted, decoded.probabilities)

    def add_file(self, storage: Storage, file: Location) -> None:
        """Every block of the file; a file that cannot be read is recorded, and the run goes on
        (what it yielded before failing stays counted)."""
        try:
            for block in storage.blocks(file, on_long_line=self._long_line):
                self.add_block(block)
        except UserError as exc:
            self.unreadable.append({"file": str(file), "error": str(exc)})

    def _long_line(self) -> None:
        self.counts.lines += 1
        self.counts.skipped["line_too_long"] += 1

    def state(self) -> dict[str, Any]:
        """Everything a report is computed from, as plain integers: partial states add up exactly."""
        return {
            "counts": self.counts.as_dict(),
            "unreadable_files": list(self.unreadable),
            "features": self.features.state(),
            "prediction": self.prediction.state(),
        }

    def merge_state(self, state: dict[str, Any]) -> None:
        counts = state["counts"]
        self.counts.lines += counts["lines"]
        self.counts.records += counts["records"]
        for reason, number in counts["skipped"].items():
            self.counts.skipped[reason] += number
        self.counts.predictions += counts["predictions"]
        self.counts.predictions_skipped += counts["predictions_skipped"]
        self.unreadable += state["unreadable_files"]
        self.features.merge_state(state["features"])
        self.prediction.merge_state(state["prediction"])
