"""Predictions: CSV output lines, the fast path's JSON responses and decoded JSON predictions,
each read into (predicted class index, class probabilities)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from model_code.drift.rows import bulk_parse
from model_code.drift.schema import Counts, Schema, is_number

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
    matrix = bulk_parse(rows, columns) if columns in (n_classes, n_classes + 1) else None
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
    matrix = bulk_parse(probabilities, n_classes) if labels else None
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
        return _unlabelled(item, schema) if all(is_number(v) for v in item) else None
    if not isinstance(item, dict):
        return _labelled(item, None, schema)
    if "label" not in item and "probabilities" not in item:
        return None
    probabilities = None
    if "probabilities" in item:
        given = item["probabilities"]
        if not isinstance(given, list) or not all(is_number(v) for v in given):
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
