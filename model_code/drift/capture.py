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
Lines are decoded a block at a time. A line in exactly the layout above, with a CSV input and
either a CSV output or the server's compact JSON response for one row, ASCII only and no escapes
but the response's escaped quotes (and one escaped trailing newline of a CSV payload), matches one regular
expression (the fast path): its payloads are cut out of the bytes with no JSON parsing, and a
whole block's rows are parsed by one `np.loadtxt`. Every other line takes the slow path
(`json.loads`, then the same row parsing). Both paths end in the same row parsers, which
bulk-parse only rows whose cells are all plain numbers and parse the rest cell by cell with
`float`, so a record's values never depend on the path it took (tests/model_code/
test_drift_capture.py checks this on thousands of random, partly broken lines).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_code.data import _label_name as class_name

SKIP_REASONS = ("malformed_line", "bad_encoding", "wrong_feature_count", "bad_value", "line_too_long")

# The fast path matches each line of a block as it is, escapes included: a JSON string's content
# is `[^"\\]*` (no quote, no backslash), and the only escapes it accepts are spelled out in the
# pattern: the escaped quotes of the server's JSON response, and the escaped newline that ends
# most CSV payloads (left out of the payload group; the row parsers ignore one trailing newline
# anyway). A line with any other escape, a raw control character or a non-ASCII byte is decoded
# by the slow path. (Rewriting the escapes first, with a look-behind regular expression, cost more
# than the rest together.) A block without any backslash is matched with `[^"]*` for strings
# instead, the fastest loop the regular expression engine has, and exact there: with no escape,
# a JSON string holds no quote.
_Q = rb'\\"'  # an escaped quote inside a data string
# A JSON number exactly as JSON writes it (float() alone would also take "01", "+1", ".5"), but
# the integer -0, which json reads as int 0 where float() reads -0.0.
_JSON_NUMBER = rb"(?:-?[1-9][0-9]*|-?0(?=[.eE])|0)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"


def _fast_line(
    string: bytes,
    payload: bytes | None = None,
    quote: bytes = _Q,
    newline: bytes = rb"\\n",
    list_item: bytes = rb"[^\"\\\]]|Q",
) -> re.Pattern[bytes]:
    """The whole-line pattern, with `string` for a JSON string's content, `payload` (default
    `string`) for a CSV input payload's, `quote` and `newline` for the escaped quote and newline,
    and `list_item` for one item of the response's class list (Q: an escaped quote)."""
    payload = string if payload is None else payload
    # The server's JSON response for one row, {"classes":[...],"predictions":[{"label":"1",
    # "probabilities":[0.02,0.98]}],"inferenceId":"..."} (the id is optional), as it appears
    # inside a capture's data string. Groups: the label, and the probabilities as JSON numbers
    # separated by commas.
    response = (
        (
            rb"\{Qclasses Q:\[(?:" + list_item + rb")*\],Qpredictions Q:\[\{Qlabel Q:Q(" + string + rb")Q,"
            rb"Qprobabilities Q:\[(" + _JSON_NUMBER + rb"(?:," + _JSON_NUMBER + rb")*)\]\}\]"
            rb"(?:,QinferenceIdQ:Q" + string + rb"Q)?\}"
        )
        .replace(b" ", b"")
        .replace(b"Q", quote)
    )
    # A CSV payload; one escaped newline at its end is left out of the group.
    end = rb"(?:" + newline + rb')?","encoding":"CSV"'
    return re.compile(
        rb'^\{"captureData":\{"endpointInput":\{"observedContentType":"'
        + string
        + rb'","mode":"INPUT",'
        + rb'"data":"('
        + payload
        + rb")"
        + end
        + rb"\},"
        rb'"endpointOutput":\{"observedContentType":"' + string + rb'","mode":"OUTPUT",'
        rb'(?:"data":"(' + string + rb")" + end + rb'|"data":"' + response + rb'","encoding":"JSON")\}\},'
        rb'"eventMetadata":\{"[A-Za-z]+":"' + string + rb'"(?:,"[A-Za-z]+":"' + string + rb'")*\},'
        rb'"eventVersion":"' + string + rb'"\}$',
        re.MULTILINE,
    )


