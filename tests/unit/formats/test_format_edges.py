"""Edges of the request and stream formats found by mutation testing (bench/mutation/README.md)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway_cli.formats.openai_chat import RequestProblem
from gateway_cli.formats.requests import check_depth, check_request
from gateway_cli.formats.sse import SSEParser
from gateway_cli.formats.stream_index import StreamShapeError, check_room, index_of
from gateway_cli.providers.operations import Op

GOOD: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_a_well_formed_chat_request_passes() -> None:
    check_request(Op.CHAT, GOOD)
    check_request(Op.CHAT, {**GOOD, "stream": True,
                            "messages": [{"role": "system", "content": None},
                                         {"role": "user", "content": [{"type": "text"}]}]})


@pytest.mark.parametrize(("body", "where"), [
    ({"messages": GOOD["messages"]}, "model"),
    ({**GOOD, "model": ""}, "model"),
    ({**GOOD, "messages": []}, "messages"),
    ({**GOOD, "messages": ["hi"]}, "messages[0]"),
    ({**GOOD, "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({**GOOD, "messages": [{"content": "hi"}]}, "messages[0].role"),
    ({**GOOD, "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({**GOOD, "stream": "yes"}, "stream"),
])
def test_a_malformed_chat_request_is_refused_naming_the_field(body: dict[str, Any],
                                                              where: str) -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(Op.CHAT, body)
    assert info.value.param == where


def test_depth_exactly_at_the_limit_passes_among_many_brackets() -> None:
    """Enough brackets to leave the fast path, none of them deeper than the limit."""
    body: Any = {"a": {"b": {"c": 1}}, "d": [], "e": [], "f": {}}
    raw = msgspec.json.encode(body)
    assert raw.count(b"{") + raw.count(b"[") > 3
    check_depth(raw, body, 3)
    with pytest.raises(RequestProblem):
        check_depth(raw, body, 2)


def test_an_event_size_limit_of_one_byte_is_allowed_and_zero_is_not() -> None:
    assert SSEParser(max_event_bytes=1).feed(b"\n") == []
    with pytest.raises(ValueError, match="at least 1"):
        SSEParser(max_event_bytes=0)


def test_stream_indexes_run_from_0_to_1023() -> None:
    assert index_of(1023) == 1023 and index_of(0) == 0
    for bad in (1024, -1, True, "1"):
        with pytest.raises(StreamShapeError, match="from 0 to 1023"):
            index_of(bad)
    check_room(1023)  # the 1024th slot may open
    with pytest.raises(StreamShapeError, match="more than 1024"):
        check_room(1024)


MESSAGES: dict[str, Any] = {"model": "m", "max_tokens": 16,
                            "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("op", "body"), [
    (Op.CHAT, GOOD),
    (Op.MESSAGES, MESSAGES),
    (Op.MESSAGES, {**MESSAGES, "system": "be brief", "stream": False,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
                                {"role": "assistant", "content": "ok"}]}),
    (Op.COUNT_TOKENS, {"model": "m", "messages": MESSAGES["messages"]}),
    (Op.EMBEDDINGS, {"model": "m", "input": "text"}),
    (Op.EMBEDDINGS, {"model": "m", "input": ["a", "b"]}),
    (Op.RESPONSES, {"model": "m"}),
    (Op.RESPONSES, {"model": "m", "input": "hi", "stream": True}),
])
def test_well_formed_requests_of_each_operation_pass(op: Op, body: dict[str, Any]) -> None:
    check_request(op, body)


@pytest.mark.parametrize(("op", "body", "where"), [
    (Op.CHAT, {**GOOD, "model": 3}, "model"),
    (Op.MESSAGES, {**MESSAGES, "model": ""}, "model"),
    (Op.MESSAGES, {**MESSAGES, "messages": []}, "messages"),
    (Op.MESSAGES, {**MESSAGES, "messages": [{"role": "tool", "content": "x"}]},
     "messages.0.role"),
    (Op.MESSAGES, {**MESSAGES, "messages": ["hi"]}, "messages.0"),
    (Op.MESSAGES, {**MESSAGES, "messages": [{"role": "user"}]}, "messages.0.content"),
    (Op.MESSAGES, {**MESSAGES, "messages": [{"role": "user", "content": 1}]},
     "messages.0.content"),
    (Op.MESSAGES, {**MESSAGES, "system": 1}, "system"),
    (Op.MESSAGES, {**MESSAGES, "max_tokens": 0}, "max_tokens"),
    (Op.MESSAGES, {**MESSAGES, "max_tokens": True}, "max_tokens"),
    (Op.MESSAGES, {**MESSAGES, "stream": "yes"}, "stream"),
    (Op.COUNT_TOKENS, {"model": "m", "messages": "hi"}, "messages"),
    (Op.EMBEDDINGS, {"input": "text"}, "model"),
    (Op.EMBEDDINGS, {"model": "m", "input": ""}, "input"),
    (Op.EMBEDDINGS, {"model": "m", "input": []}, "input"),
    (Op.EMBEDDINGS, {"model": "m", "input": 5}, "input"),
    (Op.RESPONSES, {"input": "hi"}, "model"),
    (Op.RESPONSES, {"model": "m", "input": 5}, "input"),
    (Op.RESPONSES, {"model": "m", "stream": 1}, "stream"),
])
def test_malformed_requests_of_each_operation_are_refused(op: Op, body: dict[str, Any],
                                                          where: str) -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(op, body)
    assert info.value.param == where
