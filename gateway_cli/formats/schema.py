"""The parameter types of each API the gateway serves, as tables.

Rules, stated once (the tables below are data; `check` is the only code):

- Each API has one table: every top-level field whose type its reference fixes,
  and that type. A field a table does not list passes through untouched, so a
  provider's new parameters keep working without a gateway release.
- A listed field with the wrong type is a 400 naming the field, in the
  client's format: `temperature: "hot"` must not reach a provider (which
  would answer with its own words, or worse, coerce it) nor a guard that
  reads the field expecting a number.
- `null` on an optional field counts as absent (clients built on other SDKs
  send it for "unset"); the provider decides what it means.
- Message shapes are the second table level: the roles each API takes, and
  that content is text or a list of typed parts. Part types are not listed:
  a new kind of block passes, but a part must be an object that says its type,
  or no later stage (guards, translation) could tell what it is.

The Anthropic table is a strict superset of the Messages API: it takes
`system` turns inside `messages` (as Claude Code sends with the
mid-conversation system beta), which translation maps to a system message at
the same position for OpenAI-format providers.

Sources: the OpenAI API reference (Chat Completions, Responses, Embeddings)
and Anthropic's (Messages, Count tokens), for the fields and types listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway_cli.formats.openai_chat import RequestProblem
from gateway_cli.providers.operations import Op


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _token_ids(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(_integer(x) for x in v)


def _embedding_input(v: Any) -> bool:
    if isinstance(v, str):
        return bool(v)
    if not isinstance(v, list) or not v:
        return False
    return all(isinstance(x, str) for x in v) or _token_ids(v) \
        or all(_token_ids(x) for x in v)


# Type name -> (what the error says it must be, the test).
TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "name": ("a non-empty string", lambda v: isinstance(v, str) and bool(v)),
    "boolean": ("a boolean", lambda v: isinstance(v, bool)),
    "number": ("a number", _number),
    "integer": ("an integer", _integer),
    "count": ("a positive integer", lambda v: _integer(v) and v >= 1),
    "array": ("an array", lambda v: isinstance(v, list)),
    "items": ("a non-empty array", lambda v: isinstance(v, list) and bool(v)),
    "object": ("an object", lambda v: isinstance(v, dict)),
    "string|array": ("a string or an array", lambda v: isinstance(v, str | list)),
    "string|object": ("a string or an object", lambda v: isinstance(v, str | dict)),
    "embedding_input": ("a non-empty string or a non-empty array of strings or token ids",
                        _embedding_input),
}


@dataclass(frozen=True)
class Field:
    type: str
    required: bool = False


_R = True  # required

CHAT: dict[str, Field] = {
    "model": Field("name", _R), "messages": Field("items", _R),
    "stream": Field("boolean"), "stream_options": Field("object"),
    "temperature": Field("number"), "top_p": Field("number"), "n": Field("count"),
    "max_tokens": Field("integer"), "max_completion_tokens": Field("integer"),
    "presence_penalty": Field("number"), "frequency_penalty": Field("number"),
    "stop": Field("string|array"), "seed": Field("integer"), "logprobs": Field("boolean"),
    "top_logprobs": Field("integer"), "logit_bias": Field("object"), "user": Field("string"),
    "tools": Field("array"), "tool_choice": Field("string|object"),
    "parallel_tool_calls": Field("boolean"), "response_format": Field("object"),
    "functions": Field("array"), "function_call": Field("string|object"),
    "metadata": Field("object"), "store": Field("boolean"), "modalities": Field("array"),
    "reasoning_effort": Field("string"), "service_tier": Field("string"),
}

RESPONSES: dict[str, Field] = {
    "model": Field("name", _R), "input": Field("string|array"),
    "instructions": Field("string|array"), "stream": Field("boolean"),
    "temperature": Field("number"), "top_p": Field("number"),
    "max_output_tokens": Field("integer"), "tools": Field("array"),
    "tool_choice": Field("string|object"), "parallel_tool_calls": Field("boolean"),
    "previous_response_id": Field("string"), "store": Field("boolean"),
    "metadata": Field("object"), "reasoning": Field("object"), "text": Field("object"),
    "truncation": Field("string"), "include": Field("array"), "user": Field("string"),
    "background": Field("boolean"), "service_tier": Field("string"),
}

EMBEDDINGS: dict[str, Field] = {
    "model": Field("name", _R), "input": Field("embedding_input", _R),
    "dimensions": Field("count"), "encoding_format": Field("string"), "user": Field("string"),
}

COUNT_TOKENS: dict[str, Field] = {
    "model": Field("name", _R), "messages": Field("items", _R),
    "system": Field("string|array"), "tools": Field("array"), "tool_choice": Field("object"),
    "thinking": Field("object"),
}

MESSAGES: dict[str, Field] = {
    **COUNT_TOKENS,
    "max_tokens": Field("count", _R), "stream": Field("boolean"),
    "temperature": Field("number"), "top_p": Field("number"), "top_k": Field("integer"),
    "stop_sequences": Field("array"), "metadata": Field("object"),
    "service_tier": Field("string"),
}

# Roles a message may take, per API (None: the API has no role-tagged turns to check).
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
ANTHROPIC_ROLES = frozenset({"user", "assistant", "system"})
RESPONSES_ROLES = frozenset({"user", "assistant", "system", "developer"})


@dataclass(frozen=True)
class Api:
    fields: dict[str, Field]
    anthropic: bool  # paths written messages.0.content (Anthropic) or messages[0].content


TABLES: dict[Op, Api] = {
    Op.CHAT: Api(CHAT, anthropic=False),
    Op.RESPONSES: Api(RESPONSES, anthropic=False),
    Op.EMBEDDINGS: Api(EMBEDDINGS, anthropic=False),
    Op.MESSAGES: Api(MESSAGES, anthropic=True),
    Op.COUNT_TOKENS: Api(COUNT_TOKENS, anthropic=True),
}


def _path(api: Api, *parts: str | int) -> str:
    out = str(parts[0])
    for part in parts[1:]:
        out += f".{part}" if api.anthropic or isinstance(part, str) else f"[{part}]"
    return out


def _problem(api: Api, path: str, must: str) -> RequestProblem:
    if api.anthropic:
        return RequestProblem(f"{path}: {must}", path)
    return RequestProblem(f"'{path}' {must}" if "." not in path and "[" not in path
                          else f"{path} {must}", path)


def check_fields(api: Api, body: dict[str, Any]) -> None:
    for name, spec in api.fields.items():
        value = body.get(name)
        what, test = TYPES[spec.type]
        if value is None:
            if spec.required:
                raise _problem(api, name, f"is required and must be {what}")
            continue
        if not test(value):
            raise _problem(api, name, f"{'is required and ' if spec.required else ''}"
                           f"must be {what}")


def _parts(api: Api, content: list[Any], *where: str | int) -> None:
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _problem(api, _path(api, *where, j),
                           "must be an object with a string 'type'")


def _message(api: Api, roles: frozenset[str], message: Any, i: int,
             content_required: bool) -> None:
    if not isinstance(message, dict):
        raise _problem(api, _path(api, "messages", i), "must be an object")
    role = message.get("role")
    if not isinstance(role, str) or role not in roles:  # a list is no role (nor hashable)
        raise _problem(api, _path(api, "messages", i, "role"),
                       f"must be one of {', '.join(sorted(roles))}")
    content = message.get("content")
    if content is None and not content_required:
        return
    if not isinstance(content, str | list):
        raise _problem(api, _path(api, "messages", i, "content"),
                       "must be a string or an array of content parts")
    if isinstance(content, list):
        _parts(api, content, "messages", i, "content")
        if role == "system" and api.anthropic and any(p["type"] != "text" for p in content):
            raise _problem(api, _path(api, "messages", i, "content"),
                           "of a system turn must be text blocks")


def _input_items(api: Api, items: list[Any]) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _problem(api, _path(api, "input", i), "must be an object")
        if "role" in item:
            if not isinstance(item["role"], str) or item["role"] not in RESPONSES_ROLES:
                raise _problem(api, _path(api, "input", i, "role"),
                               f"must be one of {', '.join(sorted(RESPONSES_ROLES))}")
            content = item.get("content")
            if not isinstance(content, str | list):
                raise _problem(api, _path(api, "input", i, "content"),
                               "must be a string or an array of content parts")
            if isinstance(content, list):
                _parts(api, content, "input", i, "content")
        elif not isinstance(item.get("type"), str):
            raise _problem(api, _path(api, "input", i),
                           "must be a message (with a role) or an item with a string 'type'")


def _system_blocks(api: Api, system: Any) -> None:
    if isinstance(system, list):
        for j, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text" \
                    or not isinstance(block.get("text"), str):
                raise _problem(api, _path(api, "system", j), "must be a text block")


def check(op: Op, body: dict[str, Any]) -> None:
    """Raise RequestProblem naming the first field of `body` whose type is wrong for `op`."""
    api = TABLES[op]
    check_fields(api, body)
    if op is Op.CHAT:
        for i, message in enumerate(body["messages"]):
            _message(api, CHAT_ROLES, message, i, content_required=False)
    elif op in (Op.MESSAGES, Op.COUNT_TOKENS):
        for i, message in enumerate(body["messages"]):
            _message(api, ANTHROPIC_ROLES, message, i, content_required=True)
        _system_blocks(api, body.get("system"))
    elif op is Op.RESPONSES and isinstance(body.get("input"), list):
        _input_items(api, body["input"])
