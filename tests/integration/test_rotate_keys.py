"""`gateway rotate-keys` against one running gateway: client keys, provider keys, signing
keys and the emergency rotation, each applied without a restart.

The module shares one gateway, one fake provider that checks its API key and
one encrypted file store; the tests run in file order, each leaving the state
the next one expects (the emergency rotation, which revokes everything, is
last but one, then the check that no secret leaked anywhere on the way).
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Gateway, gateway_cmd, stop_gateway
from tests.fakes.upstream import FakeUpstream
from tests.integration.test_client_keys import (
    PASSPHRASE,
    Home,
    chat,
    create_client,
    make_home,
    notified,
    one_line_error,
    sdk,
    status_with,
)

OLD = "sk-rotate-old-" + "o" * 24 + "0ld1"
NEW = "sk-rotate-new-" + "n" * 24 + "n3w2"
NEWER = "sk-rotate-newer-" + "w" * 22 + "nwr3"
NOT_STORED = "sk-rotate-never-stored-" + "x" * 20
CLAUDE = "sk-ant-rotate-" + "c" * 24 + "cl4d"
PROVIDER_SECRETS = (OLD, NEW, NEWER, NOT_STORED, CLAUDE)
STATE_FILES = ("clients.json", "keys.json", "secrets.enc", "audit.jsonl")
# Prints the run token, then waits for its stdin to close: a program still running.
HOLD = "import os, sys; print(os.environ['OPENAI_API_KEY'], flush=True); sys.stdin.read()"


@dataclass
class Rotation:
    home: Home
    gateway: Gateway
    fake: FakeUpstream
    tmp: Path
    main: str  # the current token of the client key "main"
    outputs: list[str] = field(default_factory=list)  # everything any command printed

    def run(self, *args: str, input: str = "", store: bool = True
            ) -> subprocess.CompletedProcess[str]:
        result = self.home.run(*args, input=input, store=store)
        self.outputs += [result.stdout, result.stderr]
        return result

    def ask_provider(self, token: str | None = None) -> str | None:
        """A completion from the fake provider, through the gateway."""
        return chat(sdk(self.gateway, token or self.main), "fake/gpt")

    def snapshot(self) -> dict[str, bytes]:
        return {name: (self.home.path / name).read_bytes() for name in STATE_FILES}

    def start_run(self) -> tuple[subprocess.Popen[str], str]:
        """`gateway run` around a program that holds on; (process, its token)."""
        process = subprocess.Popen(
            gateway_cmd("run", "--url", self.gateway.url, *self.home.store_args, "--",
                        sys.executable, "-c", HOLD),
            env=self.home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None
        token = process.stdout.readline().strip()
        assert token.count(".") == 2, process.stderr.read() if process.stderr else ""
        return process, token

    def end_run(self, process: subprocess.Popen[str]) -> None:
        out, err = process.communicate(input="", timeout=20)
        self.outputs += [out, err]
        assert process.returncode == 0, err


@pytest.fixture(scope="module")
def rot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotation]:
    tmp = tmp_path_factory.mktemp("rotate")
    fake = FakeUpstream("up", api_key=OLD).start()
    home = make_home(tmp)
    for provider, name, value in (("openai", "upkey", OLD), ("anthropic", "claude", CLAUDE)):
        added = home.run("keys", "add", provider, "--name", name, input=value + "\n",
                         store=True)
        assert added.returncode == 0, added.stderr
    main = create_client(home, "main")
    config = f"""
[server]
log_level = "debug"

[mock]
enabled = true

[[providers]]
name = "up"
kind = "openai"
base_url = "{fake.url}/v1"
secret = "store:upkey"

