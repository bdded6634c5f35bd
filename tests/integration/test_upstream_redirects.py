"""A hostile upstream that redirects: the key and the prompt never follow (loopback only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.raw_upstream import RawUpstream

KEY = "sk-redirect-test-" + "r" * 24
PROMPT = "the prompt that must stay put"


@dataclass
class Setup:
    gateway: Gateway
    redirecting: RawUpstream
    elsewhere: RawUpstream


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with RawUpstream() as redirecting, RawUpstream() as elsewhere:
        config = (GatewayConfig()
                  .provider("oa", "openai", base_url=f"{redirecting.url}/v1",
                            secret="env:REDIRECT_KEY")
                  .provider("an", "anthropic", base_url=redirecting.url,
                            secret="env:REDIRECT_KEY")
                  .provider("az", "azure", base_url=redirecting.url, api_version="2024-10-21",
                            secret="env:REDIRECT_KEY")
                  .model("oa", deployment("oa", "m"))
                  .model("an", deployment("an", "m"))
                  .model("az", deployment("az", "m"))
                  .section("routing", breaker_failures=1000))
        gateway = start_gateway(tmp_path_factory.mktemp("redirect"), config=config.toml(),
                                env={**os.environ, "REDIRECT_KEY": KEY})
        yield Setup(gateway, redirecting, elsewhere)
        stop_gateway(gateway)
    log = gateway.log()
    assert "Traceback" not in log
    assert KEY not in log


@pytest.mark.parametrize("model", ["oa", "an", "az"])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(setup: Setup, model: str, stream: bool,
                                      code: int) -> None:
    setup.redirecting.answer(code, b"", headers=b"location: %s/steal\r\n"
                             % setup.elsewhere.url.encode())
    asked = len(setup.redirecting.requests)
    path, body = ("/v1/messages", {"model": model, "max_tokens": 5, "stream": stream,
                                   "messages": [{"role": "user", "content": PROMPT}]}) \
        if model == "an" else \
        ("/v1/chat/completions", {"model": model, "stream": stream,
                                  "messages": [{"role": "user", "content": PROMPT}]})
    r = httpx.post(setup.gateway.url + path, json=body, timeout=15)
    assert r.status_code == 502
    assert "redirect" in r.text
    assert len(setup.redirecting.requests) == asked + 1  # asked once, not retried there
    assert setup.elsewhere.requests == []
    assert f"{setup.elsewhere.url.split('//')[1]}" in setup.gateway.log()  # its host logged
