"""Request bodies to a checked (rows, features) float64 array, or a 400/415 ApiError naming the problem.

Accepted: `text/csv` (one row per line, no header, values separated by commas; leading and
trailing blank lines are ignored, a blank line between rows is an error) and `application/json`
(an array of rows, each an array of numbers in the model's feature order, or an array of
records, each an object keyed by feature name). Every value must be a finite number: NaN,
infinities, empty cells, strings in JSON, booleans and nulls are refused. Except for a model
that accepts missing values (`accepts_missing` in its metadata, e.g. tree ensembles): for it an
empty CSV cell and a JSON null are a missing value, passed to the model as NaN (the literal
text NaN is still refused, so a missing value is always explicit).

Each body goes through a fast path first: a byte scan proves it holds only number characters,
then numpy's C parser (CSV) or orjson (JSON) converts it. Anything the fast path is unsure of
goes to the strict path, which reads the body cell by cell and is the definition of what is
accepted: it either returns the same array or raises the error naming the row and feature.
A property test checks that both paths agree.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys

import numpy as np
import orjson

from model_code.serve.errors import ApiError, bad_request

CSV = "text/csv"
JSON = "application/json"
CONTENT_TYPES = (CSV, JSON)
_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")
# Bytes that can appear in a body of plain numbers; anything else takes the strict path.
_CSV_NUMBER_BYTES = b"0123456789+-.eE, \t\r\n"
_JSON_NUMBER_BYTES = b"0123456789-.eE,[] \t\r\n"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CACHE_LIMIT = 64
# orjson reads at most 1024 levels; the standard library (the fallback) stops at Python's recursion limit.
_JSON_MAX_DEPTH = 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_KINDS = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}
_media_types: dict[bytes, str] = {}


def media_type(header: bytes | None) -> str:
    """CSV or JSON from a Content-Type header value; 415 for anything else."""
    cached = _media_types.get(header) if header is not None else None
    if cached is not None:
        return cached
    if header is None or not header.strip():
        raise ApiError(415, "unsupported_media_type", "no Content-Type header; send text/csv or application/json")
    text = header.decode("latin-1")
    mime, _, parameters = text.partition(";")
    mime = mime.strip().lower()
    if mime not in CONTENT_TYPES:
        raise ApiError(
            415, "unsupported_media_type", f"Content-Type {text!r} is not supported; send text/csv or application/json"
        )
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _CHARSETS:
            raise ApiError(
                415, "unsupported_media_type", f"charset in Content-Type {text!r} is not supported; send UTF-8"
            )
    if len(_media_types) >= _CACHE_LIMIT:
        _media_types.clear()
    _media_types[header] = mime
    return mime


class Decoder:
    """Decodes request bodies for one model: its feature names fix the column count and order."""

    def __init__(self, feature_names: tuple[str, ...], accepts_missing: bool = False) -> None:
        self.feature_names = feature_names
        self.accepts_missing = accepts_missing
        self.width = len(feature_names)
        self._feature_set = frozenset(feature_names)

    def decode(self, body: bytes, media: str) -> np.ndarray:
        body = body.removeprefix(_UTF8_BOM)  # spreadsheet exports start with one
        if not body.strip():
            raise bad_request(
                "malformed_input",
                f"the request body is empty; send one or more rows of {self.width} numbers "
                f"(text/csv: one row per line; application/json: an array of rows or records)",
            )
        fast = self._csv_fast(body) if media == CSV else self._json_fast(body)
        if fast is not None:
            return fast
        return self.csv_strict(body) if media == CSV else self.json_strict(body)

    # --- CSV ---------------------------------------------------------------------------

    def _csv_fast(self, body: bytes) -> np.ndarray | None:
        if body.translate(None, _CSV_NUMBER_BYTES):
            return None
        lines = body.strip().splitlines()
        if not lines:
            return None
        if len(lines) == 1:
            return self._csv_fast_row(lines[0])
        try:
            text = [line.decode("ascii") for line in lines]
            array = np.loadtxt(text, delimiter=",", dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            return None
        # loadtxt skips blank lines; the strict path reports them, so the counts must match.
        if array.shape != (len(lines), self.width) or not np.isfinite(array).all():
            return None
        return array

    def _csv_fast_row(self, line: bytes) -> np.ndarray | None:
        """One row, the most common request: float() on each cell beats any numpy parser here."""
        cells = line.split(b",")
        if len(cells) != self.width:
            return None
        try:
            values = [float(cell) for cell in cells]
        except ValueError:
            return None
        # A non-finite sum means a non-finite value, or finite ones too large to add up: the
        # strict path tells the two apart.
        if not math.isfinite(sum(values)):
            return None
        return np.array([values])

    def csv_strict(self, body: bytes) -> np.ndarray:
        text = _utf8(body)
        try:
            rows = list(csv.reader(io.StringIO(text.strip()), strict=True))
        except csv.Error as exc:
            raise bad_request("malformed_input", f"the body is not valid CSV: {exc}") from exc
        values = []
        for number, row in enumerate(rows, start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                raise bad_request(
                    "malformed_input", f"row {number} is empty; send one row per line, with no blank lines between rows"
                )
            self._check_width(number, len(row))
            values.append([self._csv_number(number, column, cell) for column, cell in enumerate(row)])
        return np.array(values, dtype=np.float64)

    def _csv_number(self, row: int, column: int, cell: str) -> float:
        stripped = cell.strip()
        if _NUMBER.fullmatch(stripped):
            value = float(stripped)
            if math.isfinite(value):
                return value
            raise self._non_finite(row, column, stripped, "is too large for a 64-bit float")
        try:
            value = float(stripped)
        except ValueError:
            value = 0.0
        if stripped and not math.isfinite(value):
            raise self._non_finite(row, column, stripped, "is not a finite number")
        if not stripped and self.accepts_missing:
            return math.nan
        hint = " (CSV input has no header row; send data rows only)" if stripped in self._feature_set else ""
        what = "an empty cell" if not stripped else repr(cell)
        raise bad_request("non_numeric", f"{self._where(row, column)}: {what} is not a number{hint}")

    # --- JSON --------------------------------------------------------------------------

    def _json_fast(self, body: bytes) -> np.ndarray | None:
        if body.translate(None, _JSON_NUMBER_BYTES):
            return None
        try:
            array = np.array(orjson.loads(body), dtype=np.float64)
        except (orjson.JSONDecodeError, ValueError, TypeError, OverflowError):
            return None
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != self.width or not np.isfinite(array).all():
            return None
        return array

    def json_strict(self, body: bytes) -> np.ndarray:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            # The standard library also reads NaN, Infinity and 1e999, so those get the
            # precise non-finite error below instead of a generic syntax error.
            try:
                document = json.loads(_utf8(body))
            except json.JSONDecodeError as exc:
                raise bad_request("malformed_input", f"the body is not valid JSON: {exc}") from exc
            except RecursionError:
                raise bad_request(
                    "malformed_input",
                    f"the JSON is nested too deeply (more than {_JSON_MAX_DEPTH} levels of arrays or objects); "
                    f"send an array of rows, each an array of {self.width} numbers",
                ) from None
            except ValueError:  # an integer longer than Python reads (sys.get_int_max_str_digits)
                raise bad_request(
                    "non_finite",
                    f"a number in the body has more than {sys.get_int_max_str_digits()} digits, too large for a "
                    f"64-bit float; values must be finite numbers",
                ) from None
        if not isinstance(document, list):
            raise bad_request(
                "malformed_input",
                f"expected a JSON array of rows (arrays of {self.width} numbers) or of records "
                f"(objects keyed by feature name); got {_json_kind(document)}",
            )
        if not document:
            raise bad_request("malformed_input", "the JSON array is empty; send at least one row")
        first = document[0]
        values = []
        for number, row in enumerate(document, start=1):
            if isinstance(row, list) and isinstance(first, list):
                self._check_width(number, len(row))
                cells = row
            elif isinstance(row, dict) and isinstance(first, dict):
                cells = self._record_values(number, row)
            elif isinstance(row, list | dict):
                raise bad_request(
                    "malformed_input",
                    f"row {number} is {_json_kind(row)} but row 1 is {_json_kind(first)}; "
                    f"send all rows as arrays or all as objects",
                )
            else:
                raise bad_request(
                    "malformed_input",
                    f"row {number} is {_json_kind(row)}; each row must be an array of {self.width} numbers "
                    f"or an object keyed by feature name (to send one row, wrap it: [[...]])",
                )
            values.append([self._json_number(number, column, value) for column, value in enumerate(cells)])
        return np.array(values, dtype=np.float64)

    def _record_values(self, number: int, record: dict) -> list[object]:
        missing = [name for name in self.feature_names if name not in record]
        unexpected = [str(name) for name in record if name not in self._feature_set]
        if missing or unexpected:
            raise bad_request(
                "wrong_feature_names",
                f"row {number} does not have the model's features: missing {_names(missing)}; "
                f"unexpected {_names(unexpected)} (features: {', '.join(self.feature_names)})",
            )
        return [record[name] for name in self.feature_names]

    def _json_number(self, row: int, column: int, value: object) -> float:
        if type(value) is float:
            if math.isfinite(value):
                return value
            raise self._non_finite(row, column, repr(value), "is not a finite number")
        if value is None and self.accepts_missing:
            return math.nan
        if type(value) is int:
            try:
                return float(value)
            except OverflowError:
                shown = f"{str(value)[:20]}..."
                raise self._non_finite(row, column, shown, "is too large for a 64-bit float") from None
        shown = _shown(value)
        raise bad_request("non_numeric", f"{self._where(row, column)}: {shown} ({_json_kind(value)}) is not a number")

    # --- shared ------------------------------------------------------------------------

    def _check_width(self, row: int, width: int) -> None:
        if width != self.width:
            raise bad_request(
                "wrong_feature_count",
                f"row {row} has {width} values; the model expects {self.width}, one per feature "
                f"in this order: {', '.join(self.feature_names)}",
            )

    def _where(self, row: int, column: int) -> str:
        return f"row {row}, column {column + 1} ({self.feature_names[column]})"

    def _non_finite(self, row: int, column: int, shown: str, why: str) -> ApiError:
        return bad_request("non_finite", f"{self._where(row, column)}: {shown} {why}; values must be finite numbers")


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(
            "malformed_input", f"the body is not UTF-8 text (byte 0x{body[exc.start]:02x} at offset {exc.start})"
        ) from exc


def _shown(value: object) -> str:
    """A JSON value as the caller sent it, cut to 40 characters; lone surrogates as their escapes."""
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:  # a lone surrogate, or nesting deeper than orjson writes (254 levels)
        try:
            shown = json.dumps(value)  # escapes lone surrogates as \udXXX
        except (RecursionError, ValueError):
            shown = "[...]" if isinstance(value, list) else "{...}"
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "none"
