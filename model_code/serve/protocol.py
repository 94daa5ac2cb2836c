"""HTTP/1.1 connections: uvicorn's httptools protocol, bounded against slow and hostile clients.

uvicorn's own protocol puts no limit on a request's head and no deadline on its arrival. This
subclass adds them, each answered with the usual JSON error body and `connection: close`:

    head larger than `max_header_bytes`    431 request_header_fields_too_large
    more than `max_headers` header fields  431 request_header_fields_too_large
    head not in within `header_timeout`    408 request_timeout (counted from the head's first byte;
                                           a connection that sends nothing is closed after it)
    body not in within `body_timeout`      408 request_timeout (counted from the end of the head)
    not HTTP/1.1 at all                    400 malformed_request

Memory: the parser keeps a head in memory until it is complete, so a head is refused as soon as
the bytes read while it is incomplete pass the limit; at most one socket read (256 KiB) more is
held. Deadlines cost no timer per request: each connection notes its deadline, and one sweep per
process every SWEEP_SECONDS closes the late ones (so a timeout fires up to SWEEP_SECONDS late).

Lingering close: when a response closes the connection while the request's body is still
arriving (413, or any error answered before the body was read), the server half-closes (sends
its response and a FIN), then reads and discards up to `discard_bytes` more for at most
LINGER_SECONDS before closing. A client that writes its whole body before reading (Python's
http.client, so requests and urllib3) then reads the 413 instead of a connection reset, which
closing with unread data would cause (the kernel answers unread data with RST). nginx and
Apache close the same way (lingering_close).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from model_code.serve.errors import ApiError

logger = logging.getLogger("model_code.serve")

SWEEP_SECONDS = 0.5
LINGER_SECONDS = 2.0

# Where a connection is: waiting for a first request (NEW), between requests or waiting on the
# app (IDLE), reading a request's head (HEAD) or its body (BODY).
NEW, IDLE, HEAD, BODY = range(4)
_JSON_CLOSE = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n"


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    discard_bytes: int  # read and thrown away after a response that closes mid-body


class _RefusalError(Exception):
    """Raised from a parser callback to stop parsing; data_received answers with the error."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class _CycleTransport:
    """What a request's cycle sees as its transport: writes go straight to the socket, close
    goes through the protocol, which lingers if the request's body is still arriving."""

    __slots__ = ("close", "is_closing", "write")

    def __init__(self, protocol: ServingProtocol, transport: asyncio.Transport) -> None:
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.close = protocol.close_after_response


