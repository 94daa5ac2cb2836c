"""POST /invocations as a plain ASGI endpoint.

FastAPI's per-request machinery (Request object, dependency solving, response classes) costs
more than the model's arithmetic, so this route talks ASGI directly: read three headers, read
the body under the size limit, decode, predict, encode, send two messages. Bodies larger than
OFFLOAD_BYTES are decoded and predicted in a thread, so a big batch cannot stall the event loop
and `/ping` keeps answering.

Order of checks: Content-Type (415), Accept (406), inference id (400), Content-Length (413,
before reading), model ready (503), body size while reading (413), body (400), model (500).

Inference id: the caller's, from `X-Amzn-SageMaker-Inference-Id` or an `inference-id=<id>`
entry of `X-Amzn-SageMaker-Custom-Attributes`; else the server makes one (32 hex digits).
It is returned in the `X-Amzn-SageMaker-Inference-Id` header and in the JSON body, so a caller
can upload ground truth under it later and the quality job can join the two (data capture
records the server's JSON response).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from time import perf_counter
from typing import Any

from model_code.serve.decode import JSON, media_type
from model_code.serve.encode import response_type
from model_code.serve.errors import ApiError, error_body
from model_code.serve.metrics import InvocationMetrics
from model_code.serve.predictor import Predictor, Status

logger = logging.getLogger("model_code.serve")

OFFLOAD_BYTES = 64 * 1024
_CLOSE = ((b"connection", b"close"),)
_CONTENT_TYPES = {"application/json": b"application/json", "text/csv": b"text/csv; charset=utf-8"}


INFERENCE_ID_HEADER = b"x-amzn-sagemaker-inference-id"
CUSTOM_ATTRIBUTES_HEADER = b"x-amzn-sagemaker-custom-attributes"
# SageMaker's InferenceId: 1 to 64 printable characters, not starting with a space. Quotes and
# backslashes are refused too, so the id can sit in JSON and CSV tooling unescaped.
_INFERENCE_ID = re.compile(r"[!#-\[\]-~][ !#-\[\]-~]{0,63}")


def inference_id_of(header: bytes | None, custom_attributes: bytes | None) -> str:
    """The caller's inference id (header first, then custom attributes), else a new one."""
    given = header
    if given is None and custom_attributes is not None:
        for entry in custom_attributes.split(b","):
            name, _, value = entry.strip().partition(b"=")
            if name.strip().lower() == b"inference-id":
                given = value.strip()
                break
    if given is None:
        return uuid.uuid4().hex
    text = given.decode("latin-1")
    if not _INFERENCE_ID.fullmatch(text):
        raise ApiError(
            400,
            "invalid_inference_id",
            f"inference id {text[:80]!r} is not 1 to 64 printable characters (no quotes or backslashes, "
            "not starting with a space)",
        )
    return text


class ClientDisconnectedError(Exception):
    """The client disconnected before sending the whole body; there is no one to answer."""


class InvocationsEndpoint:
    def __init__(self, predictor: Predictor, max_payload_bytes: int, metrics: InvocationMetrics | None = None) -> None:
        self.predictor = predictor
        self.max_payload_bytes = max_payload_bytes
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = perf_counter()
        extra_headers: tuple[tuple[bytes, bytes], ...] = ()
        try:
            media, body, inference_id = await self._handle(scope, receive)
            status = 200
            extra_headers = ((INFERENCE_ID_HEADER, inference_id.encode()),)
        except ApiError as exc:
            status, media, body, extra_headers = exc.status, JSON, exc.body(), exc.headers
        except ClientDisconnectedError:
            return
        except Exception:  # a bug here must cost one 500, never the worker
            logger.exception("internal error while serving /invocations")
            status, media, body = 500, JSON, error_body("internal_error", "internal server error; see the server log")
        length = str(len(body)).encode()
        headers = [(b"content-type", _CONTENT_TYPES[media]), (b"content-length", length), *extra_headers]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if self.metrics is not None:
            self.metrics.observe(status, perf_counter() - started)

    async def _handle(self, scope: dict[str, Any], receive: Any) -> tuple[str, bytes, str]:
        content_type = accept = length = given_id = custom = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value
            elif name == b"content-length":
                length = value
            elif name == INFERENCE_ID_HEADER:
                given_id = value
            elif name == CUSTOM_ATTRIBUTES_HEADER:
                custom = value
        media = media_type(content_type)
        output = response_type(accept)
        inference_id = inference_id_of(given_id, custom)
        # More digits than any limit has is over it (and int() refuses more than 4300 digits).
        if length is not None and length.isdigit() and (len(length) > 12 or int(length) > self.max_payload_bytes):
            raise self._too_large(f"Content-Length is {length[:20].decode()}{'...' if len(length) > 20 else ''} bytes")
        predictor = self.predictor
        if predictor.status is not Status.READY:
            raise predictor.not_ready()
        body = await self._read_body(receive)
        if len(body) > OFFLOAD_BYTES:
            encoded = await asyncio.get_running_loop().run_in_executor(
                None, self._predict, body, media, output, inference_id
            )
            return output, encoded, inference_id
        return output, self._predict(body, media, output, inference_id), inference_id

    def _predict(self, body: bytes, media: str, output: str, inference_id: str) -> bytes:
        predictor = self.predictor
        rows = predictor.decoder.decode(body, media)
        return predictor.encoder.encode(predictor.predict(rows), output, inference_id)

    async def _read_body(self, receive: Any) -> bytes:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError
        body = message.get("body", b"")
        if not message.get("more_body", False) and len(body) <= self.max_payload_bytes:
            return body
        chunks, size = [body], len(body)
        while message.get("more_body", False):
            if size > self.max_payload_bytes:
                raise self._too_large(f"the body is over {self.max_payload_bytes} bytes")
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
        if size > self.max_payload_bytes:
            # Worded as above: how much of an oversized body had arrived when it was checked
            # depends on the network, and the answer must not.
            raise self._too_large(f"the body is over {self.max_payload_bytes} bytes")
        return b"".join(chunks)

    def _too_large(self, what: str) -> ApiError:
        # Close the connection: the rest of an oversized body is not worth reading.
        return ApiError(
            413,
            "payload_too_large",
            f"{what}; the limit is {self.max_payload_bytes} bytes (ML_PLATFORM_SERVE_MAX_PAYLOAD_BYTES): "
            f"split the rows over several requests",
            headers=_CLOSE,
        )
