"""The whole-block fast path (model_code/drift/fast_path.py): blocks of one shape, as an endpoint
writes them, decode exactly as the slow path decodes them line by line, including blocks with a
line that only looks like the shape (an escape the pattern's `[^"]*` lets through, a line cut
short); and the escaped-newline rows parse in bulk as they parse one by one."""

from __future__ import annotations

import random

import numpy as np
import pytest

from model_code.drift import capture, fast_path
from model_code.drift import rows as row_parsing
from model_code.drift.capture import Counts, Schema, decode_block
from model_code.drift.synthetic import capture_line

SCHEMA = Schema(("a", "b", "c"), ("0", "1"))
TIME = "2024-05-01T10:04:31Z"


def decode(lines: list[bytes]) -> tuple[capture.Decoded, Counts]:
    counts = Counts()
    return decode_block(b"\n".join(lines) + b"\n", SCHEMA, counts), counts


def slowed(text: bytes) -> bytes:
    """The same JSON, in a layout the fast patterns do not match."""
    return text.replace(b'{"captureData"', b'{ "captureData"', 1)


def same_rows(left: np.ndarray, right: np.ndarray) -> bool:
    return left.shape == right.shape and sorted(map(repr, left.tolist())) == sorted(map(repr, right.tolist()))


def assert_as_slow_path(lines: list[bytes]) -> Counts:
    fast, fast_counts = decode(lines)
    slow, slow_counts = decode([slowed(text) for text in lines])
    assert fast_counts == slow_counts
    assert same_rows(fast.features, slow.features)
    assert sorted(fast.predicted.tolist()) == sorted(slow.predicted.tolist())
    assert same_rows(fast.probabilities, slow.probabilities)
    return fast_counts


def answer(label: str, probabilities: str, inference_id: str | None) -> str:
    """The server's compact JSON answer for one row, as text (so odd numbers can be written)."""
    end = f',"inferenceId":"{inference_id}"' if inference_id is not None else ""
    return f'{{"classes":["0","1"],"predictions":[{{"label":"{label}","probabilities":[{probabilities}]}}]{end}}}'


def realistic_line(
    inputs: str, label: str = "1", probabilities: str = "0.25,0.75", answer_id: str | None = "3f2a9c0e", **kwargs: str
) -> bytes:
    """The real server's shape: a JSON answer with the generated inferenceId, no id in the metadata.
    `label` and `answer_id` are written into the answer's JSON text as they are."""
    output = answer(label, probabilities, answer_id)
    return capture_line(inputs, output, event_id="e-1", inference_time=TIME, output_encoding="JSON", **kwargs).encode()


def csv_line(inputs: str, output: str = "1,0.25,0.75", **kwargs: str) -> bytes:
    return capture_line(inputs, output, event_id="e-1", inference_time=TIME, inference_id="req-7", **kwargs).encode()


def no_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> None:
        raise AssertionError("the slow path was used")

    monkeypatch.setattr(capture, "decode_event", fail)
    monkeypatch.setattr(fast_path, "_line_by_line", fail)


def test_a_realistic_block_is_matched_whole(monkeypatch: pytest.MonkeyPatch):
    no_slow_path(monkeypatch)
    decoded, counts = decode(
        [
            realistic_line("1,2,3\n", "1", "0.4452436466804501,0.5547563533195499"),
            realistic_line("4.5,-6e-1,7", "0", "0.9,0.1"),
            realistic_line("8,,nan\n", "1", "1e-05,0.99999"),
        ]
    )
    assert np.array_equal(decoded.features, [[1, 2, 3], [4.5, -0.6, 7], [8, np.nan, np.nan]], equal_nan=True)
    assert decoded.predicted.tolist() == [1, 0, 1]
    assert decoded.probabilities.tolist() == [[0.4452436466804501, 0.5547563533195499], [0.9, 0.1], [1e-05, 0.99999]]
    assert (counts.lines, counts.records, counts.predictions, counts.predictions_skipped) == (3, 3, 3, 0)


def test_a_csv_answer_block_is_matched_whole(monkeypatch: pytest.MonkeyPatch):
    no_slow_path(monkeypatch)
    decoded, counts = decode([csv_line("1,2,3\n", "0,0.6,0.4\n"), csv_line("4,5,6", "1,0.2,0.8")])
    assert decoded.features.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert decoded.predicted.tolist() == [0, 1]
    assert decoded.probabilities.tolist() == [[0.6, 0.4], [0.2, 0.8]]
    assert (counts.lines, counts.records, counts.predictions) == (2, 2, 2)


