"""Refusals and error bodies in the wire format of the API the client called.

An SDK turns these into its own typed exceptions (openai.BadRequestError,
anthropic.NotFoundError ...), so the shape must match the provider's exactly.
Messages are written by the gateway and never echo request content.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

Headers = Iterable[tuple[bytes, bytes]]


class HttpError(Exception):
    """A request the gateway refuses, with the status and a message for the client.

    Raised by any stage of the request path; the server renders it in the
    client's format (`openai_error` / `anthropic_error`) at the edge.
    """

    def __init__(self, status: int, message: str, code: str | None = None,
                 param: str | None = None, headers: Headers = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = list(headers)

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_error",
    504: "timeout_error",
}

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
}

_encode = msgspec.json.Encoder().encode


def openai_error(status: int, message: str, code: str | None = None,
                 param: str | None = None) -> bytes:
    return _encode({
        "error": {
            "message": message,
            "type": _OPENAI_TYPES.get(status, "invalid_request_error"),
            "param": param,
            "code": code,
        }
    })


def anthropic_error(status: int, message: str) -> bytes:
    return _encode({
        "type": "error",
        "error": {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message},
    })
