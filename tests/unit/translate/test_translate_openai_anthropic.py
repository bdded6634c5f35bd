"""Translation between the OpenAI and Anthropic formats: mappings, round trips, streams.

Round trips go through both modules and compare with the input after the
normalisation each format's translation documents (see `normalise_openai_request`
and `normalise_anthropic_request`). Every output is also checked against the
official SDKs' own types, and streams are accumulated with the SDKs' own
accumulators, so "well-formed" means "what the real clients accept".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import msgspec
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway_cli.translate import anthropic_to_openai as a2o
from gateway_cli.translate import openai_to_anthropic as o2a
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError

JSON = dict[str, Any]
EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)


def compact(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def roundtrip_openai(body: JSON) -> JSON:
    return a2o.request(o2a.request(body, upstream_model="claude-x"), upstream_model=body["model"])


def roundtrip_anthropic(body: JSON) -> JSON:
    return o2a.request(a2o.request(body, upstream_model="gpt-x"), upstream_model=body["model"])


def check_anthropic_event(name: str, data: JSON) -> None:
    assert name == data["type"]
    EVENT.validate_python(data)


# -- strategies ------------------------------------------------------------------------------

texts = st.text(min_size=1, max_size=12)
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=3),
    max_leaves=6,
)
tool_inputs = st.dictionaries(st.text(max_size=5), json_values, max_size=3)
base64_data = st.from_regex(r"[A-Za-z0-9+/]{4,16}={0,2}", fullmatch=True)
media_types = st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp"])
image_urls = st.builds("https://example.com/{}.png".format, names)

text_part = st.builds(lambda t: {"type": "text", "text": t}, texts)
text_parts = st.lists(text_part, min_size=1, max_size=3)
image_part = st.one_of(
    st.builds(lambda m, d: {"type": "image_url", "image_url": {"url": f"data:{m};base64,{d}"}},
              media_types, base64_data),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u, "detail": "low"}},
              image_urls),
)
user_content = texts | st.lists(text_part | image_part, min_size=1, max_size=3)

text_block = st.builds(lambda t: {"type": "text", "text": t}, texts)
image_block = st.one_of(
    st.builds(lambda m, d: {"type": "image",
                            "source": {"type": "base64", "media_type": m, "data": d}},
              media_types, base64_data),
    st.builds(lambda u: {"type": "image", "source": {"type": "url", "url": u}}, image_urls),
)


@st.composite
def openai_tools(draw: st.DrawFn) -> list[JSON]:
    tools = []
    for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        function: JSON = {"name": name}
        if draw(st.booleans()):
            function["description"] = draw(texts)
        if draw(st.booleans()):
            function["parameters"] = {"type": "object", "properties": {
                key: {"type": "string"} for key in draw(st.lists(names, max_size=2))}}
        if draw(st.booleans()):
            function["strict"] = draw(st.booleans())
        tools.append({"type": "function", "function": function})
    return tools


@st.composite
def openai_requests(draw: st.DrawFn) -> JSON:
    messages: list[JSON] = []
    for _ in range(draw(st.integers(0, 2))):
        messages.append({"role": draw(st.sampled_from(["system", "developer"])),
                         "content": draw(texts | text_parts)})
    tools = draw(openai_tools())
    tool_names = [t["function"]["name"] for t in tools]
    turns = draw(st.integers(1, 3))
    for t in range(turns):
        for _ in range(draw(st.integers(1, 2))):
            messages.append({"role": "user", "content": draw(user_content)})
        if t == turns - 1 and draw(st.booleans()):
            break
        if draw(st.booleans()):
            calls = [{"id": f"call_{t}_{k}", "type": "function",
                      "function": {"name": draw(st.sampled_from(tool_names)),
                                   "arguments": compact(draw(tool_inputs))}}
                     for k in range(draw(st.integers(1, 3)))]
            assistant: JSON = {"role": "assistant", "tool_calls": calls}
            content = draw(st.sampled_from(["absent", "none", "text", "parts"]))
            if content != "absent":
                assistant["content"] = {"none": None, "text": draw(texts),
                                        "parts": draw(text_parts)}[content]
            messages.append(assistant)
            for call in calls:
                messages.append({"role": "tool", "tool_call_id": call["id"],
                                 "content": draw(texts | text_parts)})
        else:
            messages.append({"role": "assistant", "content": draw(texts | text_parts)})
    body: JSON = {"model": "gpt-x", "messages": messages}
    key = draw(st.sampled_from(["max_tokens", "max_completion_tokens", None]))
    if key:
        body[key] = draw(st.integers(1, 100_000))
    if draw(st.booleans()):
        body["tools"] = tools
        choice = draw(st.sampled_from(["absent", "auto", "none", "required", "named"]))
        if choice == "named":
            body["tool_choice"] = {"type": "function",
                                   "function": {"name": draw(st.sampled_from(tool_names))}}
        elif choice != "absent":
            body["tool_choice"] = choice
        parallel = draw(st.sampled_from([None, True, False]))
        if parallel is not None:
            body["parallel_tool_calls"] = parallel
    stop = draw(st.none() | texts | st.lists(texts, min_size=1, max_size=3))
    if stop is not None:
        body["stop"] = stop
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 2))
    if draw(st.booleans()):
        body["top_p"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        body["user"] = draw(texts)
    stream = draw(st.sampled_from([None, True, False]))
    if stream is not None:
        body["stream"] = stream
        if stream and draw(st.booleans()):
            body["stream_options"] = {"include_usage": draw(st.booleans())}
    if draw(st.booleans()):  # fields Anthropic has no place for
        body.update(seed=1, presence_penalty=0.5, frequency_penalty=0.1, logprobs=False,
                    response_format={"type": "text"}, n=1)
    return body


@st.composite
def anthropic_requests(draw: st.DrawFn) -> JSON:
    body: JSON = {"model": "claude-x", "max_tokens": draw(st.integers(1, 100_000))}
    system = draw(st.sampled_from(["absent", "text", "blocks"]))
    if system == "text":
        body["system"] = draw(texts)
    elif system == "blocks":
        body["system"] = draw(st.lists(text_block, min_size=1, max_size=3))
    tool_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    messages: list[JSON] = []
    pending: list[str] = []
    for t in range(draw(st.integers(1, 3))):
        if pending:
            results = []
            for call_id in pending:
                result: JSON = {"type": "tool_result", "tool_use_id": call_id,
                                "content": draw(texts | st.lists(text_block, min_size=1,
                                                                 max_size=2))}
                results.append(result)
            extra = draw(st.lists(text_block | image_block, max_size=2))
            messages.append({"role": "user", "content": results + extra})
        else:
            messages.append({"role": "user", "content": draw(
                texts | st.lists(text_block | image_block, min_size=1, max_size=3))})
        if draw(st.booleans()):
            messages.append({"role": "assistant", "content": draw(texts)})
            pending = []
            continue
        blocks = draw(st.lists(text_block, max_size=2))
        pending = [f"toolu_{t}_{k}" for k in range(draw(st.integers(0 if blocks else 1, 2)))]
        blocks += [{"type": "tool_use", "id": call_id, "name": draw(st.sampled_from(tool_names)),
                    "input": draw(tool_inputs)} for call_id in pending]
        messages.append({"role": "assistant", "content": blocks})
    body["messages"] = messages
    if draw(st.booleans()):
        tools = []
        for name in tool_names:
            tool: JSON = {"name": name, "input_schema": {"type": "object", "properties": {}}}
            if draw(st.booleans()):
                tool["description"] = draw(texts)
            if draw(st.booleans()):
                tool["strict"] = draw(st.booleans())
            tools.append(tool)
        body["tools"] = tools
        choice = draw(st.sampled_from(["absent", "auto", "any", "tool", "none"]))
        if choice != "absent":
            body["tool_choice"] = {"type": choice}
            if choice == "tool":
                body["tool_choice"]["name"] = draw(st.sampled_from(tool_names))
            if choice != "none" and draw(st.booleans()):
                body["tool_choice"]["disable_parallel_tool_use"] = draw(st.booleans())
    if draw(st.booleans()):
        body["stop_sequences"] = draw(st.lists(texts, min_size=1, max_size=3))
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        body["top_p"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        body["metadata"] = {"user_id": draw(texts)}
    if draw(st.booleans()):
        body["stream"] = draw(st.booleans())
    if draw(st.booleans()):  # fields OpenAI has no place for
        body["top_k"] = 5
    return body


STOP_REASONS = ["end_turn", "stop_sequence", "max_tokens", "tool_use", "refusal", "pause_turn",
                "model_context_window_exceeded"]


@st.composite
def anthropic_messages(draw: st.DrawFn) -> JSON:
    content: list[JSON] = []
    for k in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            content.append({"type": "text", "text": draw(st.text(max_size=12))})
        else:
            content.append({"type": "tool_use", "id": f"toolu_{k}", "name": draw(names),
                            "input": draw(tool_inputs)})
    reason = draw(st.sampled_from(STOP_REASONS))
    usage = {"input_tokens": draw(st.integers(0, 10**6)),
             "output_tokens": draw(st.integers(0, 10**6))}
    for key in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        if draw(st.booleans()):
            usage[key] = draw(st.integers(0, 10**6))
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": content, "stop_reason": reason,
            "stop_sequence": draw(texts) if reason == "stop_sequence" else None, "usage": usage}


@st.composite
def openai_completions(draw: st.DrawFn) -> JSON:
    calls = [{"id": f"call_{k}", "type": "function",
              "function": {"name": draw(names), "arguments": compact(draw(tool_inputs))}}
             for k in range(draw(st.integers(0, 3)))]
    text = draw(st.text(max_size=12))
    message: JSON = {"role": "assistant", "content": None if calls and not text else text,
                     "refusal": None}
    if calls:
        message["tool_calls"] = calls
    reasons = ["stop", "length", "content_filter"] + (["tool_calls", "function_call"] if calls
                                                      else [])
    fresh, read, written = (draw(st.integers(0, 10**6)) for _ in range(3))
    usage: JSON = {"prompt_tokens": fresh + read + written,
                   "completion_tokens": draw(st.integers(0, 10**6))}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {"cached_tokens": read, "cache_write_tokens": written}
    else:
        usage["prompt_tokens"] = fresh
        usage["total_tokens"] = fresh + usage["completion_tokens"]
    return {"id": "chatcmpl-r1", "object": "chat.completion", "created": 1700000000,
            "model": "gpt-x", "choices": [{"index": 0, "message": message, "logprobs": None,
                                           "finish_reason": draw(st.sampled_from(reasons))}],
            "usage": usage}


# -- normalisation ---------------------------------------------------------------------------


def _parts(content: str | list[JSON] | None) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [_part(p) for p in content]


def _part(part: JSON) -> JSON:
    if part["type"] == "image_url":  # `detail` has no Anthropic equivalent
        return {"type": "image_url", "image_url": {"url": part["image_url"]["url"]}}
    return part


def normalise_openai_request(body: JSON, default_max_tokens: int = 4096) -> JSON:
    """What an OpenAI request looks like after a trip through the Anthropic format.

    - system and developer messages become one leading system message: a string
      if there was exactly one with string content, else the list of all text parts;
    - consecutive user and tool messages (one Anthropic user turn) become the
      tool messages followed by one user message holding every user part; a lone
      user message is unchanged; strings inside a merged turn become text parts;
    - an assistant message with tool calls has its text as a list of parts (None
      if no text); tool-call arguments are re-serialised compactly;
    - image `detail` is dropped;
    - `max_completion_tokens` becomes `max_tokens`, which defaults when absent;
    - `stop` becomes a list; `temperature` is clamped to 0..1;
    - a streamed request asks for usage (`stream_options.include_usage`);
    - `parallel_tool_calls: true` (the default) disappears, `false` without a
      tool_choice implies "auto" and is dropped with "none"; tool choices
      without tools disappear; a tool without parameters gets an empty object schema;
    - fields with no Anthropic equivalent (seed, penalties, logprobs,
      response_format, n=1, ...) disappear.
    """
    messages: list[JSON] = body["messages"]
    systems = [m for m in messages if m["role"] in ("system", "developer")]
    out_messages: list[JSON] = []
    if len(systems) == 1 and isinstance(systems[0]["content"], str):
        out_messages.append({"role": "system", "content": systems[0]["content"]})
    elif systems:
        out_messages.append({"role": "system",
                             "content": [p for m in systems for p in _parts(m["content"])]})
    rest = [m for m in messages if m not in systems]
    for role, grouped in itertools.groupby(
            rest, key=lambda m: "assistant" if m["role"] == "assistant" else "user"):
        group = list(grouped)
        if role == "assistant":
            (m,) = group
            if m.get("tool_calls"):
                out_messages.append({
                    "role": "assistant", "content": _parts(m.get("content")) or None,
                    "tool_calls": [{"id": c["id"], "type": "function", "function": {
                        "name": c["function"]["name"],
                        "arguments": compact(msgspec.json.decode(c["function"]["arguments"])),
                    }} for c in m["tool_calls"]]})
            else:
                out_messages.append({"role": "assistant", "content": m["content"]})
        elif len(group) == 1 and group[0]["role"] == "user":
            content = group[0]["content"]
            out_messages.append({"role": "user", "content": content if isinstance(content, str)
                                 else _parts(content)})
        else:
            out_messages += [{"role": "tool", "tool_call_id": m["tool_call_id"],
                              "content": m["content"]} for m in group if m["role"] == "tool"]
            parts = [p for m in group if m["role"] == "user" for p in _parts(m["content"])]
            if parts:
                out_messages.append({"role": "user", "content": parts})
    out: JSON = {"model": body["model"], "messages": out_messages,
                 "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens")
                 or default_max_tokens}
    if body.get("tools"):
        out["tools"] = []
        for tool in body["tools"]:
            function = dict(tool["function"])
            function.setdefault("parameters", {"type": "object", "properties": {}})
            out["tools"].append({"type": "function", "function": function})
        choice = body.get("tool_choice")
        parallel = body.get("parallel_tool_calls")
        if parallel is False and choice is None:
            choice = "auto"
        if choice is not None:
            out["tool_choice"] = choice
            if parallel is False and choice != "none":
                out["parallel_tool_calls"] = False
    if isinstance(body.get("stop"), str):
        out["stop"] = [body["stop"]]
    elif body.get("stop"):
        out["stop"] = body["stop"]
    if "temperature" in body:
        out["temperature"] = min(body["temperature"], 1)
    if "top_p" in body:
        out["top_p"] = body["top_p"]
    if "user" in body:
        out["user"] = body["user"]
    if "stream" in body:
        out["stream"] = body["stream"]
        if body["stream"]:
            out["stream_options"] = {"include_usage": True}
    return out


def normalise_anthropic_request(body: JSON) -> JSON:
    """What an Anthropic request looks like after a trip through the OpenAI format.

    - `disable_parallel_tool_use: false` (the default) disappears;
    - `top_k` (no OpenAI equivalent) disappears;
    - everything else in the representable subset is unchanged.
    """
    out = {k: v for k, v in body.items() if k != "top_k"}
    choice = body.get("tool_choice")
    if choice and choice.get("disable_parallel_tool_use") is False:
        out["tool_choice"] = {k: v for k, v in choice.items() if k != "disable_parallel_tool_use"}
    return out


def normalise_anthropic_message(message: JSON) -> JSON:
    """An Anthropic message after a trip through `chat.completion`.

    Text blocks are concatenated into one leading block (none if empty), tool
    uses follow in order; stop_sequence and pause_turn read as end_turn,
    model_context_window_exceeded as max_tokens; which stop sequence matched
    is lost; cache counts are always present.
    """
    text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    content = [{"type": "text", "text": text}] if text else []
    content += [b for b in message["content"] if b["type"] == "tool_use"]
    reason = {"stop_sequence": "end_turn", "pause_turn": "end_turn",
              "model_context_window_exceeded": "max_tokens"}.get(message["stop_reason"],
                                                                 message["stop_reason"])
    usage = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, **message["usage"]}
    return {**message, "content": content, "stop_reason": reason, "stop_sequence": None,
            "usage": usage}


def normalise_openai_completion(completion: JSON) -> JSON:
    """A `chat.completion` after a trip through an Anthropic message.

    `function_call` reads as `tool_calls`; cache counts are always present;
    the id becomes chatcmpl-<request id>.
    """
    choice = completion["choices"][0]
    usage = dict(completion["usage"])
    usage["prompt_tokens_details"] = {"cached_tokens": 0, "cache_write_tokens": 0,
                                      **usage.get("prompt_tokens_details", {})}
    finish = "tool_calls" if choice["finish_reason"] == "function_call" else choice[
        "finish_reason"]
    return {**completion, "choices": [{**choice, "finish_reason": finish}], "usage": usage}


# -- request round trips ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(openai_requests())
def test_openai_request_round_trip(body: JSON) -> None:
    once = roundtrip_openai(body)
    assert once == normalise_openai_request(body)
    assert roundtrip_openai(once) == once


@settings(max_examples=150, deadline=None)
@given(anthropic_requests())
def test_anthropic_request_round_trip(body: JSON) -> None:
    assert roundtrip_anthropic(body) == normalise_anthropic_request(body)


@settings(max_examples=100, deadline=None)
@given(openai_requests())
def test_translated_openai_request_keeps_anthropic_turn_rules(body: JSON) -> None:
    turns = o2a.request(body, upstream_model="claude-x")["messages"]
    roles = [t["role"] for t in turns]
    assert all(a != b for a, b in itertools.pairwise(roles))
    for turn in turns:
        if isinstance(turn["content"], list):
            kinds = [b["type"] for b in turn["content"]]
            # tool_result blocks must open their user turn
            assert kinds == sorted(kinds, key=lambda k: k != "tool_result")
            assert all(b.get("text") != "" for b in turn["content"])


# -- response round trips --------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(anthropic_messages())
def test_anthropic_message_round_trip(message: JSON) -> None:
    Message.model_validate(message)
    completion = o2a.response(message, request_id="r1", created=5, model="gpt-x")
    ChatCompletion.model_validate(completion)
    back = a2o.response(completion, message_id="msg_1", model="claude-x")
    Message.model_validate(back)
    assert back == normalise_anthropic_message(message)


@settings(max_examples=150, deadline=None)
@given(openai_completions())
def test_openai_completion_round_trip(completion: JSON) -> None:
    ChatCompletion.model_validate(completion)
    message = a2o.response(completion, message_id="msg_1")
    Message.model_validate(message)
    assert message["model"] == "gpt-x"
    back = o2a.response(message, request_id="r1", created=1700000000, model="gpt-x")
    ChatCompletion.model_validate(back)
    assert back == normalise_openai_completion(completion)


# -- stream equivalence ----------------------------------------------------------------------


def _pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def anthropic_events(message: JSON, cuts: list[int]) -> Iterator[tuple[str, JSON]]:
    """The stream Anthropic would send for `message`, deltas cut at `cuts`."""
    usage = message["usage"]
    yield "message_start", {"type": "message_start", "message": {
        **message, "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1}}}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}}
            deltas = [{"type": "text_delta", "text": p} for p in _pieces(block["text"], cuts)]
        else:
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {**block, "input": {}}}
            deltas = [{"type": "input_json_delta", "partial_json": p}
                      for p in ["", *_pieces(compact(block["input"]), cuts)]]
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"],
                                      "stop_sequence": message["stop_sequence"]},
                            "usage": {"output_tokens": usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


def openai_chunks(completion: JSON, cuts: list[int]) -> Iterator[JSON]:
    """The chunks OpenAI would stream for `completion`, deltas cut at `cuts`."""
    base = {k: completion[k] for k in ("id", "created", "model")}
    base.update(object="chat.completion.chunk", usage=None)
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(message["content"] or "", cuts):
        yield chunk({"content": piece})
    for k, call in enumerate(message.get("tool_calls", [])):
        yield chunk({"tool_calls": [{"index": k, "id": call["id"], "type": "function",
                                     "function": {"name": call["function"]["name"],
                                                  "arguments": ""}}]})
        for piece in _pieces(call["function"]["arguments"], cuts):
            yield chunk({"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
    yield chunk({}, choice["finish_reason"])
    yield {**base, "choices": [], "usage": completion["usage"]}


@settings(max_examples=150, deadline=None)
@given(anthropic_messages(), st.lists(st.integers(0, 100), max_size=4))
def test_anthropic_stream_gives_same_completion_as_non_stream(message: JSON,
                                                             cuts: list[int]) -> None:
    translator = o2a.StreamTranslator(request_id="r1", created=5, model="gpt-x",
                                      include_usage=True)
    chunks: list[JSON] = []
    for name, data in anthropic_events(message, cuts):
        if name != "ping":
            check_anthropic_event(name, data)
        chunks += translator.feed(name, data)
    expected = o2a.response(message, request_id="r1", created=5, model="gpt-x")
    want = expected["choices"][0]

    # Plain concatenation of the deltas reproduces the content ...
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == (want["message"]["content"] or "")
    arguments: dict[int, str] = {}
    for d in deltas:
        for call in d.get("tool_calls", []):
            arguments[call["index"]] = arguments.get(call["index"], "") + \
                call["function"]["arguments"]
    assert [arguments[i] for i in sorted(arguments)] == [
        c["function"]["arguments"] for c in want["message"].get("tool_calls", [])]

    # ... and so does the OpenAI SDK's own accumulator, from chunks it accepts.
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.current_completion_snapshot  # get_final_completion() refuses 'length'
    got = final.choices[0]
    assert got.finish_reason == want["finish_reason"]
    assert (got.message.content or "") == (want["message"]["content"] or "")
    assert [(c.id, c.function.name, c.function.arguments)
            for c in got.message.tool_calls or []] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in want["message"].get("tool_calls", [])]
    assert final.usage is not None
    assert final.usage.model_dump(exclude_none=True) == expected["usage"]
    assert chunks[-1]["choices"] == [] and chunks[-2]["choices"][0]["finish_reason"]
    assert {c["id"] for c in chunks} == {"chatcmpl-r1"}


@settings(max_examples=150, deadline=None)
@given(openai_completions(), st.lists(st.integers(0, 100), max_size=4))
def test_openai_stream_gives_same_message_as_non_stream(completion: JSON,
                                                       cuts: list[int]) -> None:
    translator = a2o.StreamTranslator(message_id="msg_1", model="gpt-x")
    events: list[tuple[str, JSON]] = []
    for chunk in openai_chunks(completion, cuts):
        ChatCompletionChunk.model_validate(chunk)
        events += translator.feed(chunk)
    events += translator.finish()
    assert translator.finish() == []

    snapshot = None
    for name, data in events:
        check_anthropic_event(name, data)
        snapshot = accumulate_event(event=EVENT.validate_python(data), current_snapshot=snapshot)
    assert snapshot is not None
    expected = a2o.response(completion, message_id="msg_1", model="gpt-x")
    got: JSON = snapshot.to_dict()
    assert [{k: v for k, v in b.items() if k in ("type", "text", "id", "name", "input")}
            for b in got["content"]] == expected["content"]
    assert got["stop_reason"] == expected["stop_reason"]
    assert got["usage"] == expected["usage"]
    assert (got["id"], got["model"]) == ("msg_1", "gpt-x")
    # Blocks open and close one at a time, with consecutive indexes.
    opened = [d["index"] for n, d in events if n == "content_block_start"]
    closed = [d["index"] for n, d in events if n == "content_block_stop"]
    assert opened == closed == list(range(len(expected["content"])))
    assert [n for n, _ in events][-2:] == ["message_delta", "message_stop"]


# -- request mapping details -----------------------------------------------------------------


def _o2a(**body: Any) -> JSON:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return o2a.request({"model": "gpt-x", **body}, upstream_model="claude-x")


def _a2o(**body: Any) -> JSON:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return a2o.request({"model": "claude-x", "max_tokens": 10, **body}, upstream_model="gpt-x")


def test_minimal_openai_request() -> None:
    assert _o2a() == {"model": "claude-x", "max_tokens": 4096,
                      "messages": [{"role": "user", "content": "hi"}]}
    assert o2a.request({"model": "m", "messages": [{"role": "user", "content": "x"}]},
                       upstream_model="c", default_max_tokens=7)["max_tokens"] == 7


def test_system_and_developer_are_hoisted() -> None:
    out = _o2a(messages=[{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hi"},
                         {"role": "developer", "content": [{"type": "text", "text": "late"}]}])
    assert out["system"] == [{"type": "text", "text": "be brief"},
                             {"type": "text", "text": "late"}]
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert _o2a(messages=[{"role": "system", "content": "s"},
                          {"role": "user", "content": "hi"}])["system"] == "s"


def test_images() -> None:
    out = _o2a(messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg", "detail": "high"}},
    ]}])
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "QUJD"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
    ]


def test_tool_conversation() -> None:
    out = _o2a(messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "w", "arguments": '{"city": "Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "now", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "thanks"},
    ])
    assert out["messages"] == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "c1", "name": "w", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "c2", "name": "now", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "c2",
             "content": [{"type": "text", "text": "noon"}]},
            {"type": "text", "text": "thanks"}]},
    ]


def test_tools_and_tool_choice() -> None:
    tools = [{"type": "function", "function": {"name": "f", "description": "d",
                                               "parameters": {"type": "object"}}},
             {"type": "function", "function": {"name": "g"}}]
    out = _o2a(tools=tools)
    assert out["tools"] == [
        {"name": "f", "description": "d", "input_schema": {"type": "object"}},
        {"name": "g", "input_schema": {"type": "object", "properties": {}}}]
    assert "tool_choice" not in out
    cases: list[tuple[Any, Any, JSON]] = [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
    ]
    for choice, parallel, expected in cases:
        extra = {} if parallel is None else {"parallel_tool_calls": parallel}
        assert _o2a(tools=tools, tool_choice=choice, **extra)["tool_choice"] == expected
    assert "tool_choice" not in _o2a(tool_choice="auto", parallel_tool_calls=False)


def test_sampling_and_envelope_fields() -> None:
    out = _o2a(temperature=1.7, top_p=0.9, stop="END", user="u1", stream=True,
               stream_options={"include_usage": True}, max_tokens=5, max_completion_tokens=9,
               seed=3, presence_penalty=1, frequency_penalty=1, logprobs=True,
               response_format={"type": "json_object"}, n=1)
    assert out == {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}],
                   "max_tokens": 9, "temperature": 1, "top_p": 0.9, "stop_sequences": ["END"],
                   "metadata": {"user_id": "u1"}, "stream": True}


def test_minimal_anthropic_request() -> None:
    assert _a2o() == {"model": "gpt-x", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]}
    out = _a2o(stream=True, system=[{"type": "text", "text": "s", "cache_control": {
        "type": "ephemeral"}}], top_k=3, metadata={"user_id": "u"}, stop_sequences=["x"])
    assert out == {"model": "gpt-x", "max_tokens": 10, "stream": True,
                   "stream_options": {"include_usage": True}, "user": "u", "stop": ["x"],
                   "messages": [{"role": "system", "content": [{"type": "text", "text": "s"}]},
                                {"role": "user", "content": "hi"}]}


def test_tool_choice_without_tools_is_dropped_both_ways() -> None:
    # Both APIs reject a tool choice (and OpenAI an empty tools array) without tools.
    assert _o2a(tools=[], tool_choice="required") == _o2a()
    assert _a2o(tools=[], tool_choice={"type": "any"}) == _a2o()


def test_anthropic_tool_results_and_errors() -> None:
    out = _a2o(messages=[
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hm", "signature": "sig"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True},
            {"type": "text", "text": "and?"}]},
    ], tools=[{"name": "f", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert out["messages"] == [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"},
        {"role": "user", "content": [{"type": "text", "text": "and?"}]},
    ]
    assert out["tools"] == [{"type": "function",
                             "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)
    error_blocks = _a2o(messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "is_error": True,
         "content": [{"type": "text", "text": "x"}]},
        {"type": "tool_result", "tool_use_id": "u", "is_error": True}]}])["messages"]
    assert [m["content"] for m in error_blocks] == [
        [{"type": "text", "text": "Error:"}, {"type": "text", "text": "x"}], "Error"]


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ([], "must be a JSON object"),
    ({"model": "m", "messages": []}, "non-empty array"),
    ({"model": "m", "messages": "hi"}, "non-empty array"),
    ({"model": "m", "messages": ["hi"]}, r"messages\[0\] must be an object"),
    ({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}, "'n' = 2"),
    ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role"),
    ({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]},
     "deprecated 'function' role"),
    ({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]},
     r"messages\[0\]\.content\[0\]: content part type 'input_audio' has no Anthropic"),
    ({"model": "m", "messages": [{"role": "user", "content": ["x"]}]},
     r"content\[0\] must be an object"),
    ({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]}, "http"),
    ({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]}, "base64"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]},
     r"tool_calls\[0\]\.function\.arguments is not valid JSON"),
    ({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]},
     "must encode a JSON object, not list"),
    ({"model": "m", "messages": [{"role": "assistant", "content": None}]},
     "needs content or tool_calls"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "custom", "custom": {"name": "c"}}]}, "only tools of type 'function'"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "always"},
     "'tool_choice' must be"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
     "positive integer"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}, "'stop'"),
])
def test_openai_requests_refused(body: Any, message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        o2a.request(body, upstream_model="claude-x")


@pytest.mark.parametrize(("body", "message"), [
    ("x", "must be a JSON object"),
    ({"messages": []}, "non-empty array"),
    ({"messages": [7]}, r"messages\[0\] must be an object"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "'user', 'assistant' or 'system'"),
    ({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "data": "x",
                                        "media_type": "text/plain"}}]}]},
     r"messages\[0\]\.content\[0\]: content block type 'document' has no OpenAI"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}, "image sources"),
    ({"messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x"}}]}]}]},
     "text only"),
    ({"messages": [{"role": "assistant", "content": [
        {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}]}]},
     "'server_tool_use' has no OpenAI"),
    ({"messages": [{"role": "user", "content": "x"}],
      "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "server tool"),
    ({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "maybe"},
      "tools": [{"name": "f", "input_schema": {"type": "object"}}]}, "'tool_choice' must be"),
    ({"messages": [{"role": "user", "content": "x"}], "system": 5}, "'system' must be"),
])
def test_anthropic_requests_refused(body: Any, message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        a2o.request(body, upstream_model="gpt-x")


# -- response details ------------------------------------------------------------------------


def test_anthropic_response_to_openai() -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
               "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                           {"type": "text", "text": "Let me "},
                           {"type": "tool_use", "id": "t1", "name": "f",
                            "input": {"q": "\u00e9", "n": [1, 2]}},
                           {"type": "text", "text": "check."}],
               "stop_reason": "tool_use", "stop_sequence": None,
               "usage": {"input_tokens": 10, "output_tokens": 5,
                         "cache_creation_input_tokens": 3, "cache_read_input_tokens": 2}}
    out = o2a.response(message, request_id="abc", created=42, model="my-alias")
    ChatCompletion.model_validate(out)
    assert out == {
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 42, "model": "my-alias",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check.", "refusal": None,
            "tool_calls": [{"id": "t1", "type": "function", "function": {
                "name": "f", "arguments": '{"q":"\u00e9","n":[1,2]}'}}]}}],
        "usage": {"prompt_tokens": 15, "completion_tokens": 5, "total_tokens": 20,
                  "prompt_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 3}},
    }


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("tool_use", "tool_calls"), ("refusal", "content_filter"), (None, "stop"),
    ("something_new", "stop")])
def test_finish_reasons(stop: Any, finish: str) -> None:
    assert o2a.finish_reason(stop) == finish


@pytest.mark.parametrize(("finish", "stop"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
    ("function_call", "tool_use"), ("content_filter", "refusal"), (None, "end_turn")])
def test_stop_reasons(finish: Any, stop: str) -> None:
    assert a2o.stop_reason(finish) == stop


def test_openai_response_with_bad_tool_arguments_keeps_them() -> None:
    completion = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-x",
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": None, "tool_calls": [
                          {"id": "a", "type": "function",
                           "function": {"name": "f", "arguments": "{broken"}},
                          {"id": "b", "type": "function",
                           "function": {"name": "g", "arguments": "[1]"}},
                          {"id": "c", "type": "function",
                           "function": {"name": "h", "arguments": ""}}]}}]}
    out = a2o.response(completion, message_id="msg_9")
    Message.model_validate(out)
    assert [b["input"] for b in out["content"]] == [
        {"_raw_arguments": "{broken"}, {"_raw_arguments": "[1]"}, {}]
    assert out["usage"] == {"input_tokens": 0, "output_tokens": 0,
                            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def test_openai_refusal_becomes_anthropic_refusal() -> None:
    completion = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-x",
                  "choices": [{"index": 0, "finish_reason": "stop", "message": {
                      "role": "assistant", "content": None, "refusal": "I can't."}}]}
    out = a2o.response(completion, message_id="m")
    assert (out["content"], out["stop_reason"]) == ([{"type": "text", "text": "I can't."}],
                                                   "refusal")


# -- stream details --------------------------------------------------------------------------


def test_anthropic_stream_exact_chunks() -> None:
    t = o2a.StreamTranslator(request_id="r", created=1, model="m", include_usage=False)
    events: list[tuple[str, JSON]] = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg", "type": "message", "role": "assistant", "model": "c", "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "t1", "name": "f", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                              "stop_sequence": None},
                           "usage": {"output_tokens": 9}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    chunks = [c for name, data in events for c in t.feed(name, data)]
    base = {"id": "chatcmpl-r", "object": "chat.completion.chunk", "created": 1, "model": "m"}

    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}]}

    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi"}),
        chunk({"tool_calls": [{"index": 0, "id": "t1", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ]
    assert t.feed("content_block_delta", events[3][1]) == []  # nothing after message_stop


def test_anthropic_stream_usage_chunk_and_missing_message_delta() -> None:
    t = o2a.StreamTranslator(request_id="r", created=1, model="m", include_usage=True)
    start = {"type": "message_start", "message": {
        "id": "msg", "type": "message", "role": "assistant", "model": "c", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1, "cache_read_input_tokens": 4}}}
    chunks = t.feed("message_start", start) + t.feed("message_stop", {"type": "message_stop"})
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    assert [c["choices"][0]["finish_reason"] if c["choices"] else "usage" for c in chunks] == [
        None, "stop", "usage"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 1,
                                   "total_tokens": 8, "prompt_tokens_details": {
                                       "cached_tokens": 4, "cache_write_tokens": 0}}
    assert all(c["usage"] is None for c in chunks[:-1])


def test_anthropic_stream_ignores_thinking_and_unknown_events() -> None:
    t = o2a.StreamTranslator(request_id="r", created=1, model="m", include_usage=False)
    t.feed("message_start", {"type": "message_start", "message": {"usage": {}}})
    assert t.feed("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "thinking",
                                                            "thinking": ""}}) == []
    assert t.feed("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
        "type": "thinking_delta", "thinking": "hmm"}}) == []
    assert t.feed("brand_new_event", {"type": "brand_new_event"}) == []


def test_anthropic_stream_error_event() -> None:
    t = o2a.StreamTranslator(request_id="r", created=1, model="m", include_usage=False)
    with pytest.raises(UpstreamStreamError) as caught:
        t.feed("error", {"type": "error", "error": {"type": "overloaded_error",
                                                    "message": "Overloaded"}})
    assert (caught.value.type, caught.value.message) == ("overloaded_error", "Overloaded")


def _openai_chunk(delta: JSON | None = None, finish: str | None = None, **extra: Any) -> JSON:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
            "choices": choices, **extra}


def test_openai_stream_exact_events() -> None:
    t = a2o.StreamTranslator(message_id="msg_1", model="alias")
    events = t.feed(_openai_chunk({"role": "assistant", "content": ""}))
    events += t.feed(_openai_chunk({"content": "Hi"}))
    events += t.feed(_openai_chunk({"tool_calls": [{"index": 0, "id": "call_1",
                                                    "type": "function", "function": {
                                                        "name": "f", "arguments": ""}}]}))
    events += t.feed(_openai_chunk({"tool_calls": [{"index": 0,
                                                    "function": {"arguments": "{}"}}]}))
    events += t.feed(_openai_chunk({}, "tool_calls"))
    events += t.feed(_openai_chunk(usage={"prompt_tokens": 4, "completion_tokens": 2,
                                          "total_tokens": 6}))
    events += t.finish()
    assert events == [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "alias",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "call_1", "name": "f", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": {"output_tokens": 2, "input_tokens": 4,
                                     "cache_creation_input_tokens": 0,
                                     "cache_read_input_tokens": 0}}),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_openai_stream_without_finish_reason_still_ends_well_formed() -> None:
    t = a2o.StreamTranslator(message_id="msg_1", model="m")
    events = t.feed(_openai_chunk({"tool_calls": [{"index": 0, "id": "x", "function": {
        "name": "f", "arguments": '{"a"'}}]}))
    events += t.finish()
    assert t.finish() == [] and t.feed(_openai_chunk({"content": "late"})) == []
    for name, data in events:
        check_anthropic_event(name, data)
    assert [n for n, _ in events] == ["message_start", "content_block_start",
                                      "content_block_delta", "content_block_stop",
                                      "message_delta", "message_stop"]
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-2][1]["usage"] == {"output_tokens": 0}


def test_openai_empty_stream_still_ends_well_formed() -> None:
    events = a2o.StreamTranslator(message_id="msg_1", model="m").finish()
    for name, data in events:
        check_anthropic_event(name, data)
    assert [n for n, _ in events] == ["message_start", "message_delta", "message_stop"]


def test_openai_stream_tool_calls_without_ids_or_indexes() -> None:
    t = a2o.StreamTranslator(message_id="msg_1", model="m")
    events = t.feed(_openai_chunk({"tool_calls": [{"function": {"name": "f",
                                                                "arguments": "{}"}}]}))
    events += t.feed(_openai_chunk({"tool_calls": [{"id": "b", "function": {"name": "g"}}]}))
    events += t.finish()
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [(b["id"], b["name"]) for b in starts] == [("toolu_msg_1_0", "f"), ("b", "g")]


def test_openai_stream_interleaved_tool_arguments_are_refused() -> None:
    t = a2o.StreamTranslator(message_id="msg_1", model="m")
    t.feed(_openai_chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f"}}]}))
    t.feed(_openai_chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g"}}]}))
    with pytest.raises(UpstreamStreamError, match="interleaved"):
        t.feed(_openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}))


def test_openai_stream_error_chunk() -> None:
    t = a2o.StreamTranslator(message_id="msg_1", model="m")
    with pytest.raises(UpstreamStreamError) as caught:
        t.feed({"error": {"type": "server_error", "message": "boom"}})
    assert (caught.value.type, caught.value.message) == ("server_error", "boom")
