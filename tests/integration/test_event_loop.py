"""`[server] event_loop`: the gateway serves the same on uvloop and on asyncio's own loop,
driven by the official openai SDK against a fake provider; an unknown loop is refused."""

from __future__ import annotations

import os
from pathlib import Path

import openai
import pytest

from tests.conftest import run_gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream

KEY = "sk-test-event-loop-" + "e" * 20


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_requests_and_streams_on_each_loop(loop: str, tmp_path: Path) -> None:
    with FakeUpstream("loop", api_key=KEY) as fake:
        # By name: the client resolves it and connects as for any provider host.
        config = (GatewayConfig()
                  .section("server", event_loop=loop)
                  .provider("up", "openai", base_url=f"http://localhost:{fake.port}/v1",
                            secret="env:LOOP_KEY")
                  .model("m", deployment("up", "gpt-4o-mini")))
        gw = start_gateway(tmp_path, config=config.toml(),
                           env={**os.environ, "LOOP_KEY": KEY})
        try:
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
            done = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hello loop"}])
            assert done.choices[0].message.content
            chunks = list(client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "stream on the loop"}],
                stream=True))
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert [r.json["model"] for r in fake.requests] == ["gpt-4o-mini"] * 2
        finally:
            stop_gateway(gw)
        log = gw.log()
        assert f"event loop: {loop}" in log
        assert KEY not in log


def test_an_unknown_loop_is_refused_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[server]\nevent_loop = "rloop"\n')
    done = run_gateway("serve", "--config", str(path), "--port", "1")
    assert done.returncode != 0
    assert "event_loop" in done.stderr
    assert "Traceback" not in done.stderr
