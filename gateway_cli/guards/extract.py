"""Every text a request carries, and the way to put a rewritten text back.

Guards scan strings; requests are nested JSON in four shapes. `texts` walks a
body and yields each text with the path that reaches it, so a caller can scan
them all and hand `replace` the rewritten ones (redaction) without knowing
the formats. Anything the walk does not recognise is left out of the slots
and left untouched by `replace`, so unknown and future fields still reach
the provider exactly as the client sent them.

Paths are keys and indices from the body's root. One extension: when a path
continues past a string, that string is JSON text (OpenAI tool-call
`arguments`) and the rest of the path walks into the decoded value. Tool-call
arguments and Anthropic `tool_use.input` are therefore offered leaf by leaf,
one slot per JSON string value, rather than as one JSON text, because:

- a redaction inside a JSON string value can never break the JSON (a span
  that cut a quote or an escape in the encoded text could), so the rewritten
  arguments are always valid for the tool that receives them;
- the arguments are re-encoded only when an edit actually changes one of
  their values; unedited arguments keep the client's exact bytes.

The cost: object keys, numbers and booleans inside arguments are not offered
as text (they are structure, and a guard that wants them can scan the raw
argument string itself). Arguments that are not a JSON object or array are
offered whole, as one slot.

Not walked, on purpose: Anthropic `thinking` blocks (signed by the provider;
an edit would be rejected upstream), images, audio and files (not text), and
`response_format` schemas (they shape the output, they are not instructions
the model reads as conversation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway_cli.providers.operations import Op

SlotPath = tuple[str | int, ...]
Source = Literal[
    "user", "system", "assistant", "tool_definition", "tool_call", "tool_result", "document"
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


def texts(op: Op, body: Mapping[str, Any]) -> list[TextSlot]:
    """Every text in a request body, in document order.

    Never raises on a malformed body: a field of the wrong type is simply not
    a text, and rejecting bad requests is the validators' job, not this one's.
    """
    if not isinstance(body, Mapping):
        return []
    walk = {
        Op.CHAT: _chat,
        Op.RESPONSES: _responses,
        Op.EMBEDDINGS: _embeddings,
        Op.MESSAGES: _messages,
        Op.COUNT_TOKENS: _messages,
    }[op]
    return list(walk(body))


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


# -- walks ------------------------------------------------------------------------------------


def _chat(body: Mapping[str, Any]) -> Iterator[TextSlot]:
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if not isinstance(message, Mapping):
                continue
            where: SlotPath = ("messages", i)
            source = _ROLE_SOURCE.get(str(message.get("role")), "user")
            yield from _openai_content(message.get("content"), (*where, "content"), source)
            refusal = message.get("refusal")
            if isinstance(refusal, str) and source == "assistant":
                yield TextSlot((*where, "refusal"), refusal, "assistant")
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                for j, call in enumerate(calls):
                    function = call.get("function") if isinstance(call, Mapping) else None
                    if isinstance(function, Mapping):
                        yield from _arguments(
                            function.get("arguments"),
                            (*where, "tool_calls", j, "function", "arguments"),
                        )
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if isinstance(function, Mapping):
                yield from _tool_definition(
                    function, ("tools", i, "function"), "description", "parameters"
                )


def _openai_content(content: Any, where: SlotPath, source: Source) -> Iterator[TextSlot]:
    if isinstance(content, str):
        yield TextSlot(where, content, source)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            for key in ("text", "refusal"):
                value = part.get(key)
                if isinstance(value, str) and kind in (key, f"input_{key}", f"output_{key}"):
                    yield TextSlot((*where, j, key), value, source)


def _arguments(arguments: Any, where: SlotPath) -> Iterator[TextSlot]:
    if not isinstance(arguments, str):
        return
    try:
        decoded = json.loads(arguments)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict | list):
        yield from _json_strings(decoded, where, "tool_call")
    else:
        yield TextSlot(where, arguments, "tool_call")


def _json_strings(value: Any, where: SlotPath, source: Source) -> Iterator[TextSlot]:
    """Every string value in a decoded JSON value. Iterative: depth is client-chosen."""
    stack: list[tuple[Any, SlotPath]] = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            yield TextSlot(path, node, source)
        elif isinstance(node, Mapping):
            stack.extend((node[k], (*path, k)) for k in reversed(list(node)) if isinstance(k, str))
        elif isinstance(node, list):
            stack.extend((node[i], (*path, i)) for i in reversed(range(len(node))))


def _tool_definition(
    tool: Mapping[str, Any], where: SlotPath, description: str, schema: str
) -> Iterator[TextSlot]:
    text = tool.get(description)
    if isinstance(text, str):
        yield TextSlot((*where, description), text, "tool_definition")
    yield from _schema_descriptions(tool.get(schema), (*where, schema))


def _schema_descriptions(schema: Any, where: SlotPath) -> Iterator[TextSlot]:
    """`description` strings anywhere in a JSON schema: the model reads them as instructions.

    A property that happens to be named `description` maps to a schema object,
    not a string, so it is walked into rather than mistaken for text.
    """
    stack: list[tuple[Any, SlotPath]] = [(schema, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Mapping):
            pending = []
            for key, value in node.items():
                if key == "description" and isinstance(value, str):
                    yield TextSlot((*path, key), value, "tool_definition")
                elif isinstance(value, Mapping | list) and isinstance(key, str):
                    pending.append((value, (*path, key)))
            stack.extend(reversed(pending))
        elif isinstance(node, list):
            stack.extend((node[i], (*path, i)) for i in reversed(range(len(node))))


def _responses(body: Mapping[str, Any]) -> Iterator[TextSlot]:
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        yield TextSlot(("instructions",), instructions, "system")
    items = body.get("input")
    if isinstance(items, str):
        yield TextSlot(("input",), items, "user")
    elif isinstance(items, list):
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue
            where: SlotPath = ("input", i)
            kind = item.get("type", "message")
            if kind == "message":
                source = _ROLE_SOURCE.get(str(item.get("role")), "user")
                yield from _openai_content(item.get("content"), (*where, "content"), source)
            elif kind == "function_call":
                yield from _arguments(item.get("arguments"), (*where, "arguments"))
            elif kind == "function_call_output":
                yield from _openai_content(item.get("output"), (*where, "output"), "tool_result")
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            if isinstance(tool, Mapping) and tool.get("type") == "function":
                yield from _tool_definition(tool, ("tools", i), "description", "parameters")


def _embeddings(body: Mapping[str, Any]) -> Iterator[TextSlot]:
    value = body.get("input")
    if isinstance(value, str):
        yield TextSlot(("input",), value, "user")
    elif isinstance(value, list):
        # Token-id arrays (ints, or lists of ints) are not text; only strings are offered.
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield TextSlot(("input", i), item, "user")


def _messages(body: Mapping[str, Any]) -> Iterator[TextSlot]:
    yield from _anthropic_content(body.get("system"), ("system",), "system")
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            if isinstance(message, Mapping):
                source: Source = "assistant" if message.get("role") == "assistant" else "user"
                yield from _anthropic_content(
                    message.get("content"), ("messages", i, "content"), source
                )
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            if isinstance(tool, Mapping):
                yield from _tool_definition(tool, ("tools", i), "description", "input_schema")


def _anthropic_content(content: Any, where: SlotPath, source: Source) -> Iterator[TextSlot]:
    if isinstance(content, str):
        yield TextSlot(where, content, source)
        return
    if not isinstance(content, list):
        return
    for j, block in enumerate(content):
        if not isinstance(block, Mapping):
            continue
        at: SlotPath = (*where, j)
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            yield TextSlot((*at, "text"), block["text"], source)
        elif kind == "tool_use":
            yield from _json_strings(block.get("input"), (*at, "input"), "tool_call")
        elif kind == "tool_result":
            yield from _anthropic_content(block.get("content"), (*at, "content"), "tool_result")
        elif kind in ("document", "search_result"):
            yield from _document(block, at)


def _document(block: Mapping[str, Any], at: SlotPath) -> Iterator[TextSlot]:
    for key in ("title", "context"):
        if isinstance(block.get(key), str):
            yield TextSlot((*at, key), block[key], "document")
    source = block.get("source")
    if isinstance(source, Mapping):
        if source.get("type") == "text" and isinstance(source.get("data"), str):
            yield TextSlot((*at, "source", "data"), source["data"], "document")
        elif source.get("type") == "content":
            yield from _anthropic_content(source.get("content"), (*at, "source", "content"),
                                          "document")
    if block.get("type") == "search_result":
        yield from _anthropic_content(block.get("content"), (*at, "content"), "document")
