"""The request decoder's two paths agree: whatever the fast path accepts, the strict path
(the definition of what is valid) accepts with the very same float64 values.

The fast path exists only for speed (a byte scan, then numpy's or orjson's C parsers); if it
ever accepted a body the strict path refuses, or read a number differently, the server would
answer differently depending on the layout of a request. Hypothesis searches for such a body.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from model_code.serve.decode import CSV, JSON, Decoder
from model_code.serve.errors import ApiError

DECODER = Decoder(("a", "b", "c"))

number_text = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.from_regex(r"[+-]?\d{0,4}\.?\d{0,4}([eE][+-]?\d{1,4})?", fullmatch=True),
    st.text(alphabet="0123456789+-.eE \t", max_size=8),
)
csv_rows = st.lists(st.lists(number_text, min_size=2, max_size=4), min_size=1, max_size=4)
csv_bodies = st.one_of(
    st.builds(
        lambda rows, newline: newline.join(",".join(row) for row in rows),
        csv_rows,
        st.sampled_from(["\n", "\r\n", "\n\n", " \n"]),
    ).map(str.encode),
    st.binary(max_size=40).map(lambda b: bytes(c for c in b if c in b"0123456789+-.eE, \t\r\n")),
)
json_number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**400), 10**400).map(str),
    st.from_regex(r"-?\d{1,3}(\.\d{1,3})?([eE][+-]?\d{1,4})?", fullmatch=True),
)
json_bodies = st.one_of(
    st.lists(st.lists(json_number, min_size=2, max_size=4), max_size=3).map(
        lambda rows: ("[" + ",".join("[" + ",".join(row) + "]" for row in rows) + "]").encode()
    ),
    st.text(alphabet="0123456789-.eE,[] ", max_size=30).map(str.encode),
)


def strict(body: bytes, media: str) -> np.ndarray | None:
    try:
        return DECODER.csv_strict(body) if media == CSV else DECODER.json_strict(body)
    except ApiError as exc:
        assert exc.status == 400
        return None


@settings(max_examples=250, deadline=None, database=None)
@given(body=csv_bodies)
@example(body=b"1,2,3\n\n4,5,6")  # loadtxt skips the blank line; the strict path refuses it
@example(body=b"1e999,1,2")  # overflows to inf in both parsers
@example(body=b"1,2,3,")
@example(body=b" +.5 , -0. ,1E+3 \r\n")
def test_csv_fast_path_agrees_with_the_strict_path(body: bytes):
    fast = DECODER._csv_fast(body)
    if fast is not None:
        reference = strict(body, CSV)
        assert reference is not None, body
        assert fast.dtype == reference.dtype == np.float64
        assert np.array_equal(fast, reference), body


@settings(max_examples=250, deadline=None, database=None)
@given(body=json_bodies)
@example(body=b"[[1e999, 1, 2]]")
@example(body=b"[[" + b"9" * 400 + b", 1, 2]]")
@example(body=b"[[1, 2, 3], [4, 5]]")
@example(body=b"[[[1, 2, 3]]]")
def test_json_fast_path_agrees_with_the_strict_path(body: bytes):
    fast = DECODER._json_fast(body)
    if fast is not None:
        reference = strict(body, JSON)
        assert reference is not None, body
        assert np.array_equal(fast, reference), body


@pytest.mark.parametrize(
    ("body", "media"),
    [
        (b"1,2,3\n4,5,6\n", CSV),
        (b"1,2,3", CSV),
        (b"[[1, 2, 3], [4.5, -6e-3, 7E2]]", JSON),
        (b'[{"c": 3, "b": 2, "a": 1}]', JSON),
    ],
)
def test_ordinary_bodies_decode_to_the_expected_rows(body: bytes, media: str):
    expected = {
        b"1,2,3\n4,5,6\n": [[1, 2, 3], [4, 5, 6]],
        b"1,2,3": [[1, 2, 3]],
        b"[[1, 2, 3], [4.5, -6e-3, 7E2]]": [[1, 2, 3], [4.5, -0.006, 700]],
        b'[{"c": 3, "b": 2, "a": 1}]': [[1, 2, 3]],
    }[body]
    decoded = DECODER.decode(body, media)
    assert decoded.dtype == np.float64
    assert decoded.tolist() == expected


def test_the_fast_paths_take_plain_numbers():
    assert DECODER._csv_fast(b"1,2,3\n4,5,6\n").tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert DECODER._csv_fast(b"1.5,-2,3e4").tolist() == [[1.5, -2.0, 30000.0]]
    assert DECODER._json_fast(b"[[1,2,3],[4,5,6]]").tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    # Anything else is left to the strict path.
    assert DECODER._csv_fast(b'"1",2,3') is None
    assert DECODER._csv_fast(b"nan,2,3") is None
    assert DECODER._json_fast(b'[{"a": 1, "b": 2, "c": 3}]') is None
