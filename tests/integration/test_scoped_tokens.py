"""Scoped tokens (`gateway tokens`) and client-key scopes against one running gateway.

The module shares one gateway (built-in mock model, a client key so that it
enforces keys) on an encrypted file store. Tokens the verifier must refuse
are signed here with the gateway's real current key, read from that store, so
each one fails for exactly the rule it breaks. The tests run in file order:
the signing-key rotations come last but one, then the check that no token
text reached argv, an environment, a log, the audit log or a listing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway_cli.keys import issued, jwt, signing
from gateway_cli.keys.encrypted_file import EncryptedFileStore
from tests.conftest import Gateway, stop_gateway
from tests.integration.test_client_keys import (
    MESSAGES,
    PASSPHRASE,
    Home,
    chat,
    create_client,
    make_home,
    notified,
    one_line_error,
    sdk,
)

MODEL = "mock/echo"


@dataclass
class Setup:
    home: Home
    gateway: Gateway
    tokens: list[str] = field(default_factory=list)  # every token made in the module
    outputs: list[str] = field(default_factory=list)  # everything a command printed

    def run(self, *args: str, store: bool = False) -> Any:
        result = self.home.run(*args, store=store)
        self.outputs += [result.stdout, result.stderr]
        return result

    def issue(self, *args: str) -> str:
        result = self.run("tokens", "issue", *args, store=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("\n") == 1, "stdout holds the token alone"
        token = str(result.stdout.strip())
        assert token.count(".") == 2
        self.tokens.append(token)
        return token

    def current_key(self) -> signing.KeyEntry:
        store = EncryptedFileStore(self.home.path / "secrets.enc", PASSPHRASE)
        entry = signing.load(store).current("tokens")
        assert entry is not None
        return entry

    def forge(self, claims: dict[str, Any], *, header: str | None = None,
              key: bytes | None = None) -> str:
        """A token of exactly these claims (and header text), signed with the real key."""
        entry = self.current_key()
        head_text = header if header is not None else json.dumps(
            {"alg": "HS256", "typ": "JWT", "kid": entry.kid})
        head = _b64(head_text.encode())
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(key or entry.key, f"{head}.{body}".encode(),
                            hashlib.sha256).digest())
        token = f"{head}.{body}.{sig}"
        self.tokens.append(token)
        return token


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jti(token: str) -> str:
    body = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["jti"])


def _claims(**over: Any) -> dict[str, Any]:
    now = time.time()
    claims = issued.claims_for("forged", ("mcp:fs:read_*",), (MODEL,), 600, now,
                               "f" * 24)
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("scoped")
    home = make_home(tmp)
    assert home.run("rotate-keys", "--signing", store=True).returncode == 0
    create_client(home, "main")  # keys are enforced: a refused token is never "open"
    gateway = home.serve(tmp)
    yield Setup(home, gateway)
    stop_gateway(gateway)


def _post(setup: Setup, token: str, header: str = "authorization") -> httpx.Response:
    value = f"Bearer {token}" if header == "authorization" else token
    return httpx.post(setup.gateway.url + "/v1/chat/completions", headers={header: value},
                      json={"model": MODEL, "messages": MESSAGES}, timeout=10)


def _refused(setup: Setup, token: str) -> None:
    """401 in the OpenAI error format, and not a character of the token echoed."""
    answer = _post(setup, token)
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert "invalid, expired or revoked" in error["message"]
    for part in token.split("."):
        if len(part) > 8:
            assert part not in answer.text


# ------------------------------------------------------------ issuing and using


def test_an_issued_token_calls_a_granted_model_through_the_openai_sdk(setup: Setup) -> None:
    token = setup.issue("--scope", "mcp:fs:read_*", "--scope", "mcp:fs:list_*",
                        "--ttl", "600", "--name", "ci-agent", "--models", MODEL)
    assert chat(sdk(setup.gateway, token)) == "hello gateway"
    assert _post(setup, token, "x-api-key").status_code == 200  # as client keys allow
    listed = json.loads(setup.run("tokens", "list", "--format", "json").stdout)
    mine = next(r for r in listed if r["jti"] == _jti(token))
    assert (mine["name"], mine["scopes"], mine["models"], mine["state"]) == (
        "ci-agent", ["mcp:fs:read_*", "mcp:fs:list_*"], [MODEL], "active")
    assert mine["expires"] - mine["issued"] == 600
    text = setup.run("tokens", "list").stdout
    assert _jti(token) in text and "ci-agent" in text and "mcp:fs:list_*" in text


def test_a_token_without_models_reaches_no_model(setup: Setup) -> None:
    token = setup.issue("--scope", "mcp:fs:read_*")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(sdk(setup.gateway, token))
    assert caught.value.status_code == 403 and "may not use the model" in str(caught.value)


def test_output_file_holds_the_token_and_stdout_nothing(setup: Setup, tmp_path: Path) -> None:
    out = tmp_path / "agent.token"
    result = setup.run("tokens", "issue", "--scope", "mcp:fs:*", "--models", MODEL,
                       "--output", str(out), store=True)
    assert result.returncode == 0 and result.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600
    token = out.read_text().strip()
    setup.tokens.append(token)
    assert _jti(token) in result.stderr and token not in result.stderr
    assert _post(setup, token).status_code == 200


@pytest.mark.parametrize(("args", "message"), [
    (("--scope", "mcp:fs"), "--scope: scope 'mcp:fs' is not of the form mcp:<server>:<tool>"),
    (("--scope", "mcp:fs:read x"), "outside printable ASCII"),
    (("--ttl", "86401"), "--ttl must be 10 to 86400 seconds"),
    (("--ttl", "0"), "--ttl must be 10 to 86400 seconds"),
    (("--name", "no spaces"), "token name 'no spaces' must be"),
])
def test_bad_issue_requests_store_nothing(setup: Setup, args: tuple[str, ...],
                                          message: str) -> None:
    before = (setup.home.path / "issued-tokens.json").read_bytes()
    result = setup.run("tokens", "issue", *args, store=True)
    assert message in one_line_error(result) and result.stdout == ""
    assert (setup.home.path / "issued-tokens.json").read_bytes() == before


# ------------------------------------------------------------ what the verifier refuses


_FORGERIES: dict[str, Callable[[Setup], str]] = {
    "expired": lambda s: s.forge(_claims(iat=time.time() - 700, nbf=time.time() - 700,
                                         exp=time.time() - 100)),
    "not yet valid": lambda s: s.forge(_claims(nbf=time.time() + 3600)),
    "issued in the future": lambda s: s.forge(_claims(iat=time.time() + 3600)),
    "wrong audience": lambda s: s.forge(_claims(aud="mcp-elsewhere")),
    "wrong issuer": lambda s: s.forge(_claims(iss="another-gateway")),
    "alg none": lambda s: (lambda t: t.rsplit(".", 1)[0] + ".")(s.forge(
        _claims(), header=json.dumps({"alg": "none", "typ": "JWT",
                                      "kid": s.current_key().kid}))),
    "alg HS512": lambda s: s.forge(_claims(), header=json.dumps(
        {"alg": "HS512", "typ": "JWT", "kid": s.current_key().kid})),
    "unknown kid": lambda s: s.forge(_claims(), header=json.dumps(
        {"alg": "HS256", "typ": "JWT", "kid": "t000000000000"})),
    "another key": lambda s: s.forge(_claims(), key=b"k" * 32),
    "duplicate claim": lambda s: s.forge(_claims(), header=json.dumps(
        {"alg": "HS256", "typ": "JWT", "kid": s.current_key().kid}).replace(
        '"alg"', '"alg": "none", "alg"')),
    "malformed scope": lambda s: s.forge(_claims(scopes=["mcp:*"])),
    "scopes as a string": lambda s: s.forge(_claims(scopes="mcp:*:*")),
    "models as a string": lambda s: s.forge(_claims(models=MODEL)),
}


@pytest.mark.parametrize("name", list(_FORGERIES))
def test_the_gateway_refuses(setup: Setup, name: str) -> None:
    token = _FORGERIES[name](setup)
    _refused(setup, token)
    # The same claims, spelled right, would have passed: each forgery breaks one rule.
    assert _post(setup, setup.forge(_claims())).status_code == 200


def test_tampered_tokens_are_refused(setup: Setup) -> None:
    token = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    wider = _b64(json.dumps({**claims, "scopes": ["mcp:*:*"]}).encode())
    # The same kid and algorithm with typ left out: another header, the old signature.
    retyped = _b64(json.dumps({"alg": "HS256", "kid": jwt.header_of(token)["kid"]}).encode())
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    for forged in (f"{head}.{wider}.{sig}", f"{head}.{body}.{flipped}",
                   f"{head}.{body}.{sig}=", f"{head}.{body}=.{sig}", f"{head}=.{body}.{sig}",
                   f"{retyped}.{body}.{sig}"):
        _refused(setup, forged)
    assert _post(setup, token).status_code == 200


# ------------------------------------------------------------ revocation


def test_a_revoked_token_is_refused_by_the_running_gateway_at_once(setup: Setup) -> None:
    token = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL, "--name", "doomed")
    assert _post(setup, token).status_code == 200
    started = time.monotonic()
    result = setup.run("tokens", "revoke", _jti(token), store=True)
    assert result.returncode == 0, result.stderr
    assert notified(result, setup.gateway).startswith("applied, reloaded clients")
    _refused(setup, token)
    assert time.monotonic() - started < 10  # the command returns once the gateway applied it
    listed = json.loads(setup.run("tokens", "list", "--all", "--format", "json").stdout)
    assert next(r for r in listed if r["jti"] == _jti(token))["state"] == "revoked"
    again = setup.run("tokens", "revoke", _jti(token), store=True)
    assert "no live token with id or name" in one_line_error(again)


# ------------------------------------------------------------ client-key scopes


def test_client_keys_take_checked_scopes(setup: Setup) -> None:
    before = (setup.home.path / "clients.json").read_bytes()
    bad = setup.run("clients", "create", "scoped-bad", "--scope", "mcp:fs:read_*",
                    "--scope", "mcp:fs", store=True)
    assert "--scope: scope 'mcp:fs' is not of the form" in one_line_error(bad)
    assert bad.stdout == "" and (setup.home.path / "clients.json").read_bytes() == before
    token = create_client(setup.home, "scoped", "--scope", "mcp:fs:read_*", "--scope",
                          "mcp:fs:list_*", "--models", MODEL)
    setup.tokens.append(token)
    rows = json.loads(setup.run("clients", "list", "--format", "json").stdout)
    assert next(r for r in rows if r["name"] == "scoped")["scopes"] == [
        "mcp:fs:read_*", "mcp:fs:list_*"]
    line = next(ln for ln in setup.run("clients", "list").stdout.splitlines()
                if ln.startswith("scoped "))
    assert "mcp:fs:read_*,mcp:fs:list_*" in line
    assert chat(sdk(setup.gateway, token)) == "hello gateway"  # models unchanged by scopes


def test_client_key_scopes_can_be_replaced_later(setup: Setup) -> None:
    result = setup.run("clients", "scopes", "scoped", "--scope", "mcp:tickets:*", store=True)
    assert result.returncode == 0, result.stderr
    assert "applied, reloaded clients" in notified(result, setup.gateway)
    rows = json.loads(setup.run("clients", "list", "--format", "json").stdout)
    assert next(r for r in rows if r["name"] == "scoped")["scopes"] == ["mcp:tickets:*"]
    before = (setup.home.path / "clients.json").read_bytes()
    for args, code, message in (
            (("--scope", "mcp:tickets"), 1, "--scope: scope 'mcp:tickets' is not of the form"),
            ((), 2, "give --scope (one or more) or --none"),
            (("--none", "--scope", "mcp:x:*"), 2, "give --scope (one or more) or --none")):
        bad = setup.run("clients", "scopes", "scoped", *args, store=True)
        assert message in one_line_error(bad, code=code)
    missing = setup.run("clients", "scopes", "nobody", "--none", store=True)
    assert "no live client key named 'nobody'" in one_line_error(missing)
    assert (setup.home.path / "clients.json").read_bytes() == before


# ------------------------------------------------------------ signing-key rotation


def _state(setup: Setup, token: str) -> str:
    listed = json.loads(setup.run("tokens", "list", "--all", "--format", "json").stdout)
    return str(next(r for r in listed if r["jti"] == _jti(token))["state"])


def test_rotation_with_grace_keeps_old_tokens_and_new_ones_use_the_new_kid(
        setup: Setup) -> None:
    old = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL)
    old_kid = jwt.header_of(old)["kid"]
    result = setup.run("rotate-keys", "--signing", "--grace", "60", store=True)
    assert result.returncode == 0, result.stderr
    assert "applied" in notified(result, setup.gateway)
    new = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL)
    assert jwt.header_of(new)["kid"] not in (old_kid, None)
    assert _post(setup, old).status_code == 200  # inside the grace period
    assert _post(setup, new).status_code == 200
    assert _state(setup, old) == "grace" and _state(setup, new) == "active"
    # Without grace the previous keys are dropped at once, and every token they signed.
    result = setup.run("rotate-keys", "--signing", store=True)
    assert result.returncode == 0, result.stderr
    _refused(setup, old)
    _refused(setup, new)
    assert _state(setup, old) == "revoked" and _state(setup, new) == "revoked"
    newest = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL)
    assert _post(setup, newest).status_code == 200


def test_emergency_rotation_ends_every_scoped_token(setup: Setup) -> None:
    token = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL)
    assert _post(setup, token).status_code == 200
    result = setup.run("rotate-keys", "--all", "--emergency", "--yes", store=True)
    assert result.returncode == 0, result.stderr
    _refused(setup, token)
    assert _state(setup, token) == "revoked"
    after = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL)
    assert _post(setup, after).status_code == 200


def test_rotate_keys_without_a_flag_still_asks_what_to_rotate(setup: Setup) -> None:
    result = setup.run("rotate-keys", store=True)
    assert "say what to rotate" in one_line_error(result, code=2)


# ------------------------------------------------------------ records and leaks


def test_request_records_and_access_log_name_the_token_never_its_text(setup: Setup) -> None:
    token = setup.issue("--scope", "mcp:fs:read_*", "--models", MODEL, "--name", "recorded")
    answer = _post(setup, token)
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 5
    record: dict[str, Any] | None = None
    while record is None and time.monotonic() < deadline:
        for line in (setup.home.path / "requests.jsonl").read_bytes().splitlines():
            data = json.loads(line)["data"]
            if data["id"] == request_id:
                record = data
        time.sleep(0.05)
    assert record is not None
    assert (record["principal_kind"], record["principal_id"], record["principal"]) == (
        "token", f"tok:{_jti(token)}", "recorded")
    access = [ln for ln in setup.gateway.log().splitlines() if request_id in ln]
    assert access and f"key=recorded token={_jti(token)}" in access[0]


def test_no_token_anywhere(setup: Setup) -> None:
    """Not in any process's argv, the gateway's environment, its log, the state files
    (audit log and request records included) or any listing a command printed."""
    assert len(setup.tokens) > 20
    pid = setup.gateway.process.pid
    places = {
        "gateway log": setup.gateway.log(),
        "gateway environment": Path(f"/proc/{pid}/environ").read_bytes().decode(
            errors="replace"),
        "listings": "\n".join(setup.run("tokens", "list", "--all").stdout
                              for _ in range(1)) + setup.run(
            "tokens", "list", "--all", "--format", "json").stdout,
    }
    for proc in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            places[f"argv of {proc.parent.name}"] = proc.read_bytes().decode(errors="replace")
        except OSError:
            continue  # a process that ended meanwhile
    for path in setup.home.path.rglob("*"):
        if path.is_file():
            places[str(path.name)] = path.read_bytes().decode(errors="replace")
    assert "requests.jsonl" in places and "audit.jsonl" in places
    assert '"event":"token.issued"' in places["audit.jsonl"]
    assert '"event":"token.revoked"' in places["audit.jsonl"]
    audit = setup.run("keys", "audit", store=True)
    assert audit.returncode == 0 and "intact" in audit.stdout, audit.stdout + audit.stderr
    printed = "\n".join(setup.outputs)
    for token in setup.tokens:
        signature = token.split(".")[2] if "." in token else token
        for where, text in places.items():
            assert token not in text and (len(signature) < 20 or signature not in text), where
        # Commands print a token only where asked to: `tokens issue`'s stdout.
        assert printed.count(token) <= 1
    assert setup.gateway.process.poll() is None


# ------------------------------------------------------------ first token, real upstream

PROVIDER_KEY = "sk-scoped-provider-" + "p" * 24 + "k3y9"


def test_first_token_on_a_fresh_store_works_at_once_and_never_goes_upstream(
        tmp_path: Path) -> None:
    """No signing key exists when the gateway starts: `tokens issue` makes one and tells the
    running gateway before it prints the token. The provider then sees the gateway's own
    key, never the caller's token (no token passthrough), for both header styles."""
    from tests.fakes.config import GatewayConfig, deployment
    from tests.fakes.upstream import FakeUpstream

    fake = FakeUpstream("up", api_key=PROVIDER_KEY).start()
    home = make_home(tmp_path)
    home.env["SCOPED_PROVIDER_KEY"] = PROVIDER_KEY
    create_client(home, "main")
    config = (GatewayConfig()
              .provider("up", "openai", base_url=f"{fake.url}/v1",
                        secret="env:SCOPED_PROVIDER_KEY")
              .model("smart", deployment("up", "gpt-4o"))
              .toml())
    gateway = home.serve(tmp_path, config=config)
    try:
        result = home.run("tokens", "issue", "--scope", "mcp:fs:read_*", "--models", "smart",
                          store=True)
        assert result.returncode == 0, result.stderr
        assert "applied, reloaded signing" in notified(result, gateway)
        token = result.stdout.strip()
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=token, max_retries=0)
        client.chat.completions.create(model="smart", messages=MESSAGES)  # type: ignore[arg-type]
        answer = httpx.post(gateway.url + "/v1/chat/completions", headers={"x-api-key": token},
                            json={"model": "smart", "messages": MESSAGES}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert len(fake.requests) == 2
        for request in fake.requests:
            assert request.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
            seen = json.dumps(request.headers) + request.body.decode(errors="replace")
            assert token not in seen and token.split(".")[2] not in seen
            assert "x-api-key" not in request.headers
    finally:
        stop_gateway(gateway)
        fake.stop()
