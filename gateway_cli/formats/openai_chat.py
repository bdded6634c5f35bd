"""Validation of OpenAI chat-completion requests as clients send them.

Only what the gateway itself relies on is checked (the model, the messages,
the stream flag); every other field passes through untouched so that new
provider features keep working without a gateway release. Pure: returns the
problem as data, the caller decides the status.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.formats.strict_json import JsonProblem, decode_unique

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

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


def require_model(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestProblem("'model' is required and must be a non-empty string", "model")


def check_stream_flag(body: dict[str, Any]) -> None:
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestProblem("'stream' must be a boolean", "stream")


def check_chat_request(body: dict[str, Any]) -> None:
    """Raise RequestProblem if the fields the gateway routes on are missing or mistyped."""
    require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestProblem("'messages' is required and must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestProblem(f"messages[{i}] must be an object", f"messages[{i}]")
        role = message.get("role")
        if role not in ROLES:
            raise RequestProblem(
                f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}",
                f"messages[{i}].role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise RequestProblem(
                f"messages[{i}].content must be a string or an array of parts",
                f"messages[{i}].content",
            )
    check_stream_flag(body)