# Lines the whole-block pattern's `[^"]*` matches but FAST_LINE does not: each must send its block
# line by line, and decode as the slow path decodes it.
LOOKALIKES = {
    "escaped quote in a content type": realistic_line("1,2,3", input_content_type='text/"csv'),
    "escaped backslash in a content type": realistic_line("1,2,3", input_content_type="text\\csv"),
    "backslash before a closing quote": realistic_line("1,2,3", output_content_type="json\\"),
    # Not JSON as any writer writes it: the quote after `text\` is escaped, so the line is malformed.
    "escaped quote closing a content type": realistic_line("1,2,3").replace(b'"text/csv"', b'"text\\"'),
    "two rows in one payload": realistic_line("1,2,3\n4,5,6"),
    "escaped backslash then n ending a payload": realistic_line("1,2,3\\n"),
    "tab escape in a payload": realistic_line("1,\t2,3"),
    "unicode escape in the metadata": realistic_line("1,2,3", answer_id="caf\u00e9"),
    "escaped backslash in the label": realistic_line("1,2,3", label="1\\\\"),
    "escaped quote in the label": realistic_line("1,2,3", label='1\\"'),
    "escaped newline in the label": realistic_line("1,2,3", label="1\\n"),
    "escaped newline in the answer id": realistic_line("1,2,3", answer_id="a\\n"),
    "a line cut short": realistic_line("1,2,3")[:120],
    "a line cut inside the payload": realistic_line("1,2,3,4,5,6,7,8,9")[:100],
    "a blank line": b"",
    "another answer id": realistic_line("1,2,3", answer_id=None),  # another shape, not a lookalike
    "not a number": realistic_line("1,2,3", probabilities="0.25,07"),
}


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
@pytest.mark.parametrize("position", [1, 5])
def test_a_lookalike_line_sends_its_block_line_by_line(name: str, position: int):
    lines = [realistic_line(f"{i},{i},{i}\n", str(i % 2), "0.5,0.5") for i in range(7)]
    lines.insert(position, LOOKALIKES[name])
    counts = assert_as_slow_path(lines)
    assert counts.records >= 7


def test_random_blocks_of_one_shape_decode_as_the_slow_path(monkeypatch: pytest.MonkeyPatch):
    line_by_line = []
    original = fast_path._line_by_line

    def counting(block: bytes) -> fast_path.FastLines:
        line_by_line.append(block)
        return original(block)

    monkeypatch.setattr(fast_path, "_line_by_line", counting)
    rng = random.Random(5)
    lookalikes = sorted(LOOKALIKES)
    cells = ["", "nan", "-0", "1e5", "1.", "-.5", "+2", "1e999", "abc", " 3 ", "0x1"]
    for block_number in range(60):
        realistic = block_number % 2 == 0
        lines = []
        for index in range(rng.randint(1, 80)):
            values = [rng.choice([repr(rng.gauss(0, 1)), f"{rng.gauss(0, 1):.6g}", rng.choice(cells)]) for _ in "abc"]
            if rng.random() < 0.05:
                values.append("1")  # wrong feature count
            inputs = ",".join(values) + rng.choice(["", "\n"])
            p = rng.random()
            if realistic:
                label = rng.choice(["0", "1", "1", "0", "dog"])
                probabilities = rng.choice([f"{1 - p!r},{p!r}", f"{1 - p!r},{p!r}", f"{p!r}", "1e400,0"])
                lines.append(realistic_line(inputs, label, probabilities, answer_id=f"{index:032x}"))
            else:
                output = rng.choice([f"1,{1 - p!r},{p!r}", f"0,{1 - p:.6g},{p:.6g}\n", "1", "cat,0.5,0.5"])
                lines.append(csv_line(inputs, output))
            if rng.random() < 0.005:
                lines.append(LOOKALIKES[rng.choice(lookalikes)])
        assert_as_slow_path(lines)
    # Both ways were taken: each slowed block goes line by line (60), and so do the 11 blocks that
    # hold a lookalike; the other 49 were matched whole.
    assert len(line_by_line) == 60 + 11


def test_random_clean_blocks_are_matched_whole(monkeypatch: pytest.MonkeyPatch):
    """The identity test above means something only if clean blocks take the whole-block path."""
    no_slow_path(monkeypatch)
    rng = np.random.default_rng(3)
    values = rng.normal(size=(500, 3))
    proba = rng.random(500)
    lines = [
        realistic_line(",".join(f"{v:.6g}" for v in row) + "\n", str(int(p > 0.5)), f"{1 - p!r},{p!r}")
        for row, p in zip(values.tolist(), proba.tolist(), strict=True)
    ]
    decoded, counts = decode(lines)
    assert counts.records == counts.predictions == 500
    assert decoded.features.tolist() == [[float(f"{v:.6g}") for v in row] for row in values.tolist()]
    assert decoded.probabilities.tolist() == [[1 - p, p] for p in proba.tolist()]


def test_rows_ending_in_an_escaped_newline_parse_as_without_it():
    rng = np.random.default_rng(4)
    rows = [",".join(repr(v) for v in row) for row in (rng.normal(size=(300, 3)) * 1e3).tolist()]
    tails = [rng.random() < 0.5 for _ in rows]
    text = "\n".join(row + ("\\n" if tail else "") for row, tail in zip(rows, tails, strict=True)).encode()
    assert fast_path.escaped_newline_tails(text) == sum(tails)
    bulk = row_parsing.bulk_parse_text(text, len(rows), 3, sum(tails))
    assert bulk is not None
    assert np.array_equal(bulk, [row_parsing.parse_csv_row(row.encode(), 3) for row in rows])
    # A row that is only an escaped newline, or a backslash anywhere else, is not taken in bulk.
    assert row_parsing.bulk_parse_text(b"1,2,3\\n\n\\n", 2, 3, 2) is None
    assert row_parsing.bulk_parse_text(b"\\n\n\\n", 2, 3, 2) is None
    assert fast_path.escaped_newline_tails(b"1,2\\n3") is None
    assert fast_path.escaped_newline_tails(b"1,2\\t\n3") is None
    assert fast_path.escaped_newline_tails(b"1,2\\") is None
    counts = Counts()
    mixed = row_parsing.parse_csv_text(b"1,,3\\n\n4,5,6", 2, 3, counts, tails=1)
    assert np.array_equal(mixed, [[4, 5, 6], [1, np.nan, 3]], equal_nan=True)  # plain rows first
    assert counts.skipped == Counts().skipped
