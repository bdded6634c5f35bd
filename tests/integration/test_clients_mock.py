"""Every API an SDK uses, against the built-in mock, through the real gateway process with
client keys required and the default inspection policy: the official openai and anthropic
SDKs, openai-agents, and bad input in each client's format."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.conftest import Gateway, stop_gateway
from tests.integration.test_client_keys import create_client, make_home

# A model served by the mock under another name, reached by its aliases too: the answers
# must name what the client asked for, never `mock/echo`.
CONFIG = """
[[models]]
name = "house-model"
aliases = ["claude-*", "team-default"]
[[models.deployments]]
provider = "mock"
model = "mock/echo"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, str]]:
    tmp = tmp_path_factory.mktemp("clients")
    home = make_home(tmp)
    token = create_client(home, "sdk-user")
    gateway = home.serve(tmp, config=CONFIG)
    yield gateway, token
    stop_gateway(gateway)


@pytest.fixture
def oai(served: tuple[Gateway, str]) -> openai.OpenAI:
    gateway, token = served
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0)


@pytest.fixture
def ant(served: tuple[Gateway, str]) -> anthropic.Anthropic:
    gateway, token = served
    return anthropic.Anthropic(base_url=gateway.url, api_key=token, max_retries=0)


def test_keys_are_required(served: tuple[Gateway, str]) -> None:
    gateway, _ = served
    r = httpx.post(gateway.url + "/v1/responses", json={"model": "mock-echo", "input": "hi"})
    assert r.status_code == 401


# -- models ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mock-echo", "mock/echo", "house-model", "team-default",
                                  "claude-sonnet-4-5"])
def test_models_retrieve_in_both_sdks(oai: openai.OpenAI, ant: anthropic.Anthropic,
                                      name: str) -> None:
    model = oai.models.retrieve(name)
    assert (model.id, model.object) == (name, "model")
    info = ant.models.retrieve(name)
    assert (info.id, info.type) == (name, "model")


def test_models_retrieve_unknown_is_404_in_both_formats(oai: openai.OpenAI,
                                                        ant: anthropic.Anthropic) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("gpt-nope")
    with pytest.raises(anthropic.NotFoundError):
        ant.models.retrieve("gpt-nope")


def test_the_advertised_mock_name_has_no_slash(oai: openai.OpenAI) -> None:
    ids = [m.id for m in oai.models.list()]
    assert ids[0] == "mock-echo" and "house-model" in ids


# -- Responses -------------------------------------------------------------------------------

def test_responses_plain(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="mock-echo", instructions="be brief",
                                    input="echo this back")
    assert response.output_text == "echo this back"
    assert response.model == "mock-echo"
    assert response.status == "completed"
    assert response.usage is not None and response.usage.output_tokens > 0


def test_responses_stream_helper_accumulates_the_answer(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="team-default", input=[
            {"role": "user", "content": [{"type": "input_text", "text": "streamed words "},
                                         {"type": "input_text", "text": "come back"}]}]) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == "streamed words come back"
    assert final.output_text == "streamed words come back"
    assert final.model == "team-default"


def test_responses_create_stream_event_sequence(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="mock-echo", input="one two", stream=True))
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta",
                     "response.output_text.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done",
                     "response.completed"]
    # The output policy holds back text and re-emits it as deltas of its own
    # (guards/mask_stream.py); what leaves is still numbered 0, 1, 2, ... with no gap or repeat.
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.model == "mock-echo"  # type: ignore[union-attr]


# -- embeddings ------------------------------------------------------------------------------

def test_embeddings_are_deterministic_unit_vectors(oai: openai.OpenAI) -> None:
    first = oai.embeddings.create(model="mock-echo", input=["alpha", "beta"])
    again = oai.embeddings.create(model="mock-echo", input="alpha", encoding_format="float")
    a, b = (d.embedding for d in first.data)
    assert a == pytest.approx(again.data[0].embedding, abs=1e-6)
    assert a != b
    assert sum(x * x for x in a) == pytest.approx(1.0, abs=1e-5)
    assert first.model == "mock-echo"
    sized = oai.embeddings.create(model="house-model", input="x", dimensions=64)
    assert len(sized.data[0].embedding) == 64 and sized.model == "house-model"


def test_embeddings_base64_is_little_endian_float32(served: tuple[Gateway, str]) -> None:
    gateway, token = served
    r = httpx.post(gateway.url + "/v1/embeddings", headers={"authorization": f"Bearer {token}"},
                   json={"model": "mock-echo", "input": "alpha", "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert sum(x * x for x in floats) == pytest.approx(1.0, abs=1e-5)


# -- chat, named as asked ---------------------------------------------------------------------

def test_chat_plain_and_streamed_name_the_alias(oai: openai.OpenAI) -> None:
    chat = oai.chat.completions.create(model="claude-haiku-4-5",
                                       messages=[{"role": "user", "content": "hi there"}])
    assert chat.model == "claude-haiku-4-5" and chat.choices[0].message.content == "hi there"
    chunks = list(oai.chat.completions.create(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "a b"}], stream=True))
    assert {c.model for c in chunks} == {"claude-haiku-4-5"}


# -- Anthropic Messages ------------------------------------------------------------------------

