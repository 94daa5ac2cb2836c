"""Structured logs: one JSON object per line on stdout (SageMaker ships it to CloudWatch Logs).

    {"time": "2026-11-28T15:04:05.123Z", "level": "info", "logger": "model_code.serve",
     "message": "model loaded", "pid": 41, "model_dir": "/opt/ml/model", "features": 30, ...}

Fields passed with `extra={...}` become keys; an exception adds "exception" (the traceback).
uvicorn's access lines, when enabled, carry client, method, path and status as keys. The
config is a plain dict because uvicorn applies it again in every worker process.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import orjson

# LogRecord attributes that are not `extra` fields (plus what formatters and uvicorn add).
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            document.update(client=client, method=method, path=path, http_version=http_version, status=status)
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in document:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(document, default=str).decode()
        except TypeError:  # a lone surrogate (quoted from a request): the standard library escapes it
            return json.dumps(document, default=str, separators=(",", ":"))


def log_config(level: str, access_log: bool) -> dict[str, Any]:
    """logging.config.dictConfig for our loggers and uvicorn's, all through JsonFormatter."""
    handler = {"handlers": ["stdout"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {
            "model_code": handler,
            "uvicorn": handler,
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {**handler, "level": level.upper() if access_log else "WARNING"},
        },
    }


def log_to_stderr(level: int, message: str, **fields: Any) -> None:
    """One JSON line on stderr, for failures before logging is configured (bad settings)."""
    record = logging.LogRecord("model_code.serve", level, __file__, 0, message, (), None)
    record.__dict__.update(fields)
    print(JsonFormatter().format(record), file=sys.stderr)
