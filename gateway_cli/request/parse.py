"""Parse and validate: the body decoded strictly, and the few fields the gateway routes on.

Strict (formats/strict_json): a key given twice, invalid UTF-8 or nesting
past `max_depth` is refused, so the object the guards inspect is exactly the
one the upstream will read from the bytes the gateway sends.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.formats.errors import HttpError
from gateway_cli.formats.openai_chat import RequestProblem, decode_object
from gateway_cli.formats.requests import check_depth, check_request
from gateway_cli.providers.operations import Op


def parse(op: Op, raw: bytes, max_depth: int) -> dict[str, Any]:
    """The request body of `op`, or HttpError 400 naming what is wrong with it."""
    try:
        body = decode_object(raw)
        check_depth(raw, body, max_depth)
        check_request(op, body)
    except RequestProblem as problem:
        raise HttpError(400, problem.message, "invalid_request", problem.param) from None
    return body
