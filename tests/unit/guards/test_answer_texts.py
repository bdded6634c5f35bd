"""`answers.texts` gives what the walk of `extract` gave, string for string and in order.

The answer's walk takes a string field's allow-list check itself instead of a
call of `extract.walk` per string (a fifth of an answer's judgement on the
proxy bench); the reference below is the walk as it was, and both must agree
on fixed answers of both APIs and on random JSON built from the keys the
allow-list and the walk treat apart.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards import answers, extract


def _reference(answer: Any) -> list[tuple[extract.SlotPath, str]]:
    if not isinstance(answer, dict):
        return []
    slots: list[extract.TextSlot] = []
    stack: list[tuple[Any, extract.SlotPath]] = [(answer, ())]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict):
            pending = []
            for key, value in node.items():
                if key in answers._SKIPPED or not isinstance(key, str):
                    continue
                if isinstance(value, dict | list):
                    pending.append((value, (*at, key)))
                elif isinstance(value, str) and value:
                    extract.walk(value, (*at, key), "assistant", slots, parent=node)
            stack.extend(reversed(pending))
        elif isinstance(node, list):
            stack.extend((node[i], (*at, i)) for i in reversed(range(len(node))))
        else:
            extract.walk(node, at, "assistant", slots)
    return [(slot.path, slot.text) for slot in slots]


_ARGS = json.dumps({"path": "/etc/passwd", "n": 3, "deep": [{"q": "ghp_x"}], "id": "call_abcd"})
FIXED: list[Any] = [
    {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
     "model": "m", "service_tier": "default", "system_fingerprint": "fp_f9f4fb6dbf",
     "choices": [{"index": 0, "finish_reason": "stop", "logprobs": {"content": ["x"]},
                  "message": {"role": "assistant", "content": "hello", "refusal": "no",
                              "reasoning_content": "because", "audio": {"transcript": "t",
                                                                         "data": "AAAA"},
                              "tool_calls": [{"id": "call_abcd1234", "type": "function",
                                              "function": {"name": "read",
                                                           "arguments": _ARGS}},
                                             {"id": "x", "type": "function",
                                              "function": {"name": "bad",
                                                           "arguments": "not json {"}}]}}],
     "usage": {"prompt_tokens": 1}, "extra": {"nested": ["a", 1, None, True, ["b"]]}},
    {"id": "msg_0123456789", "type": "message", "role": "assistant", "model": "claude",
     "content": [{"type": "text", "text": "hi"},
                 {"type": "thinking", "thinking": "hmm", "signature": "c2lnbmF0dXJl"},
                 {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
                 {"type": "tool_use", "id": "toolu_0123456789", "name": "get",
                  "input": {"city": "Paris", "arguments": "{\"a\": \"b\"}"}}],
     "stop_reason": "end_turn", "stop_sequence": None},
    {"object": "list", "data": [{"object": "embedding", "embedding": [0.1, 0.2], "index": 0}],
     "model": "e"},
    {"id": "resp_0123456789", "object": "response", "status": "completed",
     "output": [{"type": "message", "id": "msg_1", "content": [
         {"type": "output_text", "text": "out", "annotations": [], "logprobs": []}]},
         {"type": "function_call", "call_id": "call_1234", "name": "f", "arguments": _ARGS}]},
    {"data": "data:image/png;base64,AAAA", "image": {"data": "plain text here"}},
    {"a": ["x", ["y", {"arguments": "[1, \"z\"]"}], "data:text/plain;base64,QQ=="]},
]


@pytest.mark.parametrize("answer", FIXED)
def test_fixed_answers_give_the_walks_texts(answer: Any) -> None:
    assert answers.texts("openai", answer) == _reference(answer)
    assert answers.texts("anthropic", answer) == _reference(answer)


def test_not_a_dict_has_no_texts() -> None:
    for value in ([], "text", 3, None):
        assert answers.texts("openai", value) == _reference(value) == []


_KEYS = st.sampled_from(["type", "role", "object", "id", "call_id", "arguments", "data",
                         "signature", "usage", "logprobs", "embedding", "tool_choice", "text",
                         "content", "name", "status", "x"])
_STRINGS = st.one_of(st.sampled_from(["", "auto", "assistant", "chat.completion", "stop",
                                      "call_abcd1234", "toolu_0123", "data:a;base64,QQ==",
                                      "{\"k\": \"v\"}", "[\"a\"]", "ghp_token", "x" * 20,
                                      "a1b2c3d4e5f6g7h8i9j0k1l2m3"]),
                     st.text(max_size=12))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _STRINGS),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(_KEYS, _JSON, max_size=6))
def test_random_answers_give_the_walks_texts(answer: dict[str, Any]) -> None:
    assert answers.texts("openai", answer) == _reference(answer)
