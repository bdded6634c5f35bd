"""Client keys (`gateway clients`) against a running gateway, driven by the official SDKs.

One gateway serves most of the module: its client keys are created before it
starts, and the tests that change state (a key created or expiring while it
runs, a corrupt clients.json) use keys of their own. The tests that need a
gateway with no client key at all start their own.

The helpers at the top (a state directory with a fast encrypted file store,
the one-line error check) are shared by the other key-management modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from gateway_cli.keys.encrypted_file import LOG2_N_RANGE, EncryptedFileStore
from tests.conftest import (
    Gateway,
    clear_of_minute_edge,
    free_port,
    run_gateway,
    start_gateway,
    stop_gateway,
)

# A session bus address that leads nowhere: commands that look for the OS keyring
# (the audit log's signing key, `--secrets auto`) never reach the developer's.
NO_BUS = "unix:path=/nonexistent/gateway-test-bus"
PASSPHRASE = b"key-tests-passphrase-" + b"p" * 11
MESSAGES = [{"role": "user", "content": "hello gateway"}]
SECOND_MODEL = """
[[models]]
name = "mock/second"
deployments = [{ provider = "mock", model = "echo" }]
"""


@dataclass
class Home:
    """A gateway state directory, and the environment every command of a test uses."""

    path: Path
    env: dict[str, str]
    passphrase_file: Path = field(default_factory=Path)

    @property
    def store_args(self) -> list[str]:
        return ["--secrets", "file", "--passphrase-file", str(self.passphrase_file)]

    def run(self, *args: str, input: str = "", store: bool = False,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """`gateway ARGS` with stdin `input` (never a terminal); `store`: the file store."""
        return run_gateway(*args, *(self.store_args if store else ()), input=input,
                           env=self.env, timeout=timeout)

    def serve(self, tmp: Path, *extra: str, config: str | None = None) -> Gateway:
        """`gateway serve` on this state directory and its encrypted file store."""
        return start_gateway(tmp, *extra, *self.store_args, config=config, env=self.env)


def make_home(root: Path, *, base_env: dict[str, str] | None = None) -> Home:
    """A 0700 state directory holding an empty encrypted file store and its 0600 key file.

    The store is created here with scrypt's lowest accepted cost (it is kept in the
    file's header), so each command opens it in milliseconds instead of a second.
    """
    path = root / "gateway-home"
    path.mkdir(mode=0o700)
    EncryptedFileStore(path / "secrets.enc", PASSPHRASE, log2_n=min(LOG2_N_RANGE)).create()
    passphrase_file = root / "passphrase"
    passphrase_file.write_bytes(PASSPHRASE + b"\n")
    passphrase_file.chmod(0o600)
    if base_env is None:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
        base_env["DBUS_SESSION_BUS_ADDRESS"] = NO_BUS
    env = {**base_env, "GATEWAY_HOME": str(path)}
    return Home(path, env, passphrase_file)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The single `gateway: ...` line of a failed command (no traceback, nothing else)."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gateway: "), result.stderr
    return lines[0]


def create_client(home: Home, name: str, *extra: str, store: bool = True) -> str:
    """`gateway clients create` with the home's store (it may hold the audit key)."""
    result = home.run("clients", "create", name, *extra, store=store)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("gwk_") and len(token) == 4 + 12 + 1 + 43
    return token


def status_with(gateway: Gateway, token: str | None, model: str = "mock/echo") -> int:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(gateway.url + "/v1/chat/completions", headers=headers, timeout=10,
                      json={"model": model, "messages": MESSAGES}).status_code


def sdk(gateway: Gateway, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0)


def chat(client: openai.OpenAI, model: str = "mock/echo") -> str | None:
    completion = client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    return completion.choices[0].message.content


def notified(result: subprocess.CompletedProcess[str], gateway: Gateway) -> str:
    """The line in which a command reports what `gateway` did with its notification."""
    prefix = f"running gateway (gateway-{gateway.process.pid}.sock): "
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, result.stderr
    return lines[0][len(prefix):]


# ------------------------------------------------------------ no client key yet


