"""`gateway run -- CMD` against a running gateway that requires client keys.

CMD is a Python program that reports what it was given (its environment) and
calls the gateway with the official SDKs configured from that environment
alone, as any program run this way would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, free_port, stop_gateway
from tests.integration.test_client_keys import (
    SECOND_MODEL,
    Home,
    create_client,
    make_home,
    one_line_error,
    sdk,
    status_with,
)

PARENT_KEYS = {
    "OPENAI_API_KEY": "sk-parent-openai-" + "p" * 24,
    "ANTHROPIC_API_KEY": "sk-ant-parent-" + "a" * 24,
    "AZURE_OPENAI_API_KEY": "parent-azure-" + "z" * 24,
    "GEMINI_API_KEY": "parent-gemini-" + "g" * 24,
}
SHOWN = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY",
         "ANTHROPIC_API_KEY", "AZURE_OPENAI_API_KEY", "GEMINI_API_KEY", "GATEWAY_RUN_MARK")
# argv: exit code, "anthropic" or "-" (whether to call that SDK too), the models to ask.
CHILD = f"shown = {SHOWN!r}\nparent = {tuple(PARENT_KEYS.values())!r}\n" + """
import json, os, sys
import openai

answers = {}
client = openai.OpenAI(max_retries=0)
for model in sys.argv[3:]:
    try:
        completion = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "from the child"}])
        answers[model] = completion.choices[0].message.content
    except openai.APIStatusError as err:
        answers[model] = err.status_code
if sys.argv[2] == "anthropic":
    import anthropic

    message = anthropic.Anthropic(max_retries=0).messages.create(
        model=sys.argv[-1], max_tokens=20,
        messages=[{"role": "user", "content": "via anthropic"}])
    answers["anthropic"] = message.content[0].text
