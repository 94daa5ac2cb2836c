"""Feature rows: CSV lines parsed in bulk by numpy where every cell is a plain number, else cell
by cell with `float`, and JSON rows; both give exactly what `parse_csv_row` / `_json_row` give
one row at a time."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from model_code.drift.schema import Counts, Schema, is_number, stack

# Bytes of a cell that is a plain decimal number; anything else is parsed cell by cell.
_NUMBER_COMMA_NEWLINE = b"0123456789.eE+-,\n"
_NUMBER_COMMA_NEWLINE_BACKSLASH = _NUMBER_COMMA_NEWLINE + b"\\"


def parse_csv_rows(rows: list[bytes], width: int, counts: Counts) -> np.ndarray:
    """Feature rows from CSV lines; bad rows are counted in `counts.skipped` and left out."""
    return parse_csv_text(b"\n".join(rows), len(rows), width, counts)


def parse_csv_text(text: bytes, rows: int, width: int, counts: Counts, tails: int = 0) -> np.ndarray:
    """`parse_csv_rows` of the `rows` lines of `text` (joined by newlines, none at the end), of
    which `tails` end in a capture's escaped newline (backslash, n: not part of the row; the
    caller has checked that the text holds no other backslash)."""
    if not rows:
        return np.empty((0, width))
    bulk = bulk_parse_text(text, rows, width, tails)
    if bulk is not None:
        return bulk
    lines = text.split(b"\n")
    if tails:
        lines = [row.removesuffix(b"\\n") for row in lines]
    plain: list[bytes] = []
    other: list[bytes] = []
    for row in lines:
        (plain if _plain_row(row, width) else other).append(row)
    bulk = bulk_parse(plain, width) if plain else np.empty((0, width))
    if bulk is None:
        return _rows_one_by_one(lines, width, counts)
    return stack([bulk, _rows_one_by_one(other, width, counts)], (0, width))


def bulk_parse(rows: list[bytes], width: int) -> np.ndarray | None:
    """All rows at once with numpy's C parser, or None (see `bulk_parse_text`)."""
    return bulk_parse_text(b"\n".join(rows), len(rows), width) if rows else None


def bulk_parse_text(text: bytes, rows: int, width: int, tails: int = 0) -> np.ndarray | None:
    """The `rows` lines of `text` (joined by newlines, none at the end; `tails` of them end in an
    escaped newline, as for `parse_csv_text`) at once with numpy's C parser, or None.

    Only rows made of number characters and commas are tried, and numpy agrees with `float` on
    every such cell it accepts (both round correctly); it rejects an empty cell, a malformed
    number or a row whose column count differs, and then the caller parses row by row. The
    escaped newlines are read as comments (from the backslash to the end of the row); the only
    `n`s allowed are theirs.
    """
    # numpy skips an empty row, so the shape check below catches one anywhere; it warns when all
    # are empty (the text is then only newlines and escaped newlines), which is caught here.
    empty_row = len(text) == rows - 1 + 2 * tails or text.startswith(b"\n") or text.endswith(b"\n")
    allowed = _NUMBER_COMMA_NEWLINE_BACKSLASH if tails else _NUMBER_COMMA_NEWLINE
    if empty_row or text.translate(None, allowed) != b"n" * tails:
        return None
    comments = "\\" if tails else None
    try:
        matrix = np.loadtxt(
            io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=comments, quotechar=None
        )
    except ValueError:
        return None
    return matrix if matrix.shape == (rows, width) else None


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
        elif is_number(value):
            try:
                values.append(float(value))
            except OverflowError:
                return "bad_value"
        else:
            return "bad_value"
    return values
