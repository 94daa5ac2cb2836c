"""Reading a channel of CSV files (header row, numeric features, one label column).

Every `*.csv` file under the channel directory (recursively, sorted by path) is read; all
must share the first file's header. Features must be finite numbers: empty cells, `nan` and
`inf` are rejected, so the model never sees a value it was not trained on. Labels are class
names; numeric labels are normalised (`1`, `1.0` and `1e0` are the class "1").

Parsing is numpy's C reader (`np.loadtxt`) when every column is numeric; otherwise, or when
it fails, the csv module re-reads the file row by row, which also pinpoints the bad cell.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model_code.failure import UserError


@dataclass(frozen=True)
class Table:
    feature_names: tuple[str, ...]
    label_name: str
    features: np.ndarray  # float64, shape (rows, features)
    labels: np.ndarray  # str, shape (rows,)


def read_channel(channel_dir: Path, label: str) -> Table:
    files = _channel_files(channel_dir)
    header = _read_header(files[0])
    _check_label(files[0], header, label)
    parts = []
    for path in files:
        if path != files[0]:
            _check_same_header(files[0], header, path, _read_header(path))
        parts.append(_read_rows(path, header, header.index(label)))
    features = np.concatenate([p[0] for p in parts])
    if len(features) == 0:
        names = ", ".join(str(f) for f in files)
        raise UserError(f"channel directory {channel_dir} has no data rows (files: {names})")
    label_index = header.index(label)
    return Table(
        feature_names=tuple(h for i, h in enumerate(header) if i != label_index),
        label_name=label,
        features=features,
        labels=np.concatenate([p[1] for p in parts]),
    )


def _channel_files(channel_dir: Path) -> list[Path]:
    if not channel_dir.is_dir():
        raise UserError(f"channel directory {channel_dir} does not exist; put the CSV files there")
    files = sorted(p for p in channel_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise UserError(f"channel directory {channel_dir} has no .csv files")
    return files


def _read_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        row = next(csv.reader(handle), None)
    if not row:
        raise UserError(f"{path} is empty; expected a header row of column names")
    header = [name.strip() for name in row]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UserError(f"{path} header repeats column names: {', '.join(duplicates)}")
    return header


def _check_label(path: Path, header: list[str], label: str) -> None:
    if label not in header:
        raise UserError(
            f"label column '{label}' not found in {path}; columns found: {', '.join(header)} "
            f"(set the hyperparameter 'label' to the label column's name)"
        )
    if len(header) < 2:
        raise UserError(f"{path} has no feature columns besides the label column '{label}'")


def _check_same_header(first: Path, header: list[str], path: Path, other: list[str]) -> None:
    if len(other) != len(header):
        raise UserError(
            f"{path} has {len(other)} columns but {first} has {len(header)}; "
            f"every file in a channel must have the same header"
        )
    for position, (want, got) in enumerate(zip(header, other, strict=True), start=1):
        if want != got:
            raise UserError(
                f"header of {path} does not match {first}: column {position} is '{got}' "
                f"there but '{want}' in {first}; every file in a channel must have the same header"
            )


def _read_rows(path: Path, header: list[str], label_index: int) -> tuple[np.ndarray, np.ndarray]:
    fast = _read_numeric(path, len(header))
    if fast is not None and np.isfinite(fast).all():
        values, inverse = np.unique(fast[:, label_index], return_inverse=True)
        names = np.array([_label_name(float(v)) for v in values], dtype=str)
        return np.delete(fast, label_index, axis=1), names[inverse]
    return _read_row_by_row(path, header, label_index)


def _read_numeric(path: Path, columns: int) -> np.ndarray | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" for header-only files
            table = np.loadtxt(
                path,
                delimiter=",",
                skiprows=1,
                ndmin=2,
                quotechar='"',
                dtype=np.float64,
                encoding="utf-8-sig",
            )
    except ValueError:
        return None
    if table.size == 0:
        return np.empty((0, columns))
    return table if table.shape[1] == columns else None


def _read_row_by_row(path: Path, header: list[str], label_index: int) -> tuple[np.ndarray, np.ndarray]:
    rows: list[list[float]] = []
    labels: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise UserError(f"{path} line {line} has {len(row)} fields but the header has {len(header)}")
            values = []
            for index, cell in enumerate(row):
                if index == label_index:
                    if not cell.strip():
                        raise UserError(f"empty label in {path} line {line}, column '{header[index]}'")
                    labels.append(_label_name(cell))
                    continue
                values.append(_number(cell, path, line, header[index]))
            rows.append(values)
    features = np.array(rows, dtype=np.float64).reshape(len(rows), len(header) - 1)
    return features, np.array(labels, dtype=str)


def _number(cell: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(
            f"non-numeric value '{cell}' in {path} line {line}, column '{column}'; "
            f"every feature must be a finite number (empty cells, nan and inf are not allowed)"
        )
    return value


def _label_name(raw: str | float) -> str:
    """One spelling per class: numeric labels become '1' / '2.5'; others are stripped text."""
    try:
        value = float(raw)
    except ValueError:
        return str(raw).strip()
    if not math.isfinite(value):
        return str(raw).strip()
    return str(int(value)) if value.is_integer() else repr(value)