FAST_LINE = _fast_line(rb'[^"\\]*')
FAST_LINE_NO_ESCAPES = _fast_line(rb'[^"]*')
# FAST_LINE with `[^"]*` for the CSV input payload, the longest string of a line: the engine's
# fastest loop, where `[^"\\]*` checks a set per byte and costs about as much as the rest of the
# line. The payload group may then end in the escaped newline or hold other escapes; `_plain_payloads`
# puts back FAST_LINE's exact group, or gives the block up (line by line with FAST_LINE) when a
# payload holds a backslash FAST_LINE would not match.
FAST_LINE_WIDE_PAYLOAD = _fast_line(rb'[^"\\]*', payload=rb'[^"]*')
# Printable ASCII and the newline between lines: the only bytes a fast line holds.
_FAST_BYTES = bytes(range(0x20, 0x80)) + b"\n"
# Bytes of a cell that is a plain decimal number; anything else is parsed cell by cell.
_NUMBER_COMMA_NEWLINE = b"0123456789.eE+-,\n"


@dataclass(frozen=True)
class Schema:
    """What a row and a prediction must look like: from baseline.json."""

    feature_names: tuple[str, ...]
    classes: tuple[str, ...]

    @property
    def width(self) -> int:
        return len(self.feature_names)

    def class_index(self, label: Any) -> int | None:
        try:
            return self.classes.index(class_name(label))
        except ValueError:
            return None


@dataclass
class Counts:
    lines: int = 0
    records: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    predictions: int = 0
    predictions_skipped: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.records,
            "skipped": dict(self.skipped),
            "predictions": self.predictions,
            "predictions_skipped": self.predictions_skipped,
        }


@dataclass
class Decoded:
    """One block's usable data: feature rows, predicted class indices, probability rows."""

    features: np.ndarray  # (rows, width); NaN = missing
    predicted: np.ndarray  # (predictions,) class index
    probabilities: np.ndarray  # (rows with probabilities, classes)


@dataclass
class Payload:
    """A decoded payload: CSV rows as bytes, or JSON rows/predictions as Python values."""

    kind: str  # "csv" or "json"
    items: list[Any]


@dataclass
class Event:
    """One capture line, decoded by the slow path."""

    inputs: Payload | str  # a Payload, or the skip reason
    output: Payload | None  # None: absent or unreadable (see output_error)
    output_error: bool
    inference_id: str | None


# ---------------------------------------------------------------------------------------------
# Blocks


def decode_block(block: bytes, schema: Schema, counts: Counts) -> Decoded:
    """Decode a block of whole lines (ending in a newline); update `counts`."""
    fast = _fast_text(block)
    pattern = FAST_LINE_WIDE_PAYLOAD if b"\\" in block else FAST_LINE_NO_ESCAPES
    # findall tries every position of a line it cannot match, so a block whose first line is
    # not in the fast layout (JSON inputs, say) goes straight to line-by-line matching.
    if fast is not None and not pattern.match(fast[0]):
        fast = None
    matches: list[tuple[bytes, ...]] = pattern.findall(fast[0]) if fast is not None else []
    slow: list[bytes] = []
    csv_inputs: list[bytes] | None = [m[0] for m in matches]
    if pattern is FAST_LINE_WIDE_PAYLOAD and matches:
        csv_inputs = _plain_payloads(csv_inputs)
    # Each match is anchored at a line start and a line end, so as many matches as lines means
    # every line matched; a blank or odd line anywhere sends the block line by line.
    if fast is None or csv_inputs is None or len(matches) != fast[1]:
        matches, slow = _split_fast_and_slow(block)
        csv_inputs = [m[0] for m in matches]
    counts.lines += len(matches) + len(slow)
    csv_outputs = [m[1] for m in matches if not m[3]]
    labels = [m[2] for m in matches if m[3]]
    label_probabilities = [m[3] for m in matches if m[3]]
    json_rows: list[Any] = []
    json_predictions: list[Any] = []
    for line in slow:
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
    features = _stack(
        [parse_csv_rows(csv_inputs, schema.width, counts), parse_json_rows(json_rows, schema, counts)],
        (0, schema.width),
    )
    counts.records += len(features)
    parts = [
        parse_prediction_rows(csv_outputs, schema, counts),
        parse_labelled_probabilities(labels, label_probabilities, schema, counts),
        parse_json_predictions(json_predictions, schema, counts),
    ]
    return Decoded(
        features=features,
        predicted=np.concatenate([predicted for predicted, _ in parts]),
        probabilities=_stack([proba for _, proba in parts], (0, len(schema.classes))),
    )


