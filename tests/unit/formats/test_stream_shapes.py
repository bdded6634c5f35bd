"""Hostile stream shapes: indexes that are not small integers, and too many of them.

Every stage that keeps state per choice or content block (the output policy's
masker, the placeholder restorer, both stream translators) refuses them with a
ValueError, which the relay turns into an error event for the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from gateway_cli.config import OutputPolicyConfig
from gateway_cli.formats.stream_index import MAX_STREAM_SLOTS, StreamShapeError, index_of
from gateway_cli.guards.mask_stream import MaskingStream
from gateway_cli.guards.redact import Redactions
from gateway_cli.guards.restore_stream import RestoringStream
from gateway_cli.providers.adapt import Ids, adapter_for
from gateway_cli.providers.operations import Op

BAD_INDEXES: list[Any] = [[1], {"a": 1}, "0", 1.5, True, -1, MAX_STREAM_SLOTS, 2**70]


def _chat(index: Any) -> bytes:
    return b"data: " + msgspec.json.encode({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": index, "delta": {"content": "hello"}, "finish_reason": None}]},
    ) + b"\n\n"


def _anthropic(index: Any) -> bytes:
    return b"event: content_block_delta\ndata: " + msgspec.json.encode({
        "type": "content_block_delta", "index": index,
        "delta": {"type": "text_delta", "text": "hello"}}) + b"\n\n"


def _chat_tool(index: Any) -> bytes:
    return b"data: " + msgspec.json.encode({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": index, "id": f"call_{index}", "type": "function",
             "function": {"name": "f", "arguments": ""}}]}, "finish_reason": None}]}) + b"\n\n"


def _anthropic_tool(index: Any) -> bytes:
    return b"event: content_block_start\ndata: " + msgspec.json.encode({
        "type": "content_block_start", "index": index,
        "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}) + b"\n\n"


def _redactions() -> Redactions:
    redactions = Redactions()
    redactions.placeholder("jane@example.com", "EMAIL", "mail jane@example.com")
    return redactions


IDS = Ids("r1", 1)
STAGES: list[tuple[str, Callable[[], Any], Callable[[Any], bytes]]] = [
    ("mask/openai", lambda: MaskingStream(OutputPolicyConfig(action="mask"), "openai", None),
     _chat),
    ("mask/anthropic",
     lambda: MaskingStream(OutputPolicyConfig(action="mask"), "anthropic", None), _anthropic),
    ("restore/openai", lambda: RestoringStream("openai", _redactions()), _chat),
    ("restore/anthropic", lambda: RestoringStream("anthropic", _redactions()), _anthropic),
    ("translate openai->anthropic",
     lambda: adapter_for(Op.MESSAGES, "openai").stream(IDS, "m", False), _chat_tool),
    ("translate anthropic->openai",
     lambda: adapter_for(Op.CHAT, "anthropic").stream(IDS, "m", False), _anthropic_tool),
]


@pytest.mark.parametrize(("name", "make", "event"), STAGES, ids=[s[0] for s in STAGES])
@pytest.mark.parametrize("index", BAD_INDEXES, ids=repr)
def test_a_malformed_index_is_a_value_error(name: str, make: Callable[[], Any],
                                           event: Callable[[Any], bytes], index: Any) -> None:
    stage = make()
    stage.feed(event(0))
    with pytest.raises(ValueError):  # the relay turns exactly ValueError into an error event
        stage.feed(event(index))


@pytest.mark.parametrize(("name", "make", "event"), STAGES, ids=[s[0] for s in STAGES])
def test_slots_per_stream_are_bounded(name: str, make: Callable[[], Any],
                                      event: Callable[[Any], bytes]) -> None:
    stage = make()
    for index in range(MAX_STREAM_SLOTS):
        stage.feed(event(index))
    with pytest.raises(StreamShapeError):
        stage.feed(event(MAX_STREAM_SLOTS))


def test_index_of() -> None:
    assert index_of(None) == 0
    assert index_of(None, None) is None
    assert index_of(None, -1) == -1
    assert index_of(7) == 7
    for bad in BAD_INDEXES:
        with pytest.raises(StreamShapeError):
            index_of(bad)
