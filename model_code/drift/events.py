"""The slow path: one capture line decoded with `json.loads` into an `Event` (its input payload,
its output payload, its inference id). Every line the fast path (fast_path.py) does not take
comes here; the layout and the skip reasons are described in model_code/drift/capture.py.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from model_code.drift.schema import Schema, is_number


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
    if isinstance(document, list) and not all(is_number(v) for v in document):
        return document
    return [document]
