"""Every text a request carries, and the way to put a rewritten text back.

Guards scan strings; requests are nested JSON in four shapes. `texts` walks a
body and yields each text with the path that reaches it, so a caller can scan
them all and hand `replace` the rewritten ones (redaction) without knowing
the formats.

Every string is a text, wherever it is: known fields, unknown fields and
unknown part types alike (a field nobody inspects is where an attack would
go). The only strings left out are on an explicit allow-list (`_skipped`,
tested one by one): the API's own vocabulary (`type`, `role`, a top-level
`model`...), ids in the providers' id formats, and opaque binary payloads
(base64 images and audio, `data:` URLs, signed or encrypted reasoning blobs).
Each text has a kind (user, system, assistant, tool definition, tool call,
tool result, document, metadata, reasoning) for policy to weigh, decided by
where it sits.

Paths are keys and indices from the body's root. One extension: when a path
continues past a string, that string is JSON text (OpenAI tool-call
`arguments`) and the rest of the path walks into the decoded value. Tool-call
arguments and Anthropic `tool_use.input` are therefore offered leaf by leaf,
one slot per JSON string value, rather than as one JSON text, so a
redaction can never break the JSON the tool receives, and arguments are
re-encoded only when an edit changes one of their values.

Some texts cannot be edited: Anthropic `thinking` blocks (signed by the
provider; an edit would be rejected upstream) and object keys inside
free-form JSON (paths address values). They are offered with `editable`
False; the pipeline blocks a request whose redaction would need to edit one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway_cli.providers.operations import Op

SlotPath = tuple[str | int, ...]
Source = Literal[
    "user", "system", "assistant", "tool_definition", "tool_call", "tool_result", "document",
    "metadata", "reasoning",
]

_ROLE_SOURCE: dict[str, Source] = {
    "user": "user",
    "system": "system",
    "developer": "system",
    "assistant": "assistant",
    "tool": "tool_result",
    "function": "tool_result",
}


@dataclass(frozen=True, slots=True)
class TextSlot:
    path: SlotPath
    text: str
    source: Source
    editable: bool = True


def texts(op: Op, body: Mapping[str, Any]) -> list[TextSlot]:
    """Every text in a request body, in document order.

    Never raises on a malformed body: a field of the wrong type is simply not
    a text, and rejecting bad requests is the validators' job, not this one's.
    """
    if not isinstance(body, Mapping):
        return []
    out: list[TextSlot] = []
    for key, value in body.items():
        if not isinstance(key, str) or key == "model":
            continue  # the model name is routed on, never read by a model
        kind = _TOP_LEVEL.get(key, "user")
        if key == "input" and op is Op.RESPONSES and isinstance(value, list):
            _items(value, ("input",), out)
        elif key == "messages" and isinstance(value, list):
            _messages_list(value, out)
        else:
            walk(value, (key,), kind, out, data=key in _DATA_KEYS)
    return out


def replace(body: Mapping[str, Any], edits: Mapping[SlotPath, str]) -> dict[str, Any]:
    """A new body with the texts at `edits`' paths replaced; `body` is not modified.

    Only the containers on an edited path are copied, so a body with a large
    image costs nothing extra. An edit whose path does not reach a string, or
    two edits where one path is inside the other, is a programming error and
    raises `ValueError` rather than silently sending the unredacted text.
    """
    tree: dict[Any, Any] = {}
    for path, text in edits.items():
        if not path:
            raise ValueError("an edit path cannot be empty")
        if not isinstance(text, str):
            raise ValueError(f"edit for {path!r} is not a string")
        _insert(tree, path, text)
    result = _apply(body, tree, ())
    if not isinstance(result, dict):
        raise ValueError("the body must be a JSON object")
    return result


# -- replace ----------------------------------------------------------------------------------

_LEAF = object()  # key of a trie node holding the replacement for the node itself


def _insert(tree: dict[Any, Any], path: SlotPath, text: str) -> None:
    node = tree
    for key in path:
        if _LEAF in node:
            raise ValueError(f"edit {path!r} is inside another edited text")
        node = node.setdefault(key, {})
    if node:
        raise ValueError(f"edit {path!r} contains another edit")
    node[_LEAF] = text


def _apply(value: Any, tree: dict[Any, Any], where: SlotPath) -> Any:
    if _LEAF in tree:
        if not isinstance(value, str):
            raise ValueError(f"{where!r} is not a text")
        return tree[_LEAF]
    if isinstance(value, str):
        return _apply_json_text(value, tree, where)
    if isinstance(value, Mapping):
        out = dict(value)
        for key, sub in tree.items():
            if not isinstance(key, str) or key not in value:
                raise ValueError(f"{(*where, key)!r} is not in the body")
            out[key] = _apply(value[key], sub, (*where, key))
        return out
    if isinstance(value, list):
        items = list(value)
        for key, sub in tree.items():
            if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(value):
                raise ValueError(f"{(*where, key)!r} is not in the body")
            items[key] = _apply(value[key], sub, (*where, key))
        return items
    raise ValueError(f"{where!r} is neither a container nor a text")


def _apply_json_text(text: str, tree: dict[Any, Any], where: SlotPath) -> str:
    try:
        decoded = json.loads(text)
    except ValueError:
        raise ValueError(f"{where!r} is a text, not JSON; the path cannot continue") from None
    edited = _apply(decoded, tree, where)
    if edited == decoded:
        return text  # identity edits keep the client's exact bytes
    return json.dumps(edited, ensure_ascii=False, separators=(",", ":"))


# -- the walk -------------------------------------------------------------------------------

# Top-level fields and the kind of text under them; any other field is read as user text.
_TOP_LEVEL: dict[str, Source] = {
    "system": "system", "instructions": "system",
    "tools": "tool_definition", "functions": "tool_definition",
    "tool_choice": "tool_definition", "function_call": "tool_definition",
    "response_format": "tool_definition", "text": "tool_definition",
    "prediction": "assistant",
    "reasoning": "reasoning", "thinking": "reasoning",
    "metadata": "metadata", "user": "metadata", "stop": "metadata",
    "stop_sequences": "metadata", "prompt_cache_key": "metadata",
    "safety_identifier": "metadata",
}
# Top-level fields holding free-form JSON: every key and value in them is data.
_DATA_KEYS = frozenset({"metadata"})

# Fields whose values are the API's own vocabulary, skipped when they look like it.
_VOCABULARY = frozenset({
    "type", "role", "object", "detail", "format", "media_type", "mime_type",
    "encoding_format", "service_tier", "reasoning_effort", "effort", "truncation", "status",
    "voice", "modalities", "include", "summary",
})
_WORD = re.compile(r"[a-z][a-z0-9_.:/-]{0,47}")
# Ids in the providers' formats (call_..., toolu_..., msg_..., fc_..., rs_...).
_ID_KEYS = frozenset({"id", "tool_call_id", "tool_use_id", "call_id", "item_id",
                      "previous_response_id", "file_id", "container_id", "response_id"})
_ID = re.compile(r"(?:call|toolu|srvtoolu|mcptoolu|msg|fc|rs|resp|file|item|ctc|ws|ci|mcp|"
                 r"chatcmpl|cntr|ig|lsh|ctr|cu|tc|req|run|asst|thread|step)[_-]"
                 r"[A-Za-z0-9_-]{4,128}")
# Opaque payloads: encrypted or signed reasoning, base64 media.
_OPAQUE_KEYS = frozenset({"signature", "encrypted_content", "file_data"})

# Object keys inside free-form JSON that could carry text (not plain identifiers).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]{1,32}")


def skipped(at: SlotPath, value: str, parent: Mapping[str, Any] | None, data: bool) -> bool:
    """The allow-list of strings that are not text for a model (see the module docstring)."""
    if value.startswith("data:") and ";base64," in value[:200]:
        return True  # a data: URL (image, file, audio)
    key = at[-1] if at else None
    if data or not isinstance(key, str):
        return False
    if key in _VOCABULARY:
        # (Twelve characters hold at most twelve digits: most words skip the count.)
        return bool(_WORD.fullmatch(value)) and (
            len(value) <= 12 or sum(map(str.isdigit, value)) <= 12)
    if key in _ID_KEYS:
        return bool(_ID.fullmatch(value))
    if key in _OPAQUE_KEYS:
        return True
    if key == "data" and ((parent is not None and parent.get("type") in (
            "base64", "redacted_thinking")) or (len(at) > 1 and at[-2] == "input_audio")):
        return True  # base64 media, input audio, or an encrypted reasoning block
    return key == "tool_choice" and value in ("auto", "none", "required", "any")


def walk(value: Any, path: SlotPath, kind: Source, out: list[TextSlot], *,
          data: bool = False, parent: Mapping[str, Any] | None = None,
          editable: bool = True) -> None:
    """Every string under `value`. Iterative: depth is client-chosen."""
    if isinstance(value, str):  # the common case (a role, a content string): no stack
        if path and path[-1] == "arguments" and not data:
            _arguments(value, path, out)
        elif value and not skipped(path, value, parent, data):
            out.append(TextSlot(path, value, kind, editable))
        return
    if not isinstance(value, Mapping | list):
        return
    stack: list[tuple[Any, SlotPath, Source, bool, Mapping[str, Any] | None, bool]] = [
        (value, path, kind, data, parent, editable)]
    while stack:
        node, at, sort, free, owner, can_edit = stack.pop()
        if isinstance(node, str):
            if at and at[-1] == "arguments" and not free:
                _arguments(node, at, out)
            elif node and not skipped(at, node, owner, free):
                out.append(TextSlot(at, node, sort, can_edit))
        elif isinstance(node, Mapping):
            pending = []
            for key, item in node.items():
                if not isinstance(key, str):
                    continue
                if free and not _PLAIN_KEY.fullmatch(key):
                    out.append(TextSlot((*at, key), key, sort, False))
                inner_free = free or (sort == "tool_definition" and key in (
                    "enum", "default", "const", "examples"))
                pending.append((item, (*at, key), _nested_kind(sort, node, key), inner_free,
                                node, can_edit))
            stack.extend(reversed(pending))
        elif isinstance(node, list):
            stack.extend((node[i], (*at, i), sort, free, owner, can_edit)
                         for i in reversed(range(len(node))))


def _nested_kind(kind: Source, node: Mapping[str, Any], key: str) -> Source:
    """The kind of a field inside a content part, block or item of kind `kind`."""
    if key in ("tool_calls", "function_call") and kind == "assistant":
        return "tool_call"
    if key == "reasoning_content":
        return "reasoning"
    return kind


def _arguments(arguments: str, where: SlotPath, out: list[TextSlot]) -> None:
    try:
        decoded = json.loads(arguments)
    except (ValueError, RecursionError):
        decoded = None
    if isinstance(decoded, dict | list):
        walk(decoded, where, "tool_call", out, data=True)
    elif arguments:
        out.append(TextSlot(where, arguments, "tool_call"))


def _messages_list(messages: list[Any], out: list[TextSlot]) -> None:
    """Chat messages or Anthropic messages: each one's kind comes from its role."""
    for i, message in enumerate(messages):
        where: SlotPath = ("messages", i)
        if not isinstance(message, Mapping):
            walk(message, where, "user", out)
            continue
        kind = _ROLE_SOURCE.get(str(message.get("role")), "user")
        for key, value in message.items():
            if not isinstance(key, str):
                continue
            if key == "content" and isinstance(value, list):
                _blocks(value, (*where, "content"), kind, out)
            else:
                walk(value, (*where, key), _nested_kind(kind, message, key), out,
                      parent=message)


