"""Who is calling: token extraction, client keys, gateway JWTs, open mode, rate limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_cli.keys import clients, jwt
from gateway_cli.keys.principal import OPEN, Principal
from gateway_cli.server.auth import Authenticator, Denied, presented_token

KEY = b"s" * 32


@pytest.mark.parametrize(("headers", "expected"), [
    ([(b"authorization", b"Bearer abc")], "abc"),
    ([(b"authorization", b"bearer   abc  ")], "abc"),
    ([(b"x-api-key", b"abc")], "abc"),
    ([(b"api-key", b"abc")], "abc"),
    ([(b"authorization", b"Basic abc"), (b"x-api-key", b"def")], "def"),
    ([(b"authorization", b"Basic abc")], None),
    ([(b"authorization", b"Bearer ")], None),
    ([(b"cookie", b"abc")], None),
    ([], None),
])
def test_presented_token(headers: list[tuple[bytes, bytes]], expected: str | None) -> None:
    assert presented_token(headers) == expected


def _bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def test_open_mode_lets_everyone_in(tmp_path: Path) -> None:
    auth = Authenticator(clients.load_table(tmp_path))
    assert auth.open
    assert auth.check([]) is OPEN
    assert auth.check(_bearer("anything")) is OPEN


def test_enforcing_mode(tmp_path: Path) -> None:
    client, token = clients.create(tmp_path, "app", models=["m1"])
    auth = Authenticator(clients.load_table(tmp_path))
    missing = auth.check([])
    assert isinstance(missing, Denied) and missing.status == 401
    assert missing.code == "missing_api_key"
    wrong = auth.check(_bearer(token[:-2] + "AA"))
    assert isinstance(wrong, Denied) and wrong.code == "invalid_api_key"
    assert token not in wrong.message
    ok = auth.check(_bearer(token))
    assert isinstance(ok, Principal) and ok.id == client.id
    assert ok.may_use("m1") and not ok.may_use("m2")


def test_gateway_jwts_and_their_revocation(tmp_path: Path) -> None:
    clients.create(tmp_path, "app")
    table = clients.load_table(tmp_path)
    token = jwt.issue("t1", KEY, {"aud": "gateway", "exp": 10**10, "jti": "j1",
                                  "sub": "run:x", "models": ["m"]})
    auth = Authenticator(table, jwt_keys={"t1": (KEY, None)})
    principal = auth.check(_bearer(token))
    assert isinstance(principal, Principal) and principal.kind == "run"
    assert principal.models == ("m",)
    assert isinstance(auth.replaced(revoked_jtis=frozenset({"j1"})).check(_bearer(token)),
                      Denied)
    # A signing key past its grace period no longer opens anything.
    retiring = Authenticator(table, jwt_keys={"t1": (KEY, 100.0)})
    assert isinstance(retiring.check(_bearer(token), now=99.0), Principal)
    assert isinstance(retiring.check(_bearer(token), now=100.0), Denied)
    assert isinstance(Authenticator(table).check(_bearer(token)), Denied)


@pytest.mark.parametrize("claims", [
    {"models": "mock/echo"},            # a string is not "every model"
    {"models": ["mock/echo", 3]},
    {"models": {"a": 1}},
    {"team": ["x"]},
    {"sub": 5},
    {"jti": 7},
    {"jti": ""},
])
def test_run_token_claims_of_the_wrong_type_are_refused(tmp_path: Path,
                                                        claims: dict[str, object]) -> None:
    clients.create(tmp_path, "app")
    auth = Authenticator(clients.load_table(tmp_path), jwt_keys={"k1": (KEY, None)})
    base = {"aud": "gateway", "exp": 2000, "jti": "j1", "sub": "run:x"}
    token = jwt.issue("k1", KEY, {**base, **claims})
    denied = auth.check(_bearer(token), now=1000.0)
    assert isinstance(denied, Denied) and denied.status == 401
    fine = auth.check(_bearer(jwt.issue("k1", KEY, {**base, "models": ["mock/echo"]})),
                      now=1000.0)
    assert isinstance(fine, Principal) and fine.models == ("mock/echo",)
