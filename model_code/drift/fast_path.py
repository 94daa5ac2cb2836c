"""The fast path: capture lines in the exact layout of model_code/drift/capture.py, cut out of a
block's bytes by regular expressions instead of parsed as JSON.

Which lines
-----------
A line takes the fast path when it has exactly that layout with a CSV input and either a CSV
output or the server's compact JSON answer for one row
(`{"classes":[...],"predictions":[{"label":"1","probabilities":[0.02,0.98]}],"inferenceId":"..."}`,
the id optional), is printable ASCII, and holds no escape but the answer's escaped quotes and one
escaped newline ending the CSV input or output. `FAST_LINE` matches exactly those lines, escapes
included: a JSON string's content is `[^"\\]*`, and the escapes it accepts are spelled out. Its
groups are the CSV input (without the escaped newline), the CSV output (likewise), the answer's
label and its probabilities as JSON numbers separated by commas. Every other line is decoded by
the slow path (model_code/drift/events.py).

Whole blocks
------------
A capture file is written by one endpoint variant, so its lines share everything but their
values: the answer's class list, whether the answer carries an inferenceId, the metadata keys.
`match_block` reads that shape from a block's first line (`FAST_LINE_SHAPE`: FAST_LINE with
named groups) and matches the whole block with one `findall` of a pattern made for that shape
(cached): the shape's parts as literal bytes, and every string value as `[^"]*`, the regular
expression engine's fastest loop (`[^"\\]*` checks a set per byte and cost about as much as the
rest of the line). `[^"]*` lets a backslash in, and can run over a line end, so the block is
taken only if
- there are as many matches as lines (each match is anchored at a line start and a line end, so
  a match running over a line end leaves a line unmatched), and
- the block holds exactly as many backslashes as the shape's escaped quotes (each match holds
  them, in its literal parts) plus the escaped newlines that end CSV inputs and outputs.
Then no value holds any other backslash, so every line matches FAST_LINE, with the same groups.
Otherwise each line is matched by FAST_LINE on its own (`_line_by_line`).
tests/model_code/test_drift_fast_path.py checks both against the slow path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

_Q = rb'\\"'  # an escaped quote inside a data string
_STRING = rb'[^"\\]*'  # a JSON string's content without escapes
_ANY = rb'[^"]*'  # the same when the backslash count rules escapes out (see above)
# A JSON number exactly as JSON writes it (float() alone would also take "01", "+1", ".5"), but
# the integer -0, which json reads as int 0 where float() reads -0.0.
_JSON_NUMBER = rb"(?:-?[1-9][0-9]*|-?0(?=[.eE])|0)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_NUMBERS = rb"(" + _JSON_NUMBER + rb"(?:," + _JSON_NUMBER + rb")*)"
# Printable ASCII and the newline between lines: the only bytes a fast line holds.
_FAST_BYTES = bytes(range(0x20, 0x80)) + b"\n"


def _q(template: bytes) -> bytes:
    """A template with Q for each escaped quote of the answer."""
    return template.replace(b"Q", _Q)


def _answer(classes: bytes, label: bytes, answer_id: bytes) -> bytes:
    """The server's JSON answer for one row as it appears inside the capture's data string."""
    return (
        _q(rb"\{QclassesQ:\[")
        + classes
        + _q(rb"\],QpredictionsQ:\[\{QlabelQ:")
        + label
        + _q(rb",QprobabilitiesQ:\[")
        + _NUMBERS
        + rb"\]\}\]"
        + answer_id
        + rb"\}"
    )


def _line(string: bytes, payload: bytes, output: bytes, metadata: bytes) -> re.Pattern[bytes]:
    return re.compile(
        rb'^\{"captureData":\{"endpointInput":\{"observedContentType":"' + string + rb'","mode":"INPUT",'
        rb'"data":"' + payload + rb'","encoding":"CSV"\},'
        rb'"endpointOutput":\{"observedContentType":"' + string + rb'","mode":"OUTPUT",' + output + rb"\}\},"
        rb'"eventMetadata":' + metadata + rb',"eventVersion":"' + string + rb'"\}$',
        re.MULTILINE,
    )


def _strict(named: bool) -> re.Pattern[bytes]:
    """FAST_LINE; with `named`, groups naming the shape's parts too."""

    def group(name: str, pattern: bytes) -> bytes:
        return b"(?P<" + name.encode() + b">" + pattern + b")" if named else b"(?:" + pattern + b")"

    csv_output = rb'"data":"(' + _STRING + rb')(?:\\n)?","encoding":"CSV"'
    answer = _answer(
        classes=group("classes", _q(rb"(?:[^\"\\\]]|Q)*")),
        label=_Q + b"(" + _STRING + b")" + _Q,
        answer_id=group("answer_id", _q(rb",QinferenceIdQ:Q" + _STRING + b"Q")) + b"?",
    )
    key_value = rb'"[A-Za-z]+":"' + _STRING + b'"'
    return _line(
        _STRING,
        payload=rb"(" + _STRING + rb")(?:\\n)?",
        output=b"(?:" + group("csv", csv_output) + rb'|"data":"' + answer + rb'","encoding":"JSON")',
        metadata=group("metadata", rb"\{" + key_value + rb"(?:," + key_value + rb")*\}"),
    )


FAST_LINE = _strict(named=False)
FAST_LINE_SHAPE = _strict(named=True)


