"""Fuzzing the running gateway: no input makes it answer 500, hang, or log a traceback.

Hypothesis writes request bodies (raw bytes, JSON of any shape in the
fields the gateway reads, deep nesting, other text encodings) and headers,
and sends them over loopback to one gateway with client keys, default
inspection and the built-in model. Bounded: a few hundred requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Gateway, stop_gateway
from tests.integration.test_client_keys import create_client, make_home

PATHS = ["/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/messages",
         "/v1/messages/count_tokens", "/v1/models", "/health", "/v2/x"]
FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


class Target:
    def __init__(self, gateway: Gateway, token: str) -> None:
        self.gateway = gateway
        self.token = token
        self.client = httpx.Client(base_url=gateway.url, timeout=15)

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None,
             authorised: bool = True) -> httpx.Response:
        sent = {"content-type": "application/json", **(headers or {})}
        if authorised:
            sent["authorization"] = f"Bearer {self.token}"
        response = self.client.post(path, content=body, headers=sent)
        assert response.status_code < 500, (path, body[:300], response.text[:300])
        if response.status_code >= 400:
            assert "error" in response.json(), response.text[:300]
        return response


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    home = make_home(tmp)
    token = create_client(home, "fuzz")
    gateway = home.serve(tmp, config="""
[[models]]
name = "m"
deployments = [{ provider = "mock", model = "mock/echo" }]
""")
    made = Target(gateway, token)
    yield made
    made.client.close()
    stop_gateway(gateway)
    log = gateway.log()
    assert "Traceback" not in log, log[-3000:]
    assert "unhandled" not in log, log[-3000:]


_text = st.text(max_size=40)
_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_text, inner, max_size=4), max_leaves=30)
_role = st.sampled_from(["user", "assistant", "system", "developer", "tool", "function",
                         "User", "", "x"])
_part = st.fixed_dictionaries({"type": st.sampled_from(["text", "Text", "image_url",
                                                        "input_text", "tool_result", "x"])},
                              optional={"text": _json, "content": _json, "image_url": _json})
_message = st.fixed_dictionaries({"role": _role},
                                  optional={"content": _text | st.lists(_part, max_size=3) | _json,
                                            "name": _json, "tool_calls": _json,
                                            "tool_call_id": _json})
_request = st.fixed_dictionaries(
    {"model": st.sampled_from(["m", "mock/echo", "nope"]) | _json},
    optional={"messages": st.lists(_message, max_size=4) | _json, "input": _json,
              "stream": st.booleans() | _json, "max_tokens": st.integers() | _json,
              "tools": _json, "system": _json, "stream_options": _json, "n": _json})


@FUZZ
@given(path=st.sampled_from(PATHS[:5]), body=st.binary(max_size=600))
def test_any_bytes(target: Target, path: str, body: bytes) -> None:
    target.post(path, body)


@FUZZ
@given(path=st.sampled_from(PATHS[:5]), request=_request)
def test_any_json_shape_in_the_fields_the_gateway_reads(target: Target, path: str,
                                                        request: dict[str, Any]) -> None:
    target.post(path, json.dumps(request).encode())


@FUZZ
@given(path=st.sampled_from(PATHS[:5]), depth=st.integers(1, 3000),
       opener=st.sampled_from(["[", '{"a":', '{"messages":[']))
def test_any_nesting(target: Target, path: str, depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '{"messages":[': "]}"}[opener]
    inner = opener * depth + "1" + closer * depth
    target.post(path, f'{{"model":"m","messages":[{{"role":"user","content":"x"}}],'
                      f'"x":{inner}}}'.encode())


@FUZZ
@given(path=st.sampled_from(PATHS[:5]), text=st.text(min_size=1, max_size=60),
       encoding=st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252",
                                 "utf-8-sig"]))
def test_other_encodings(target: Target, path: str, text: str, encoding: str) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}],
                       "input": text, "max_tokens": 5}, ensure_ascii=False)
    try:
        raw = body.encode(encoding)
    except UnicodeEncodeError:
        raw = body.encode(encoding, errors="replace")
    target.post(path, raw)


@FUZZ
@given(path=st.sampled_from(PATHS), method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       headers=st.dictionaries(
           st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z").filter(
               lambda n: n not in ("content-length", "transfer-encoding", "host", "connection",
                                   "expect", "upgrade", "te")),
           st.from_regex(r"\A[ -~]{0,60}\Z").map(str.strip), max_size=6),
       authorised=st.booleans())
def test_any_headers(target: Target, path: str, method: str, headers: dict[str, str],
                     authorised: bool) -> None:
    sent = dict(headers)
    if authorised:
        sent["authorization"] = f"Bearer {target.token}"
    response = target.client.request(method, path, headers=sent, content=json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode())
    assert response.status_code < 500, (path, headers, response.text[:300])