[[models]]
name = "fake/gpt"
deployments = [{{ provider = "up", model = "gpt-4o-mini" }}]
"""
    gateway = home.serve(tmp, config=config)
    yield Rotation(home, gateway, fake, tmp, main)
    stop_gateway(gateway)
    fake.stop()


def read_tokens(path: Path) -> dict[str, str]:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens = json.loads(path.read_text())
    assert isinstance(tokens, dict)
    return tokens


# ----------------------------------------------------------------- client keys


def test_rotated_client_key_is_void_when_the_command_returns(rot: Rotation) -> None:
    old = create_client(rot.home, "app")
    assert status_with(rot.gateway, old) == 200
    output = rot.tmp / "app-1.json"
    result = rot.run("rotate-keys", "--clients", "app", "--output", str(output), store=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # the token went to the file only
    assert notified(result, rot.gateway).startswith("applied, reloaded clients in ")
    new = read_tokens(output)["app"]
    # No sleep: the gateway applied the rotation before the command returned.
    assert status_with(rot.gateway, old) == 401
    assert status_with(rot.gateway, new) == 200


def test_rotated_client_key_with_grace(rot: Rotation) -> None:
    old = create_client(rot.home, "graceful")
    output = rot.tmp / "graceful.json"
    before = time.time()
    result = rot.run("rotate-keys", "--clients", "graceful", "--grace", "2",
                     "--output", str(output), store=False)
    after = time.time()
    assert result.returncode == 0, result.stderr
    new = read_tokens(output)["graceful"]
    assert status_with(rot.gateway, new) == 200
    assert status_with(rot.gateway, old) == 200
    listed = json.loads(rot.run("clients", "list", "--format", "json", store=False).stdout)
    states = {c["state"]: c for c in listed if c["name"] == "graceful"}
    assert states["grace"]["revoked"] == pytest.approx(states["active"]["created"] + 2)
    while status_with(rot.gateway, old) == 200:
        assert time.time() < after + 4, "the old key outlived its grace period"
        time.sleep(0.05)
    assert time.time() >= before + 2  # not before the grace period was over
    assert status_with(rot.gateway, new) == 200


def test_rotation_under_load(rot: Rotation) -> None:
    """Requests racing a rotation get 200 or 401, never an error; none after it gets in."""
    token = create_client(rot.home, "busy")
    stop = threading.Event()
    body = {"model": "mock/echo", "messages": [{"role": "user", "content": "load"}]}

    def worker() -> list[tuple[float, int | str]]:
        seen: list[tuple[float, int | str]] = []
        with httpx.Client(base_url=rot.gateway.url, timeout=10,
                          headers={"authorization": f"Bearer {token}"}) as client:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    seen.append((started, client.post("/v1/chat/completions",
                                                      json=body).status_code))
                except httpx.HTTPError as err:
                    seen.append((started, repr(err)))
        return seen

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(worker) for _ in range(4)]
        try:
            time.sleep(0.3)
            result = rot.run("rotate-keys", "--clients", "busy", store=False)
            returned = time.monotonic()
            time.sleep(0.5)
        finally:
            stop.set()
        seen = [entry for future in futures for entry in future.result(timeout=30)]
    assert result.returncode == 0, result.stderr
    outcomes = {outcome for _, outcome in seen}
    assert outcomes <= {200, 401}, outcomes
    assert any(s < returned and o == 200 for s, o in seen)
    late = [o for s, o in seen if s > returned]
    assert late and set(late) == {401}


# --------------------------------------------------------------- provider keys


def test_provider_rotation_with_grace_falls_back_to_the_old_secret(rot: Rotation) -> None:
    assert rot.ask_provider() == "up: hello gateway"
    result = rot.run("rotate-keys", "--provider", "upkey", "--grace", "30", input=NEW + "\n")
    assert result.returncode == 0, result.stderr
    assert "rotated provider key upkey (now …n3w2); the old one serves for 30 s more" \
        in result.stderr
    assert notified(result, rot.gateway).startswith("applied, reloaded secrets in ")

    # The provider does not know the new key yet: the old one still serves.
    sent = len(rot.fake.requests)
    assert rot.ask_provider() == "up: hello gateway"
    keys_sent = [r.headers["authorization"] for r in rot.fake.requests[sent:]]
    assert keys_sent == [f"Bearer {NEW}", f"Bearer {OLD}"]
    # Loudly: a warning now, and /health says so to a loopback caller, before the grace
    # ends and the outage starts.
    assert "provider 'up' rejected its current key (HTTP 401); the previous key serves " \
        "until" in rot.gateway.log()
    warnings = httpx.get(rot.gateway.url + "/health", timeout=5).json()["warnings"]
    assert any("provider 'up' refuses its current key" in w for w in warnings)
    assert NEW not in rot.gateway.log() and OLD not in str(warnings)

    rot.fake.api_key = NEW  # the new key is live at the provider, the old one revoked
    sent = len(rot.fake.requests)
    assert rot.ask_provider() == "up: hello gateway"
    assert [r.headers["authorization"] for r in rot.fake.requests[sent:]] == [f"Bearer {NEW}"]


def test_provider_rotation_without_grace(rot: Rotation) -> None:
    rot.fake.api_key = NEWER
    result = rot.run("rotate-keys", "--provider", "upkey", input=NEWER + "\n")
    assert result.returncode == 0, result.stderr
    sent = len(rot.fake.requests)
    assert rot.ask_provider() == "up: hello gateway"  # applied without a restart
    assert [r.headers["authorization"] for r in rot.fake.requests[sent:]] == [
        f"Bearer {NEWER}"]

    # No grace: the previous secret is gone, so a provider that wants it gets nothing.
    rot.fake.api_key = NEW
    try:
        with pytest.raises(openai.APIStatusError):
            rot.ask_provider()
        assert f"Bearer {NEW}" not in {r.headers["authorization"]
                                       for r in rot.fake.requests[sent:]}
    finally:
        rot.fake.api_key = NEWER
    assert rot.ask_provider() == "up: hello gateway"


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(("args", "message"), [
    ((), "say what to rotate"),
    (("--emergency",), "--emergency goes with --all"),
    (("--emergency", "--clients", "main"), "--emergency goes with --all"),
    (("--all", "--emergency", "--grace", "5", "--yes"), "--emergency has no grace period"),
])
def test_usage_errors(rot: Rotation, args: tuple[str, ...], message: str) -> None:
    before = rot.snapshot()
    assert message in one_line_error(rot.run("rotate-keys", *args), code=2)
    assert rot.snapshot() == before


def test_unknown_provider_changes_nothing(rot: Rotation) -> None:
    before = rot.snapshot()
    result = rot.run("rotate-keys", "--provider", "unknown", input=NOT_STORED + "\n")
    assert one_line_error(result) == (
        "gateway: no stored key named 'unknown'; add it with `gateway keys add PROVIDER "
        "--name unknown`")
    assert rot.snapshot() == before


def test_empty_stdin_for_a_provider_changes_nothing(rot: Rotation) -> None:
    before = rot.snapshot()
    for stdin in ("", "\n", "   \n"):
        result = rot.run("rotate-keys", "--provider", "upkey", input=stdin)
        assert one_line_error(result).startswith("gateway: no new key for upkey given")
    assert rot.snapshot() == before
    assert rot.ask_provider() == "up: hello gateway"


@pytest.mark.parametrize("args", [
    ("--provider", "upkey"),
    ("--signing",),
    ("--clients", "main", "--signing"),
    ("--all",),
    ("--all", "--emergency", "--yes"),
], ids=["provider", "signing", "clients+signing", "all", "emergency"])
def test_wrong_passphrase_changes_nothing(rot: Rotation, args: tuple[str, ...]) -> None:
    wrong = rot.tmp / "wrong-passphrase"
    wrong.write_bytes(b"not-the-passphrase\n")
    wrong.chmod(0o600)
    before = rot.snapshot()
    result = rot.run("rotate-keys", *args, "--secrets", "file", "--passphrase-file", str(wrong),
                     input=NOT_STORED + "\n", store=False)
    assert one_line_error(result).startswith("gateway: wrong passphrase for ")
    assert result.stdout == ""
    assert rot.snapshot() == before
    assert status_with(rot.gateway, rot.main) == 200


def test_all_without_any_secret_store_still_rotates_client_keys(tmp_path: Path) -> None:
    """No keyring and no encrypted file: no signing keys exist, client keys still rotate."""
    home = make_home(tmp_path)
    (home.path / "secrets.enc").unlink()
    old = create_client(home, "solo", store=False)
    result = home.run("rotate-keys", "--all")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("gateway: no secret store, so no signing keys to rotate ")
    name, token = result.stdout.split()
    assert name == "solo" and token.startswith("gwk_") and token != old


# ---------------------------------------------------- signing keys, emergency


def test_signing_rotation_voids_run_tokens(rot: Rotation) -> None:
    process, token = rot.start_run()
    try:
        assert status_with(rot.gateway, token) == 200
        result = rot.run("rotate-keys", "--signing")
        assert result.returncode == 0, result.stderr
        assert "; tokens signed by the old ones are void" in result.stderr
        assert notified(result, rot.gateway).startswith("applied, reloaded clients, signing ")
        assert status_with(rot.gateway, token) == 401
        assert status_with(rot.gateway, rot.main) == 200  # client keys are not signed
    finally:
        rot.end_run(process)


def test_emergency_rotation(rot: Rotation) -> None:
    second = create_client(rot.home, "second")
    graced = rot.tmp / "second-grace.json"
    assert rot.run("rotate-keys", "--clients", "second", "--grace", "600", "--output",
                   str(graced)).returncode == 0
    in_grace, second = second, read_tokens(graced)["second"]
    process, run_token = rot.start_run()
    try:
        old = {"main": rot.main, "second": second, "in grace": in_grace, "run": run_token}
        assert {name: status_with(rot.gateway, t) for name, t in old.items()} == dict.fromkeys(
            old, 200)

        output = rot.tmp / "emergency.json"
        result = rot.run("rotate-keys", "--all", "--emergency", "--yes", "--output",
                         str(output))
        assert result.returncode == 0, result.stderr
        assert notified(result, rot.gateway).startswith("applied, reloaded clients, signing")
        # Every outstanding token is void at once, run tokens and grace periods included.
        assert {name: status_with(rot.gateway, t) for name, t in old.items()} == dict.fromkeys(
            old, 401)
        issued = read_tokens(output)
        assert {"main", "second"} <= set(issued)  # and every other live client key
        assert all(status_with(rot.gateway, t) == 200 for t in issued.values())
        rot.main = issued["main"]
        assert rot.ask_provider() == "up: hello gateway"
    finally:
        rot.end_run(process)

    done = re.search(r"^done in (\d+\.\d+) s$", result.stderr, re.MULTILINE)
    assert done is not None, result.stderr
    assert float(done.group(1)) < 5
    checklist = result.stderr[done.end():]
    assert "  [ ] claude (anthropic, key …cl4d): https://console.anthropic.com/settings/keys" \
        in checklist
    assert "  [ ] upkey (openai, key …nwr3): https://platform.openai.com/api-keys" in checklist

    records = [json.loads(line) for line in
               (rot.home.path / "audit.jsonl").read_text().splitlines()]
    emergency = [r for r in records if r["event"] == "emergency.rotation"]
    assert len(emergency) == 1
    assert emergency[0]["data"]["provider_keys_to_revoke"] == ["claude", "upkey"]
    audit = rot.run("keys", "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.strip().endswith("; intact")


def test_no_provider_secret_anywhere(rot: Rotation) -> None:
    """Across the module: not in any output, the gateway's log, argv or environment."""
    pid = rot.gateway.process.pid
    places = {
        "command output": "\n".join(rot.outputs),
        "gateway log": rot.gateway.log(),
        "gateway argv": Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"),
        "gateway environment": Path(f"/proc/{pid}/environ").read_bytes().decode(
            errors="replace"),
        **{name: (rot.home.path / name).read_text(errors="replace")
           for name in ("keys.json", "audit.jsonl", "clients.json")},
    }
    assert rot.outputs
    for where, text in places.items():
        for value in (*PROVIDER_SECRETS, PASSPHRASE.decode()):
            assert value not in text, f"a secret is in the {where}"
    assert rot.gateway.process.poll() is None
