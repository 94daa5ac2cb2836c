"""Decoding SageMaker data capture: every encoding, every kind of bad line, and the fast path giving
exactly what the slow path gives."""

from __future__ import annotations

import base64
import json
import math
import random

import numpy as np
import pytest

from model_code.drift import capture
from model_code.drift import rows as row_parsing
from model_code.drift.capture import Counts, Schema, decode_block
from model_code.drift.storage import whole_lines
from model_code.drift.synthetic import capture_line

SCHEMA = Schema(("a", "b", "c"), ("0", "1"))
TIME = "2024-05-01T10:04:31Z"


def line(inputs: str, outputs: str = "1,0.25,0.75", **kwargs: str) -> bytes:
    return capture_line(inputs, outputs, event_id="e-1", inference_time=TIME, **kwargs).encode()


def decode(*lines: bytes) -> tuple[capture.Decoded, Counts]:
    counts = Counts()
    return decode_block(b"\n".join(lines) + b"\n", SCHEMA, counts), counts


def slowed(text: bytes) -> bytes:
    """The same JSON, in a layout the fast pattern does not match."""
    return text.replace(b'{"captureData"', b'{ "captureData"', 1)


def skipped(counts: Counts) -> dict[str, int]:
    return {reason: n for reason, n in counts.skipped.items() if n}


def test_a_plain_csv_capture_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch):
    def no_slow_path(*_args: object) -> None:
        raise AssertionError("the slow path was used")

    monkeypatch.setattr(capture, "decode_event", no_slow_path)
    decoded, counts = decode(line("1,2,3"), line("4.5,-6e-1,7", "0,0.9,0.1"), line("8,9,10\n", "1,0.2,0.8"))
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0], [4.5, -0.6, 7.0], [8.0, 9.0, 10.0]]
    assert decoded.predicted.tolist() == [1, 0, 1]
    assert decoded.probabilities.tolist() == [[0.25, 0.75], [0.9, 0.1], [0.2, 0.8]]
    assert counts.as_dict() == {
        "lines": 3,
        "records": 3,
        "skipped": dict.fromkeys(
            ("malformed_line", "bad_encoding", "wrong_feature_count", "bad_value", "line_too_long"), 0
        ),
        "predictions": 3,
        "predictions_skipped": 0,
    }


def test_missing_cells_are_missing_values():
    decoded, counts = decode(line("1,,3"), line(" ,2,nan"))
    assert np.array_equal(decoded.features, [[1.0, np.nan, 3.0], [np.nan, 2.0, np.nan]], equal_nan=True)
    assert counts.records == 2 and skipped(counts) == {}


def test_malformed_lines_are_counted_and_skipped():
    good = line("1,2,3")
    decoded, counts = decode(
        b"not json",
        good[:80],  # a line cut short by a partial write
        good,
        b'{"captureData": {}}',
        b"[1, 2, 3]",
        b'{"captureData": {"endpointInput": {"data": "1,2,3"}}}',  # no encoding
        b"",
        b"   ",  # blank lines are not records
    )
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0]]
    assert (counts.lines, counts.records, skipped(counts)) == (6, 1, {"malformed_line": 5})


def test_wrong_feature_count_and_bad_values_are_counted_per_row():
    decoded, counts = decode(line("1,2"), line("1,2,3,4"), line("1,abc,3"), line("1,2,3"), line("0x1,2,3"))
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0]]
    assert skipped(counts) == {"wrong_feature_count": 2, "bad_value": 2}
    assert counts.predictions == 5  # the outputs are readable whatever the inputs


def test_json_encoded_payloads():
    server_output = json.dumps(
        {
            "classes": ["0", "1"],
            "predictions": [{"label": "0", "probabilities": [0.6, 0.4]}, {"label": "1", "probabilities": [0.3, 0.7]}],
        }
    )
    decoded, counts = decode(
        line('{"instances": [[1, 2, 3], {"features": [4, 5, null]}]}', server_output, input_encoding="JSON",
             input_content_type="application/json", output_encoding="JSON", output_content_type="application/json"),
        line('{"a": 7, "c": 9}', '{"predictions": ["1"]}', input_encoding="JSON", output_encoding="JSON"),
        line("[10, 11, 12]", "[0.9, 0.1]", input_encoding="JSON", output_encoding="JSON"),
        line('[[1, 2, 3], [true, 2, 3], [1, 2]]', '[[0.1, 0.9], "0", {"label": "dog"}]', input_encoding="JSON",
             output_encoding="JSON"),
    )  # fmt: skip
    assert np.array_equal(
        decoded.features,
        [[1, 2, 3], [4, 5, np.nan], [7, np.nan, 9], [10, 11, 12], [1, 2, 3]],
        equal_nan=True,
    )
    assert skipped(counts) == {"bad_value": 1, "wrong_feature_count": 1}
    assert decoded.predicted.tolist() == [0, 1, 1, 0, 1, 0]
    assert decoded.probabilities.tolist() == [[0.6, 0.4], [0.3, 0.7], [0.9, 0.1], [0.1, 0.9]]
    assert (counts.predictions, counts.predictions_skipped) == (6, 1)