def _fast_text(block: bytes) -> tuple[bytes, int] | None:
    """(the block, its number of lines), or None if it holds a raw control character other than
    the newline, or a non-ASCII byte."""
    if not block.isascii():
        return None
    codes = np.frombuffer(block, dtype=np.uint8)
    newlines = int(np.count_nonzero(codes == 0x0A))
    controls = int(np.count_nonzero(codes < 0x20)) + int(np.count_nonzero(codes == 0x7F))
    return (block, newlines) if controls == newlines else None


def _plain_payloads(payloads: list[bytes]) -> list[bytes] | None:
    """FAST_LINE_WIDE_PAYLOAD's input payload groups exactly as FAST_LINE gives them (without the
    one escaped newline at the end), or None (the block then goes line by line) if a payload holds
    any other backslash. Exact: a payload without a backslash but that escaped newline is
    `[^"\\]*` followed by `(?:\\n)?`, which FAST_LINE matches the same way. (A fast block holds
    no NUL byte, so NUL separates the payloads while one `replace` takes off the newlines.)"""
    if not payloads:
        return []
    joined = (b"\0".join(payloads) + b"\0").replace(b"\\n\0", b"\0")
    if b"\\" in joined:
        return None
    return joined.split(b"\0")[:-1]


def _split_fast_and_slow(block: bytes) -> tuple[list[tuple[bytes, ...]], list[bytes]]:
    fast: list[tuple[bytes, ...]] = []
    slow: list[bytes] = []
    for line in block.split(b"\n"):
        if not line.strip():
            continue
        match = FAST_LINE.match(line) if not line.translate(None, _FAST_BYTES) else None
        if match:
            fast.append(match.groups(b""))
        else:
            slow.append(line)
    return fast, slow


def _stack(parts: list[np.ndarray], empty_shape: tuple[int, int]) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    if not parts:
        return np.empty(empty_shape)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# The slow path: one line


def decode_event(line: bytes, schema: Schema) -> Event:
    try:
        document = json.loads(line)
    except ValueError:  # includes UnicodeDecodeError
        return Event("malformed_line", None, False, None)
    capture = document.get("captureData") if isinstance(document, dict) else None
    source = capture.get("endpointInput") if isinstance(capture, dict) else None
    if not _is_capture_part(source):
        return Event("malformed_line", None, False, None)
    metadata = document.get("eventMetadata")
    inference_id = metadata.get("inferenceId") if isinstance(metadata, dict) else None
    inputs = _decode_payload(source)
    if isinstance(inputs, Payload) and inputs.kind == "json":
        rows = _json_feature_rows(inputs.items[0], schema)
        inputs = "bad_encoding" if rows is None else Payload("json", rows)
    sink = capture.get("endpointOutput")
    output: Payload | str | None = _decode_payload(sink) if _is_capture_part(sink) else None
    if isinstance(output, Payload) and output.kind == "json":
        if inference_id is None and isinstance(output.items[0], dict):
            # No InferenceId from the caller: the id the server generated and returned.
            inference_id = output.items[0].get("inferenceId")
        items = _json_prediction_items(output.items[0])
        output = "bad_encoding" if items is None else Payload("json", items)
    output_error = isinstance(output, str) or (sink is not None and output is None)
    return Event(
        inputs=inputs,
        output=output if isinstance(output, Payload) else None,
        output_error=output_error,
        inference_id=inference_id if isinstance(inference_id, str) else None,
    )