@dataclass(frozen=True)
class Shape:
    """What a block's lines share: CSV or JSON output; the answer's class list (as it appears in
    the line) and whether it has an inferenceId; the metadata keys."""

    csv_output: bool
    classes: bytes
    answer_id: bool
    metadata_keys: tuple[bytes, ...]


def shape_of(line: bytes) -> tuple[Shape, int] | None:
    """The shape of a FAST_LINE line, and its number of escaped quotes (its only backslashes
    besides escaped newlines ending its CSV payloads); None if FAST_LINE does not match it."""
    match = FAST_LINE_SHAPE.match(line)
    if match is None or match.end() != len(line):
        return None
    shape = Shape(
        csv_output=match["csv"] is not None,
        classes=match["classes"] or b"",
        answer_id=match["answer_id"] is not None,
        metadata_keys=tuple(re.findall(rb'"([A-Za-z]+)":"', match["metadata"])),
    )
    return shape, line.count(b'\\"')


@functools.lru_cache(maxsize=16)
def shape_pattern(shape: Shape) -> re.Pattern[bytes]:
    """One line of this shape, every string value `[^"]*`. Groups: the CSV input and the CSV
    output, or the CSV input, the label and the probabilities; each CSV with its escaped newline."""
    if shape.csv_output:
        output = rb'"data":"(' + _ANY + rb')","encoding":"CSV"'
    else:
        answer_id = _q(rb",QinferenceIdQ:Q" + _ANY + b"Q") if shape.answer_id else b""
        answer = _answer(re.escape(shape.classes), _Q + b"(" + _ANY + b")" + _Q, answer_id)
        output = rb'"data":"' + answer + rb'","encoding":"JSON"'
    metadata = b",".join(b'"' + key + b'":"' + _ANY + b'"' for key in shape.metadata_keys)
    return _line(_ANY, payload=b"(" + _ANY + b")", output=output, metadata=rb"\{" + metadata + rb"\}")


@dataclass
class FastLines:
    """A block's lines, split: the fast path's data, and the lines left for the slow path."""

    lines: int  # non-blank lines
    inputs: bytes  # the CSV inputs, one row per line, no newline at the end ...
    input_rows: int
    input_tails: int  # ... of which this many end in an escaped newline (backslash, n)
    csv_outputs: list[bytes]
    labels: list[bytes]  # the JSON answers' labels ...
    probabilities: list[bytes]  # ... and probabilities, JSON numbers separated by commas
    slow: list[bytes]


def match_block(block: bytes) -> FastLines:
    """Split a block of whole lines (ending in a newline) into fast-path data and slow lines."""
    counted = _printable(block)
    found = shape_of(block[: block.find(b"\n")]) if counted is not None else None
    if counted is None or found is None:
        return _line_by_line(block)
    (lines, backslashes), (shape, escaped_quotes) = counted, found
    matches = shape_pattern(shape).findall(block)
    if len(matches) != lines:
        return _line_by_line(block)
    inputs = b"\n".join([m[0] for m in matches])
    input_tails = escaped_newline_tails(inputs)
    csv_outputs: list[bytes] = [m[1] for m in matches] if shape.csv_output else []
    output_tails = escaped_newline_tails(b"\n".join(csv_outputs))
    if input_tails is None or output_tails is None:
        return _line_by_line(block)
    if backslashes != lines * escaped_quotes + input_tails + output_tails:
        return _line_by_line(block)
    if output_tails:
        csv_outputs = [output.removesuffix(b"\\n") for output in csv_outputs]
    return FastLines(
        lines=lines,
        inputs=inputs,
        input_rows=lines,
        input_tails=input_tails,
        csv_outputs=csv_outputs,
        labels=[] if shape.csv_output else [m[1] for m in matches],
        probabilities=[] if shape.csv_output else [m[2] for m in matches],
        slow=[],
    )


def _printable(block: bytes) -> tuple[int, int] | None:
    """The block's numbers of lines and of backslashes, or None if it holds a non-ASCII byte or a
    control character other than the newline (JSON allows neither raw in a string; the slow path
    decides)."""
    if not block.isascii() or b"\x7f" in block:
        return None
    codes = np.frombuffer(block, dtype=np.uint8)
    lines = int(np.count_nonzero(codes == 0x0A))
    if int(np.count_nonzero(codes < 0x20)) != lines:
        return None
    return lines, int(np.count_nonzero(codes == 0x5C))


def escaped_newline_tails(text: bytes) -> int | None:
    """How many rows of `text` (joined by newlines) end in an escaped newline (backslash, n);
    None if a backslash appears anywhere else."""
    codes = np.frombuffer(text + b"\n", dtype=np.uint8)
    at = np.flatnonzero(codes == 0x5C)
    if not len(at):
        return 0
    if at[-1] + 2 >= len(codes) or not ((codes[at + 1] == ord("n")) & (codes[at + 2] == 0x0A)).all():
        return None
    return len(at)


def _line_by_line(block: bytes) -> FastLines:
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
    answered = [m for m in fast if m[3]]
    return FastLines(
        lines=len(fast) + len(slow),
        inputs=b"\n".join(m[0] for m in fast),
        input_rows=len(fast),
        input_tails=0,
        csv_outputs=[m[1] for m in fast if not m[3]],
        labels=[m[2] for m in answered],
        probabilities=[m[3] for m in answered],
        slow=slow,
    )
