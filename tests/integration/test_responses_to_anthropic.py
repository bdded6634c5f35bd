"""The openai SDK's Responses API through the real gateway process to a provider that speaks
only Anthropic's Messages API (FakeUpstream kind "anthropic"), with the default inspection
policy on: what crosses is translated exactly (the fake's record is compared whole), and
what cannot cross is a 400 naming the feature, with nothing sent upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream

KEY = "sk-ant-test-" + "r" * 24
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}
WEATHER_ANTHROPIC = {"name": "get_weather", "description": "Weather for a city",
                     "input_schema": WEATHER["parameters"]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("an", api_key=KEY, kind="anthropic") as up:
        yield up


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("responses-anthropic")
    key_file = tmp / "anthropic.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    config = (GatewayConfig()
              .provider("an", "anthropic", base_url=fake.url, secret=f"file:{key_file}")
              .model("claude", deployment("an", "claude-sonnet-4-5")))
    gateway = start_gateway(tmp, config=config.toml())
    yield gateway
    stop_gateway(gateway)
    assert KEY not in gateway.log()


@pytest.fixture
def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def sent(fake: FakeUpstream) -> Any:
    return fake.requests[-1].json


def test_plain_request_is_translated_exactly(oai: openai.OpenAI, fake: FakeUpstream) -> None:
    response = oai.responses.create(
        model="claude", instructions="be brief", max_output_tokens=50, temperature=1.5,
        top_p=0.9, user="u-1", store=False, include=["reasoning.encrypted_content"],
        input=[{"role": "user", "content": [{"type": "input_text", "text": "hello "},
                                            {"type": "input_text", "text": "there"}]},
               {"role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
               {"role": "developer", "content": "answer in English"},
               {"role": "user", "content": "again"}])
    assert sent(fake) == {
        "model": "claude-sonnet-4-5", "max_tokens": 50, "temperature": 1,  # clamped to 0..1
        "top_p": 0.9, "metadata": {"user_id": "u-1"},
        "system": [{"type": "text", "text": "be brief"},
                   {"type": "text", "text": "answer in English"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello "},
                                                  {"type": "text", "text": "there"}]},
                     {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
                     {"role": "user", "content": "again"}]}
    assert fake.requests[-1].path == "/v1/messages"
    assert fake.requests[-1].headers["x-api-key"] == KEY
    assert response.output_text == "an: again"
    assert (response.model, response.status, response.object) == ("claude", "completed",
                                                                   "response")
    assert response.instructions == "be brief" and response.max_output_tokens == 50
    assert response.usage is not None and response.usage.input_tokens > 0
    assert response.usage.total_tokens == (response.usage.input_tokens
                                           + response.usage.output_tokens)


def test_a_string_input_and_no_options(oai: openai.OpenAI, fake: FakeUpstream) -> None:
    response = oai.responses.create(model="claude", input="just this")
    assert sent(fake) == {"model": "claude-sonnet-4-5", "max_tokens": 4096,
                          "messages": [{"role": "user", "content": "just this"}]}
    assert response.output_text == "an: just this"


def test_tool_call_round_trip(oai: openai.OpenAI, fake: FakeUpstream) -> None:
    first = oai.responses.create(model="claude", input="please call a tool", tools=[WEATHER],
                                 tool_choice="required", parallel_tool_calls=False)
    assert sent(fake) == {
        "model": "claude-sonnet-4-5", "max_tokens": 4096,
        "messages": [{"role": "user", "content": "please call a tool"}],
        "tools": [WEATHER_ANTHROPIC],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}}
    call = first.output[0]
    assert call.type == "function_call"
    assert (call.name, call.call_id, json.loads(call.arguments)) == (
        "get_weather", "toolu_1", {"city": "Paris"})
    second = oai.responses.create(model="claude", tools=[WEATHER], input=[
        {"role": "user", "content": "please call a tool"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert sent(fake)["messages"] == [
        {"role": "user", "content": "please call a tool"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                           "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": "sunny, 21 C"}]}]
    assert second.output_text == "an: tool said sunny, 21 C"


def test_stream_helper_accumulates_text(oai: openai.OpenAI, fake: FakeUpstream) -> None:
    with oai.responses.stream(model="claude", input="stream these words back please") as s:
        events = list(s)
        final = s.get_final_response()
    assert sent(fake)["stream"] is True
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text == "an: stream these words back please"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events if "delta" not in e.type] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert final.model == "claude" and final.usage is not None
    assert final.usage.output_tokens > 0


def test_streamed_tool_call(oai: openai.OpenAI, fake: FakeUpstream) -> None:
    stream = oai.responses.create(model="claude", input="call a tool now", tools=[WEATHER],
                                  stream=True)
    events = list(stream)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    arguments = "".join(e.delta for e in events
                        if e.type == "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"city": "Paris"}
    done = events[-1]
    assert done.type == "response.completed"
    item = done.response.output[0]
    assert item.type == "function_call" and item.name == "get_weather"
    assert item.arguments == arguments and item.call_id == "toolu_1"


# Each refused feature: the request, and the words the refusal must contain.
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"store": True}, "store = true"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"background": True}, "background"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"truncation": "auto"}, "truncation"),
    ({"tools": [{"type": "web_search"}]}, "built-in tool 'web_search'"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "'file_search'"),
    ({"tools": [{"type": "computer_use_preview", "display_width": 1024,
                 "display_height": 768, "environment": "linux"}]}, "'computer_use_preview'"),
    ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]},
     "'code_interpreter'"),
    ({"include": ["file_search_call.results"]}, "include[0] = 'file_search_call.results'"),
    ({"include": ["message.output_text.logprobs"]}, "message.output_text.logprobs"),
    ({"reasoning": {"effort": "low", "summary": "detailed"}}, "reasoning.summary"),
    ({"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}},
     "text.format of type 'json_schema'"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input item type 'item_reference'"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
     "content part type 'input_file'"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
     "input[0].content[0].file_id"),
    ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice of type"),
]


@pytest.mark.parametrize(("change", "named"), REFUSED, ids=[n for _, n in REFUSED])
def test_features_with_no_anthropic_mapping_are_refused_by_name(
        oai: openai.OpenAI, fake: FakeUpstream, change: dict[str, Any], named: str) -> None:
    before = len(fake.requests)
    body: dict[str, Any] = {"model": "claude", "input": "hello", **change}
    with pytest.raises(openai.BadRequestError) as info:
        oai.post("/responses", body=body, cast_to=object)
    assert named in info.value.message
    assert "Anthropic" in info.value.message
    assert isinstance(info.value.body, dict) and info.value.body["type"] \
        == "invalid_request_error"
    assert len(fake.requests) == before  # nothing went upstream


def test_bad_tool_arguments_in_history_are_a_400(oai: openai.OpenAI,
                                                 fake: FakeUpstream) -> None:
    before = len(fake.requests)
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(model="claude", input=[
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "[1, 2]"},
            {"type": "function_call_output", "call_id": "c1", "output": "x"}])
    assert "input[0].arguments" in info.value.message
    assert len(fake.requests) == before


def test_openai_agents_runs_a_tool_over_responses(gw: Gateway, fake: FakeUpstream) -> None:
    """openai-agents' default model speaks the Responses API: a whole agent loop (the model
    calls a function, the SDK runs it, the model answers with its result) on an Anthropic
    provider."""
    import asyncio

    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # no trace export: nothing leaves the machine
    ran: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        ran.append(city)
        return f"rain in {city}"

    client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
    agent = Agent(name="weather", instructions="Use the tool.", tools=[get_weather],
                  model=OpenAIResponsesModel(model="claude", openai_client=client))
    result = asyncio.run(Runner.run(agent, "call a tool for Paris"))
    assert ran == ["Paris"]
    assert result.final_output == "an: tool said rain in Paris"
    last = sent(fake)
    assert last["system"] == "Use the tool."
    assert [m["role"] for m in last["messages"]] == ["user", "assistant", "user"]
    assert last["messages"][2]["content"][0]["type"] == "tool_result"
