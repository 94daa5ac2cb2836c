"""The HTTP contract of the inference server, through the app in-process (Starlette's TestClient).

Every success and error case is checked on status and body. Predictions must be exactly
`Model.predict_proba`'s numbers: the server calls the model itself and writes floats as the
shortest decimal that reads back to the same float64, so equality here is bit-for-bit.
What this cannot show (real sockets, worker processes, signals) is in test_serve_process.py.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from starlette.testclient import TestClient

from model_code.data import read_channel
from model_code.model import Model, load_model
from model_code.serve.app import create_app
from model_code.serve.invocations import OFFLOAD_BYTES
from model_code.serve.settings import ServeSettings
from tests.model_code.helpers import Job
from tests.model_code.serve_helpers import answer, csv_body, expected_json, json_rows_body, wait_until

LIMIT = 300_000
CSV = {"content-type": "text/csv"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def model_dir(bundled_run: Job) -> Path:
    return bundled_run.model_dir


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Model:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def rows(bundled_channel: Path, model: Model) -> np.ndarray:
    """The 569 training rows' features, in the model's feature order."""
    table = read_channel(bundled_channel, model.label_name)
    assert table.feature_names == model.feature_names
    return table.features


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    app = create_app(ServeSettings(model_dir=model_dir, max_payload_bytes=LIMIT))
    with TestClient(app) as client:
        wait_until(lambda: client.get("/ping").status_code == 200, 10, "the model to load")
        yield client


def features(model: Model) -> str:
    return ", ".join(model.feature_names)


def error(code: str, message: str) -> dict:
    return {"error": code, "message": message}


# --- /ping ---------------------------------------------------------------------------------


def test_ping_is_200_once_the_model_is_loaded(client: TestClient):
    response = client.get("/ping")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})
    assert response.headers["content-type"] == "application/json"


def test_startup_finishes_only_once_the_model_is_loaded(model_dir: Path):
    # uvicorn accepts connections only after the lifespan's startup: no request reaches a worker
    # whose model is still loading.
    release = threading.Event()

    def slow_load(directory: Path) -> Model:
        release.wait(10)
        return load_model(directory)

    client = TestClient(create_app(ServeSettings(model_dir=model_dir), load=slow_load))
    started = threading.Event()
    thread = threading.Thread(target=lambda: (client.__enter__(), started.set()))
    thread.start()
    try:
        assert not started.wait(0.5), "the startup finished before the model was loaded"
        release.set()
        assert started.wait(10)
        response = client.get("/ping")
        assert (response.status_code, response.json()) == (200, {"status": "ready"})
    finally:
        release.set()
        thread.join()
        client.__exit__(None, None, None)


def test_without_its_startup_the_app_answers_503_model_not_ready(model_dir: Path):
    client = TestClient(create_app(ServeSettings(model_dir=model_dir)))  # no `with`: no lifespan
    loading = error("model_not_ready", f"the model is still loading from {model_dir}; retry shortly")
    response = client.get("/ping")
    assert (response.status_code, response.json()) == (503, loading)
    response = client.post("/invocations", content=b"1", headers=CSV)
    assert (response.status_code, response.json()) == (503, loading)


def test_ping_is_503_with_the_reason_when_there_is_no_model(tmp_path: Path):
    with TestClient(create_app(ServeSettings(model_dir=tmp_path))) as client:
        wait_until(lambda: client.get("/ping").json()["error"] == "model_load_failed", 10, "the load to fail")
        failed = error(
            "model_load_failed", f"the model failed to load: no model file: {tmp_path}/model.npz does not exist"
        )
        response = client.get("/ping")
        assert (response.status_code, response.json()) == (503, failed)
        response = client.post("/invocations", content=b"1,2", headers=CSV)
        assert (response.status_code, response.json()) == (503, failed)


def test_a_packed_model_gets_a_hint_to_extract_it(tmp_path: Path):
    (tmp_path / "model.tar.gz").write_bytes(b"not read")
    with TestClient(create_app(ServeSettings(model_dir=tmp_path))) as client:
        wait_until(lambda: client.get("/ping").status_code == 503 and "error" in client.get("/ping").json(), 10, "x")
        wait_until(lambda: client.get("/ping").json()["error"] == "model_load_failed", 10, "the load to fail")
        assert client.get("/ping").json()["message"] == (
            f"the model failed to load: no model file: {tmp_path}/model.npz does not exist; "
            f"{tmp_path}/model.tar.gz is a packed model: SageMaker extracts it, locally run tar -xzf on it first"
        )


def test_a_model_with_non_finite_parameters_is_refused_at_load(tmp_path: Path, model: Model):
    broken = Model(
        feature_names=model.feature_names,
        label_name=model.label_name,
        classes=model.classes,
        mean=model.mean,
        scale=model.scale,
        weights=np.full_like(model.weights, np.nan),
        bias=model.bias,
    )
    with TestClient(create_app(ServeSettings(model_dir=tmp_path), load=lambda _: broken)) as client:
        wait_until(lambda: client.get("/ping").status_code == 503 and "failed" in client.get("/ping").text, 10, "x")
        assert client.get("/ping").json() == error(
            "model_load_failed",
            "the model failed to load: the model's weights holds values that are not finite numbers",
        )


# --- predictions ---------------------------------------------------------------------------


def test_one_csv_row_answers_json_with_label_and_probabilities(client: TestClient, model: Model, rows: np.ndarray):
    response = client.post("/invocations", content=csv_body(rows[:1]), headers=CSV)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert answer(response) == expected_json(model, rows[:1])
    [prediction] = response.json()["predictions"]
    assert prediction["probabilities"] == model.predict_proba(rows[:1])[0].tolist()  # exact float64 equality


def test_the_callers_inference_id_is_returned_in_header_and_body(client: TestClient, model: Model, rows: np.ndarray):
    response = client.post(
        "/invocations", content=csv_body(rows[:1]), headers={**CSV, "X-Amzn-SageMaker-Inference-Id": "order-42"}
    )
    assert response.status_code == 200
    assert response.headers["x-amzn-sagemaker-inference-id"] == "order-42"
    assert response.json() == {**expected_json(model, rows[:1]), "inferenceId": "order-42"}
    # Through SageMaker's custom attributes too.
    response = client.post(
        "/invocations",
        content=csv_body(rows[:1]),
        headers={**CSV, "X-Amzn-SageMaker-Custom-Attributes": "trace=abc, inference-id=order-43"},
    )
    assert response.json()["inferenceId"] == "order-43"


def test_a_csv_answer_carries_the_generated_inference_id_in_its_header_only(client: TestClient, rows: np.ndarray):
    response = client.post("/invocations", content=csv_body(rows[:2]), headers={**CSV, "Accept": "text/csv"})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-amzn-sagemaker-inference-id"])
    assert "inference" not in response.text.lower()
    other = client.post("/invocations", content=csv_body(rows[:1]), headers=CSV)
    assert other.headers["x-amzn-sagemaker-inference-id"] != response.headers["x-amzn-sagemaker-inference-id"]


def test_a_malformed_inference_id_is_the_callers_mistake(client: TestClient, rows: np.ndarray):
    response = client.post(
        "/invocations", content=csv_body(rows[:1]), headers={**CSV, "X-Amzn-SageMaker-Inference-Id": "a" * 65}
    )
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_inference_id",
        f"inference id {'a' * 65!r} is not 1 to 64 printable characters (no quotes or backslashes, "
        "not starting with a space)",
    )


def test_all_rows_as_csv_match_predict_proba_exactly(client: TestClient, model: Model, rows: np.ndarray):
    body = csv_body(rows)
    assert len(body) > OFFLOAD_BYTES  # this one is decoded and predicted in a worker thread
    response = client.post("/invocations", content=body, headers=CSV)
    assert (response.status_code, answer(response)) == (200, expected_json(model, rows))
    got = np.array([p["probabilities"] for p in response.json()["predictions"]])
    assert np.array_equal(got, model.predict_proba(rows))
    assert [p["label"] for p in response.json()["predictions"]] == model.predict_label(rows).tolist()


def test_json_rows_and_json_records_answer_the_same(client: TestClient, model: Model, rows: np.ndarray):
    sample = rows[:25]
    records = [dict(reversed(list(zip(model.feature_names, row, strict=True)))) for row in sample.tolist()]
    for body in (json_rows_body(sample), json.dumps(records).encode()):
        response = client.post("/invocations", content=body, headers=JSON)
        assert (response.status_code, answer(response)) == (200, expected_json(model, sample))


def test_accept_text_csv_answers_label_then_probabilities_per_line(client: TestClient, model: Model, rows: np.ndarray):
    sample = rows[:3]
    response = client.post("/invocations", content=csv_body(sample), headers={**CSV, "accept": "text/csv"})
    proba = model.predict_proba(sample)
    labels = model.predict_label(sample).tolist()
    expected = "".join(f"{label},{p[0]!r},{p[1]!r}\n" for label, p in zip(labels, proba.tolist(), strict=True))
    assert (response.status_code, response.text) == (200, expected)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    parsed = np.loadtxt(response.text.splitlines(), delimiter=",", ndmin=2)
    assert np.array_equal(parsed[:, 1:], proba)


@pytest.mark.parametrize(
    ("accept", "answer"),
    [
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("", "application/json"),
        ("application/*", "application/json"),
        ("text/*", "text/csv; charset=utf-8"),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("application/json;q=0, text/csv", "text/csv; charset=utf-8"),
        ("text/html, text/csv;q=0.9", "text/csv; charset=utf-8"),
        ("TEXT/CSV", "text/csv; charset=utf-8"),
    ],
)
def test_accept_is_negotiated(client: TestClient, rows: np.ndarray, accept: str, answer: str):
    response = client.post("/invocations", content=csv_body(rows[:1]), headers={**CSV, "accept": accept})
    assert (response.status_code, response.headers["content-type"]) == (200, answer)


@pytest.mark.parametrize(
    "content_type", ["text/csv; charset=utf-8", "Text/CSV", "text/csv;charset=US-ASCII", 'text/csv; charset="utf-8"']
)
def test_content_type_parameters_and_case_are_accepted(client: TestClient, rows: np.ndarray, content_type: str):
    response = client.post("/invocations", content=csv_body(rows[:1]), headers={"content-type": content_type})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "layout",
    [
        lambda lines: "\r\n".join(lines) + "\r\n",  # Windows line ends
        lambda lines: "\n".join(lines),  # no final newline
        lambda lines: "\n\n" + "\n".join(lines) + "\n\n\n",  # blank lines before and after
        lambda lines: "\n".join(",".join(f" {cell} " for cell in line.split(",")) for line in lines),  # spaces
        lambda lines: "\n".join(",".join(f'"{cell}"' for cell in line.split(",")) for line in lines),  # quoted
        lambda lines: "\ufeff" + "\n".join(lines),  # a byte-order mark, as spreadsheets write
    ],
    ids=["crlf", "no-final-newline", "outer-blank-lines", "spaces", "quoted", "bom"],
)
def test_csv_layouts_give_the_same_predictions(client: TestClient, model: Model, rows: np.ndarray, layout):
    lines = csv_body(rows[:4]).decode().splitlines()
    response = client.post("/invocations", content=layout(lines).encode(), headers=CSV)
    assert (response.status_code, answer(response)) == (200, expected_json(model, rows[:4]))


finite_rows = arrays(
    np.float64,
    st.tuples(st.integers(1, 5), st.just(30)),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False) | st.floats(-1e-300, 1e-300),
)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=finite_rows, as_csv=st.booleans(), answer_csv=st.booleans())
def test_any_finite_rows_get_exactly_predict_proba(client: TestClient, model: Model, sample, as_csv, answer_csv):
    body, content_type = (csv_body(sample), "text/csv") if as_csv else (json_rows_body(sample), "application/json")
    accept = "text/csv" if answer_csv else "application/json"
    response = client.post("/invocations", content=body, headers={"content-type": content_type, "accept": accept})
    assert response.status_code == 200, response.text
    proba = model.predict_proba(sample)
    if answer_csv:
        got = np.loadtxt(response.text.splitlines(), delimiter=",", ndmin=2, usecols=(1, 2))
        assert np.array_equal(got, proba)
    else:
        assert answer(response) == expected_json(model, sample)


# --- errors ----------------------------------------------------------------------------------


def test_415_without_content_type(client: TestClient):
    response = client.post("/invocations", content=b"1,2,3")
    assert (response.status_code, response.json()) == (
        415,
        error("unsupported_media_type", "no Content-Type header; send text/csv or application/json"),
    )


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "Content-Type 'text/plain' is not supported; send text/csv or application/json"),
        ("application/x-npy", "Content-Type 'application/x-npy' is not supported; send text/csv or application/json"),
        (
            "application/json; charset=utf-16",
            "charset in Content-Type 'application/json; charset=utf-16' is not supported; send UTF-8",
        ),
    ],
)
def test_415_for_other_content_types(client: TestClient, content_type: str, message: str):
    response = client.post("/invocations", content=b"[[1]]", headers={"content-type": content_type})
    assert (response.status_code, response.json()) == (415, error("unsupported_media_type", message))


@pytest.mark.parametrize("accept", ["application/xml", "text/csv;q=0", "image/*, text/html"])
def test_406_when_accept_allows_neither_json_nor_csv(client: TestClient, accept: str):
    response = client.post("/invocations", content=b"1", headers={**CSV, "accept": accept})
    assert (response.status_code, response.json()) == (
        406,
        error("not_acceptable", f"Accept {accept!r} allows none of the response types: application/json, text/csv"),
    )


def test_413_over_the_payload_limit_and_the_connection_is_closed(client: TestClient):
    response = client.post("/invocations", content=b"1," * (LIMIT // 2 + 1), headers=CSV)
    assert (response.status_code, response.json()) == (
        413,
        error(
            "payload_too_large",
            f"Content-Length is {LIMIT + 2} bytes; the limit is {LIMIT} bytes "
            f"(ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES): split the rows over several requests",
        ),
    )
    assert response.headers["connection"] == "close"


def test_413_for_a_chunked_body_without_content_length(client: TestClient):
    response = client.post("/invocations", content=iter([b"1," * (LIMIT // 4)] * 3), headers=CSV)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def _bad(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = client.post("/invocations", content=body, headers=headers)
    return response.status_code, response.json()


def test_400_malformed_bodies(client: TestClient, model: Model, rows: np.ndarray):
    one = csv_body(rows[:1]).decode().strip()
    cases = [
        (
            b"",
            CSV,
            "the request body is empty; send one or more rows of 30 numbers (text/csv: one row per line; "
            "application/json: an array of rows or records)",
        ),
        (b"  \n\n ", JSON, None),
        (
            one.encode() + b"\n\n" + one.encode(),
            CSV,
            "row 2 is empty; send one row per line, with no blank lines between rows",
        ),
        (b"\xff\xfe1,2", CSV, "the body is not UTF-8 text (byte 0xff at offset 0)"),
        (b'1,"2"3', CSV, "the body is not valid CSV: ',' expected after '\"'"),
        (b"[[1, 2", JSON, "the body is not valid JSON: Expecting ',' delimiter: line 1 column 7 (char 6)"),
        (
            b'{"instances": []}',
            JSON,
            "expected a JSON array of rows (arrays of 30 numbers) or of records (objects keyed by feature name); "
            "got an object",
        ),
        (b"[]", JSON, "the JSON array is empty; send at least one row"),
        (
            b"[1, 2, 3]",
            JSON,
            "row 1 is a number; each row must be an array of 30 numbers or an object keyed by feature name "
            "(to send one row, wrap it: [[...]])",
        ),
        (
            json.dumps([rows[0].tolist(), {"a": 1}]).encode(),
            JSON,
            "row 2 is an object but row 1 is an array; send all rows as arrays or all as objects",
        ),
    ]
    for body, headers, message in cases:
        status, document = _bad(client, body, headers)
        if message is None:  # same as the first case: whitespace only is empty
            message = cases[0][2]
        assert (status, document) == (400, error("malformed_input", message)), body


def test_400_wrong_feature_count(client: TestClient, model: Model, rows: np.ndarray):
    expected = "the model expects 30, one per feature in this order: " + features(model)
    short = ",".join(["1"] * 29).encode()
    assert _bad(client, short, CSV) == (400, error("wrong_feature_count", f"row 1 has 29 values; {expected}"))
    body = csv_body(rows[:2]) + short
    assert _bad(client, body, CSV) == (400, error("wrong_feature_count", f"row 3 has 29 values; {expected}"))
    body = json.dumps([rows[0].tolist(), [*rows[1].tolist(), 7.0]]).encode()
    assert _bad(client, body, JSON) == (400, error("wrong_feature_count", f"row 2 has 31 values; {expected}"))


def test_400_records_with_the_wrong_feature_names(client: TestClient, model: Model, rows: np.ndarray):
    record = dict(zip(model.feature_names, rows[0].tolist(), strict=True))
    del record["mean_radius"]
    record["radius"] = 1.0
    assert _bad(client, json.dumps([record]).encode(), JSON) == (
        400,
        error(
            "wrong_feature_names",
            f"row 1 does not have the model's features: missing mean_radius; unexpected radius "
            f"(features: {features(model)})",
        ),
    )


def test_400_non_numeric_values_name_row_column_and_feature(client: TestClient, model: Model, rows: np.ndarray):
    def csv_with(cell: str, column: int = 2) -> bytes:
        values = [repr(v) for v in rows[0].tolist()]
        values[column] = cell
        return csv_body(rows[:1]) + ",".join(values).encode()

    def json_with(value: object) -> bytes:
        values: list[object] = rows[0].tolist()
        values[2] = value
        return json.dumps([rows[0].tolist(), values]).encode()

    where = "row 2, column 3 (mean_perimeter)"
    cases = [
        (csv_with("abc"), CSV, f"{where}: 'abc' is not a number"),
        (csv_with(""), CSV, f"{where}: an empty cell is not a number"),
        (csv_with("1_000"), CSV, f"{where}: '1_000' is not a number"),
        (csv_with("0x1A"), CSV, f"{where}: '0x1A' is not a number"),
        (json_with("1.5"), JSON, f'{where}: "1.5" (a string) is not a number'),
        (json_with(True), JSON, f"{where}: true (a boolean) is not a number"),
        (json_with(None), JSON, f"{where}: null (null) is not a number"),
        (json_with([1]), JSON, f"{where}: [1] (an array) is not a number"),
    ]
    for body, headers, message in cases:
        assert _bad(client, body, headers) == (400, error("non_numeric", message)), body
    header = ",".join(model.feature_names).encode() + b"\n" + csv_body(rows[:1])
    assert _bad(client, header, CSV) == (
        400,
        error(
            "non_numeric",
            "row 1, column 1 (mean_radius): 'mean_radius' is not a number (CSV input has no header row; "
            "send data rows only)",
        ),
    )


def test_400_nan_and_infinity(client: TestClient, rows: np.ndarray):
    def csv_with(cell: str) -> bytes:
        return ",".join([cell, *(repr(v) for v in rows[0].tolist()[1:])]).encode()

    def json_with(literal: str) -> bytes:
        return ("[[" + ",".join([literal, *(repr(v) for v in rows[0].tolist()[1:])]) + "]]").encode()

    where = "row 1, column 1 (mean_radius)"
    cases = [
        (csv_with("nan"), CSV, f"{where}: nan is not a finite number; values must be finite numbers"),
        (csv_with("-inf"), CSV, f"{where}: -inf is not a finite number; values must be finite numbers"),
        (csv_with("Infinity"), CSV, f"{where}: Infinity is not a finite number; values must be finite numbers"),
        (csv_with("1e999"), CSV, f"{where}: 1e999 is too large for a 64-bit float; values must be finite numbers"),
        (json_with("NaN"), JSON, f"{where}: nan is not a finite number; values must be finite numbers"),
        (json_with("-Infinity"), JSON, f"{where}: -inf is not a finite number; values must be finite numbers"),
        (json_with("1e999"), JSON, f"{where}: inf is not a finite number; values must be finite numbers"),
        (
            json_with("9" * 400),
            JSON,
            f"{where}: 99999999999999999999... is too large for a 64-bit float; values must be finite numbers",
        ),
    ]
    for body, headers, message in cases:
        assert _bad(client, body, headers) == (400, error("non_finite", message)), body


NESTED_TOO_DEEPLY = (
    "the JSON is nested too deeply (more than 1024 levels of arrays or objects); send an array of rows, "
    "each an array of 30 numbers"
)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1025 + b"]" * 1025,
        b"[" * 5000 + b"]" * 5000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
    ],
    ids=["arrays-1025", "arrays-5000", "arrays-100000", "objects-5000"],
)
def test_400_for_json_nested_deeper_than_1024(client: TestClient, body: bytes):
    # orjson refuses more than 1024 levels; the standard library's fallback raised RecursionError.
    assert _bad(client, body, JSON) == (400, error("malformed_input", NESTED_TOO_DEEPLY))


def test_400_for_a_nested_value_where_a_number_belongs(client: TestClient, rows: np.ndarray):
    # 300 levels: orjson reads them but writes at most 254, which the error message once needed.
    deep = json.loads("[" * 300 + "]" * 300)
    body = json.dumps([[deep, *rows[0].tolist()[1:]]]).encode()
    assert _bad(client, body, JSON) == (
        400,
        error("non_numeric", f"row 1, column 1 (mean_radius): {'[' * 37}... (an array) is not a number"),
    )


@pytest.mark.parametrize(
    "body",
    [b"[[" + b"1" * 5000 + b",]]", b"[[NaN," + b"1" * 5000 + b"]]"],
    ids=["trailing-comma", "after-nan"],
)
def test_400_for_an_integer_of_more_than_4300_digits(client: TestClient, body: bytes):
    # orjson refuses these bodies; the standard library then hit Python's int-digits limit (ValueError).
    assert _bad(client, body, JSON) == (
        400,
        error(
            "non_finite",
            "a number in the body has more than 4300 digits, too large for a 64-bit float; values must be finite "
            "numbers",
        ),
    )


def test_400_for_a_lone_surrogate_in_a_value(client: TestClient, rows: np.ndarray):
    body = b'[["\\ud800",' + ",".join(repr(v) for v in rows[0].tolist()[1:]).encode() + b"]]"
    assert _bad(client, body, JSON) == (
        400,
        error("non_numeric", 'row 1, column 1 (mean_radius): "\\ud800" (a string) is not a number'),
    )


def test_400_for_a_lone_surrogate_in_a_record_key(client: TestClient, model: Model):
    response = client.post("/invocations", content=b'[{"\\ud800": 1}]', headers=JSON)
    assert response.headers["content-type"] == "application/json"
    assert (response.status_code, response.json()) == (
        400,
        error(
            "wrong_feature_names",
            f"row 1 does not have the model's features: missing {features(model)}; unexpected \\ud800 "
            f"(features: {features(model)})",
        ),
    )


def test_400_when_values_overflow_the_model(client: TestClient, rows: np.ndarray):
    body = csv_body(rows[:1]) + ",".join(["1e308"] * 30).encode()
    assert _bad(client, body, CSV) == (
        400,
        error(
            "out_of_range",
            "row 2: the model's arithmetic overflows on these values (largest magnitude 1e+308); "
            "send values of the magnitude seen in training",
        ),
    )


def test_404_and_405_answer_the_same_json_shape(client: TestClient):
    response = client.get("/predict")
    routes = "the server answers GET /ping and POST /invocations"
    assert (response.status_code, response.json()) == (404, error("not_found", f"no route for GET /predict; {routes}"))
    response = client.get("/invocations")
    assert (response.status_code, response.json()) == (
        405,
        error("method_not_allowed", f"GET /invocations is not allowed; {routes}"),
    )
    assert response.headers["allow"] == "POST"
    # No redirect to the path without its trailing slash (FastAPI's default is a 307).
    response = client.post("/invocations/", content=b"1", headers=CSV, follow_redirects=False)
    assert (response.status_code, response.json()) == (
        404,
        error("not_found", f"no route for POST /invocations/; {routes}"),
    )
    response = client.get("/ping/", follow_redirects=False)
    assert (response.status_code, response.json()) == (404, error("not_found", f"no route for GET /ping/; {routes}"))
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_a_bug_outside_invocations_is_a_json_500(model_dir: Path):
    app = create_app(ServeSettings(model_dir=model_dir))

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert (response.status_code, response.headers["content-type"], response.json()) == (
        500,
        "application/json",
        error("internal_error", "internal server error; see the server log"),
    )


class _FailingModel(Model):
    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        raise RuntimeError("weights are on fire")


def test_500_only_for_a_model_failure_and_it_is_logged(
    tmp_path: Path, model: Model, rows: np.ndarray, caplog: pytest.LogCaptureFixture
):
    failing = _FailingModel(
        feature_names=model.feature_names,
        label_name=model.label_name,
        classes=model.classes,
        mean=model.mean,
        scale=model.scale,
        weights=model.weights,
        bias=model.bias,
    )
    with TestClient(create_app(ServeSettings(model_dir=tmp_path), load=lambda _: failing)) as client:
        wait_until(lambda: client.get("/ping").status_code == 200, 10, "the model to load")
        assert _bad(client, b"1,2", CSV)[0] == 400  # the caller's mistakes are still 400
        with caplog.at_level(logging.ERROR, logger="model_code.serve"):
            status, document = _bad(client, csv_body(rows[:2]), CSV)
    assert (status, document) == (
        500,
        error("model_error", "the model failed to predict 2 row(s): RuntimeError: weights are on fire"),
    )
    [record] = [r for r in caplog.records if r.name == "model_code.serve"]
    assert (record.levelname, record.getMessage(), record.rows) == ("ERROR", "model failed to predict", 2)
    assert "RuntimeError: weights are on fire" in caplog.text
