"""The texts of a model's answer, in the client's format, with their paths.

Output guards read these; a masking verdict writes them back with
`extract.replace`, which copies only the containers on the edited paths.

Every string in the answer is a text (refusals, reasoning, audio
transcripts, tool names and arguments, Anthropic `tool_use.input` and
`thinking`, unknown fields), walked the way `extract` walks requests and
with its allow-list (the id, object type and other vocabulary while they look
like it), plus token counts, token logprobs and embedding vectors.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.guards import extract
from gateway_cli.guards.extract import SlotPath
from gateway_cli.providers.operations import Family

# Not text: token counts, and token logprobs (they spell out text that is screened as a
# whole; a masked answer loses them) and embedding vectors (base64 when so encoded).
_NOT_TEXT = frozenset({"usage", "logprobs", "top_logprobs", "embedding"})
_SKIPPED = _NOT_TEXT


def texts(family: Family, answer: Any) -> list[tuple[SlotPath, str]]:
    """Every text of `answer` (both families share one walk; `family` names the format)."""
    del family  # the walk reads every field, whichever API's it is
    if not isinstance(answer, dict):
        return []
    out: list[tuple[SlotPath, str]] = []
    stack: list[tuple[Any, SlotPath]] = [(answer, ())]
    skipped = extract.skipped
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict):
            pending = []
            for key, value in node.items():
                if key in _SKIPPED or not isinstance(key, str):
                    continue
                if isinstance(value, dict | list):
                    pending.append((value, (*at, key)))
                elif isinstance(value, str) and value:
                    where = (*at, key)
                    if key == "arguments":  # JSON in a string: its strings, one by one
                        out.extend(_walked(value, where, node))
                    elif not skipped(where, value, node, False):  # `walk`'s str case
                        out.append((where, value))
            stack.extend(reversed(pending))
        elif isinstance(node, list):
            stack.extend((node[i], (*at, i)) for i in reversed(range(len(node))))
        else:
            out.extend(_walked(node, at, None))
    return out


def _walked(value: Any, at: SlotPath,
            parent: dict[str, Any] | None) -> list[tuple[SlotPath, str]]:
    """`extract.walk`'s texts under one value (an `arguments` string, a list's scalar)."""
    found: list[extract.TextSlot] = []
    extract.walk(value, at, "assistant", found, parent=parent)
    return [(slot.path, slot.text) for slot in found]


def delta_texts(family: Family, event: dict[str, Any]) -> list[str]:
    """Every text one streamed event adds (OpenAI chunk, Anthropic event, Responses event):
    content, refusals, reasoning, tool names and argument pieces alike."""
    del family
    found: list[extract.TextSlot] = []
    delta = event.get("delta")
    if isinstance(delta, str):  # Responses API deltas
        found.append(extract.TextSlot(("delta",), delta, "assistant"))
    elif isinstance(delta, dict):  # Anthropic: text, thinking, partial_json...
        for key, value in delta.items():
            if isinstance(value, str) and key != "type" and value:
                found.append(extract.TextSlot(("delta", key), value, "assistant"))
    for i, choice in enumerate(event.get("choices") or []):
        inner = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(inner, dict):
            _delta_strings(inner, ("choices", i, "delta"), found)
    block = event.get("content_block")
    if isinstance(block, dict):  # Anthropic block starts carry their first text or input
        _delta_strings(block, ("content_block",), found)
    return [slot.text for slot in found]


def _delta_strings(node: dict[str, Any], at: SlotPath, out: list[extract.TextSlot]) -> None:
    """Strings of a streamed delta as sent: argument pieces are not JSON yet, so not decoded."""
    stack: list[tuple[Any, SlotPath, dict[str, Any] | None]] = [(node, at, None)]
    while stack:
        value, where, parent = stack.pop()
        if isinstance(value, str):
            if value and not extract.skipped(where, value, parent, False):
                out.append(extract.TextSlot(where, value, "assistant"))
        elif isinstance(value, dict):
            stack.extend((v, (*where, k), value) for k, v in reversed(list(value.items()))
                         if isinstance(k, str) and k not in _NOT_TEXT)
        elif isinstance(value, list):
            stack.extend((value[i], (*where, i), parent) for i in reversed(range(len(value))))