def _is_capture_part(part: Any) -> bool:
    return isinstance(part, dict) and isinstance(part.get("data"), str) and isinstance(part.get("encoding"), str)


def _decode_payload(part: dict[str, Any]) -> Payload | str:
    """CSV rows (bytes) or a one-item JSON payload; a skip reason if undecodable."""
    encoding, data = part["encoding"].upper(), part["data"]
    if encoding == "CSV":
        return _csv_payload(data)
    if encoding == "JSON":
        return _json_payload(data)
    if encoding != "BASE64":
        return "bad_encoding"
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "bad_encoding"
    content_type = str(part.get("observedContentType", "")).lower()
    if "csv" in content_type:
        return _csv_payload(raw)
    if "json" in content_type:
        return _json_payload(raw)
    return "bad_encoding"


def _csv_payload(data: str | bytes) -> Payload | str:
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from a JSON escape
            return "bad_encoding"
    if data.endswith(b"\n"):
        data = data[:-1]
    return Payload("csv", [row.removesuffix(b"\r") for row in data.split(b"\n")])


def _json_payload(data: str | bytes) -> Payload | str:
    try:
        return Payload("json", [json.loads(data)])
    except ValueError:
        return "bad_encoding"


def _json_feature_rows(document: Any, schema: Schema) -> list[Any] | None:
    """The rows of a JSON input payload (each a list, or a dict by feature name); None if no shape fits."""
    if isinstance(document, dict):
        if "instances" in document:
            instances = document["instances"]
            if not isinstance(instances, list) or not all(isinstance(i, list | dict) for i in instances):
                return None
            return [_json_instance(i) for i in instances]
        return [_json_instance(document)]
    if isinstance(document, list):
        if document and all(isinstance(i, list | dict) for i in document):
            return [_json_instance(i) for i in document]
        return [document]
    return None


def _json_instance(instance: list[Any] | dict[str, Any]) -> Any:
    if isinstance(instance, dict) and isinstance(instance.get("features"), list):
        return instance["features"]
    return instance


def _json_prediction_items(document: Any) -> list[Any] | None:
    if isinstance(document, dict) and "predictions" in document:
        items = document["predictions"]
        return items if isinstance(items, list) else None
    if isinstance(document, list) and not all(_is_number(v) for v in document):
        return document
    return [document]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# Rows


def parse_csv_rows(rows: list[bytes], width: int, counts: Counts) -> np.ndarray:
    """Feature rows from CSV lines; bad rows are counted in `counts.skipped` and left out."""
    if not rows:
        return np.empty((0, width))
    bulk = _bulk_parse(rows, width)
    if bulk is not None:
        return bulk
    plain: list[bytes] = []
    other: list[bytes] = []
    for row in rows:
        (plain if _plain_row(row, width) else other).append(row)
    bulk = _bulk_parse(plain, width) if plain else np.empty((0, width))
    if bulk is None:
        return _rows_one_by_one(rows, width, counts)
    return _stack([bulk, _rows_one_by_one(other, width, counts)], (0, width))


def _bulk_parse(rows: list[bytes], width: int) -> np.ndarray | None:
    """All rows at once with numpy's C parser, or None.

    Only rows made of number characters and commas are tried, and numpy agrees with `float` on
    every such cell it accepts; it rejects an empty cell, a malformed number or a row whose
    column count differs, and then the caller parses row by row.
    """
    text = b"\n".join(rows)
    if not all(rows) or text.translate(None, _NUMBER_COMMA_NEWLINE):
        return None
    try:
        matrix = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None, quotechar=None)
    except ValueError:
        return None
    return matrix if matrix.shape == (len(rows), width) else None


def _plain_row(row: bytes, width: int) -> bool:
    return (
        bool(row)
        and row.count(b",") == width - 1
        and not row.translate(None, _NUMBER_COMMA_NEWLINE)
        and b",," not in row
        and not row.startswith(b",")
        and not row.endswith(b",")
    )


