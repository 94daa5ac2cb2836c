"""Content negotiation (Accept) and the response body: each row's label and class probabilities,
or each row's predicted value for a regression model.

JSON (the default), probabilities in the order of "classes", one prediction per input row:

    {"classes": ["0", "1"], "predictions": [{"label": "1", "probabilities": [0.0213, 0.9787]}, ...],
     "inferenceId": "order-42"}

`inferenceId` is the request's inference id (see `invocations.py`); it is also returned in the
`X-Amzn-SageMaker-Inference-Id` response header, the only place a CSV response carries it.

CSV (`Accept: text/csv`), one line per input row, no header: the label, then one probability
per class in the same order.

Regression: JSON `{"predictions": [{"value": 12.5}, ...], "inferenceId": ...}`; CSV one value
per line.

Probabilities and values are written as the shortest decimal that reads back to the same float64 (orjson,
Python's repr), so a client parsing the response gets exactly `Model.predict_proba`'s numbers.
The label is the class with the highest probability (the first on a tie), as `Model.predict`.
"""

from __future__ import annotations

import numpy as np
import orjson

from model_code.serve.decode import CSV, JSON
from model_code.serve.errors import ApiError

RESPONSE_TYPES = (JSON, CSV)  # in order of preference when the client does not mind
_CACHE_LIMIT = 64
_negotiated: dict[bytes, str] = {}


def response_type(header: bytes | None) -> str:
    """JSON or CSV for an Accept header value (absent or empty: JSON); 406 if it allows neither."""
    if header is None:
        return JSON
    cached = _negotiated.get(header)
    if cached is not None:
        return cached
    chosen = _negotiate(header.decode("latin-1"))
    if chosen is None:
        raise ApiError(
            406,
            "not_acceptable",
            f"Accept {header.decode('latin-1')!r} allows none of the response types: application/json, text/csv",
        )
    if len(_negotiated) >= _CACHE_LIMIT:
        _negotiated.clear()
    _negotiated[header] = chosen
    return chosen


def _negotiate(accept: str) -> str | None:
    """RFC 9110 section 12.5.1: each type's quality comes from the most specific range matching it."""
    if not accept.strip():
        return JSON
    ranges = []
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        if not media:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                quality = quality if 0.0 <= quality <= 1.0 else 0.0
        ranges.append((media.lower(), quality))
    best, best_quality = None, 0.0
    for offered in RESPONSE_TYPES:
        major = offered.split("/")[0]
        matches = [
            (specificity, quality)
            for media, quality in ranges
            for specificity, pattern in ((2, offered), (1, f"{major}/*"), (0, "*/*"))
            if media == pattern
        ]
        quality = max(matches)[1] if matches else 0.0
        if quality > best_quality:
            best, best_quality = offered, quality
    return best


class Encoder:
    """Encodes predictions for one model: its class names label the probabilities."""

    def __init__(self, classes: tuple[str, ...], task: str = "classification") -> None:
        self.classes = classes
        self.task = task
        self._csv_labels = [_csv_field(name) for name in classes]

    def encode(self, proba: np.ndarray, media: str, inference_id: str | None = None) -> bytes:
        if self.task == "regression":
            return self._encode_values(proba, media, inference_id)
        winners = proba.argmax(axis=1).tolist()
        rows = proba.tolist()
        if media == CSV:
            labels = self._csv_labels
            lines = [f"{labels[w]},{','.join(map(repr, row))}\n" for w, row in zip(winners, rows, strict=True)]
            return "".join(lines).encode()
        classes = self.classes
        predictions = [{"label": classes[w], "probabilities": row} for w, row in zip(winners, rows, strict=True)]
        document: dict = {"classes": classes, "predictions": predictions}
        if inference_id is not None:
            # Last, so captured responses keep a fixed prefix the drift job reads fast.
            document["inferenceId"] = inference_id
        return orjson.dumps(document)

    def _encode_values(self, values: np.ndarray, media: str, inference_id: str | None) -> bytes:
        numbers = values.tolist()
        if media == CSV:
            return "".join(f"{value!r}\n" for value in numbers).encode()
        document: dict = {"predictions": [{"value": value} for value in numbers]}
        if inference_id is not None:
            document["inferenceId"] = inference_id
        return orjson.dumps(document)


def _csv_field(text: str) -> str:
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
