"""create_app(): assembles the FastAPI app and does nothing else.

    GET  /ping         200 {"status": "ready"} once the model is loaded; 503 with the reason before
                       that or if loading failed
    POST /invocations  predictions (invocations.py)
    GET  /metrics      with the `metrics` setting on: request counts and latency, Prometheus text
                       format (metrics.py); 404 otherwise

Anything else answers 404 or 405 with the same JSON error body. The OpenAPI and docs routes are
off: the contract is SageMaker's, documented in model_code/README.md.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from model_code.model import load_model
from model_code.serve.errors import error_body
from model_code.serve.invocations import InvocationsEndpoint
from model_code.serve.metrics import InvocationMetrics
from model_code.serve.predictor import ModelLoader, Predictor, Status
from model_code.serve.settings import ServeSettings

JSON = "application/json"
_READY = b'{"status":"ready"}'
_ROUTES = "the server answers GET /ping and POST /invocations"


def create_app(settings: ServeSettings | None = None, load: ModelLoader = load_model) -> FastAPI:
    """uvicorn calls this in each worker (factory=True), so settings are read when a worker starts."""
    settings = settings if settings is not None else ServeSettings()
    predictor = Predictor(settings.model_dir, load)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # uvicorn starts accepting connections only once this yields, so a worker takes no request
        # before its model is loaded (or has failed to load: then it answers 503 with the reason).
        # Workers share one listening socket, and only accepting workers take connections from it:
        # one 200 from /ping means that every worker that can be reached can predict. SageMaker
        # keeps pinging a starting container until its start-up health-check timeout
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html,
        # "How Your Container Should Respond to Health Check (Ping) Requests").
        # The load runs in a daemon thread, so a load that hangs never holds up the exit.
        loop = asyncio.get_running_loop()
        loaded = loop.create_future()

        def load() -> None:
            try:
                predictor.load()
            finally:
                loop.call_soon_threadsafe(loaded.set_result, None)

        threading.Thread(target=load, name="load-model", daemon=True).start()
        await loaded
        yield

    async def ping() -> Response:
        if predictor.status is Status.READY:
            return Response(_READY, media_type=JSON)
        error = predictor.not_ready()
        return Response(error.body(), status_code=error.status, media_type=JSON)

    metrics = InvocationMetrics() if settings.metrics else None
    invocations = InvocationsEndpoint(predictor, settings.max_payload_bytes, metrics)
    app = ServingApp(
        invocations,
        title="model_code inference server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # POST /invocations/ is a 404, not a 307 to /invocations
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.predictor = predictor
    app.router.add_route("/invocations", invocations, methods=["POST"])
    app.add_api_route("/ping", ping, methods=["GET"], include_in_schema=False)
    if metrics is not None:

        def scrape() -> Response:  # a plain def: FastAPI runs it in a thread, off the event loop
            body, content_type = metrics.exposition()
            return Response(body, media_type=content_type)

        app.add_api_route("/metrics", scrape, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
    return app


class ServingApp(FastAPI):
    """A FastAPI app whose POST /invocations goes straight to its ASGI endpoint.

    Measured in-process on one row: the endpoint takes about 25 us, and FastAPI's middleware
    stack and router around it (error middleware, exception middleware, exit stack, route
    matching, a Request object) took about 20 us more. The endpoint answers every error
    itself, so for this one route the stack adds cost and nothing else. Every other request,
    including the lifespan, GET /ping, 404s and 405s (GET /invocations), goes through FastAPI.
    """

    def __init__(self, invocations: InvocationsEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invocations = invocations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/invocations":
            await self.invocations(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 (raised by routing) in the same JSON shape as every other error."""
    assert isinstance(exc, HTTPException)
    target = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        code, message = "not_found", f"no route for {target}; {_ROUTES}"
    elif exc.status_code == 405:
        code, message = "method_not_allowed", f"{target} is not allowed; {_ROUTES}"
    else:
        code, message = "http_error", f"{target}: {exc.detail}"
    return Response(error_body(code, message), status_code=exc.status_code, media_type=JSON, headers=exc.headers)


async def internal_error(_request: Request, _exc: Exception) -> Response:
    """A bug outside /invocations: still the JSON error body (Starlette logs the traceback)."""
    return Response(
        error_body("internal_error", "internal server error; see the server log"), status_code=500, media_type=JSON
    )
