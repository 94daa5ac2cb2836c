"""Fuzzing a real server process: malformed bodies and headers must never get a 5xx, every
error must be the JSON error shape, and no worker may die (same worker PIDs before and after).

Bodies are drawn from raw bytes, near-valid CSV and JSON (wrong counts, huge and tiny numbers,
NaN, text, nesting), and valid rows; headers from valid, near-valid and arbitrary printable
values. A second property sends /invocations arbitrary bytes and arbitrary JSON (any text, lone
surrogates escaped or raw, nesting to 3000 levels, integers of 4000 to 6000 digits); after both,
every line the server logged must be one JSON object. Hypothesis keeps no example database (no
files written) and runs a fixed budget.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.model_code.helpers import Job
from tests.model_code.serve_helpers import ServerProcess, start_server

LIMIT = 20_000
ERROR_CODES = {
    "malformed_input",
    "wrong_feature_count",
    "wrong_feature_names",
    "non_numeric",
    "non_finite",
    "out_of_range",
    "payload_too_large",
    "unsupported_media_type",
    "not_acceptable",
    "not_found",
    "method_not_allowed",
}


@pytest.fixture(scope="module")
def server(bundled_run: Job, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(
        bundled_run.model_dir,
        tmp_path_factory.mktemp("fuzz"),
        workers=2,
        env={"ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES": str(LIMIT), "ML_PLATFORM_SERVE_ACCESS_LOG": "true"},
    )
    try:
        process.wait_workers_ready(2)
        yield process
        assert process.stop()[0] == 0
    finally:
        process.kill()


printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
# HTTP clients refuse header values with surrounding blanks, so none can reach a server.
header_value = printable.map(str.strip)
number = st.one_of(
    st.floats(),  # includes nan, inf, -0.0, subnormals, 1.8e308
    st.integers(-(10**40), 10**40),
    st.sampled_from(["", " ", "nan", "inf", "1e999", "-", "1_0", "0x10", "１", "1,5", '"3"', "true", "null"]),
)
row = st.lists(number, min_size=0, max_size=33)


def csv_text(rows: list[list[object]]) -> bytes:
    return "\n".join(",".join(str(v) for v in r) for r in rows).encode("utf-8", "surrogatepass")


json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | printable,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(printable, children, max_size=4),
    max_leaves=40,
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.lists(row, max_size=5).map(csv_text),
    st.lists(st.lists(st.floats(-1e3, 1e3), min_size=30, max_size=30), min_size=1, max_size=3).map(csv_text),
    json_value.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    st.lists(row, max_size=4).map(lambda rows: json.dumps(rows, default=str, allow_nan=True).encode()),
    st.integers(LIMIT - 10, LIMIT + 2000).map(lambda n: b"1," * (n // 2)),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(["text/csv", "application/json", "text/csv; charset=latin-1", "application/json; q=1", "text/"]),
    header_value,
)
accepts = st.one_of(
    st.none(),
    st.sampled_from(
        ["text/csv", "application/json", "*/*", "text/csv;q=abc", "application/json;q=0", ",,;", "*/*;q=2"]
    ),
    header_value,
)
targets = st.sampled_from([("POST", "/invocations")] * 8 + [("GET", "/invocations"), ("PUT", "/ping"), ("POST", "/x")])


@settings(max_examples=200, deadline=None, database=None)
@given(body=bodies, content_type=content_types, accept=accepts, target=targets, extra=header_value)
def test_no_input_gets_a_5xx_or_kills_a_worker(server: ServerProcess, body, content_type, accept, target, extra):
    method, path = target
    headers = {"x-fuzz": extra}
    if content_type is not None:
        headers["content-type"] = content_type
    if accept is not None:
        headers["accept"] = accept
    response = server.client.request(method, path, content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        document = response.json()
        assert set(document) == {"error", "message"}
        assert document["error"] in ERROR_CODES
    else:
        predictions = response.json()["predictions"] if "json" in response.headers["content-type"] else None
        assert predictions is None or all(len(p["probabilities"]) == 2 for p in predictions)


# Any text, lone surrogates included (Hypothesis leaves them out of text unless asked).
any_text = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=20)
any_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | any_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(any_text, children, max_size=5),
    max_leaves=30,
)


def _json_text(value: object, ensure_ascii: bool) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes; without it they are raw, invalid UTF-8.
    return json.dumps(value, allow_nan=True, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def _nested(depth: int, opener: bytes, inner: bytes, closer: bytes) -> bytes:
    return opener * depth + inner + closer * depth


invocation_bodies = st.one_of(
    st.binary(max_size=2000),
    st.builds(_json_text, any_json, st.booleans()),
    st.builds(_json_text, st.lists(st.dictionaries(any_text, st.floats(), max_size=4), max_size=3), st.booleans()),
    st.builds(_nested, st.integers(1, 3000), st.just(b"["), st.sampled_from([b"", b"1", b"[1]"]), st.just(b"]")),
    st.builds(_nested, st.integers(1, 1500), st.just(b'{"a":'), st.just(b"1"), st.just(b"}")),
    # Integers longer than Python reads (4300 digits), bare and in bodies orjson refuses.
    st.builds(
        lambda digits, before, after: b"[[" + before + b"9" * digits + after + b"]]",
        st.integers(4000, 6000),
        st.sampled_from([b"", b"NaN,", b"-", b'"x",']),
        st.sampled_from([b"", b",", b",Infinity"]),
    ),
)


@settings(max_examples=300, deadline=None, database=None)
@given(body=invocation_bodies, content_type=st.sampled_from(["application/json", "text/csv"]))
def test_any_bytes_or_json_to_invocations_get_an_answer_never_a_5xx(server: ServerProcess, body, content_type):
    response = server.client.post("/invocations", content=body, headers={"content-type": content_type})
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        document = response.json()
        assert set(document) == {"error", "message"}
        assert document["error"] in ERROR_CODES


def test_every_log_line_is_one_json_object(server: ServerProcess):
    # After the fuzz tests (file order): lone surrogates and tracebacks never broke a line.
    lines = server.log_lines()
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    assert not [line for line in lines if '"level":"error"' in line]


def test_the_workers_that_started_are_the_ones_still_serving(server: ServerProcess):
    # Runs after the fuzz tests (file order): no worker died and was replaced meanwhile.
    assert server.ping_status() == 200
    replaced = [line for line in server.log_lines() if "starting a replacement" in line]
    assert replaced == []
    loaded = sorted(json.loads(line)["pid"] for line in server.log_lines() if '"model loaded"' in line)
    assert loaded == server.worker_pids()
