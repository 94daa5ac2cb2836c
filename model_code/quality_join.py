"""The quality jobs' shared ground: reading the ground-truth labels of a window and joining them
with the captured predictions by inferenceId (the rules are in model_code/quality.py's
docstring), for classifiers (model_code/quality.py) and regression models
(model_code/quality_regression.py) alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from model_code.drift.events import Event, decode_event
from model_code.drift.predictions import parse_json_predictions, parse_prediction_rows
from model_code.drift.schema import Counts, Schema
from model_code.drift.storage import Location, Storage
from model_code.drift.window import Window, hour_prefix

REPORT_PREFIX = "quality-reports"
GROUND_TRUTH_PREFIX = "ground-truth"
FORMAT_VERSION = 1
INFERENCE_ID = re.compile(rb'"inferenceId":\s*"([^"\\]*)"')
# The id the server puts in its JSON response, seen escaped inside the capture's output data.
RESPONSE_INFERENCE_ID = re.compile(rb'\\"inferenceId\\":\s*\\"([^"\\]*)\\"')


class UsageError(Exception):
    """An argument that can only be checked once the baseline is read."""


# ---------------------------------------------------------------------------------------------
# Labels


@dataclass
class Labels:
    by_id: dict[str, int] = field(default_factory=dict)  # inferenceId -> class index, unique ids only
    files: int = 0
    lines: int = 0
    malformed: int = 0
    unknown_class: int = 0
    duplicate_ids: int = 0


# How to read one ground-truth label: its value, or which Labels counter it goes to instead.
LabelReader = Callable[[Any], tuple[Any, str | None]]


def class_label(schema: Schema) -> LabelReader:
    """A classification label: its class index; a value outside the model's classes is
    `unknown_class`."""

    def read(label: Any) -> tuple[Any, str | None]:
        scalar = isinstance(label, str | int | float) and not isinstance(label, bool)
        index = schema.class_index(label) if scalar else None
        return (index, None) if index is not None else (None, "unknown_class")

    return read


def read_labels(storage: Storage, root: Location, window: Window, reader: LabelReader) -> Labels:
    """Every JSONL ground-truth record of the window (`inferenceId`, `label`), read with
    `reader`; an id given twice is left out (counted in `duplicate_ids`)."""
    labels = Labels()
    seen: dict[str, Any] = {}
    duplicates: set[str] = set()
    for hour in window.hours():
        for file in storage.list_files(root.child(hour_prefix(hour))):
            labels.files += 1
            for block in storage.blocks(file):
                for line in block.split(b"\n"):
                    if line.strip():
                        labels.lines += 1
                        _add_label(line, reader, labels, seen, duplicates)
    labels.by_id = {key: value for key, value in seen.items() if key not in duplicates}
    labels.duplicate_ids = len(duplicates)
    return labels


def _add_label(line: bytes, reader: LabelReader, labels: Labels, seen: dict[str, Any], duplicates: set[str]) -> None:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("inferenceId"), str) or "label" not in record:
        labels.malformed += 1
        return
    value, refused_as = reader(record["label"])
    if refused_as is not None:
        setattr(labels, refused_as, getattr(labels, refused_as) + 1)
        return
    inference_id = record["inferenceId"]
    if inference_id in seen:
        duplicates.add(inference_id)
    seen[inference_id] = value


# ---------------------------------------------------------------------------------------------
# Join


@dataclass
class Joined:
    true: list[Any] = field(default_factory=list)  # class indexes, or values (regression)
    predicted: list[Any] = field(default_factory=list)
    orphan_labels: int = 0
    duplicate_prediction_ids: int = 0
    unreadable_predictions: int = 0


def join_predictions(
    storage: Storage,
    files: list[Location],
    labels: Labels,
    schema: Schema,
    prediction_of: Callable[[Event], Any] | None = None,
) -> Joined:
    """Each labelled inference's prediction (`prediction_of` the captured event: the predicted
    class index by default; None when it cannot be read), paired with its label. Labels without
    a prediction, predictions captured twice and unreadable predictions are counted, not paired."""
    if prediction_of is None:
        prediction_of = lambda event: _single_prediction(event, schema)  # noqa: E731
    found: dict[str, Any] = {}  # labelled id -> prediction (None: unreadable)
    duplicates: set[str] = set()
    for file in files:
        for block in storage.blocks(file):
            for line in block.split(b"\n"):
                if _labelled_id(line, labels) is None:
                    continue
                event = decode_event(line, schema)
                inference_id = event.inference_id
                if inference_id not in labels.by_id:
                    continue
                if inference_id in found:
                    duplicates.add(inference_id)
                found[inference_id] = prediction_of(event)
    joined = Joined(duplicate_prediction_ids=len(duplicates))
    for inference_id, label in labels.by_id.items():
        if inference_id not in found:
            joined.orphan_labels += 1
        elif inference_id in duplicates:
            continue
        elif found[inference_id] is None:
            joined.unreadable_predictions += 1
        else:
            joined.true.append(label)
            joined.predicted.append(found[inference_id])
    return joined


def _labelled_id(line: bytes, labels: Labels) -> str | None:
    """The line's inferenceId if it is one we hold a label for; most lines are rejected without JSON parsing."""
    match = INFERENCE_ID.search(line) or RESPONSE_INFERENCE_ID.search(line)
    if match:
        candidate = match.group(1).decode("utf-8", "replace")
        return candidate if candidate in labels.by_id else None
    if b'"inferenceId"' not in line:
        return None
    try:  # escaped characters in the id: decode the line properly
        metadata = json.loads(line).get("eventMetadata", {})
    except (ValueError, AttributeError):
        return None
    candidate = metadata.get("inferenceId") if isinstance(metadata, dict) else None
    return candidate if isinstance(candidate, str) and candidate in labels.by_id else None


def _single_prediction(event: Event, schema: Schema) -> int | None:
    if event.output is None:
        return None
    scratch = Counts()
    if event.output.kind == "csv":
        predicted, _ = parse_prediction_rows(event.output.items, schema, scratch)
    else:
        predicted, _ = parse_json_predictions(event.output.items, schema, scratch)
    if scratch.predictions_skipped or len(predicted) != 1:
        return None
    return int(predicted[0])