def test_base64_encoded_payloads():
    csv_payload = base64.b64encode(b"1,2,3\n4,5,6\n").decode()
    json_payload = base64.b64encode(b"[[7, 8, 9]]").decode()
    output = base64.b64encode(b'{"predictions": [{"label": "1", "probabilities": [0.1, 0.9]}]}').decode()
    decoded, counts = decode(
        line(csv_payload, "1,0.2,0.8\n0,0.6,0.4", input_encoding="BASE64", input_content_type="text/csv"),
        line(json_payload, output, input_encoding="BASE64", input_content_type="application/json",
             output_encoding="BASE64", output_content_type="application/json"),
    )  # fmt: skip
    assert decoded.features.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert decoded.predicted.tolist() == [1, 0, 1]
    assert skipped(counts) == {} and counts.records == 3


def test_bad_encodings_are_counted_and_skipped():
    decoded, counts = decode(
        line("!!not base64!!", input_encoding="BASE64", input_content_type="text/csv"),
        line(base64.b64encode(b"\x93NUMPY").decode(), input_encoding="BASE64", input_content_type="application/x-npy"),
        line(base64.b64encode(b"1,2,\xe9").decode(), input_encoding="BASE64", input_content_type="text/csv"),
        line("{not json", input_encoding="JSON"),
        line('"just a string"', input_encoding="JSON"),
        line("1,2,3", input_encoding="XML"),
        line("1,2,3"),
    )  # fmt: skip
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0]]
    assert skipped(counts) == {"bad_encoding": 6}


def test_unreadable_outputs_are_counted_apart():
    decoded, counts = decode(
        line("1,2,3", "cat,0.5,0.5"),
        line("1,2,3", "0.5,abc"),
        line("1,2,3", ""),
        line("1,2,3", "1,0.1,0.2,0.7"),
        line("1,2,3", "nan,0.5"),
        line("1,2,3", "1.0"),
    )
    assert decoded.predicted.tolist() == [1]
    assert (counts.records, counts.predictions, counts.predictions_skipped) == (6, 1, 5)


def random_cell(rng: random.Random) -> str:
    value = rng.gauss(0, 10) * 10 ** rng.randint(-6, 6)
    return rng.choice(
        [
            repr(value), f"{value:.3f}", f"{value:e}", str(int(value)), f"+{abs(value):.2f}", "-.5", "1.", "1e5",
            "", " 2.5 ", "nan", "inf", "-inf", "1_000", "abc", "1-2", "--1", "0x10", "1e", ".", "1e999",
        ]
    )  # fmt: skip


def server_json(label: str, probabilities: str) -> str:
    """The server's JSON response, as text, so invalid variants can be written too."""
    prediction = f'{{"label":"{label}","probabilities":[{probabilities}]}}'
    return f'{{"classes":["0","1"],"predictions":[{prediction}]}}'


def random_line(rng: random.Random, index: int) -> bytes:
    width = rng.choice([3, 3, 3, 3, 2, 4])
    cells = [rng.choice([f"{rng.uniform(-5, 5):.4f}", random_cell(rng), random_cell(rng)]) for _ in range(width)]
    if rng.random() < 0.05:
        cells[0] = rng.choice(['"1.5"', "a\\n", '""', "caf\u00e9"])
    probability = rng.random()
    inputs = ",".join(cells) + rng.choice(["", "", "\n", "\n\n", "\\n"])
    if rng.random() < 0.4:
        number = rng.choice([repr(probability), "0", "1e-05", "01", "+1", ".5", "1e400", "NaN", '"0.5"', "-0", "2"])
        probabilities = rng.choice([f"{1 - probability!r},{number}", f"{number}", f"{1 - probability}, {number}"])
        label = rng.choice(["1", "0", "", "dog", "1.0"])
        return line(inputs, server_json(label, probabilities), inference_id=f"id-{index}", output_encoding="JSON")
    output = rng.choice(
        [
            f"1,{1 - probability!r},{probability!r}", f"{1 - probability},{probability}", "0", "1.0", "cat",
            f"0,{probability},abc", "", f"1,{probability}", '"1",0.5,0.5',
        ]
    )  # fmt: skip
    return line(inputs, output, inference_id=f"id-{index}")