def test_messages_plain_and_streamed(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                  messages=[{"role": "user", "content": "hello claude"}])
    assert message.content[0].type == "text" and message.content[0].text == "hello claude"
    assert message.model == "claude-sonnet-4-5"
    with ant.messages.stream(model="mock-echo", max_tokens=64, system="be brief",
                             messages=[{"role": "user", "content": "stream me"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "stream me" and final.model == "mock-echo"


def test_messages_with_a_system_turn_inside_messages(served: tuple[Gateway, str]) -> None:
    gateway, token = served
    r = httpx.post(gateway.url + "/v1/messages", headers={
        "x-api-key": token, "anthropic-version": "2023-06-01",
        "anthropic-beta": "mid-conversation-system-2026-04-07"}, json={
        "model": "claude-opus-4-1", "max_tokens": 32, "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "system", "content": [{"type": "text", "text": "answer in one word"}]},
            {"role": "user", "content": "second"}]})
    assert r.status_code == 200, r.text
    assert r.json()["content"][0]["text"] == "second"
    assert r.json()["model"] == "claude-opus-4-1"


def test_count_tokens_is_answered_locally_for_openai_format_deployments(
        ant: anthropic.Anthropic) -> None:
    short = ant.messages.count_tokens(model="claude-sonnet-4-5",
                                      messages=[{"role": "user", "content": "hi"}])
    long = ant.messages.count_tokens(model="mock-echo", system="rules " * 50,
                                     messages=[{"role": "user", "content": "hi " * 200}])
    assert 0 < short.input_tokens < long.input_tokens


# -- openai-agents -----------------------------------------------------------------------------

def test_openai_agents_runs_with_the_mock(served: tuple[Gateway, str]) -> None:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled

    gateway, token = served
    set_tracing_disabled(True)  # no trace export: nothing leaves the machine
    client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0)
    agent = Agent(name="echo", instructions="Repeat the user.",
                  model=OpenAIChatCompletionsModel(model="mock-echo", openai_client=client))
    result = asyncio.run(Runner.run(agent, "agents reach the gateway"))
    assert result.final_output == "agents reach the gateway"


# -- bad input ---------------------------------------------------------------------------------

OPENAI_BAD = [
    ("/v1/chat/completions", {"model": "mock-echo", "temperature": "hot",
                              "messages": [{"role": "user", "content": "x"}]}, "temperature"),
    ("/v1/chat/completions", {"model": "mock-echo", "max_tokens": "10",
                              "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    ("/v1/chat/completions", {"model": "mock-echo", "stream": "yes",
                              "messages": [{"role": "user", "content": "x"}]}, "stream"),
    ("/v1/chat/completions", {"model": "mock-echo", "messages": {"role": "user"}}, "messages"),
    ("/v1/chat/completions", {"model": "mock-echo", "messages": [
        {"role": "user", "content": [{"text": "untyped part"}]}]}, "messages[0].content[0]"),
    ("/v1/responses", {"model": "mock-echo", "input": 42}, "input"),
    ("/v1/responses", {"model": "mock-echo", "input": [{"role": "robot", "content": "x"}]},
     "input[0].role"),
    ("/v1/responses", {"model": "mock-echo", "input": "x", "max_output_tokens": "9"},
     "max_output_tokens"),
    ("/v1/embeddings", {"model": "mock-echo", "input": [1, "a"]}, "input"),
    ("/v1/embeddings", {"model": "mock-echo", "input": "a", "dimensions": 0}, "dimensions"),
]


@pytest.mark.parametrize(("path", "body", "field"), OPENAI_BAD,
                         ids=[f"{p}:{f}" for p, _, f in OPENAI_BAD])
def test_bad_openai_input_is_a_400_naming_the_field(served: tuple[Gateway, str], path: str,
                                                    body: dict[str, object], field: str) -> None:
    gateway, token = served
    r = httpx.post(gateway.url + path, json=body, headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == field and field in error["message"]
    assert error["type"] == "invalid_request_error"


ANTHROPIC_BAD = [
    ({"max_tokens": "10"}, "max_tokens"),
    ({"temperature": "hot"}, "temperature"),
    ({"stream": "yes"}, "stream"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages.0.content.0"),
    ({"messages": [{"role": "system", "content": [{"type": "image", "source": {}}]},
                   {"role": "user", "content": "x"}]}, "messages.0.content"),
    ({"system": [{"type": "image"}]}, "system.0"),
]


@pytest.mark.parametrize(("change", "field"), ANTHROPIC_BAD,
                         ids=[f for _, f in ANTHROPIC_BAD])
def test_bad_anthropic_input_is_a_400_naming_the_field(ant: anthropic.Anthropic,
                                                       change: dict[str, object],
                                                       field: str) -> None:
    body: dict[str, object] = {"model": "claude-sonnet-4-5", "max_tokens": 16,
                               "messages": [{"role": "user", "content": "x"}], **change}
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.post("/v1/messages", body=body, cast_to=httpx.Response)
    error = info.value.body
    assert isinstance(error, dict)
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(field + ":")


def test_websocket_upgrade_is_refused_without_upgrade_headers(
        served: tuple[Gateway, str]) -> None:
    gateway, token = served
    r = httpx.get(gateway.url + "/v1/responses", headers={
        "authorization": f"Bearer {token}", "connection": "Upgrade", "upgrade": "websocket",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13"})
    assert r.status_code == 400 and r.status_code != 426
    assert r.json()["error"]["code"] == "upgrade_not_supported"
    assert not any(name.lower() == "upgrade" or name.lower().startswith("sec-websocket")
                   for name in r.headers)

