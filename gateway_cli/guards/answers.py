"""The texts of a model's answer, in the client's format, with their paths.

Output guards read these; a masking verdict writes them back with
`extract.replace`, which copies only the containers on the edited paths.
"""

from __future__ import annotations

from typing import Any

from gateway_cli.guards.extract import SlotPath
from gateway_cli.providers.operations import Family


def texts(family: Family, answer: Any) -> list[tuple[SlotPath, str]]:
    out: list[tuple[SlotPath, str]] = []
    if not isinstance(answer, dict):
        return out
    if family == "anthropic":
        for i, block in enumerate(answer.get("content") or []):
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                out.append((("content", i, "text"), block["text"]))
        return out
    for i, choice in enumerate(answer.get("choices") or []):
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            if isinstance(message.get("content"), str):
                out.append((("choices", i, "message", "content"), message["content"]))
            for j, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    out.append((("choices", i, "message", "tool_calls", j, "function",
                                 "arguments"), function["arguments"]))
    for i, item in enumerate(answer.get("output") or []):  # Responses API
        for j, part in enumerate(item.get("content") or [] if isinstance(item, dict) else []):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append((("output", i, "content", j, "text"), part["text"]))
    return out


def delta_texts(family: Family, event: dict[str, Any]) -> list[str]:
    """The answer text one streamed event adds (OpenAI chunk or Anthropic event)."""
    if family == "anthropic":
        delta = event.get("delta")
        if event.get("type") == "content_block_delta" and isinstance(delta, dict):
            text = delta.get("text", delta.get("partial_json"))
            return [text] if isinstance(text, str) else []
        return []
    found = []
    for choice in event.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict):
            if isinstance(delta.get("content"), str):
                found.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    found.append(function["arguments"])
    if isinstance(event.get("delta"), str):  # Responses API text deltas
        found.append(event["delta"])
    return found
