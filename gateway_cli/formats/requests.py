"""Checks on a request body before any stage reads it, per operation.

The parameter types come from one table per API (formats/schema.py); fields
no table lists pass through untouched so new provider features work without
a gateway release. Also the structural limit on JSON nesting, which protects
every later stage (guards, translation) from pathological input.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.formats import schema
from gateway_cli.formats.openai_chat import RequestProblem
from gateway_cli.providers.operations import Op


def check_depth(raw: bytes, value: Any, limit: int) -> None:
    """Refuse JSON nested deeper than `limit` (cheap: skipped when there are few brackets)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise RequestProblem(f"request JSON is nested deeper than {limit} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


def check_request(op: Op, body: dict[str, Any]) -> None:
    """Raise RequestProblem naming the field of `body` that `op`'s API types differently."""
    schema.check(op, body)
