"""Token estimates of requests, output caps, and the usage answers and streams report."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.limits import tokens
from gateway_cli.limits.tokens import (
    StreamUsage,
    Usage,
    estimate_input,
    estimate_text,
    is_usage_only_chunk,
    requested_output,
    usage_of,
    with_output_cap,
    with_stream_usage,
)
from gateway_cli.providers.operations import Op

# -- estimate_text ----------------------------------------------------------------------------


def test_empty_is_zero_and_short_texts_are_a_few_tokens() -> None:
    assert estimate_text("") == 0
    assert 1 <= estimate_text("hi") <= 3
    assert 2 <= estimate_text("Hello, world!") <= 6


@pytest.mark.parametrize(("text", "real"), [
    # real counts: the largest of o200k_base, cl100k_base and the legacy Claude tokenizer
    ("The quick brown fox jumps over the lazy dog.", 10),
    ("def add(a, b):\n    return a + b\n", 13),
    ("sk-proj-4f9Kq2LmX8vB7nT1rZ0wY6uE3sD5aC", 34),
])
def test_close_to_real_counts_and_not_under(text: str, real: int) -> None:
    estimate = estimate_text(text)
    assert real * 0.9 <= estimate <= real * 1.6


def test_non_latin_scripts_are_not_under_estimated() -> None:
    # a tokenizer spends about one token per CJK character, less for Cyrillic
    assert estimate_text("令牌估计" * 50) >= 200 * 0.8
    assert estimate_text("Привет, как дела? " * 20) >= 20 * 5


def test_lone_surrogates_and_control_characters_do_not_raise() -> None:
    assert estimate_text("\ud800abc") > 0
    assert estimate_text("\x00\x01\x02") >= 3


@given(st.text(max_size=300), st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_monotone_and_never_negative(a: str, b: str) -> None:
    assert estimate_text(a) >= 0
    assert estimate_text(a + b) >= estimate_text(a)


@given(st.text(min_size=1, max_size=400))
@settings(max_examples=300, deadline=None)
def test_bounded_by_the_text_size(text: str) -> None:
    # never more than a few tokens per UTF-8 byte, never zero for a non-empty text
    assert 1 <= estimate_text(text) <= 4 * len(text.encode("utf-8", "surrogatepass")) + 2


# -- estimate_input ---------------------------------------------------------------------------


def test_chat_counts_messages_parts_tools_and_calls() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
    plain = estimate_input(Op.CHAT, base)
    assert plain >= estimate_text("hello there") + tokens.PER_MESSAGE + tokens.PER_REQUEST
    parts = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hello there"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 5000}}]}]}
    assert estimate_input(Op.CHAT, parts) == plain + tokens.IMAGE_TOKENS
    low = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]}]}
    assert estimate_input(Op.CHAT, low) < 100
    tool = {"type": "function", "function": {"name": "get_weather", "description": "weather",
                                             "parameters": {"type": "object", "properties": {
                                                 "city": {"type": "string"}}}}}
    assert estimate_input(Op.CHAT, {**base, "tools": [tool]}) > plain + 15
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"}
    more = estimate_input(Op.CHAT, {"messages": [*base["messages"], call, result]})
    assert more >= plain + 2 * tokens.PER_MESSAGE + tokens.PER_TOOL + 10
    system = {"messages": [{"role": "system", "content": "be brief " * 50}, *base["messages"]]}
    assert estimate_input(Op.CHAT, system) > plain + 90


def test_chat_response_format_schema_counts() -> None:
    body = {"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"type": "object", "properties": {
                    "reason": {"type": "string"}, "score": {"type": "number"}}}}}}
    assert estimate_input(Op.CHAT, body) > estimate_input(Op.CHAT, {"messages": body["messages"]})


def test_responses_input_instructions_items_and_tools() -> None:
    text = estimate_input(Op.RESPONSES, {"input": "what is the capital of France?"})
    assert text >= estimate_text("what is the capital of France?") + tokens.PER_MESSAGE
    full = {"instructions": "answer in French", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "what is the capital?"},
                                     {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "function_call", "call_id": "c1", "name": "lookup",
         "arguments": "{\"q\": \"capital\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "Paris"}],
        "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        "text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}}
    assert estimate_input(Op.RESPONSES, full) > tokens.IMAGE_TOKENS + 3 * tokens.PER_MESSAGE + 20


def test_embeddings_strings_lists_and_token_arrays() -> None:
    assert estimate_input(Op.EMBEDDINGS, {"input": "hello world"}) == estimate_text("hello world")
    assert estimate_input(Op.EMBEDDINGS, {"input": ["a b", "c d"]}) == \
        estimate_text("a b") + estimate_text("c d")
    assert estimate_input(Op.EMBEDDINGS, {"input": [1, 2, 3, 4]}) == 4
    assert estimate_input(Op.EMBEDDINGS, {"input": [[1, 2], [3, 4, 5]]}) == 5
    assert estimate_input(Op.EMBEDDINGS, {"input": 42}) == 0
    assert estimate_input(Op.EMBEDDINGS, {}) == 0


def test_anthropic_messages_system_blocks_and_tools() -> None:
    base = {"max_tokens": 10, "messages": [{"role": "user", "content": "hello there"}]}
    plain = estimate_input(Op.MESSAGES, base)
    assert plain >= estimate_text("hello there") + tokens.PER_MESSAGE
    assert estimate_input(Op.COUNT_TOKENS, base) == plain
    system = estimate_input(Op.MESSAGES, {**base, "system": [{"type": "text", "text": "be " * 40}]})
    assert system > plain + 30
    blocks = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "source": {
            "type": "base64", "media_type": "image/png", "data": "A" * 9000}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "let me think", "signature": "Z" * 400},
            {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": [{"type": "text", "text": "result"}]}]}]}
    counted = estimate_input(Op.MESSAGES, blocks)
    assert tokens.IMAGE_TOKENS + 3 * tokens.PER_MESSAGE < counted < tokens.IMAGE_TOKENS + 100
    tools = estimate_input(Op.MESSAGES, {**base, "tools": [
        {"name": "lookup", "description": "find", "input_schema": {"type": "object"}}]})
    assert tools > plain + tokens.ANTHROPIC_TOOLS_PROMPT


def test_documents_are_charged_a_page_and_their_text() -> None:
    pdf = {"messages": [{"role": "user", "content": [{"type": "document", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "J" * 100_000}}]}]}
    assert estimate_input(Op.MESSAGES, pdf) < tokens.FILE_TOKENS + 20
    text = {"messages": [{"role": "user", "content": [{"type": "document", "source": {
        "type": "text", "media_type": "text/plain", "data": "word " * 200}}]}]}
    assert estimate_input(Op.MESSAGES, text) > tokens.FILE_TOKENS + 150


@pytest.mark.parametrize("op", list(Op))
@pytest.mark.parametrize("body", [
    {}, {"messages": None}, {"messages": "text"}, {"messages": [None, 3, "x", {"content": 5}]},
    {"messages": [{"role": "user", "content": [None, {"type": "image_url", "image_url": 3}]}]},
    {"input": None}, {"input": [None, {"x": [1, 2]}, 3.5]}, {"tools": "x"}, {"system": 7},
    {"messages": [{"tool_calls": [None, {"function": None}, {"function": {"arguments": 1}}]}]},
])
def test_odd_bodies_do_not_raise(op: Op, body: dict[str, Any]) -> None:
    assert estimate_input(op, body) >= 0


def test_non_dict_body_is_zero() -> None:
    assert estimate_input(Op.CHAT, "x") == 0  # type: ignore[arg-type]


# -- output caps ------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "body", "asked"), [
    (Op.CHAT, {"max_tokens": 100}, 100),
    (Op.CHAT, {"max_completion_tokens": 50}, 50),
    (Op.CHAT, {"max_completion_tokens": 50, "max_tokens": 30}, 30),
    (Op.CHAT, {}, None),
    (Op.CHAT, {"max_tokens": "100"}, None),
    (Op.CHAT, {"max_tokens": True}, None),
    (Op.CHAT, {"max_tokens": -5}, None),
    (Op.CHAT, {"max_tokens": 0}, None),
    (Op.CHAT, {"max_tokens": 100.0}, None),
    (Op.CHAT, {"max_tokens": None, "max_completion_tokens": 40}, 40),
    (Op.CHAT, {"max_tokens": 10**400}, 10**400),
    (Op.RESPONSES, {"max_output_tokens": 70}, 70),
    (Op.RESPONSES, {"max_tokens": 70}, None),
    (Op.MESSAGES, {"max_tokens": 1024}, 1024),
    (Op.EMBEDDINGS, {"max_tokens": 5}, None),
    (Op.COUNT_TOKENS, {"max_tokens": 5}, None),
])
def test_requested_output(op: Op, body: dict[str, Any], asked: int | None) -> None:
    assert requested_output(op, body) == asked


def test_cap_lowers_only_what_asked_for_more() -> None:
    body = {"model": "m", "max_completion_tokens": 5000}
    capped = with_output_cap(Op.CHAT, body, 1000)
    assert capped == {"model": "m", "max_completion_tokens": 1000}
    assert body["max_completion_tokens"] == 5000  # not changed in place
    small = {"max_tokens": 10}
    assert with_output_cap(Op.CHAT, small, 1000) is small
    both = with_output_cap(Op.CHAT, {"max_tokens": 3000, "max_completion_tokens": 20}, 100)
    assert both == {"max_tokens": 100, "max_completion_tokens": 20}


@pytest.mark.parametrize(("op", "field"), [
    (Op.CHAT, "max_completion_tokens"), (Op.RESPONSES, "max_output_tokens"),
    (Op.MESSAGES, "max_tokens")])
def test_cap_is_added_with_the_api_field(op: Op, field: str) -> None:
    assert with_output_cap(op, {"model": "m"}, 256) == {"model": "m", field: 256}
    assert with_output_cap(op, {field: None}, 256) == {field: 256}
    assert with_output_cap(op, {field: 4096}, 256) == {field: 256}


def test_cap_leaves_invalid_fields_and_outputless_ops() -> None:
    bad = {"max_tokens": "lots"}
    assert with_output_cap(Op.MESSAGES, bad, 10) is bad
    emb = {"input": "x"}
    assert with_output_cap(Op.EMBEDDINGS, emb, 10) is emb
    assert with_output_cap(Op.COUNT_TOKENS, emb, 10) is emb
    with pytest.raises(ValueError):
        with_output_cap(Op.CHAT, {}, 0)


@given(st.one_of(st.none(), st.integers(-5, 10_000), st.text(max_size=3)),
       st.integers(1, 5_000))
def test_cap_property(asked: Any, cap: int) -> None:
    body = {} if asked is None else {"max_tokens": asked}
    out = with_output_cap(Op.MESSAGES, body, cap)
    got = requested_output(Op.MESSAGES, out)
    if isinstance(asked, int) and asked >= 1:
        assert got == min(asked, cap)
    elif asked is None:
        assert got == cap


# -- reported usage ---------------------------------------------------------------------------


def test_openai_chat_usage() -> None:
    answer = {"usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                        "prompt_tokens_details": {"cached_tokens": 64},
                        "completion_tokens_details": {"reasoning_tokens": 10}}}
    assert usage_of("openai", answer) == Usage(input=100, output=20, cached_input=64)


def test_responses_usage() -> None:
    answer = {"object": "response", "usage": {
        "input_tokens": 50, "output_tokens": 7, "input_tokens_details": {"cached_tokens": 10},
        "output_tokens_details": {"reasoning_tokens": 0}}}
    assert usage_of("openai", answer) == Usage(input=50, output=7, cached_input=10)


def test_embeddings_usage() -> None:
    answer = {"object": "list", "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    assert usage_of("openai", answer) == Usage(input=8, output=0)


def test_anthropic_usage_adds_cache_counts_to_input() -> None:
    answer = {"usage": {"input_tokens": 10, "output_tokens": 30,
                        "cache_read_input_tokens": 200, "cache_creation_input_tokens": 50}}
    usage = usage_of("anthropic", answer)
    assert usage == Usage(input=260, output=30, cached_input=200, cache_write=50)
    assert usage is not None and usage.total == 290
    assert usage_of("anthropic", {"usage": {"input_tokens": 3, "output_tokens": 4}}) == \
        Usage(3, 4)


@pytest.mark.parametrize("answer", [
    None, [], "x", {}, {"usage": None}, {"usage": []}, {"usage": "12"}, {"usage": {}},
    {"usage": {"prompt_tokens": "100", "completion_tokens": None}},
    {"usage": {"input_tokens": -1, "output_tokens": -2}},
    {"usage": {"input_tokens": True, "output_tokens": 1.5}},
])
@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_unreadable_usage_is_none(answer: Any, family: Any) -> None:
    assert usage_of(family, answer) is None


def test_partly_bad_usage_reads_what_it_can() -> None:
    answer = {"usage": {"prompt_tokens": 12, "completion_tokens": "x",
                        "prompt_tokens_details": {"cached_tokens": 99}}}
    assert usage_of("openai", answer) == Usage(input=12, output=0, cached_input=12)
    assert usage_of("openai", {"usage": {"prompt_tokens": 5, "completion_tokens": 1,
                                         "prompt_tokens_details": "x"}}) == Usage(5, 1)
    assert usage_of("anthropic", {"usage": {"input_tokens": 5, "output_tokens": -1,
                                            "cache_read_input_tokens": "3"}}) == Usage(5, 0)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from([
                        "usage", "prompt_tokens", "completion_tokens", "input_tokens",
                        "output_tokens", "cached_tokens", "prompt_tokens_details",
                        "input_tokens_details", "cache_read_input_tokens",
                        "cache_creation_input_tokens", "type", "message", "response"]),
                        inner, max_size=5), max_leaves=20))
@settings(max_examples=300, deadline=None)
def test_usage_never_raises_and_is_never_negative(value: Any) -> None:
    found = [usage_of("openai", value), usage_of("anthropic", value)]
    stream = StreamUsage()
    stream.feed(value)
    found.append(stream.usage)
    for usage in found:
        if usage is not None:
            assert min(usage.input, usage.output, usage.cached_input, usage.cache_write) >= 0
            assert usage.cached_input + usage.cache_write <= usage.input


# -- streams ----------------------------------------------------------------------------------


def test_openai_chat_stream_usage_chunk() -> None:
    stream = StreamUsage()
    stream.feed({"choices": [{"delta": {"content": "hi"}}], "usage": None})
    assert stream.usage is None
    last = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2,
                                     "prompt_tokens_details": {"cached_tokens": 0}}}
    assert is_usage_only_chunk(last)
    assert not is_usage_only_chunk({"choices": [{"delta": {}}], "usage": None})
    stream.feed(last)
    assert stream.usage == Usage(9, 2)


def test_responses_stream_usage() -> None:
    stream = StreamUsage()
    stream.feed({"type": "response.created", "response": {"usage": None}})
    stream.feed({"type": "response.output_text.delta", "delta": "Hi"})
    assert stream.usage is None
    stream.feed({"type": "response.completed", "response": {"usage": {
        "input_tokens": 11, "output_tokens": 3, "input_tokens_details": {"cached_tokens": 4}}}})
    assert stream.usage == Usage(11, 3, cached_input=4)


def test_anthropic_stream_usage_output_is_cumulative() -> None:
    stream = StreamUsage()
    stream.feed({"type": "message_start", "message": {"usage": {
        "input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 0}}})
    assert stream.usage == Usage(120, 1, cached_input=100)
    stream.feed({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "a"}})
    stream.feed({"type": "message_delta", "delta": {"stop_reason": None},
                 "usage": {"output_tokens": 15}})
    stream.feed({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                 "usage": {"output_tokens": 42}})
    assert stream.usage == Usage(120, 42, cached_input=100)
    stream.feed({"type": "message_delta", "usage": {"output_tokens": "x"}})
    assert stream.usage == Usage(120, 42, cached_input=100)


def test_stream_text_estimate_for_cut_streams() -> None:
    stream = StreamUsage()
    stream.add_text("Hello there, ")
    stream.add_text("general Kenobi.")
    assert stream.usage is None
    assert stream.estimated_output >= 4


def test_with_stream_usage_adds_include_usage_once() -> None:
    body = {"model": "m", "stream": True, "messages": []}
    out, added = with_stream_usage(Op.CHAT, body)
    assert added and out["stream_options"] == {"include_usage": True}
    assert "stream_options" not in body
    kept = {"stream": True, "stream_options": {"include_usage": True}}
    assert with_stream_usage(Op.CHAT, kept) == (kept, False)
    other = {"stream": True, "stream_options": {"include_obfuscation": False}}
    out, added = with_stream_usage(Op.CHAT, other)
    assert added and out["stream_options"] == {"include_obfuscation": False,
                                               "include_usage": True}
    off = {"stream": True, "stream_options": {"include_usage": False}}
    assert with_stream_usage(Op.CHAT, off)[1] is True


@pytest.mark.parametrize(("op", "body"), [
    (Op.CHAT, {"stream": False}), (Op.CHAT, {}), (Op.CHAT, {"stream": "yes"}),
    (Op.CHAT, {"stream": True, "stream_options": "x"}),
    (Op.RESPONSES, {"stream": True}), (Op.MESSAGES, {"stream": True}),
    (Op.EMBEDDINGS, {}),
])
def test_with_stream_usage_leaves_the_rest(op: Op, body: dict[str, Any]) -> None:
    assert with_stream_usage(op, body) == (body, False)
