"""Decoding a request body, and the problem type every request check raises.

Pure: the problem is data (message and the parameter it names); the caller
decides the status. The per-API type checks live in formats/schema.py.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.formats.strict_json import JsonProblem, decode_unique


class RequestProblem(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON request body that must be an object, with no key given twice."""
    if not body:
        raise RequestProblem("request body is empty; expected a JSON object")
    try:
        value = decode_unique(body)
    except JsonProblem as err:
        raise RequestProblem(f"request body: {err}") from None
    if not isinstance(value, dict):
        raise RequestProblem("request body must be a JSON object")
    return value
