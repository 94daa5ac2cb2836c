"""The HTTP contract of the inference server, through the app in-process (Starlette's TestClient).

Every success and error case is checked on status and body. Predictions must be exactly
`Model.predict_proba`'s numbers: the server calls the model itself and writes floats as the
shortest decimal that reads back to the same float64, so equality here is bit-for-bit.
The error contract (4xx and 5xx, each with its JSON body) is in test_serve_errors.py; what this
cannot show (real sockets, worker processes, signals) is in test_serve_process.py.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from starlette.testclient import TestClient

from model_code.model import Model, load_model
from model_code.serve.app import create_app
from model_code.serve.invocations import OFFLOAD_BYTES
from model_code.serve.settings import ServeSettings
from tests.model_code.serve_helpers import (
    CSV,
    JSON,
    answer,
    csv_body,
    error,
    expected_json,
    json_rows_body,
    wait_until,
)

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