def _rows_one_by_one(rows: list[bytes], width: int, counts: Counts) -> np.ndarray:
    parsed = []
    for row in rows:
        values = parse_csv_row(row, width)
        if isinstance(values, str):
            counts.skipped[values] += 1
        else:
            parsed.append(values)
    return np.array(parsed, dtype=np.float64).reshape(len(parsed), width)


def parse_csv_row(row: bytes, width: int) -> list[float] | str:
    """The reference semantics of one CSV row: values (NaN = missing) or the skip reason."""
    try:
        text = row.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding"
    cells = text.split(",")
    if len(cells) != width:
        return "wrong_feature_count"
    values = []
    for cell in cells:
        cell = cell.strip()
        if not cell:
            values.append(math.nan)
            continue
        try:
            values.append(float(cell))
        except ValueError:
            return "bad_value"
    return values


def parse_json_rows(rows: list[Any], schema: Schema, counts: Counts) -> np.ndarray:
    parsed = []
    for row in rows:
        values = _json_row(row, schema)
        if isinstance(values, str):
            counts.skipped[values] += 1
        else:
            parsed.append(values)
    return np.array(parsed, dtype=np.float64).reshape(len(parsed), schema.width)


def _json_row(row: Any, schema: Schema) -> list[float] | str:
    if isinstance(row, dict):
        if set(row) - set(schema.feature_names):
            return "wrong_feature_count"
        row = [row.get(name) for name in schema.feature_names]
    if not isinstance(row, list) or len(row) != schema.width:
        return "wrong_feature_count"
    values = []
    for value in row:
        if value is None:
            values.append(math.nan)
        elif _is_number(value):
            try:
                values.append(float(value))
            except OverflowError:
                return "bad_value"
        else:
            return "bad_value"
    return values


# ---------------------------------------------------------------------------------------------
# Predictions


Prediction = tuple[int, list[float] | None]  # predicted class index, class probabilities if given


