"""`python -m model_code serve`: read the settings, configure JSON logs, run uvicorn.

Exit codes: 0 after SIGTERM or SIGINT once requests in flight are drained; 1 when the server
cannot start (port taken, a worker that cannot start, metrics with several workers and no
writable temporary directory); 2 for arguments (serve takes none) or invalid settings, one JSON
line per invalid variable on stderr.
"""

from __future__ import annotations

import functools
import logging
import logging.config
import os
import sys

import uvicorn
from pydantic import ValidationError

from model_code.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from model_code.serve.logs import log_config, log_to_stderr
from model_code.serve.metrics import make_multiprocess_directory, remove_multiprocess_directory
from model_code.serve.protocol import Limits, ServingProtocol
from model_code.serve.settings import ServeSettings, describe_errors, unknown_variables
from model_code.serve.supervisor import Supervisor, ignore_stop_signals

APP_FACTORY = "model_code.serve.app:create_app"
# One worker per CPU already; BLAS threads inside each worker would only compete with them.
# Set here so spawned workers inherit them; an explicit value in the environment wins.
_THREAD_LIMITS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str]) -> int:
    if argv:
        print(f"usage: python -m model_code serve (takes no arguments; got {argv})", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = ServeSettings()
        problems = unknown_variables(os.environ)
    except ValidationError as exc:
        problems = describe_errors(exc.errors()) + unknown_variables(os.environ)
    if problems:
        for line in problems:
            log_to_stderr(logging.ERROR, f"invalid setting: {line}")
        return EXIT_USAGE
    for name in _THREAD_LIMITS:
        os.environ.setdefault(name, "1")
    logging.config.dictConfig(log_config(settings.log_level, settings.access_log))
    logging.getLogger("model_code.serve").info(
        "serving on %s:%d", settings.host, settings.port, extra={"settings": settings.model_dump(mode="json")}
    )
    config = uvicorn_config(settings)
    metrics_dir = None
    if settings.metrics and settings.workers > 1:
        try:
            metrics_dir = make_multiprocess_directory()
        except OSError as exc:
            logging.getLogger("model_code.serve").error(
                "cannot start: metrics with %d workers keep their counts in a temporary directory, and none is "
                "writable (%s); mount a volume at /tmp or set TMPDIR to a writable directory, or set "
                "ML_PLATFORM_SERVE_WORKERS=1",
                settings.workers,
                exc,
            )
            return EXIT_FAILED
    try:
        if settings.workers == 1:
            return serve_in_process(config)
        return Supervisor(config, settings.workers, settings.drain_timeout_seconds).run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind the port (it logs why)
        return EXIT_FAILED if exc.code else EXIT_OK
    finally:
        if metrics_dir is not None:
            remove_multiprocess_directory(metrics_dir)


def uvicorn_config(settings: ServeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=functools.partial(
            ServingProtocol,
            limits=Limits(
                max_header_bytes=settings.max_header_bytes,
                max_headers=settings.max_headers,
                header_timeout=settings.header_timeout_seconds,
                body_timeout=settings.body_timeout_seconds,
                discard_bytes=settings.max_payload_bytes,
            ),
        ),
        ws="none",
        lifespan="on",
        log_config=log_config(settings.log_level, settings.access_log),
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.drain_timeout_seconds,
        timeout_keep_alive=settings.keep_alive_seconds,
        server_header=False,
        proxy_headers=False,
    )


def serve_in_process(config: uvicorn.Config) -> int:
    ignore_stop_signals()
    server = uvicorn.Server(config)
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED
