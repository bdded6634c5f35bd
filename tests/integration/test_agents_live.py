"""Claude Code and Codex CLI, as published on npm (tests/npm/agents, pinned with integrity
hashes), run non-interactively against the real gateway process on loopback: client keys
required, the default inspection policy on, the built-in mock answering. Each gets the
mock's echo of its prompt, configured by hand and through `gateway run`.

Fully offline: a temporary HOME / CODEX_HOME, telemetry, updates and non-essential traffic
off, the provider's address only ever the gateway's. The agents' own system prompts and
tool definitions exist only in flight here (nothing of theirs is stored or committed).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway_cli.cli.agents import codex_overrides
from tests.conftest import IN_CI, ROOT, Gateway, gateway_cmd, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream
from tests.integration.test_client_keys import Home, create_client, make_home

BIN = ROOT / "tests" / "npm" / "agents" / "node_modules" / ".bin"
TIMEOUT = 60
PROMPT = "Reply with exactly this marker: gateway-live-check-4417"
MARKER = "gateway-live-check-4417"

# The names the agents ask for by default (Claude Code's `claude-*` family, Codex's `gpt-*`)
# are aliases of one model the mock serves, as an operator would map them to a provider.
CONFIG = """
[[models]]
name = "agents"
aliases = ["claude-*", "gpt-*", "o3*", "o4*", "codex-*"]
[[models.deployments]]
provider = "mock"
model = "mock/echo"
"""


def _agent(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        reason = f"{name} is not installed: npm ci --prefix tests/npm/agents (.ci/run does)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@dataclass
class Live:
    home: Home
    gateway: Gateway
    token: str
    tmp: Path

    def quiet_env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no inherited keys or proxies, a private HOME, no phoning home."""
        home = self.tmp / "agent-home"
        home.mkdir(exist_ok=True)
        keep = {k: v for k, v in os.environ.items()
                if k in ("PATH", "LANG", "LC_ALL", "TERM", "TMPDIR")}
        return {**keep, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                "GATEWAY_HOME": self.home.env["GATEWAY_HOME"],
                "DBUS_SESSION_BUS_ADDRESS": self.home.env["DBUS_SESSION_BUS_ADDRESS"],
                "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
                "DISABLE_ERROR_REPORTING": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_BUG_COMMAND": "1", "NO_PROXY": "127.0.0.1",
                "CODEX_HOME": str(self._codex_home()), "RUST_LOG": "error", **extra}

    def _codex_home(self) -> Path:
        path = self.tmp / "codex-home"
        path.mkdir(exist_ok=True)
        return path

    def run(self, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, cwd=self.tmp, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)

    def under_gateway_run(self, *command: str) -> list[str]:
        return [*gateway_cmd("run", "--url", self.gateway.url, *self.home.store_args, "--"),
                *command]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("agents")
    home = make_home(tmp)
    token = create_client(home, "agents")
    gateway = home.serve(tmp, config=CONFIG)
    yield Live(home, gateway, token, tmp)
    stop_gateway(gateway)


def _explain(result: subprocess.CompletedProcess[str], live: Live) -> str:
    """What a failure shows: the agent's exit, its output's end, the gateway's request log
    (which names refusals and findings by guard, kind and slot, never content)."""
    return (f"exit {result.returncode}\nstdout: {result.stdout[-1500:]}\n"
            f"stderr: {result.stderr[-1500:]}\ngateway log:\n{live.gateway.log()[-4000:]}")


def _answered(result: subprocess.CompletedProcess[str], live: Live) -> None:
    assert result.returncode == 0, _explain(result, live)
    assert MARKER in result.stdout, _explain(result, live)
    assert live.token not in result.stdout + result.stderr


def test_claude_code_with_its_default_model(live: Live) -> None:
    claude = _agent("claude")
    env = live.quiet_env(ANTHROPIC_BASE_URL=live.gateway.url, ANTHROPIC_API_KEY=live.token)
    _answered(live.run([str(claude), "-p", PROMPT], env), live)


def test_claude_code_under_gateway_run(live: Live) -> None:
    claude = _agent("claude")
    _answered(live.run(live.under_gateway_run(str(claude), "-p", PROMPT), live.quiet_env()),
              live)


def test_codex_exec(live: Live) -> None:
    codex = _agent("codex")
    overrides = [arg.replace('"OPENAI_API_KEY"', '"GATEWAY_KEY"')
                 for arg in codex_overrides(live.gateway.url)]
    env = live.quiet_env(GATEWAY_KEY=live.token)
    _answered(live.run([str(codex), *overrides, "exec", "--skip-git-repo-check",
                        "-m", "mock-echo", PROMPT], env), live)


def test_codex_exec_under_gateway_run(live: Live) -> None:
    codex = _agent("codex")
    _answered(live.run(live.under_gateway_run(str(codex), "exec", "--skip-git-repo-check",
                                              "-m", "mock-echo", PROMPT), live.quiet_env()),
              live)


# Codex offers built-in tools (web_search, a tool namespace) on every call; the Responses
# translation for Anthropic providers refuses those by name, so these of its own settings turn
# them off (README: Codex CLI). Its reasoning summary "auto" passes (the model may give none).
CODEX_FOR_ANTHROPIC = ["-c", 'web_search="disabled"', "-c", "features.multi_agent=false"]


def test_codex_exec_on_an_anthropic_provider(tmp_path: Path) -> None:
    """Codex's Responses calls translated to Anthropic's Messages API (a fake Anthropic
    server on loopback answers), client keys required, the default policy on."""
    codex = _agent("codex")
    home = make_home(tmp_path)
    token = create_client(home, "codex")
    key_file = tmp_path / "anthropic.key"
    key_file.write_text("sk-ant-live-" + "k" * 24 + "\n")
    key_file.chmod(0o600)
    with FakeUpstream("an", api_key="sk-ant-live-" + "k" * 24, kind="anthropic") as fake:
        config = (GatewayConfig()
                  .provider("an", "anthropic", base_url=fake.url, secret=f"file:{key_file}")
                  .model("house-claude", deployment("an", "claude-sonnet-4-5")))
        gateway = home.serve(tmp_path, config=config.toml())
        live = Live(home, gateway, token, tmp_path)
        try:
            overrides = [arg.replace('"OPENAI_API_KEY"', '"GATEWAY_KEY"')
                         for arg in codex_overrides(gateway.url)]
            result = live.run([str(codex), *overrides, *CODEX_FOR_ANTHROPIC, "exec",
                               "--skip-git-repo-check", "-m", "house-claude", PROMPT],
                              live.quiet_env(GATEWAY_KEY=token))
            _answered(result, live)
            assert [r.path for r in fake.requests] == ["/v1/messages"] * len(fake.requests)
            assert fake.requests and fake.requests[-1].json["stream"] is True
            # The provider gets the gateway's own key, never the client's.
            assert not any(token in str(r.headers) or token.encode() in r.body
                           for r in fake.requests)
        finally:
            stop_gateway(gateway)