def test_the_servers_json_response_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch):
    def no_slow_path(*_args: object) -> None:
        raise AssertionError("the slow path was used")

    monkeypatch.setattr(capture, "decode_event", no_slow_path)
    response = json.dumps(
        {"classes": ["0", "1"], "predictions": [{"label": "1", "probabilities": [0.0213, 0.9787]}]},
        separators=(",", ":"),
    )
    with_id = response[:-1] + ',"inferenceId":"3f2a9c"}'  # the server's own id, when the caller sent none
    decoded, counts = decode(
        line("1,2,3", response, output_encoding="JSON", output_content_type="application/json"),
        line("4,5,6\n", server_json("0", "0.75,0.25"), output_encoding="JSON"),
        line("7,8,9", with_id, output_encoding="JSON", output_content_type="application/json"),
    )
    assert decoded.features.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    assert decoded.predicted.tolist() == [1, 0, 1]
    assert decoded.probabilities.tolist() == [[0.0213, 0.9787], [0.75, 0.25], [0.0213, 0.9787]]
    assert (counts.predictions, counts.predictions_skipped) == (3, 0)


def test_fast_and_slow_paths_give_identical_results():
    rng = random.Random(11)
    lines = [random_line(rng, i) for i in range(4000)]
    fast, fast_counts = decode(*lines)
    slow, slow_counts = decode(*[slowed(text) for text in lines])
    mixed, mixed_counts = decode(*[slowed(text) if i % 3 else text for i, text in enumerate(lines)])
    assert fast_counts == slow_counts == mixed_counts
    assert fast_counts.records > 1000 and sum(fast_counts.skipped.values()) > 500
    assert fast_counts.predictions > 1000 and fast_counts.predictions_skipped > 500
    # Lines that take different paths come out in a different order; the multisets must agree.
    for decoded in (slow, mixed):
        assert same_rows(decoded.features, fast.features)
        assert sorted(decoded.predicted.tolist()) == sorted(fast.predicted.tolist())
        assert same_rows(decoded.probabilities, fast.probabilities)


def same_rows(left: np.ndarray, right: np.ndarray) -> bool:
    return left.shape == right.shape and sorted(map(repr, left.tolist())) == sorted(map(repr, right.tolist()))


def test_most_random_lines_take_the_fast_path(monkeypatch: pytest.MonkeyPatch):
    """The identity test above means something only if the fast path handled most lines."""
    slow_lines = []
    original = capture.decode_event

    def counting(text: bytes, schema: Schema) -> capture.Event:
        slow_lines.append(text)
        return original(text, schema)

    monkeypatch.setattr(capture, "decode_event", counting)
    rng = random.Random(11)
    lines = [random_line(rng, i) for i in range(4000)]
    decode(*lines)
    # About half the random lines are built to need the slow path (escapes, spaces, odd numbers);
    # an escaped quote inside a CSV payload (never a number) takes it too: 2,482 of 4,000.
    assert 0 < len(slow_lines) < len(lines) * 0.65


def test_bulk_and_row_by_row_parsing_agree_on_plain_numbers():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(500, 3)) * 10.0 ** rng.integers(-8, 8, size=(500, 3))
    formats = [repr, lambda v: f"{v:.6g}", lambda v: f"{v:.2e}"]
    rows = [",".join(formats[i % 3](float(v)) for i, v in enumerate(row)).encode() for row in values]
    counts = Counts()
    bulk = row_parsing.parse_csv_rows(rows, 3, counts)
    one_by_one = np.array([row_parsing.parse_csv_row(row, 3) for row in rows])
    assert bulk.shape == (500, 3) and counts.skipped == Counts().skipped
    assert np.array_equal(bulk, one_by_one)
    assert all(not math.isnan(v) for v in bulk.ravel())


def test_lines_are_reassembled_across_chunk_boundaries():
    text = b"".join(line(f"{i},{i},{i}") + b"\n" for i in range(50)) + line("50,50,50")  # no final newline
    for size in (1, 7, 100, 4096):
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        blocks = list(whole_lines(chunks))
        assert all(block.endswith(b"\n") for block in blocks)
        assert b"".join(blocks) == text + b"\n"