def test_without_client_keys_loopback_is_open_and_the_first_key_locks_it(
        tmp_path: Path) -> None:
    home = make_home(tmp_path)
    gateway = home.serve(tmp_path)
    try:
        assert "no client keys exist: every process on this machine can use this gateway " \
               "without a key" in gateway.log()
        assert chat(sdk(gateway, "anything")) == "hello gateway"
        assert status_with(gateway, None) == 200

        created = home.run("clients", "create", "first", store=True)
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()
        # Applied by the running gateway before the command returned: no restart, no wait.
        assert notified(created, gateway).startswith("applied, reloaded clients in ")
        with pytest.raises(openai.AuthenticationError) as info:
            chat(sdk(gateway, "anything"))
        assert info.value.status_code == 401
        assert status_with(gateway, None) == 401
        assert chat(sdk(gateway, token)) == "hello gateway"
        assert gateway.process.poll() is None
    finally:
        stop_gateway(gateway)


def test_no_client_keys_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    port = free_port()
    result = run_gateway("serve", "--host", "0.0.0.0", "--port", str(port), "--verify", "off",
                         env=home.env, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("gateway: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("gateway: refusing to listen on 0.0.0.0 with no client keys")
    # Everything else on stderr is the log of the start-up steps before the refusal.
    others = [line for line in result.stderr.splitlines() if not line.startswith("gateway: ")]
    assert all(" WARNING gateway.verify: " in line for line in others), result.stderr
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


# ------------------------------------------------- one gateway, keys made first


@dataclass
class Keys:
    home: Home
    gateway: Gateway
    tokens: dict[str, str]
    issued: list[str]  # every token this module ever saw, for the leak checks


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    root = tmp_path_factory.mktemp("client-keys")
    home = make_home(root)
    tokens = {
        "full": create_client(home, "full"),
        "scoped": create_client(home, "scoped", "--models", "mock/second"),
        "limited": create_client(home, "limited", "--rpm", "3"),
        "revoked": create_client(home, "revoked"),
    }
    revoked = home.run("clients", "revoke", "revoked", store=True)
    assert revoked.returncode == 0, revoked.stderr
    gateway = home.serve(root, config=SECOND_MODEL + '[server]\nlog_level = "debug"\n')
    yield Keys(home, gateway, tokens, list(tokens.values()))
    stop_gateway(gateway)


def test_openai_sdk_needs_a_valid_key(keys: Keys) -> None:
    client = sdk(keys.gateway, "no-key")
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="mock/echo", messages=MESSAGES,  # type: ignore[arg-type]
                                       extra_headers={"Authorization": openai.Omit()})
    assert info.value.status_code == 401
    assert info.value.code == "missing_api_key"
    assert info.value.response.headers["www-authenticate"] == 'Bearer realm="gateway"'

    full = keys.tokens["full"]
    wrong = full[:-4] + ("AAAA" if not full.endswith("AAAA") else "BBBB")
    for token in ("sk-not-a-gateway-key", wrong, keys.tokens["revoked"]):
        with pytest.raises(openai.AuthenticationError) as info:
            chat(sdk(keys.gateway, token))
        assert info.value.status_code == 401
        assert info.value.code == "invalid_api_key"
        assert info.value.type == "authentication_error"

    assert chat(sdk(keys.gateway, full)) == "hello gateway"
    assert [m.id for m in sdk(keys.gateway, full).models.list()] == ["mock-echo", "mock/echo",
                                                                     "mock/second"]


def test_anthropic_sdk_with_x_api_key(keys: Keys) -> None:
    def ask(token: str) -> anthropic.types.Message:
        client = anthropic.Anthropic(base_url=keys.gateway.url, api_key=token, max_retries=0)
        return client.messages.create(model="mock/echo", max_tokens=50, messages=MESSAGES)  # type: ignore[arg-type]

    with pytest.raises(anthropic.AuthenticationError) as info:
        ask("gwk_wrong")
    assert info.value.status_code == 401
    # Anthropic's own error shape, so Anthropic clients report it as they would the API's.
    assert info.value.body == {"type": "error", "error": {
        "type": "authentication_error",
        "message": "the gateway key is invalid, expired or revoked"}}
    with pytest.raises(anthropic.AuthenticationError):
        ask(keys.tokens["revoked"])

    answer = ask(keys.tokens["full"])
    assert answer.content[0].type == "text" and answer.content[0].text == "hello gateway"


def test_models_scope(keys: Keys) -> None:
    client = sdk(keys.gateway, keys.tokens["scoped"])
    with pytest.raises(openai.PermissionDeniedError) as info:
        chat(client, "mock/echo")
    assert info.value.status_code == 403
    assert info.value.code == "model_not_allowed"
    assert chat(client, "mock/second") == "hello gateway"
    assert [m.id for m in client.models.list()] == ["mock/second"]


def test_requests_per_minute(keys: Keys) -> None:
    clear_of_minute_edge()
    client = sdk(keys.gateway, keys.tokens["limited"])
    for _ in range(3):
        assert chat(client) == "hello gateway"
    with pytest.raises(openai.RateLimitError) as info:
        chat(client)
    assert info.value.status_code == 429
    assert info.value.code == "rate_limit_exceeded"
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 61
    # The limit is the key's own: another key is not slowed down.
    assert chat(sdk(keys.gateway, keys.tokens["full"])) == "hello gateway"


def test_expiry(keys: Keys) -> None:
    past = keys.home.run("clients", "create", "late", "--expires", "2020-01-31", store=True)
    assert "the expiry is in the past" in one_line_error(past, code=2)
    assert not any(c["name"] == "late" for c in json.loads(
        keys.home.run("clients", "list", "--all", "--format", "json").stdout))

    token = create_client(keys.home, "brief", "--expires", "2s")
    keys.issued.append(token)
    assert status_with(keys.gateway, token) == 200
    listed = json.loads(keys.home.run("clients", "list", "--format", "json").stdout)
    (brief,) = [c for c in listed if c["name"] == "brief"]
    assert brief["state"] == "active"
    assert 1.5 < brief["expires"] - brief["created"] <= 2
    time.sleep(max(0.0, brief["expires"] + 0.1 - time.time()))
    assert status_with(keys.gateway, token) == 401
    listed = json.loads(keys.home.run("clients", "list", "--all", "--format", "json").stdout)
    assert [c["state"] for c in listed if c["name"] == "brief"] == ["expired"]


@pytest.mark.parametrize("headers", [
    pytest.param(lambda t: {"authorization": f"Basic {t}"}, id="basic-scheme"),
    pytest.param(lambda t: {"authorization": f"Token {t}"}, id="token-scheme"),
    pytest.param(lambda t: {"authorization": "Bearer"}, id="empty-bearer"),
    pytest.param(lambda t: {"authorization": f"Bearer {t[:-1]}"}, id="truncated"),
    pytest.param(lambda t: {"authorization": f"Bearer {t[:20]}"}, id="prefix-only"),
    pytest.param(lambda t: {"authorization": "Bearer gwk_" + "A" * 10240}, id="10k-garbage"),
    pytest.param(lambda t: {"x-api-key": os.urandom(5120).hex()}, id="10k-x-api-key"),
    pytest.param(lambda t: {"api-key": t.upper()}, id="wrong-case-api-key"),
])
def test_malformed_credentials_are_401_and_the_gateway_carries_on(
        keys: Keys, headers: Callable[[str], dict[str, str]]) -> None:
    full = keys.tokens["full"]
    response = httpx.post(keys.gateway.url + "/v1/chat/completions", headers=headers(full),
                          json={"model": "mock/echo", "messages": MESSAGES}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert keys.gateway.process.poll() is None
    assert httpx.get(keys.gateway.url + "/health", timeout=5).status_code == 200
    assert status_with(keys.gateway, full) == 200


def test_tokens_are_kept_nowhere_in_clear(keys: Keys) -> None:
    home, gateway = keys.home, keys.gateway
    listings = [home.run("clients", "list", *args)
                for args in ((), ("--all",), ("--format", "json"), ("--all", "--format", "json"))]
    assert all(r.returncode == 0 for r in listings)
    clients_json = (home.path / "clients.json").read_text()
    audit_log = (home.path / "audit.jsonl").read_text()
    pid = gateway.process.pid
    process_text = (Path(f"/proc/{pid}/cmdline").read_bytes()
                    + Path(f"/proc/{pid}/environ").read_bytes()).decode(errors="replace")
    places = {"gateway log": gateway.log(), "clients.json": clients_json,
              "audit log": audit_log, "process": process_text,
              **{f"clients list #{i}": r.stdout + r.stderr for i, r in enumerate(listings)}}
    assert len(keys.issued) >= 5
    for token in keys.issued:
        secret_part = token.split("_", 2)[2]
        for where, text in places.items():
            assert secret_part not in text, f"a client token is in the {where}"
    # Only each token's SHA-256 is stored.
    digests = {c["digest"] for c in json.loads(clients_json)["clients"]}
    assert {hashlib.sha256(t.encode()).hexdigest() for t in keys.issued} <= digests
    assert PASSPHRASE.decode() not in process_text

    assert stat.S_IMODE(home.path.stat().st_mode) == 0o700
    for name in ("clients.json", "audit.jsonl", "secrets.enc"):
        assert stat.S_IMODE((home.path / name).stat().st_mode) == 0o600, name
    run_dir = home.path / "run"
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / f"gateway-{pid}.sock").stat().st_mode) == 0o600


