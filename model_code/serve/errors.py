"""ApiError: a request the server refuses, with its HTTP status, a stable code and a message.

The response body is `{"error": "<code>", "message": "<what is wrong, what was received, what
is allowed>"}`. Codes are part of the contract (README's error table); messages may be refined.
"""

from __future__ import annotations

import orjson


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def body(self) -> bytes:
        return error_body(self.code, self.message)


def error_body(code: str, message: str) -> bytes:
    try:
        return orjson.dumps({"error": code, "message": message})
    except TypeError:  # a lone surrogate quoted from the request: written as its escape text, \ud800
        return orjson.dumps({"error": code, "message": message.encode("utf-8", "backslashreplace").decode("utf-8")})


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)
