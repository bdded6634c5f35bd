"""Checks on the request fields the gateway itself relies on, per operation.

Only routing-relevant fields are checked (model, messages, the stream flag,
required Anthropic fields); everything else passes through untouched so new
provider features work without a gateway release. Also the structural limit
on JSON nesting, which protects every later stage (guards, translation) from
pathological input.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.formats.openai_chat import (
    RequestProblem,
    check_chat_request,
    check_stream_flag,
    require_model,
)
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


def _anthropic_messages(body: dict[str, Any]) -> None:
    require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestProblem("messages: required and must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise RequestProblem(f"messages.{i}: must be an object with role 'user' or "
                                 "'assistant'", f"messages.{i}")
        content = message.get("content")
        if not isinstance(content, str | list):
            raise RequestProblem(f"messages.{i}.content: must be a string or an array of "
                                 "content blocks", f"messages.{i}.content")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise RequestProblem("system: must be a string or an array of text blocks", "system")


def check_request(op: Op, body: dict[str, Any]) -> None:
    if op is Op.CHAT:
        check_chat_request(body)
    elif op is Op.MESSAGES:
        _anthropic_messages(body)
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise RequestProblem("max_tokens: required and must be a positive integer",
                                 "max_tokens")
        check_stream_flag(body)
    elif op is Op.COUNT_TOKENS:
        _anthropic_messages(body)
    elif op is Op.EMBEDDINGS:
        require_model(body)
        if not isinstance(body.get("input"), str | list) or body.get("input") in ("", []):
            raise RequestProblem("'input' is required: a string or an array", "input")
    elif op is Op.RESPONSES:
        require_model(body)
        if "input" in body and not isinstance(body["input"], str | list):
            raise RequestProblem("'input' must be a string or an array of items", "input")
        check_stream_flag(body)