def parse_prediction_rows(rows: list[bytes], schema: Schema, counts: Counts) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class index per readable row, probability rows) from CSV output lines."""
    bulk = _bulk_predictions(rows, schema, counts)
    if bulk is not None:
        return bulk
    predicted: list[int] = []
    probabilities: list[list[float]] = []
    for row in rows:
        _add_prediction(parse_prediction_row(row, schema), predicted, probabilities, counts)
    return _prediction_arrays(predicted, probabilities, len(schema.classes))


def _bulk_predictions(rows: list[bytes], schema: Schema, counts: Counts) -> tuple[np.ndarray, np.ndarray] | None:
    """All rows at once when they are all `p1,...,pn` or all `label,p1,...,pn` with numeric labels."""
    n_classes = len(schema.classes)
    if not rows or n_classes < 2:
        return None
    columns = rows[0].count(b",") + 1
    matrix = _bulk_parse(rows, columns) if columns in (n_classes, n_classes + 1) else None
    if matrix is None:
        return None
    proba = matrix[:, -n_classes:]
    valid = np.isfinite(proba).all(axis=1)
    if columns == n_classes:
        predicted = proba.argmax(axis=1)
    else:
        predicted = _label_indices(matrix[:, 0], schema)
        valid &= predicted >= 0
    counts.predictions += int(valid.sum())
    counts.predictions_skipped += int(len(valid) - valid.sum())
    if valid.all():
        return predicted, proba
    return predicted[valid], proba[valid]


def _label_indices(labels: np.ndarray, schema: Schema) -> np.ndarray:
    """Class index of each numeric label (-1: not a class), named as `class_name` names them."""
    values, inverse = np.unique(labels, return_inverse=True)
    indices = [schema.class_index(float(v)) if np.isfinite(v) else None for v in values]
    return np.array([-1 if i is None else i for i in indices], dtype=np.int64)[inverse]


def parse_prediction_row(row: bytes, schema: Schema) -> Prediction | None:
    """The reference semantics of one CSV output line: `label`, `p1,...,pn` or `label,p1,...,pn`."""
    try:
        cells = [cell.strip() for cell in row.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None
    n_classes = len(schema.classes)
    if len(cells) == 1:
        return _labelled(cells[0], None, schema)
    if len(cells) == n_classes:
        return _unlabelled(cells, schema)
    if len(cells) == n_classes + 1:
        probabilities = _probabilities(cells[1:], schema)
        return _labelled(cells[0], probabilities, schema) if probabilities is not None else None
    return None


def parse_labelled_probabilities(
    labels: list[bytes], probabilities: list[bytes], schema: Schema, counts: Counts
) -> tuple[np.ndarray, np.ndarray]:
    """The fast path's JSON responses: per response its label and its probabilities as JSON numbers
    separated by commas; the same results as `_json_prediction` on the decoded response."""
    n_classes = len(schema.classes)
    known = {label: schema.class_index(label.decode()) if label else None for label in set(labels)}
    indices = np.array([-1 if known[label] is None else known[label] for label in labels], dtype=np.int64)
    matrix = _bulk_parse(probabilities, n_classes) if labels else None
    if matrix is None:
        rows = [_probabilities(text.decode().split(","), schema) for text in probabilities]
        valid = np.array([row is not None for row in rows], dtype=bool) & (indices >= 0)
        matrix = np.array([row if row is not None else [np.nan] * n_classes for row in rows], dtype=np.float64)
        matrix = matrix.reshape(len(rows), n_classes)
    else:
        valid = np.isfinite(matrix).all(axis=1) & (indices >= 0)
    counts.predictions += int(valid.sum())
    counts.predictions_skipped += int(len(valid) - valid.sum())
    return indices[valid], matrix[valid]


def parse_json_predictions(items: list[Any], schema: Schema, counts: Counts) -> tuple[np.ndarray, np.ndarray]:
    predicted: list[int] = []
    probabilities: list[list[float]] = []
    for item in items:
        _add_prediction(_json_prediction(item, schema), predicted, probabilities, counts)
    return _prediction_arrays(predicted, probabilities, len(schema.classes))


def _json_prediction(item: Any, schema: Schema) -> Prediction | None:
    """A class name, a list of probabilities, or {"label": ..., "probabilities": [...]} (either or both)."""
    if isinstance(item, list):
        return _unlabelled(item, schema) if all(_is_number(v) for v in item) else None
    if not isinstance(item, dict):
        return _labelled(item, None, schema)
    if "label" not in item and "probabilities" not in item:
        return None
    probabilities = None
    if "probabilities" in item:
        given = item["probabilities"]
        if not isinstance(given, list) or not all(_is_number(v) for v in given):
            return None
        probabilities = _probabilities(given, schema)
        if probabilities is None:
            return None
    if "label" not in item:
        return _unlabelled(probabilities, schema)
    return _labelled(item["label"], probabilities, schema)


def _labelled(label: Any, probabilities: list[float] | None, schema: Schema) -> Prediction | None:
    if isinstance(label, bool) or not isinstance(label, str | int | float) or label == "":
        return None
    index = schema.class_index(label)
    return None if index is None else (index, probabilities)


def _unlabelled(cells: list[Any] | None, schema: Schema) -> Prediction | None:
    probabilities = _probabilities(cells, schema) if cells is not None else None
    return None if probabilities is None else (int(np.argmax(probabilities)), probabilities)


def _probabilities(cells: list[Any], schema: Schema) -> list[float] | None:
    if len(cells) != len(schema.classes) or len(cells) < 2:
        return None
    try:
        values = [float(cell) for cell in cells]
    except (ValueError, OverflowError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _add_prediction(
    result: Prediction | None, predicted: list[int], probabilities: list[list[float]], counts: Counts
) -> None:
    if result is None:
        counts.predictions_skipped += 1
        return
    counts.predictions += 1
    predicted.append(result[0])
    if result[1] is not None:
        probabilities.append(result[1])


def _prediction_arrays(
    predicted: list[int], probabilities: list[list[float]], n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array(predicted, dtype=np.int64),
        np.array(probabilities, dtype=np.float64).reshape(len(probabilities), n_classes),
    )