print(json.dumps({
    "env": {name: os.environ.get(name) for name in shown},
    "inherited": sorted(k for k, v in os.environ.items() if v in parent),
    "answers": answers,
}))
sys.exit(int(sys.argv[1]))
"""


@dataclass
class Setup:
    home: Home
    gateway: Gateway
    client_token: str

    def run(self, *args: str, exit_code: int = 0, models: tuple[str, ...] = ("mock/echo",),
            anthropic: bool = False) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """`gateway run [ARGS] -- python -c CHILD`; (the result, what the child reported)."""
        env = {**self.home.env, **PARENT_KEYS, "GATEWAY_RUN_MARK": "kept"}
        result = subprocess.run(
            [sys.executable, "-m", "gateway_cli", "run", "--url", self.gateway.url,
             *self.home.store_args, *args, "--", sys.executable, "-c", CHILD, str(exit_code),
             "anthropic" if anthropic else "-", *models],
            env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            check=False)
        assert result.stdout, result.stderr
        return result, json.loads(result.stdout)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("run")
    home = make_home(tmp)
    token = create_client(home, "app")  # the gateway enforces client keys
    gateway = home.serve(tmp, config=SECOND_MODEL)
    yield Setup(home, gateway, token)
    stop_gateway(gateway)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_cmd_gets_the_gateway_and_a_token_for_this_run_only(setup: Setup) -> None:
    assert status_with(setup.gateway, None) == 401  # a key is required here
    result, child = setup.run(exit_code=7, anthropic=True)
    assert result.returncode == 7, result.stderr  # CMD's own exit code
    # The first run made the signing key, and the gateway learnt it before CMD started.
    assert f"running gateway (gateway-{setup.gateway.process.pid}.sock): applied, reloaded " \
           "signing in " in result.stderr

    env = child["env"]
    assert env["OPENAI_BASE_URL"] == env["OPENAI_API_BASE"] == setup.gateway.url + "/v1"
    assert env["ANTHROPIC_BASE_URL"] == setup.gateway.url
    token = env["OPENAI_API_KEY"]
    assert env["ANTHROPIC_API_KEY"] == token
    assert len(token.split(".")) == 3 and all(token.split("."))
    assert claims(token)["sub"] == f"run:{Path(sys.executable).name}"
    # The provider keys of the parent are gone; the rest of its environment is not.
    assert child["inherited"] == []
    assert env["AZURE_OPENAI_API_KEY"] is None and env["GEMINI_API_KEY"] is None
    assert env["GATEWAY_RUN_MARK"] == "kept"
    for value in PARENT_KEYS.values():
        assert value not in result.stdout + result.stderr

    # Both SDKs reached the enforcing gateway with the run's token.
    assert child["answers"] == {"mock/echo": "from the child", "anthropic": "via anthropic"}

    # CMD has exited: its token was revoked on the way out.
    assert status_with(setup.gateway, token) == 401
    with pytest.raises(openai.AuthenticationError):
        sdk(setup.gateway, token).models.list()
    assert status_with(setup.gateway, setup.client_token) == 200


def test_models_scope(setup: Setup) -> None:
    result, child = setup.run("--models", "mock/second", models=("mock/echo", "mock/second"))
    assert result.returncode == 0, result.stderr
    assert child["answers"] == {"mock/echo": 403, "mock/second": "from the child"}
    assert claims(child["env"]["OPENAI_API_KEY"])["models"] == ["mock/second"]


def test_a_failing_cmd(setup: Setup) -> None:
    result = setup.home.run("run", "--url", setup.gateway.url, *setup.home.store_args, "--",
                            "no-such-program-for-gateway-run")
    assert one_line_error(result) == (
        "gateway: cannot run 'no-such-program-for-gateway-run': No such file or directory")
    killed = setup.home.run("run", "--url", setup.gateway.url, *setup.home.store_args, "--",
                            sys.executable, "-c", "import os, signal; "
                            "os.kill(os.getpid(), signal.SIGTERM)")
    assert killed.returncode == 128 + 15, killed.stderr


def test_no_gateway_at_url(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    result = home.run("run", "--url", url, *home.store_args, "--", sys.executable, "-c",
                      "print('must not run')")
    assert one_line_error(result) == (
        f"gateway: no gateway answers at {url}; start one with `gateway serve` (or pass --url)")
    assert result.stdout == ""  # CMD never ran


# A child that reports its token and pid, then waits (bounded) to be ended.
WAITING_CHILD = """
import os, sys, time
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(os.environ["OPENAI_API_KEY"] + " " + str(os.getpid()))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(30)
"""


def _start_waiting_run(setup: Setup, tmp_path: Path, *args: str,
                       ) -> tuple[subprocess.Popen[bytes], str, int]:
    report = tmp_path / "child.txt"
    parent = subprocess.Popen(
        [sys.executable, "-m", "gateway_cli", "run", "--url", setup.gateway.url,
         *setup.home.store_args, *args, "--", sys.executable, "-c", WAITING_CHILD,
         str(report)], env=setup.home.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not report.exists():
        assert time.monotonic() < deadline, "the child never reported"
        assert parent.poll() is None
        time.sleep(0.05)
    token, pid = report.read_text().split()
    return parent, token, int(pid)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie nobody reaped has ended all the same


def _until(check: Any, seconds: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_killed_gateway_run_takes_its_child_and_its_token_with_it(
        setup: Setup, tmp_path: Path) -> None:
    parent, token, child = _start_waiting_run(setup, tmp_path, "--lease", "3")
    try:
        assert status_with(setup.gateway, token) == 200
        assert claims(token)["lease"] is True
        os.kill(parent.pid, signal.SIGKILL)  # nothing it can observe, no revocation written
        parent.wait(timeout=5)
        _until(lambda: _gone(child), 5)  # the child got its parent-death signal
        # The lease is no longer renewed: refused within one lease period (3 s).
        waited = _until(lambda: status_with(setup.gateway, token) == 401, 8)
        assert waited < 5
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGUSR1, signal.SIGHUP])
def test_signals_are_forwarded_and_the_token_revoked(setup: Setup, tmp_path: Path,
                                                     sig: signal.Signals) -> None:
    parent, token, child = _start_waiting_run(setup, tmp_path)
    try:
        assert status_with(setup.gateway, token) == 200
        os.kill(parent.pid, sig)
        assert parent.wait(timeout=10) == 128 + sig  # the child died of the signal
        assert _gone(child)
        assert status_with(setup.gateway, token) == 401  # revoked on the way out
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_options_after_command_belong_to_command(setup: Setup) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway_cli", "run", "--url", setup.gateway.url,
         *setup.home.store_args, sys.executable, "-c",
         "import os, sys; print(sys.argv[1:], os.environ['OPENAI_BASE_URL'])",
         "--url", "http://127.0.0.1:9/elsewhere", "--models", "x"],
        env=setup.home.env, capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"['--url', 'http://127.0.0.1:9/elsewhere', '--models', 'x'] {setup.gateway.url}/v1")


def test_cmd_loses_every_variable_that_holds_or_names_a_provider_key(setup: Setup,
                                                                     tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[[providers]]\nname = "corp"\nkind = "openai"\n'
                      'secret = "env:CORP_LLM_CREDENTIAL"\n')
    extra = {
        "MY_ANTHROPIC_KEY": "sk-ant-api03-" + "m" * 93 + "AA",   # its name and its value say so
        "TEAM_OPENAI_TOKEN": "not-a-recognisable-format-" + "t" * 20,  # its name says so
        "UNRELATED_NAME": "sk-proj-u8jzPde0IgxLd6GncfBAepfJBd0Kh8o"
                          "OOL8dKLzdocJ2isAjIhKtJ0RlgLKOmxgJ",                 # its value
        "CORP_LLM_CREDENTIAL": "corp-" + "c" * 30,                # the config names it
        "GATEWAY_RUN_MARK": "kept",
    }
    script = ("import json, os; print(json.dumps({k: os.environ.get(k) for k in "
              f"{sorted(extra)!r}}}))")
    result = subprocess.run(
        [sys.executable, "-m", "gateway_cli", "run", "--url", setup.gateway.url,
         "--config", str(config), *setup.home.store_args, "--", sys.executable, "-c", script],
        env={**setup.home.env, **extra}, capture_output=True, text=True, timeout=60,
        check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {**{k: None for k in extra}, "GATEWAY_RUN_MARK": "kept"}