class ServingProtocol(HttpToolsProtocol):
    """Passed to uvicorn as `http=functools.partial(ServingProtocol, limits=...)`."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None, *, limits: Limits):
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.phase = NEW
        self.deadline: float | None = None
        self.head_bytes = 0
        self.chunk_bytes = 0
        self.lingering = False
        self._linger_left = 0
        self._linger_timer: asyncio.TimerHandle | None = None
        self._cycle_transport: _CycleTransport | None = None
        if not getattr(server_state, "sweeping", False):
            server_state.sweeping = True
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, server_state)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._cycle_transport = _CycleTransport(self, transport)
        self.deadline = self.loop.time() + self.limits.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline = None
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.transport.close()
            return
        if self.phase <= IDLE:  # the first bytes of a request
            self.phase = HEAD
            self.head_bytes = 0
            self.deadline = self.loop.time() + self.limits.header_timeout
        self._unset_keepalive_if_required()
        self.chunk_bytes = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # No upgrades (WebSocket, h2c): the app answered the request as plain HTTP/1.1.
            self.phase, self.deadline = IDLE, None
            if self.cycle is not None:
                self.cycle.keep_alive = False
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _RefusalError):
                self.refuse(exc.__context__.error)
            else:
                self.refuse(ApiError(400, "malformed_request", f"the request is not valid HTTP/1.1: {exc}"))
            return
        if self.phase == HEAD:
            self.head_bytes += len(data)
            if self.head_bytes > self.limits.max_header_bytes:
                self.refuse(self._head_too_large())

    # --- parser callbacks (uvicorn's, plus the limits) --------------------------------------

    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            raise _RefusalError(self._head_too_large(fields=len(self.headers)))
        if self.head_bytes + self.chunk_bytes > limits.max_header_bytes:  # the last read may have ended it
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > limits.max_header_bytes:
                raise _RefusalError(self._head_too_large())
        HttpToolsProtocol.on_headers_complete(self)
        self.cycle.transport = self._cycle_transport  # type: ignore[assignment]
        self.phase = BODY
        self.deadline = self.loop.time() + limits.body_timeout

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self.phase = IDLE
        self.deadline = None

    def on_response_complete(self) -> None:
        if self.lingering:
            self.server_state.total_requests += 1
            return
        super().on_response_complete()

    # --- refusing, timing out, closing ------------------------------------------------------

    def _head_too_large(self, fields: int | None = None) -> ApiError:
        limits = self.limits
        if fields is not None:
            message = (
                f"the request has {fields} header fields; the limit is {limits.max_headers} "
                f"(ML_PLATFORM_SERVE_MAX_HEADERS)"
            )
        else:
            message = (
                f"the request line and headers are over {limits.max_header_bytes} bytes; the limit is "
                f"{limits.max_header_bytes} bytes (ML_PLATFORM_SERVE_MAX_HEADER_BYTES)"
            )
        return ApiError(431, "request_header_fields_too_large", message)

    def refuse(self, error: ApiError) -> None:
        """Answer `error` outside any app and close, lingering to let the client read it."""
        logger.warning(
            "refused a request: %s",
            error.message,
            extra={"status": error.status, "error": error.code, "client": _address(self.client)},
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The request whose body is arriving gets this answer instead of the app's (it sees a
            # disconnect). Any other request in flight (pipelining) cannot be answered in order.
            cycle.disconnected = True
            cycle.message_event.set()
            if self.phase != BODY or cycle.response_started:
                self.transport.close()
                return
        self.transport.write(_raw_response(error, self.server_state.default_headers))
        self.linger()

    def close_after_response(self) -> None:
        if self.phase == BODY and not self.transport.is_closing():
            self.linger()
        else:
            self.transport.close()

    def linger(self) -> None:
        self.phase = IDLE
        self.deadline = None
        if self.lingering or self.transport.is_closing():
            return
        self.lingering = True
        self._linger_left = self.limits.discard_bytes
        if self.cycle is not None:
            self.cycle.body = bytearray()
        self.flow.resume_reading()
        try:
            self.transport.write_eof()
        except (NotImplementedError, OSError, RuntimeError):
            self.transport.close()
            return
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def timed_out(self) -> None:
        phase = self.phase
        self.deadline = None
        if phase == NEW:  # never sent a byte: nothing to answer
            self.transport.close()
            return
        if phase == BODY and self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (without reading the body): nothing more to say
            return
        if phase == HEAD:
            waited, setting, what = self.limits.header_timeout, "HEADER_TIMEOUT_SECONDS", "request line and headers"
        else:
            waited, setting, what = self.limits.body_timeout, "BODY_TIMEOUT_SECONDS", "request body"
        self.refuse(
            ApiError(
                408,
                "request_timeout",
                f"the {what} did not arrive within {waited:g} s (ML_PLATFORM_SERVE_{setting}); "
                f"send the whole request at once",
            )
        )


def _sweep(loop: asyncio.AbstractEventLoop, server_state: Any) -> None:
    """Time out the connections past their deadline (not those whose reading the server paused)."""
    now = loop.time()
    for connection in list(server_state.connections):
        deadline = getattr(connection, "deadline", None)
        if deadline is not None and now >= deadline and not connection.flow.read_paused:
            connection.timed_out()
    loop.call_later(SWEEP_SECONDS, _sweep, loop, server_state)


def _raw_response(error: ApiError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = error.body()
    parts = [STATUS_LINE[error.status]]
    for name, value in default_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [_JSON_CLOSE % len(body), b"\r\n", body]
    return b"".join(parts)


def _address(client: tuple[str, int] | None) -> str | None:
    return f"{client[0]}:{client[1]}" if client else None
