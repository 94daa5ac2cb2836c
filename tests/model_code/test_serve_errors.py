"""The error contract of the inference server, through the app in-process (Starlette's TestClient):
every 4xx (the caller's mistakes) and 5xx (the server's) with its status, its JSON body
(`{"error": <code>, "message": ...}`) and, where it matters, its log line. Successful answers are
in test_serve_app.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from model_code.model import Model
from model_code.serve.app import create_app
from model_code.serve.settings import ServeSettings
from tests.model_code.serve_helpers import APP_PAYLOAD_LIMIT as LIMIT
from tests.model_code.serve_helpers import CSV, JSON, csv_body, error, features, wait_until

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
