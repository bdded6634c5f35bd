"""`env:` secrets leave no trace in the running gateway's environment block."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream

KEY = "sk-env-handover-" + "e" * 24


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("env", api_key=KEY) as fake:
        yield fake


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_key_is_not_in_proc_environ_and_still_used(tmp_path: Path,
                                                       upstream: FakeUpstream) -> None:
    config = (GatewayConfig()
              .provider("oa", "openai", base_url=f"{upstream.url}/v1",
                        secret="env:MY_PROVIDER_KEY")
              .model("gpt", deployment("oa", "gpt")))
    gateway = start_gateway(tmp_path, config=config.toml(),
                            env={**os.environ, "MY_PROVIDER_KEY": KEY, "GATEWAY_UNRELATED": "kept"})
    try:
        environ = Path(f"/proc/{gateway.process.pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{gateway.process.pid}/cmdline").read_bytes()
        assert KEY.encode() not in environ and KEY.encode() not in cmdline
        assert b"MY_PROVIDER_KEY=" not in environ
        assert b"GATEWAY_UNRELATED=kept" in environ  # the rest of the environment stays
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {KEY}"
        # No descriptor of the hand-over pipe is left open. Its write end was closed before
        # the exec, so a leaked read end would be a pipe with no other end in the process;
        # the event loop's own pipes (uvloop signals through one) have both ends here.
        fds = os.listdir(f"/proc/{gateway.process.pid}/fd")
        pipes = Counter(os.readlink(f"/proc/{gateway.process.pid}/fd/{fd}") for fd in fds)
        assert not [p for p, ends in pipes.items() if p.startswith("pipe:") and ends == 1]
    finally:
        stop_gateway(gateway)
    assert KEY not in gateway.log()


def test_a_missing_env_secret_is_still_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="secret env:MY_MISSING_KEY is not set"):
        start_gateway(tmp_path,
                      config=GatewayConfig().provider("oa", "openai",
                                                      secret="env:MY_MISSING_KEY").toml(),
                      env={k: v for k, v in os.environ.items() if k != "MY_MISSING_KEY"})


def test_the_hand_over_reads_only_a_pipe(tmp_path: Path) -> None:
    """A stray GATEWAY_ENV_SECRETS_FD naming a file (or a terminal) is refused, not read."""
    import subprocess

    from tests.conftest import gateway_cmd

    with (tmp_path / "not-a-pipe").open("w+") as handle:
        handle.write('{"MY_PROVIDER_KEY": "sk-planted"}')
        handle.flush()
        handle.seek(0)
        done = subprocess.run(
            gateway_cmd("serve", "--port", "1"), pass_fds=(handle.fileno(),),
            env={**os.environ, "GATEWAY_ENV_SECRETS_FD": str(handle.fileno()),
                 "GATEWAY_HOME": str(tmp_path / "home")},
            capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert "the env: secrets handed over at start-up could not be read" in done.stderr
