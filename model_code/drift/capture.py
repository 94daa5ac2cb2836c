"""SageMaker data capture: the file format, and decoding it into feature rows and predictions.

Format
------
With data capture on, SageMaker writes JSON Lines files (UTC hour of the capture) to

    <DestinationS3Uri>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/<mm-ss-sss>-<uuid>.jsonl

and each line is one invocation:

    {"captureData": {
        "endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                           "data": "17.99,10.38,122.8", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                           "data": "0.0312,0.9688", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "6ece5c74-...", "inferenceId": "order-42",
                       "inferenceTime": "2024-05-01T10:04:31Z"},
     "eventVersion": "0"}

`encoding` says how `data` holds the payload:
- `CSV`: the payload text itself (content types in the capture config's CsvContentTypes);
- `JSON`: the payload text itself, a JSON document (JsonContentTypes);
- `BASE64`: base64 of the payload bytes (any other content type); `observedContentType` then
  says whether the bytes are CSV (it contains `csv`) or JSON (it contains `json`).
`eventMetadata.inferenceId` is there only when the caller passed an `InferenceId`.

Payloads understood
-------------------
Input, one or more rows with the features in baseline.json's order:
- CSV: one row per line (one trailing newline is ignored). An empty cell or `nan` is a missing
  value; every other cell must be a number.
- JSON: `[f1, ..., fn]`, `[[...], ...]`, `{"instances": [...]}` (each instance a list,
  `{"features": [...]}` or `{"<feature>": value, ...}`), `{"features": [...]}`, or
  `{"<feature>": value, ...}`. `null` or an absent feature is a missing value.
Output, one prediction per input row (the server writes `label,p1,...,pn` for CSV and
`{"classes": [...], "predictions": [{"label": ..., "probabilities": [...]}, ...]}` for JSON):
- CSV: per line `label,p1,...,pn`, `p1,...,pn` (baseline class order) or just the label.
- JSON: `{"predictions": [...]}` or a list of predictions, each `{"label": ..., "probabilities":
  [...]}` (either key may be missing), a list of class probabilities or a class name. A flat list
  of numbers is one prediction's probabilities.
The predicted class is the label when there is one, else the most probable class; the
probabilities, when present, feed the per-class probability histograms.

Counting
--------
Blank lines are ignored. Per line: not a capture record (not JSON, or no
`captureData.endpointInput` with string `data` and `encoding`) is `malformed_line`; an input
payload that cannot be decoded (unknown encoding, bad base64, not UTF-8, invalid JSON, a JSON
shape not listed above, a content type neither CSV nor JSON) is `bad_encoding`. Per row: the
wrong number of values is `wrong_feature_count`, a value that is not a number is `bad_value`.
A line over the storage limit (model_code/drift/storage.py, MAX_LINE_BYTES) is `line_too_long`.
All are counted and skipped. Outputs are counted apart: `predictions` read and
`predictions_skipped` (present but unreadable).

Speed
-----
Lines are decoded a block at a time. Lines in exactly the layout above, with a CSV input and
either a CSV output or the server's compact JSON answer for one row, take the fast path
(model_code/drift/fast_path.py): their payloads are cut out of the bytes by regular expressions,
with no JSON parsing, and a whole block's rows and probabilities are each parsed by one
`np.loadtxt` (model_code/drift/rows.py). Every other line takes the slow path
(model_code/drift/events.py: `json.loads`, then the same row parsers). The row parsers
bulk-parse only rows whose cells are all plain numbers and parse the rest cell by cell with
`float`, so a record's values never depend on the path it took (tests/model_code/
test_drift_capture.py and test_drift_fast_path.py check this on thousands of random, partly
broken lines).

Modules: schema.py (Schema, Counts), fast_path.py, events.py (the slow path), rows.py (feature
rows), predictions.py; this module puts them together (`decode_block`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model_code.drift.events import Event, Payload, decode_event
from model_code.drift.fast_path import match_block
from model_code.drift.predictions import (
    parse_json_predictions,
    parse_labelled_probabilities,
    parse_prediction_rows,
)
from model_code.drift.rows import parse_csv_rows, parse_csv_text, parse_json_rows
from model_code.drift.schema import SKIP_REASONS, Counts, Schema, stack

__all__ = [
    "SKIP_REASONS",
    "Counts",
    "Decoded",
    "Event",
    "Payload",
    "Schema",
    "decode_block",
    "decode_event",
    "parse_csv_rows",
    "parse_json_rows",
]


@dataclass
class Decoded:
    """One block's usable data: feature rows, predicted class indices, probability rows."""

    features: np.ndarray  # (rows, width); NaN = missing
    predicted: np.ndarray  # (predictions,) class index
    probabilities: np.ndarray  # (rows with probabilities, classes)


def decode_block(block: bytes, schema: Schema, counts: Counts) -> Decoded:
    """Decode a block of whole lines (ending in a newline); update `counts`."""
    fast = match_block(block)
    counts.lines += fast.lines
    csv_inputs: list[bytes] = []
    csv_outputs = list(fast.csv_outputs)
    json_rows: list[Any] = []
    json_predictions: list[Any] = []
    for line in fast.slow:
        event = decode_event(line, schema)
        if isinstance(event.inputs, str):
            counts.skipped[event.inputs] += 1
        elif event.inputs.kind == "csv":
            csv_inputs.extend(event.inputs.items)
        else:
            json_rows.extend(event.inputs.items)
        if event.output_error:
            counts.predictions_skipped += 1
        elif event.output is not None:
            (csv_outputs if event.output.kind == "csv" else json_predictions).extend(event.output.items)
    features = stack(
        [
            parse_csv_text(fast.inputs, fast.input_rows, schema.width, counts, fast.input_tails),
            parse_csv_rows(csv_inputs, schema.width, counts),
            parse_json_rows(json_rows, schema, counts),
        ],
        (0, schema.width),
    )
    counts.records += len(features)
    parts = [
        parse_prediction_rows(csv_outputs, schema, counts),
        parse_labelled_probabilities(fast.labels, fast.probabilities, schema, counts),
        parse_json_predictions(json_predictions, schema, counts),
    ]
    return Decoded(
        features=features,
        predicted=np.concatenate([predicted for predicted, _ in parts]),
        probabilities=stack([proba for _, proba in parts], (0, len(schema.classes))),
    )
