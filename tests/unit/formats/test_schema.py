"""The per-API parameter tables (formats/schema.py): every listed field's type is enforced,
naming the field; every unlisted field passes untouched. Shapes are written from the
OpenAI and Anthropic API references."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.formats import schema
from gateway_cli.formats.openai_chat import RequestProblem
from gateway_cli.formats.requests import check_request
from gateway_cli.providers.operations import Op

MINIMAL: dict[Op, dict[str, Any]] = {
    Op.CHAT: {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    Op.RESPONSES: {"model": "m", "input": "hi"},
    Op.EMBEDDINGS: {"model": "m", "input": "hi"},
    Op.MESSAGES: {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    Op.COUNT_TOKENS: {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
}

# A value of the wrong type for each type name: what a careless or hostile client sends.
WRONG: dict[str, list[Any]] = {
    "string": [5, True, ["x"]],
    "name": ["", 5, ["m"]],
    "boolean": ["yes", 1, "true"],
    "number": ["hot", True, [0.5], {"v": 1}],
    "integer": ["10", 1.5, False],
    "count": ["10", 0, -1, True, 2.0],
    "array": ["x", {"a": 1}, 3],
    "items": [[], "x", {"a": 1}],
    "object": ["x", [1], 3],
    "string|array": [5, {"a": 1}, False],
    "string|object": [5, ["x"], True],
    "embedding_input": ["", [], 5, [1, "a"], [[]], {"a": 1}],
}

CASES = [(op, name, spec, bad) for op, api in schema.TABLES.items()
         for name, spec in api.fields.items() for bad in WRONG[spec.type]]


def test_every_type_has_wrong_values_to_try() -> None:
    assert set(WRONG) == set(schema.TYPES)


@pytest.mark.parametrize(("op", "name", "spec", "bad"), CASES,
                         ids=[f"{op.value}.{name}={bad!r}" for op, name, _, bad in CASES])
def test_a_wrong_type_for_any_listed_field_is_refused_naming_it(
        op: Op, name: str, spec: schema.Field, bad: Any) -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(op, {**MINIMAL[op], name: bad})
    assert info.value.param == name
    assert name in info.value.message
    assert TYPES_SAID[spec.type] in info.value.message


TYPES_SAID = {name: said for name, (said, _) in schema.TYPES.items()}


@pytest.mark.parametrize("op", list(schema.TABLES))
def test_required_fields_missing_are_refused(op: Op) -> None:
    for name, spec in schema.TABLES[op].fields.items():
        if not spec.required:
            continue
        body = {k: v for k, v in MINIMAL[op].items() if k != name}
        with pytest.raises(RequestProblem, match="is required") as info:
            check_request(op, body)
        assert info.value.param == name


@pytest.mark.parametrize("op", list(schema.TABLES))
def test_null_optional_fields_and_unknown_fields_pass(op: Op) -> None:
    body = {**MINIMAL[op], "x_future_feature": {"anything": [1, "two"]}, "temperatur": "hot"}
    for name, spec in schema.TABLES[op].fields.items():
        if not spec.required:
            body[name] = None
    check_request(op, body)


GOOD_VALUES: dict[str, Any] = {
    "temperature": 0.2, "top_p": 1, "n": 2, "max_tokens": 100, "stream": False,
    "stop": ["\n\n"], "tools": [], "tool_choice": "auto", "seed": 7,
}


def test_right_types_pass_for_chat() -> None:
    check_request(Op.CHAT, {**MINIMAL[Op.CHAT], **GOOD_VALUES, "stop": "END"})


# -- message shapes ------------------------------------------------------------------------

def _anthropic(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 8, "messages": list(messages), **extra}


@pytest.mark.parametrize("body", [
    # A system turn inside messages, as text and as text blocks (mid-conversation system).
    _anthropic({"role": "user", "content": "hi"},
               {"role": "system", "content": "From now on answer in French."},
               {"role": "user", "content": "bonjour"}),
    _anthropic({"role": "system", "content": [{"type": "text", "text": "rules",
                                               "cache_control": {"type": "ephemeral"}}]},
               {"role": "user", "content": "hi"}),
    # Every block kind of the reference, and one the gateway has never heard of.
    _anthropic({"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                        "data": "doc"}},
        {"type": "tool_result", "tool_use_id": "t1", "content": "42"},
        {"type": "a_block_from_next_year", "payload": 1}]},
               {"role": "assistant", "content": [
                   {"type": "thinking", "thinking": "hm", "signature": "s"},
                   {"type": "tool_use", "id": "t2", "name": "calc", "input": {}}]},
               system=[{"type": "text", "text": "be brief"}],
               thinking={"type": "enabled", "budget_tokens": 1024}),
])
def test_anthropic_message_shapes_of_the_reference_pass(body: dict[str, Any]) -> None:
    check_request(Op.MESSAGES, body)
    check_request(Op.COUNT_TOKENS, {k: v for k, v in body.items() if k != "max_tokens"})


@pytest.mark.parametrize(("messages", "where"), [
    (["hi"], "messages.0"),
    ([None], "messages.0"),
    ([{"role": "tool", "content": "x"}], "messages.0.role"),
    ([{"role": "developer", "content": "x"}], "messages.0.role"),
    ([{"content": "x"}], "messages.0.role"),
    ([{"role": "user"}], "messages.0.content"),
    ([{"role": "user", "content": 5}], "messages.0.content"),
    ([{"role": "user", "content": {"type": "text"}}], "messages.0.content"),
    ([{"role": "user", "content": ["hi"]}], "messages.0.content.0"),
    ([{"role": "user", "content": [{"text": "no type"}]}], "messages.0.content.0"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": [
        {"type": "image", "source": {}}]}], "messages.1.content"),
])
def test_unknown_anthropic_message_shapes_are_refused_naming_the_place(
        messages: list[Any], where: str) -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(Op.MESSAGES, _anthropic(*messages))
    assert info.value.param == where
    assert info.value.message.startswith(where + ":")


def test_system_field_blocks_must_be_text() -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(Op.MESSAGES, _anthropic({"role": "user", "content": "x"},
                                              system=[{"type": "image"}]))
    assert info.value.param == "system.0"


@pytest.mark.parametrize(("messages", "where"), [
    ([{"role": "user", "content": [{"text": "no type"}]}], "messages[0].content[0]"),
    ([{"role": "user", "content": ["hi"]}], "messages[0].content[0]"),
    ([{"role": "critic", "content": "hi"}], "messages[0].role"),
])
def test_unknown_chat_message_shapes_are_refused_naming_the_place(
        messages: list[Any], where: str) -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(Op.CHAT, {"model": "m", "messages": messages})
    assert info.value.param == where


@pytest.mark.parametrize(("items", "where"), [
    (["hi"], "input[0]"),
    ([{"role": "wizard", "content": "x"}], "input[0].role"),
    ([{"role": "user", "content": 3}], "input[0].content"),
    ([{"role": "user", "content": [{"text": "x"}]}], "input[0].content[0]"),
    ([{"call_id": "c1", "output": "x"}], "input[0]"),
])
def test_unknown_responses_items_are_refused_naming_the_place(items: list[Any],
                                                              where: str) -> None:
    with pytest.raises(RequestProblem) as info:
        check_request(Op.RESPONSES, {"model": "m", "input": items})
    assert info.value.param == where


def test_responses_items_of_the_reference_pass() -> None:
    check_request(Op.RESPONSES, {"model": "m", "instructions": "be brief", "input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"type": "reasoning", "id": "rs_1", "summary": []}]})


@pytest.mark.parametrize("value", ["x", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_embedding_inputs_of_the_reference_pass(value: Any) -> None:
    check_request(Op.EMBEDDINGS, {"model": "m", "input": value})


# -- any JSON at all: a RequestProblem or a pass, never another exception -----------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["role", "content", "type", "text", "model", "messages", "input",
                         "system", "stream", "max_tokens", "x"]), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(list(schema.TABLES)), extra=st.dictionaries(
    st.sampled_from(sorted({n for api in schema.TABLES.values() for n in api.fields})),
    _json, max_size=4))
def test_any_json_is_refused_cleanly_or_passes(op: Op, extra: dict[str, Any]) -> None:
    try:
        check_request(op, {**MINIMAL[op], **extra})
    except RequestProblem as problem:
        assert problem.param is not None and problem.message


@pytest.mark.parametrize("role", [[], {}, ["user"], 1, None])
@pytest.mark.parametrize("op", [Op.CHAT, Op.MESSAGES, Op.RESPONSES])
def test_a_role_that_is_no_string_is_refused_naming_it(op: Op, role: Any) -> None:
    # Found by the property test above: an unhashable role once raised a TypeError (a 500).
    key = "input" if op is Op.RESPONSES else "messages"
    with pytest.raises(RequestProblem) as info:
        check_request(op, {**MINIMAL[op], key: [{"role": role, "content": "hi"}]})
    assert info.value.param is not None and "role" in info.value.param
