"""ServeSettings (read at start-up, from the environment), the serve command's exits before
it serves, and the JSON log lines."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from model_code.__main__ import COMMANDS
from model_code.serve import settings as settings_module
from model_code.serve.logs import JsonFormatter
from model_code.serve.settings import ServeSettings, available_cpus, describe_errors
from tests.model_code.helpers import REPO_ROOT

VARIABLES = (
    "ML_PLATFORM_OPT_ML",
    "SAGEMAKER_BIND_TO_PORT",
    "SAGEMAKER_MODEL_SERVER_WORKERS",
    *(f"ML_PLATFORM_SERVE_{name.upper()}" for name in ServeSettings.model_fields),
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_serve_is_a_registered_command():
    assert COMMANDS["serve"] == "model_code.serve.cli"


def test_defaults_follow_the_sagemaker_contract(env: pytest.MonkeyPatch):
    assert ServeSettings().model_dump() == {
        "host": "0.0.0.0",
        "port": 8080,
        "workers": available_cpus(),
        "max_payload_bytes": 6 * 1024 * 1024,
        "model_dir": Path("/opt/ml/model"),
        "log_level": "info",
        "access_log": False,
        "drain_timeout_seconds": 20,
        "keep_alive_seconds": 5,
        "max_header_bytes": 65536,
        "max_headers": 100,
        "header_timeout_seconds": 10.0,
        "body_timeout_seconds": 60.0,
        "metrics": False,
    }


def test_the_model_dir_follows_the_contract_root(env: pytest.MonkeyPatch):
    env.setenv("ML_PLATFORM_OPT_ML", "/tmp/job")
    assert ServeSettings().model_dir == Path("/tmp/job/model")


def test_every_setting_comes_from_its_variable(env: pytest.MonkeyPatch):
    values = {
        "HOST": "127.0.0.1",
        "PORT": "9000",
        "WORKERS": "3",
        "MAX_PAYLOAD_BYTES": "1024",
        "MODEL_DIR": "/srv/model",
        "LOG_LEVEL": "WARNING",
        "ACCESS_LOG": "true",
        "DRAIN_TIMEOUT_SECONDS": "7",
        "KEEP_ALIVE_SECONDS": "60",
        "MAX_HEADER_BYTES": "16384",
        "MAX_HEADERS": "50",
        "HEADER_TIMEOUT_SECONDS": "2.5",
        "BODY_TIMEOUT_SECONDS": "30",
        "METRICS": "true",
    }
    for name, value in values.items():
        env.setenv(f"ML_PLATFORM_SERVE_{name}", value)
    assert ServeSettings().model_dump() == {
        "host": "127.0.0.1",
        "port": 9000,
        "workers": 3,
        "max_payload_bytes": 1024,
        "model_dir": Path("/srv/model"),
        "log_level": "warning",
        "access_log": True,
        "drain_timeout_seconds": 7,
        "keep_alive_seconds": 60,
        "max_header_bytes": 16384,
        "max_headers": 50,
        "header_timeout_seconds": 2.5,
        "body_timeout_seconds": 30.0,
        "metrics": True,
    }


def test_sagemaker_variables_set_port_and_workers_and_ours_win(env: pytest.MonkeyPatch):
    env.setenv("SAGEMAKER_BIND_TO_PORT", "9090")
    env.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", "4")
    assert (ServeSettings().port, ServeSettings().workers) == (9090, 4)
    env.setenv("ML_PLATFORM_SERVE_PORT", "9191")
    assert ServeSettings().port == 9191


def test_invalid_values_are_all_reported_one_line_per_variable(env: pytest.MonkeyPatch):
    env.setenv("SAGEMAKER_BIND_TO_PORT", "eighty")
    env.setenv("ML_PLATFORM_SERVE_WORKERS", "0")
    env.setenv("ML_PLATFORM_SERVE_LOG_LEVEL", "loud")
    env.setenv("ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS", "26")
    env.setenv("ML_PLATFORM_SERVE_MAX_HEADER_BYTES", "100")
    env.setenv("ML_PLATFORM_SERVE_HEADER_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValidationError) as caught:
        ServeSettings()
    assert describe_errors(caught.value.errors()) == [
        "ML_PLATFORM_SERVE_PORT or SAGEMAKER_BIND_TO_PORT: Input should be a valid integer, unable to parse string "
        "as an integer (got 'eighty')",
        "ML_PLATFORM_SERVE_WORKERS or SAGEMAKER_MODEL_SERVER_WORKERS: Input should be greater than or equal to 1 "
        "(got '0')",
        "ML_PLATFORM_SERVE_LOG_LEVEL: Input should be 'debug', 'info', 'warning', 'error' or 'critical' (got 'loud')",
        "ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS: Input should be less than or equal to 25 (got '26')",
        "ML_PLATFORM_SERVE_MAX_HEADER_BYTES: Input should be greater than or equal to 1024 (got '100')",
        "ML_PLATFORM_SERVE_HEADER_TIMEOUT_SECONDS: Input should be greater than 0 (got '0')",
    ]


def test_workers_default_to_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(settings_module.os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    monkeypatch.setattr(settings_module, "_cgroup_cpu_quota", lambda: None)
    assert available_cpus() == 4
    monkeypatch.setattr(settings_module, "_cgroup_cpu_quota", lambda: 1.5)  # a Kubernetes limit of 1500m
    assert available_cpus() == 2
    monkeypatch.setattr(settings_module, "_cgroup_cpu_quota", lambda: 0.2)
    assert available_cpus() == 1


def _run(args: list[str], env: dict[str, str], code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "model_code", *args]
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_are_read_at_start_up_not_at_import():
    result = _run([], {"ML_PLATFORM_SERVE_WORKERS": "0"}, code="import model_code.serve.app, model_code.serve.cli")
    assert (result.returncode, result.stderr) == (0, "")


def test_invalid_settings_exit_2_with_one_json_error_line_each():
    result = _run(["serve"], {"ML_PLATFORM_SERVE_PORT": "0", "ML_PLATFORM_SERVE_ACCESS_LOG": "maybe"})
    assert (result.returncode, result.stdout) == (2, "")
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["level"], line["logger"], line["message"]) for line in lines] == [
        (
            "error",
            "model_code.serve",
            "invalid setting: ML_PLATFORM_SERVE_PORT or SAGEMAKER_BIND_TO_PORT: Input should be greater than or "
            "equal to 1 (got '0')",
        ),
        (
            "error",
            "model_code.serve",
            "invalid setting: ML_PLATFORM_SERVE_ACCESS_LOG: Input should be a valid boolean, unable to interpret "
            "input (got 'maybe')",
        ),
    ]


def test_a_misspelt_variable_is_an_error_not_ignored():
    result = _run(["serve"], {"ML_PLATFORM_SERVE_WORKER": "2"})
    assert (result.returncode, result.stdout) == (2, "")
    [line] = [json.loads(line) for line in result.stderr.splitlines()]
    assert line["message"] == (
        "invalid setting: ML_PLATFORM_SERVE_WORKER: not a setting (got '2'); the settings are "
        "ML_PLATFORM_SERVE_ACCESS_LOG, ML_PLATFORM_SERVE_BODY_TIMEOUT_SECONDS, "
        "ML_PLATFORM_SERVE_DRAIN_TIMEOUT_SECONDS, ML_PLATFORM_SERVE_HEADER_TIMEOUT_SECONDS, ML_PLATFORM_SERVE_HOST, "
        "ML_PLATFORM_SERVE_KEEP_ALIVE_SECONDS, ML_PLATFORM_SERVE_LOG_LEVEL, ML_PLATFORM_SERVE_MAX_HEADERS, "
        "ML_PLATFORM_SERVE_MAX_HEADER_BYTES, ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES, "
        "ML_PLATFORM_SERVE_METRICS, ML_PLATFORM_SERVE_MODEL_DIR, ML_PLATFORM_SERVE_PORT, ML_PLATFORM_SERVE_WORKERS"
    )


def test_serve_takes_no_arguments():
    result = _run(["serve", "--port", "9000"], {})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "usage: python -m model_code serve (takes no arguments; got ['--port', '9000'])\n"


def test_log_lines_are_json_with_extra_fields_and_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "model_code.serve", logging.ERROR, __file__, 1, "failed %s", ("twice",), sys.exc_info()
        )
    record.rows = 3
    line = json.loads(JsonFormatter().format(record))
    assert {key: line[key] for key in ("level", "logger", "message", "rows")} == {
        "level": "error",
        "logger": "model_code.serve",
        "message": "failed twice",
        "rows": 3,
    }
    assert line["time"].endswith("Z")
    assert line["exception"].endswith("ValueError: boom")


def test_a_lone_surrogate_from_a_request_still_makes_one_json_line():
    # orjson refuses lone surrogates; the line falls back to the standard library's \u escapes.
    try:
        raise ValueError("bad key \ud800")
    except ValueError:
        record = logging.LogRecord(
            "model_code.serve", logging.ERROR, __file__, 1, "refused %s", ("\udcff",), sys.exc_info()
        )
    record.key = "\ud800"
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert (line["message"], line["key"]) == ("refused \udcff", "\ud800")
    assert line["exception"].endswith("ValueError: bad key \ud800")
    assert text.encode("utf-8")  # writable to a UTF-8 stream as it is


def test_access_lines_carry_the_request_as_fields():
    args = ("127.0.0.1:5000", "POST", "/invocations", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == '127.0.0.1:5000 - "POST /invocations HTTP/1.1" 200'
    assert (line["client"], line["method"], line["path"], line["status"]) == (
        "127.0.0.1:5000",
        "POST",
        "/invocations",
        200,
    )
