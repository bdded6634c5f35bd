"""The proxy end to end: official SDK clients -> gateway process -> fake providers.

Covers pass-through (same format in and out, body byte-for-byte), translation
both ways (OpenAI client to Anthropic upstream and back), streaming, tools,
Azure and OpenAI-compatible wire details, and upstream errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream, status

KEY_OPENAI = "sk-test-openai-" + "o" * 20
KEY_ANTHROPIC = "sk-ant-test-" + "a" * 20
KEY_AZURE = "azure-test-" + "z" * 20
GATEWAY_KEY = "gw-client-token-not-a-provider-key"

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather for a city",
                    "input_schema": {"type": "object",
                                     "properties": {"city": {"type": "string"}}}}]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    fakes = {
        "openai": FakeUpstream("oa", api_key=KEY_OPENAI, kind="openai"),
        "anthropic": FakeUpstream("an", api_key=KEY_ANTHROPIC, kind="anthropic"),
        "azure": FakeUpstream("az", api_key=KEY_AZURE, kind="openai"),
        "compat": FakeUpstream("co", api_key=None, kind="openai"),
    }
    for fake in fakes.values():
        fake.start()
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture(scope="module")
def gw(upstreams: dict[str, FakeUpstream],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("proxy")
    key_file = tmp / "anthropic.key"
    key_file.write_text(KEY_ANTHROPIC + "\n")
    key_file.chmod(0o600)
    config = (GatewayConfig()
              .provider("oa", "openai", base_url=f"{upstreams['openai'].url}/v1",
                        secret="env:TEST_OPENAI_KEY")
              .provider("an", "anthropic", base_url=upstreams["anthropic"].url,
                        secret=f"file:{key_file}")
              .provider("az", "azure", base_url=upstreams["azure"].url,
                        api_version="2024-10-21", secret="env:TEST_AZURE_KEY")
              .provider("co", "openai-compatible", base_url=f"{upstreams['compat'].url}/v1")
              .model("gpt-4o", deployment("oa", "gpt-4o"))
              .model("fast", deployment("oa", "gpt-4o-mini-2024-07-18"))
              .model("claude", deployment("an", "claude-sonnet-4-5"))
              .model("azure-gpt", deployment("az", "my-deployment"))
              .model("local", deployment("co", "llama3"))
              .model("text-embedding-3-small", deployment("oa", "text-embedding-3-small"))
              # The built-in mock is off beside providers; a model may still name it.
              .model("echo", deployment("mock", "mock/echo")))
    env = {**os.environ, "TEST_OPENAI_KEY": KEY_OPENAI, "TEST_AZURE_KEY": KEY_AZURE}
    gateway = start_gateway(tmp, config=config.toml(), env=env)
    yield gateway
    stop_gateway(gateway)
    log = gateway.log()
    for secret in (KEY_OPENAI, KEY_ANTHROPIC, KEY_AZURE, GATEWAY_KEY):
        assert secret not in log


@pytest.fixture
def oai(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=GATEWAY_KEY, max_retries=0)


@pytest.fixture
def ant(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0)


def _last(fake: FakeUpstream) -> object:
    return fake.requests[-1]


# --- OpenAI client, OpenAI upstream: pass-through ---------------------------------------------

def test_body_passes_through_byte_for_byte(gw: Gateway, upstreams: dict[str, FakeUpstream]) -> None:
    raw = (b'{"model":   "gpt-4o", "messages": [{"role": "user", "content": "hi"}],'
           b' "x_vendor_field": {"nested": [1, 2.50, "\\u00e9"]},  "temperature": 0.7}')
    r = httpx.post(gw.url + "/v1/chat/completions", content=raw,
                   headers={"content-type": "application/json",
                            "authorization": f"Bearer {GATEWAY_KEY}"})
    assert r.status_code == 200, r.text
    sent = upstreams["openai"].requests[-1]
    assert sent.body == raw
    assert sent.headers["authorization"] == f"Bearer {KEY_OPENAI}"
    assert GATEWAY_KEY not in json.dumps(sent.headers)
    assert r.headers["x-gateway-deployment"] == "oa/gpt-4o"
    assert r.headers["x-gateway-attempts"] == "1"
    assert r.json()["choices"][0]["message"]["content"] == "oa: hi"


def test_alias_rewrites_only_the_model(gw: Gateway, upstreams: dict[str, FakeUpstream]) -> None:
    r = httpx.post(gw.url + "/v1/chat/completions", json={
        "model": "fast", "messages": [{"role": "user", "content": "x"}],
        "x_vendor_field": {"keep": True}, "seed": 3})
    assert r.status_code == 200
    sent = upstreams["openai"].requests[-1].json
    assert sent == {"model": "gpt-4o-mini-2024-07-18",
                    "messages": [{"role": "user", "content": "x"}],
                    "x_vendor_field": {"keep": True}, "seed": 3}


def test_openai_sdk_chat_and_stream(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(model="gpt-4o",
                                       messages=[{"role": "user", "content": "hello there"}])
    assert done.choices[0].message.content == "oa: hello there"
    chunks = list(oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello there"}], stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "oa: hello there"
    assert chunks[-1].usage is not None


def test_openai_tool_calls_pass_through(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(
        model="gpt-4o", tools=TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "please call a tool"}])
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_embeddings_and_responses_pass_through(oai: openai.OpenAI) -> None:
    emb = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
    resp = oai.responses.create(model="gpt-4o", input="tell me")
    assert resp.output_text == "oa: tell me"


def test_models_list(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {"gpt-4o", "claude", "azure-gpt", "local", "echo"} <= ids
    assert "mock/echo" not in ids  # providers are configured: no echo unless asked for
    assert {m.id for m in ant.models.list()} == ids


def test_azure_wire_format(oai: openai.OpenAI, upstreams: dict[str, FakeUpstream]) -> None:
    done = oai.chat.completions.create(model="azure-gpt",
                                       messages=[{"role": "user", "content": "hi az"}])
    assert done.choices[0].message.content == "az: hi az"
    sent = upstreams["azure"].requests[-1]
    assert sent.path == "/openai/deployments/my-deployment/chat/completions" \
                        "?api-version=2024-10-21"
    assert sent.headers["api-key"] == KEY_AZURE
    assert "authorization" not in sent.headers


def test_openai_compatible_without_secret(oai: openai.OpenAI,
                                          upstreams: dict[str, FakeUpstream]) -> None:
    done = oai.chat.completions.create(model="local",
                                       messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "co: hi"
    assert "authorization" not in upstreams["compat"].requests[-1].headers


# --- translation -------------------------------------------------------------------------------

def test_openai_client_anthropic_upstream(oai: openai.OpenAI,
                                          upstreams: dict[str, FakeUpstream]) -> None:
    done = oai.chat.completions.create(
        model="claude", max_tokens=100,
        messages=[{"role": "system", "content": "be terse"},
                  {"role": "user", "content": "bonjour"}])
    assert done.choices[0].message.content == "an: bonjour"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.total_tokens > 0
    sent = upstreams["anthropic"].requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY_ANTHROPIC
    assert sent.json["system"] == "be terse"
    assert sent.json["model"] == "claude-sonnet-4-5"
    assert sent.json["max_tokens"] == 100


def test_openai_client_anthropic_upstream_streamed(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "one two three"}], stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "an: one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None


def test_openai_client_anthropic_upstream_tools(oai: openai.OpenAI,
                                                upstreams: dict[str, FakeUpstream]) -> None:
    done = oai.chat.completions.create(
        model="claude", tools=TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "call a tool please"}])
    assert done.choices[0].finish_reason == "tool_calls"
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert upstreams["anthropic"].requests[-1].json["tools"][0]["name"] == "get_weather"
    # ... and the tool result goes back as an Anthropic tool_result
    follow = oai.chat.completions.create(
        model="claude", tools=TOOLS,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "call a tool please"},
                  done.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert follow.choices[0].message.content == "an: tool said sunny"

    stream = list(oai.chat.completions.create(
        model="claude", tools=TOOLS, stream=True,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "call a tool please"}]))
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                   for c in stream if c.choices and c.choices[0].delta.tool_calls)
    assert json.loads(args) == {"city": "Paris"}
    assert stream[-1].choices[0].finish_reason == "tool_calls"


def test_anthropic_client_anthropic_upstream(ant: anthropic.Anthropic,
                                             upstreams: dict[str, FakeUpstream]) -> None:
    msg = ant.messages.create(model="claude", max_tokens=50, system="terse",
                              messages=[{"role": "user", "content": "hallo"}])
    assert msg.content[0].text == "an: hallo"  # type: ignore[union-attr]
    sent = upstreams["anthropic"].requests[-1]
    assert sent.headers["x-api-key"] == KEY_ANTHROPIC
    assert sent.headers["anthropic-version"] == "2023-06-01"
    with ant.messages.stream(model="claude", max_tokens=50,
                             messages=[{"role": "user", "content": "a b c"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "an: a b c" and final.stop_reason == "end_turn"
    count = ant.messages.count_tokens(model="claude",
                                      messages=[{"role": "user", "content": "hello"}])
    assert count.input_tokens > 0


def test_anthropic_client_openai_upstream(ant: anthropic.Anthropic,
                                          upstreams: dict[str, FakeUpstream]) -> None:
    msg = ant.messages.create(model="gpt-4o", max_tokens=50, system="terse",
                              messages=[{"role": "user", "content": "ciao"}])
    assert msg.content[0].text == "oa: ciao"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    sent = upstreams["openai"].requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "terse"}
    with ant.messages.stream(model="gpt-4o", max_tokens=50,
                             messages=[{"role": "user", "content": "x y"}]) as stream:
        assert "".join(stream.text_stream) == "oa: x y"
        assert stream.get_final_message().usage.output_tokens > 0


def test_anthropic_client_openai_upstream_tools(ant: anthropic.Anthropic) -> None:
    msg = ant.messages.create(model="gpt-4o", max_tokens=50, tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
                              messages=[{"role": "user", "content": "call a tool now"}])
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use" and block.input == {"city": "Paris"}
    follow = ant.messages.create(model="gpt-4o", max_tokens=50, tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
                                 messages=[
                                     {"role": "user", "content": "call a tool now"},
                                     {"role": "assistant", "content": msg.content},  # type: ignore[typeddict-item]
                                     {"role": "user", "content": [{"type": "tool_result",
                                                                   "tool_use_id": block.id,
                                                                   "content": "rainy"}]}])
    assert follow.content[0].text == "oa: tool said rainy"  # type: ignore[union-attr]
    with ant.messages.stream(model="gpt-4o", max_tokens=50, tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
                             messages=[{"role": "user", "content": "call a tool now"}]) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]


def test_anthropic_client_mock_model(ant: anthropic.Anthropic) -> None:
    msg = ant.messages.create(model="echo", max_tokens=20,
                              messages=[{"role": "user", "content": "echo me"}])
    assert msg.content[0].text == "echo me"  # type: ignore[union-attr]
    with ant.messages.stream(model="echo", max_tokens=20,
                             messages=[{"role": "user", "content": "echo me too"}]) as s:
        assert "".join(s.text_stream) == "echo me too"


# --- errors ------------------------------------------------------------------------------------

def test_upstream_client_error_passes_through(oai: openai.OpenAI,
                                              upstreams: dict[str, FakeUpstream]) -> None:
    upstreams["openai"].script(status(400, body={"error": {
        "message": "Invalid 'messages': too long", "type": "invalid_request_error",
        "param": "messages", "code": "context_length_exceeded"}}))
    before = len(upstreams["openai"].requests)
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "context_length_exceeded"
    assert len(upstreams["openai"].requests) == before + 1  # a 400 is never retried


def test_upstream_error_translated_for_anthropic_client(
        ant: anthropic.Anthropic, upstreams: dict[str, FakeUpstream]) -> None:
    upstreams["openai"].script(status(400, body={"error": {
        "message": "bad thing", "type": "invalid_request_error", "param": None,
        "code": None}}))
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.messages.create(model="gpt-4o", max_tokens=5,
                            messages=[{"role": "user", "content": "x"}])
    assert "bad thing" in str(info.value)
    assert info.value.body["type"] == "error"  # type: ignore[index]


def test_rejected_provider_credentials_are_502_not_401(
        oai: openai.OpenAI, upstreams: dict[str, FakeUpstream]) -> None:
    upstreams["openai"].script(status(401))
    with pytest.raises(openai.APIStatusError) as info:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert "rejected the gateway's credentials" in info.value.message
    assert KEY_OPENAI not in info.value.message


def test_unsupported_operation_is_400(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        oai.embeddings.create(model="claude", input="x")
    assert "does not serve embeddings" in info.value.message



def test_count_tokens_for_an_openai_model_is_the_gateways_estimate(
        ant: anthropic.Anthropic, upstreams: dict[str, FakeUpstream]) -> None:
    seen = len(upstreams["openai"].requests)
    counted = ant.messages.count_tokens(model="gpt-4o",
                                        messages=[{"role": "user", "content": "x " * 100}])
    assert counted.input_tokens > 50
    assert len(upstreams["openai"].requests) == seen  # answered locally


def test_anthropic_format_errors(gw: Gateway) -> None:
    r = httpx.post(gw.url + "/v1/messages", json={"model": "claude", "messages": []})
    assert r.status_code == 400
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(gw.url + "/v1/messages", json={
        "model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = httpx.post(gw.url + "/v1/messages", json={
        "model": "claude", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]


def test_json_nesting_limit(gw: Gateway) -> None:
    deep = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    nested: object = "leaf"
    for _ in range(150):
        nested = {"n": nested}
    deep["x_extra"] = nested  # type: ignore[assignment]
    r = httpx.post(gw.url + "/v1/chat/completions", json=deep)
    assert r.status_code == 400
    assert "nested deeper than 100" in r.json()["error"]["message"]


def test_oversized_headers_are_refused(gw: Gateway) -> None:
    r = httpx.post(gw.url + "/v1/chat/completions", json={},
                   headers={"x-filler": "a" * 200_000})
    assert r.status_code == 431


def test_no_secret_in_config_errors(tmp_path: Path) -> None:
    from tests.conftest import run_gateway

    config = tmp_path / "gateway.toml"
    config.write_text('[[providers]]\nname = "oa"\nkind = "openai"\n'
                      f'secret = "{KEY_OPENAI}"\n')
    result = run_gateway("serve", "--config", str(config))
    assert result.returncode == 1
    assert "never the secret itself" in result.stderr
    assert KEY_OPENAI not in result.stderr + result.stdout


# --- the model an answer names is the one the client asked for -------------------------------

def test_answers_name_the_public_model_in_every_format(oai: openai.OpenAI,
                                                       ant: anthropic.Anthropic) -> None:
    """`claude` is deployed as claude-sonnet-4-5 and `fast` as gpt-4o-mini-2024-07-18: what
    the client reads is its own name, passed through or translated, streamed or not."""
    hi = [{"role": "user", "content": "hi"}]
    assert oai.chat.completions.create(model="claude", messages=hi).model == "claude"
    assert oai.chat.completions.create(model="fast", messages=hi).model == "fast"
    assert {c.model for c in oai.chat.completions.create(model="fast", messages=hi,
                                                         stream=True)} == {"fast"}
    assert {c.model for c in oai.chat.completions.create(model="claude", messages=hi,
                                                         stream=True)} == {"claude"}
    for model in ("claude", "fast"):
        assert ant.messages.create(model=model, max_tokens=10, messages=hi).model == model
        with ant.messages.stream(model=model, max_tokens=10, messages=hi) as s:
            assert s.get_final_message().model == model
