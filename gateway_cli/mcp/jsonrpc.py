"""JSON-RPC 2.0 messages as MCP 2025-11-25 uses them: parse strictly, answer with errors.

Rules, in the order they are checked (each a clear error, never a traceback):

- the body is one JSON value with no duplicate key (formats/strict_json.py),
  within the configured size;
- it is an object: an array is a batch, which MCP 2025-11-25 removed
  (-32600, "batches are not supported");
- `jsonrpc` is "2.0"; a request has a `method` string and an `id` that is a
  string or an integer (never null, never a boolean); a notification has a
  method and no id; a response has an id and exactly one of result/error;
- `params`, when present, is an object (MCP never sends positional params).

Pure: bytes in, a Message or a Problem out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gateway_cli.formats.strict_json import JsonProblem, decode_unique

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# The gateway's own codes, in the implementation-defined server error range.
DENIED = -32001  # not granted, not approved, or blocked by policy: never says which tool exists
UNAVAILABLE = -32002  # the upstream server cannot be reached or died
TIMEOUT = -32003
RATE_LIMITED = -32004  # a per-tool rate of [mcp.servers.NAME] rate; data says which, and when

Kind = Literal["request", "notification", "response"]
Id = str | int
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class Message:
    kind: Kind
    body: dict[str, Any]
    id: Id | None = None
    method: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        params = self.body.get("params")
        return params if isinstance(params, dict) else {}


@dataclass(frozen=True)
class Problem:
    """A message that could not be taken; `id` is echoed only when it was readable."""

    code: int
    message: str
    id: Id | None = None

    def answer(self) -> dict[str, Any]:
        return error(self.id, self.code, self.message)


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS


def parse(raw: bytes) -> Message | Problem:
    try:
        value = decode_unique(raw)
    except JsonProblem as err:
        return Problem(PARSE_ERROR, f"not one JSON value: {err}")
    return classify(value)


def classify(value: object) -> Message | Problem:
    """A decoded JSON value as a JSON-RPC message, or why it is not one."""
    if isinstance(value, list):
        return Problem(INVALID_REQUEST, "JSON-RPC batches are not supported (MCP 2025-11-25 "
                       "removed them): send one message per request")
    if not isinstance(value, dict):
        return Problem(INVALID_REQUEST, "a JSON-RPC message is a JSON object")
    raw_id = value.get("id")
    readable = raw_id if _valid_id(raw_id) else None
    if value.get("jsonrpc") != "2.0":
        return Problem(INVALID_REQUEST, 'expected "jsonrpc": "2.0"', readable)
    if "params" in value and not isinstance(value["params"], dict):
        return Problem(INVALID_REQUEST, "params must be an object", readable)
    method = value.get("method")
    if method is not None:
        if not isinstance(method, str) or not method or len(method) > 200:
            return Problem(INVALID_REQUEST, "method must be a short string", readable)
        if "result" in value or "error" in value:
            return Problem(INVALID_REQUEST, "a request holds no result or error", readable)
        if "id" not in value:
            return Message("notification", value, None, method)
        if readable is None:
            return Problem(INVALID_REQUEST, "id must be a string or an integer (not null)")
        return Message("request", value, readable, method)
    if readable is None:
        return Problem(INVALID_REQUEST, "a message needs a method, or an id with a result "
                       "or error")
    if ("result" in value) == ("error" in value):
        return Problem(INVALID_REQUEST, "a response holds exactly one of result and error",
                       readable)
    if "error" in value and not (isinstance(value["error"], dict)
                                 and isinstance(value["error"].get("code"), int)
                                 and not isinstance(value["error"].get("code"), bool)
                                 and isinstance(value["error"].get("message"), str)):
        return Problem(INVALID_REQUEST, "error must be an object with code and message",
                       readable)
    return Message("response", value, readable, None)


def error(id: Id | None, code: int, message: str, data: object = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": body}


def result(id: Id | None, value: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "result": value}


def request(id: Id, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return body


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    return body