def test_corrupt_clients_json(keys: Keys) -> None:
    """Last in the module: a reload of a broken file keeps the keys in force."""
    path = keys.home.path / "clients.json"
    good = path.read_bytes()
    try:
        path.write_bytes(b"\x00{garbage written over clients.json")
        listed = keys.home.run("clients", "list")
        assert one_line_error(listed) == (
            f"gateway: {path} is not valid JSON (edited by hand or corrupted); restore it "
            "from a backup or remove it")

        # Any command that makes the gateway reload its client keys: here a new signing key.
        rotated = keys.home.run("rotate-keys", "--signing", store=True)
        assert "Traceback" not in rotated.stderr
        answer = notified(rotated, keys.gateway)
        assert answer.startswith("FAILED, ") and "clients.json" in answer, answer
        assert keys.gateway.process.poll() is None
        assert status_with(keys.gateway, keys.tokens["full"]) == 200
        assert status_with(keys.gateway, keys.tokens["revoked"]) == 401
        assert status_with(keys.gateway, None) == 401
    finally:
        path.write_bytes(good)


def test_output_refuses_an_existing_file_before_creating_anything(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    existing = tmp_path / "tokens.json"
    existing.write_text("keep me")
    for args in (["clients", "create", "app", "--output", str(existing)],
                 ["rotate-keys", "--clients", "app", "--output", str(existing), "--yes"]):
        result = home.run(*args)
        assert result.returncode == 2, result.stderr
        assert "already exists" in result.stderr
        assert "Traceback" not in result.stderr
    assert existing.read_text() == "keep me"
    listing = home.run("clients", "list", "--all")
    assert "app" not in listing.stdout


def test_client_events_are_signed_with_the_file_store_or_refused(tmp_path: Path) -> None:
    """The audit key lives in the encrypted file: client commands open it to sign, and
    without its passphrase they refuse before changing anything."""
    home = make_home(tmp_path)
    assert home.run("rotate-keys", "--signing", "--yes", store=True).returncode == 0
    added = home.run("keys", "add", "openai", input="sk-" + "a" * 40 + "\n", store=True)
    assert added.returncode == 0, added.stderr
    log = home.path / "audit.jsonl"
    create_client(home, "signed")
    refused = home.run("clients", "create", "unsigned")  # no passphrase: cannot sign
    assert "the audit log is signed and this change must be too" in one_line_error(refused)
    assert "unsigned" not in home.run("clients", "list", "--all").stdout  # nothing changed
    refused = home.run("clients", "revoke", "signed")
    assert refused.returncode == 1 and "nothing was changed" in refused.stderr
    assert home.run("clients", "revoke", "signed", store=True).returncode == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    client_events = [r for r in records if r["event"].startswith("client.")]
    assert [r["event"] for r in client_events] == ["client.created", "client.revoked"]
    assert all(r["kid"] and r["mac"] for r in records[1:])
    audit = home.run("keys", "audit", store=True)
    assert audit.returncode == 0 and audit.stdout.rstrip().endswith("intact"), audit.stdout


def test_keys_audit_fails_when_a_change_could_not_be_recorded(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    assert home.run("rotate-keys", "--signing", "--yes", store=True).returncode == 0
    create_client(home, "first")
    log = home.path / "audit.jsonl"
    log.write_bytes(log.read_bytes() + b'{"partial')  # a crash left half a line
    revoked = home.run("clients", "revoke", "first", store=True)
    assert revoked.returncode == 0  # the revocation itself is never blocked by the log
    assert "warning: the audit log was not written" in revoked.stderr
    audit = home.run("keys", "audit", store=True)
    assert audit.returncode == 1
    assert "a client.revoked record could not be written" in audit.stdout
    assert "1 change(s) missing from it" in audit.stdout