# Anthropic and OpenAI content blocks and Responses items: the kind by the block's type.
_BLOCK_KIND: dict[str, Source] = {
    "tool_use": "tool_call", "server_tool_use": "tool_call", "mcp_tool_use": "tool_call",
    "function_call": "tool_call", "custom_tool_call": "tool_call",
    "tool_result": "tool_result", "mcp_tool_result": "tool_result",
    "function_call_output": "tool_result", "custom_tool_call_output": "tool_result",
    "document": "document", "search_result": "document",
    "thinking": "reasoning", "redacted_thinking": "reasoning", "reasoning": "reasoning",
}


def _block_kind(block: Mapping[str, Any], default: Source) -> Source:
    kind = block.get("type")
    if not isinstance(kind, str):
        return default
    if kind in _BLOCK_KIND:
        return _BLOCK_KIND[kind]
    if kind.endswith(("_tool_result", "_call_output", "_result")):
        return "tool_result"
    if kind.endswith(("_tool_use", "_call")):
        return "tool_call"
    return default


def _blocks(blocks: list[Any], where: SlotPath, kind: Source, out: list[TextSlot]) -> None:
    for j, block in enumerate(blocks):
        at: SlotPath = (*where, j)
        if not isinstance(block, Mapping):
            walk(block, at, kind, out)
            continue
        sort = _block_kind(block, kind)
        # A signed thinking block must reach the provider byte for byte.
        editable = block.get("type") not in ("thinking", "redacted_thinking")
        for key, value in block.items():
            if not isinstance(key, str):
                continue
            inner = (*at, key)
            if key == "content" and isinstance(value, list):
                _blocks(value, inner, sort, out)
            elif key == "input" and sort == "tool_call" and isinstance(value, Mapping | list):
                walk(value, inner, sort, out, data=True, editable=editable)
            else:
                walk(value, inner, sort, out, parent=block, editable=editable)


def _items(items: list[Any], where: SlotPath, out: list[TextSlot]) -> None:
    """Responses input items: messages (by role) and typed items (by type)."""
    for i, item in enumerate(items):
        at: SlotPath = (*where, i)
        if isinstance(item, Mapping) and "role" in item and item.get("type", "message") in (
                "message", "Message"):
            kind = _ROLE_SOURCE.get(str(item.get("role")), "user")
            for key, value in item.items():
                if not isinstance(key, str):
                    continue
                if key == "content" and isinstance(value, list):
                    _blocks(value, (*at, key), kind, out)
                else:
                    walk(value, (*at, key), kind, out, parent=item)
        else:
            _blocks_one(item, at, out)


def _blocks_one(item: Any, at: SlotPath, out: list[TextSlot]) -> None:
    if not isinstance(item, Mapping):
        walk(item, at, "user", out)
        return
    sort = _block_kind(item, "user")
    for key, value in item.items():
        if not isinstance(key, str):
            continue
        inner = (*at, key)
        if key in ("content", "output", "summary") and isinstance(value, list):
            _blocks(value, inner, sort, out)
        else:
            walk(value, inner, sort, out, parent=item)
