"""Text slots of every request format, and putting rewritten texts back."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.extract import TextSlot, replace, texts
from gateway_cli.providers.operations import Op

JSON = dict[str, Any]


def slots(op: Op, body: JSON) -> list[tuple[tuple[str | int, ...], str, str]]:
    return [(s.path, s.text, s.source) for s in texts(op, body)]


CHAT: JSON = {
    "model": "m",
    "x_unknown": {"keep": [1, 2]},
    "messages": [
        {"role": "system", "content": "be nice"},
        {"role": "developer", "content": [{"type": "text", "text": "dev rule"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": "calling",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"q": "weather", "n": 3, "l": ["a"]}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "raw"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "weather tool",
                "parameters": {
                    "type": "object",
                    "description": "args",
                    "properties": {
                        "q": {"type": "string", "description": "query"},
                        "description": {"type": "string", "description": "a field"},
                    },
                },
            },
        }
    ],
}


def test_chat_slots() -> None:
    assert slots(Op.CHAT, CHAT) == [
        (("messages", 0, "content"), "be nice", "system"),
        (("messages", 1, "content", 0, "text"), "dev rule", "system"),
        (("messages", 2, "content", 0, "text"), "look", "user"),
        (("messages", 3, "content"), "calling", "assistant"),
        # ids not in a provider's id format, and tool names, are read like any text
        (("messages", 3, "tool_calls", 0, "id"), "c1", "tool_call"),
        (("messages", 3, "tool_calls", 0, "function", "name"), "f", "tool_call"),
        (("messages", 3, "tool_calls", 0, "function", "arguments", "q"), "weather", "tool_call"),
        (("messages", 3, "tool_calls", 0, "function", "arguments", "l", 0), "a", "tool_call"),
        (("messages", 3, "tool_calls", 1, "id"), "c2", "tool_call"),
        (("messages", 3, "tool_calls", 1, "function", "name"), "g", "tool_call"),
        (("messages", 3, "tool_calls", 1, "function", "arguments"), "raw", "tool_call"),
        (("messages", 4, "tool_call_id"), "c1", "tool_result"),
        (("messages", 4, "content"), "sunny", "tool_result"),
        (("tools", 0, "function", "name"), "f", "tool_definition"),
        (("tools", 0, "function", "description"), "weather tool", "tool_definition"),
        (("tools", 0, "function", "parameters", "description"), "args", "tool_definition"),
        (
            ("tools", 0, "function", "parameters", "properties", "q", "description"),
            "query",
            "tool_definition",
        ),
        (
            ("tools", 0, "function", "parameters", "properties", "description", "description"),
            "a field",
            "tool_definition",
        ),
    ]


def test_responses_slots() -> None:
    body: JSON = {
        "instructions": "sys",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "yo"}]},
            {"type": "function_call", "call_id": "1", "name": "f", "arguments": '{"a":"b"}'},
            {"type": "function_call_output", "call_id": "1", "output": "result"},
            {"type": "reasoning", "summary": []},
        ],
        "tools": [{"type": "function", "name": "f", "description": "d",
                   "parameters": {"type": "object"}}],
    }
    assert slots(Op.RESPONSES, body) == [
        (("instructions",), "sys", "system"),
        (("input", 0, "content", 0, "text"), "hi", "user"),
        (("input", 1, "content", 0, "text"), "yo", "assistant"),
        (("input", 2, "call_id"), "1", "tool_call"),
        (("input", 2, "name"), "f", "tool_call"),
        (("input", 2, "arguments", "a"), "b", "tool_call"),
        (("input", 3, "call_id"), "1", "tool_result"),
        (("input", 3, "output"), "result", "tool_result"),
        (("tools", 0, "name"), "f", "tool_definition"),
        (("tools", 0, "description"), "d", "tool_definition"),
    ]
    assert slots(Op.RESPONSES, {"input": "plain"}) == [(("input",), "plain", "user")]


def test_embeddings_slots() -> None:
    assert slots(Op.EMBEDDINGS, {"input": "one"}) == [(("input",), "one", "user")]
    assert slots(Op.EMBEDDINGS, {"input": ["a", "b"]}) == [
        (("input", 0), "a", "user"),
        (("input", 1), "b", "user"),
    ]
    assert slots(Op.EMBEDDINGS, {"input": [1, 2, 3]}) == []
    assert slots(Op.EMBEDDINGS, {"input": [[1, 2], [3]]}) == []


MESSAGES: JSON = {
    "model": "claude",
    "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": "hello"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "using tool"},
                {"type": "tool_use", "id": "t", "name": "f",
                 "input": {"city": "Paris", "days": 2}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": "rainy"},
                {"type": "tool_result", "tool_use_id": "t",
                 "content": [{"type": "text", "text": "block result"}]},
                {"type": "document", "title": "T",
                 "source": {"type": "text", "media_type": "text/plain", "data": "doc body"}},
            ],
        },
    ],
    "tools": [{"name": "f", "description": "tool", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string", "description": "c"}}}}],
}


@pytest.mark.parametrize("op", [Op.MESSAGES, Op.COUNT_TOKENS])
def test_anthropic_slots(op: Op) -> None:
    assert slots(op, MESSAGES) == [
        (("system", 0, "text"), "sys", "system"),
        (("messages", 0, "content"), "hello", "user"),
        (("messages", 1, "content", 0, "thinking"), "hmm", "reasoning"),  # read, never edited
        (("messages", 1, "content", 1, "text"), "using tool", "assistant"),
        (("messages", 1, "content", 2, "id"), "t", "tool_call"),
        (("messages", 1, "content", 2, "name"), "f", "tool_call"),
        (("messages", 1, "content", 2, "input", "city"), "Paris", "tool_call"),
        (("messages", 2, "content", 0, "tool_use_id"), "t", "tool_result"),
        (("messages", 2, "content", 0, "content"), "rainy", "tool_result"),
        (("messages", 2, "content", 1, "tool_use_id"), "t", "tool_result"),
        (("messages", 2, "content", 1, "content", 0, "text"), "block result", "tool_result"),
        (("messages", 2, "content", 2, "title"), "T", "document"),
        (("messages", 2, "content", 2, "source", "data"), "doc body", "document"),
        (("tools", 0, "name"), "f", "tool_definition"),
        (("tools", 0, "description"), "tool", "tool_definition"),
        (("tools", 0, "input_schema", "properties", "city", "description"), "c",
         "tool_definition"),
    ]
    assert slots(op, {"system": "plain"}) == [(("system",), "plain", "system")]


@pytest.mark.parametrize("body", [None, [], {"messages": [1, None, {}]},
                                  {"tools": [{"function": 3}]}])
def test_malformed_bodies_have_no_slots(body: Any) -> None:
    for op in Op:
        assert texts(op, body) == []


def test_a_string_in_an_unexpected_place_is_still_read() -> None:
    for op in Op:
        assert [(s.path, s.text) for s in texts(op, {"messages": "x"})] == [(("messages",), "x")]


def test_replace_round_trip_and_unknown_fields() -> None:
    original = copy.deepcopy(CHAT)
    edits = {s.path: s.text.upper() for s in texts(Op.CHAT, CHAT)}
    new = replace(CHAT, edits)
    assert original == CHAT  # not mutated
    assert [s.text for s in texts(Op.CHAT, new)] == [s.text.upper() for s in texts(Op.CHAT, CHAT)]
    assert new["x_unknown"] == {"keep": [1, 2]}
    assert new["messages"][2]["content"][1] == CHAT["messages"][2]["content"][1]
    args = new["messages"][3]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(args) == {"q": "WEATHER", "n": 3, "l": ["A"]}
    # untouched subtrees are shared, touched ones copied
    assert new["tools"] is not CHAT["tools"]
    assert new["x_unknown"] is CHAT["x_unknown"]


def test_replace_anthropic_tool_input() -> None:
    new = replace(MESSAGES, {("messages", 1, "content", 2, "input", "city"): "[CITY_1]"})
    assert new["messages"][1]["content"][2]["input"] == {"city": "[CITY_1]", "days": 2}
    assert MESSAGES["messages"][1]["content"][2]["input"]["city"] == "Paris"


def test_identity_edit_keeps_argument_bytes() -> None:
    args_path = ("messages", 3, "tool_calls", 0, "function", "arguments", "q")
    new = replace(CHAT, {args_path: "weather"})
    assert new == CHAT
    assert new["messages"][3]["tool_calls"][0]["function"]["arguments"] == (
        '{"q": "weather", "n": 3, "l": ["a"]}'
    )


@pytest.mark.parametrize(
    "edits",
    [
        {(): "x"},
        {("model", "x"): "y"},  # "m" is not JSON
        {("missing",): "x"},
        {("messages", 99, "content"): "x"},
        {("messages", 0): "x"},  # not a text
        {("messages", 0, "content"): "x", ("messages", 0, "content", "deeper"): "y"},
    ],
)
def test_replace_rejects_bad_edits(edits: dict[tuple[str | int, ...], str]) -> None:
    with pytest.raises(ValueError):
        replace(CHAT, edits)


# -- property: identity edits return an equal body, and the input is never mutated ------------

text = st.text(max_size=20)
unknown = st.dictionaries(st.sampled_from(["x_a", "x_b", "metadata"]),
                          st.one_of(st.integers(), text, st.lists(text, max_size=2)), max_size=2)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), text),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)
chat_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": text})}),
)
chat_message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool"]),
         "content": st.one_of(text, st.lists(chat_part, max_size=3))},
        optional={"x_extra": json_values},
    ),
    st.fixed_dictionaries({
        "role": st.just("assistant"),
        "tool_calls": st.lists(st.fixed_dictionaries({"function": st.fixed_dictionaries({
            "name": text,
            "arguments": st.one_of(text, json_values.map(lambda v: json.dumps(v, indent=1))),
        })}), max_size=2),
    }),
)
chat_body = st.fixed_dictionaries(
    {"messages": st.lists(chat_message, max_size=4)},
    optional={"tools": st.lists(st.fixed_dictionaries({"function": st.fixed_dictionaries(
        {"description": text, "parameters": json_values})}), max_size=2)},
).flatmap(lambda b: unknown.map(lambda u: {**u, **b}))
anthropic_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text}),
    st.fixed_dictionaries({"type": st.just("tool_use"), "input": json_values}),
    st.fixed_dictionaries({"type": st.just("tool_result"), "content": st.one_of(
        text, st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": text}),
                       max_size=2))}),
)
anthropic_body = st.fixed_dictionaries(
    {"messages": st.lists(st.fixed_dictionaries({
        "role": st.sampled_from(["user", "assistant"]),
        "content": st.one_of(text, st.lists(anthropic_block, max_size=3))}), max_size=3)},
    optional={"system": st.one_of(text, st.lists(
        st.fixed_dictionaries({"type": st.just("text"), "text": text}), max_size=2))},
)
bodies = st.one_of(
    st.tuples(st.just(Op.CHAT), chat_body),
    st.tuples(st.just(Op.MESSAGES), anthropic_body),
    st.tuples(st.just(Op.EMBEDDINGS), st.fixed_dictionaries({"input": st.one_of(
        text, st.lists(st.one_of(text, st.integers()), max_size=3))})),
    st.tuples(st.just(Op.RESPONSES), st.fixed_dictionaries({"input": st.one_of(
        text, st.lists(chat_message, max_size=3))}, optional={"instructions": text})),
)


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_identity_edits_return_an_equal_body(case: tuple[Op, JSON]) -> None:
    op, body = case
    before = copy.deepcopy(body)
    found = texts(op, body)
    assert all(isinstance(s, TextSlot) for s in found)
    assert replace(body, {s.path: s.text for s in found if s.editable}) == body
    assert body == before


@settings(max_examples=200, deadline=None)
@given(bodies, st.data())
def test_edited_texts_read_back(case: tuple[Op, JSON], data: st.DataObject) -> None:
    op, body = case
    found = [s for s in texts(op, body) if s.editable]
    chosen = data.draw(st.sets(st.sampled_from(range(len(found))), max_size=len(found))
                       if found else st.just(set[int]()))
    edits = {found[i].path: f"<{i}>" for i in chosen}
    new = replace(body, edits)
    after = {s.path: s.text for s in texts(op, new) if s.editable}
    for i, s in enumerate(found):
        assert after[s.path] == (f"<{i}>" if i in chosen else s.text)
