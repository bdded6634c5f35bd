"""Issued scoped tokens (keys/issued.py) and MCP scopes on client keys: what is stored, what
is refused before anything is stored, and what a revocation writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway_cli.keys import clients, issued, jwt, revoked
from gateway_cli.keys.clients import ClientError
from gateway_cli.keys.issued import TokenError
from gateway_cli.keys.jsonstate import StateError
from gateway_cli.keys.principal import Principal
from gateway_cli.keys.signing import KeyEntry
from gateway_cli.server.auth import Authenticator, Denied

KEY = KeyEntry(kid="tkid1", key=b"r" * 32, created=0.0)
NOW = 2_000_000.0


def _issue(home: Path, **over: object) -> tuple[issued.Issued, str]:
    args: dict[str, object] = {"name": "agent", "scopes": ["mcp:fs:read_*"], "models": None,
                               "ttl": 600, "now": NOW}
    args.update(over)
    return issued.issue(home, KEY, **args)  # type: ignore[arg-type]


def test_issue_records_everything_but_the_token(tmp_path: Path) -> None:
    record, token = _issue(tmp_path, scopes=["mcp:fs:read_*", "mcp:fs:list_*",
                                             "mcp:fs:read_*"], models=["m1"])
    claims = jwt.check(token, {KEY.kid: KEY.key}, audiences=(issued.AUDIENCE,),
                       issuer=issued.ISSUER, now=NOW)
    assert claims == {"iss": "gateway", "aud": issued.AUDIENCE, "sub": "agent",
                      "jti": record.jti, "iat": int(NOW), "nbf": int(NOW),
                      "exp": int(NOW) + 600, "scopes": ["mcp:fs:read_*", "mcp:fs:list_*"],
                      "models": ["m1"]}
    assert jwt.header_of(token)["kid"] == KEY.kid
    stored = (tmp_path / "issued-tokens.json").read_text()
    assert token not in stored and token.split(".")[2] not in stored
    assert issued.list_issued(tmp_path) == [record]
    assert record.state(NOW) == "active" and record.state(NOW + 600) == "expired"
    assert (tmp_path / "issued-tokens.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("over", "message"), [
    ({"scopes": ["mcp:fs"]}, "--scope: scope 'mcp:fs' is not of the form"),
    ({"scopes": ["fs:read"]}, "is not of the form mcp:<server>:<tool>"),
    ({"scopes": ["mcp:f s:x"]}, "outside printable ASCII"),
    ({"scopes": ["mcp:fs:"]}, "empty tool part"),
    ({"scopes": [f"mcp:s{i}:*" for i in range(issued.MAX_SCOPES + 1)]}, "at most 64 scopes"),
    ({"ttl": 86401}, "--ttl must be 10 to 86400 seconds"),
    ({"ttl": 9}, "--ttl must be 10 to 86400 seconds"),
    ({"ttl": -600}, "--ttl must be 10 to 86400 seconds"),
    ({"name": "a b"}, "token name 'a b' must be"),
    ({"name": ""}, "must be 1-64"),
    ({"scopes": [f"mcp:server{i}:tool_{'x' * 40}_*" for i in range(60)]}, "too long"),
    ({"models": ["gpt\x1b[2J"]}, "--models: a model name must be 1-256 printable"),
    ({"scopes": ["mcp:fs:\x9b2J"]}, "outside printable ASCII"),
    ({"scopes": ["mcp:fs:read_\u202e*"]}, "outside printable ASCII"),
    ({"models": ["a b"]}, "without spaces"),
    ({"models": ["m" * 257]}, "1-256 printable"),
    ({"models": [f"m{i}" for i in range(issued.MAX_MODELS + 1)]}, "at most 64 models"),
])
def test_bad_requests_are_refused_and_nothing_is_stored(tmp_path: Path, over: dict[str, object],
                                                        message: str) -> None:
    with pytest.raises(TokenError, match=message.replace("(", r"\(").replace("*", r"\*")):
        _issue(tmp_path, **over)
    assert not (tmp_path / "issued-tokens.json").exists()


def test_revoke_by_id_or_name_lists_the_jti_as_revoked(tmp_path: Path) -> None:
    first, token = _issue(tmp_path)
    second, _ = _issue(tmp_path, name="other")
    third, _ = _issue(tmp_path, name="other")
    gone = issued.revoke(tmp_path, first.jti, now=NOW + 1)
    assert [r.jti for r in gone] == [first.jti]
    assert revoked.load(tmp_path, now=NOW + 1) == {first.jti}
    assert {r.jti for r in issued.revoke(tmp_path, "other", now=NOW + 2)} == \
        {second.jti, third.jti}
    states = {r.jti: (r.state(NOW + 3), r.revoked) for r in issued.list_issued(tmp_path)}
    assert states == {first.jti: ("revoked", NOW + 1), second.jti: ("revoked", NOW + 2),
                      third.jti: ("revoked", NOW + 2)}
    with pytest.raises(TokenError, match="no live token with id or name"):
        issued.revoke(tmp_path, first.jti, now=NOW + 3)
    with pytest.raises(TokenError, match="no live token"):
        issued.revoke(tmp_path, "nobody", now=NOW + 3)
    # The front door refuses it once it has read the list.
    clients.create(tmp_path, "app")
    auth = Authenticator(clients.load_table(tmp_path), jwt_keys={KEY.kid: (KEY.key, None)},
                         revoked_jtis=revoked.load(tmp_path, now=NOW + 3))
    refused = auth.check([(b"authorization", f"Bearer {token}".encode())], now=NOW + 3)
    assert isinstance(refused, Denied) and refused.code == "invalid_api_key"


def test_expired_entries_are_dropped_after_a_week(tmp_path: Path) -> None:
    old, _ = _issue(tmp_path)
    newer, _ = _issue(tmp_path, now=NOW + 600 + issued.KEEP_ENDED + 1)
    assert [r.jti for r in issued.list_issued(tmp_path)] == [newer.jti]
    assert old.jti != newer.jti


def test_a_hand_edited_registry_is_a_clear_error(tmp_path: Path) -> None:
    _issue(tmp_path)
    path = tmp_path / "issued-tokens.json"
    data = json.loads(path.read_text())
    del data["tokens"][0]["expires"]
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match=r"issued-tokens\.json has a malformed record"):
        issued.list_issued(tmp_path)


def test_client_keys_carry_checked_scopes_that_never_widen_models(tmp_path: Path) -> None:
    client, token = clients.create(tmp_path, "agent", models=["m1"],
                                   scopes=["mcp:fs:read_*", "mcp:fs:read_*", "mcp:*:prompt/x"])
    assert client.scopes == ("mcp:fs:read_*", "mcp:*:prompt/x")
    assert clients.list_clients(tmp_path)[0].scopes == client.scopes
    who = Authenticator(clients.load_table(tmp_path)).check(
        [(b"authorization", f"Bearer {token}".encode())], now=client.created + 1)
    assert isinstance(who, Principal) and who.kind == "client" and who.scopes == client.scopes
    assert who.may_use("m1") and not who.may_use("m2")
    # A rotation keeps them.
    [(new, _)] = clients.reissue(tmp_path, ["agent"])
    assert new.scopes == client.scopes


@pytest.mark.parametrize("scope", ["mcp:fs", "read_*", "mcp::x", "mcp:fs:", "mcp:f/s:x",
                                   "mcp:fs:a b", "mcp:fs:\x1b[31m", "x" * 600,
                                   "mcp:fs:\x9b31m", "mcp:fs:read_\u202e*"])
def test_a_malformed_client_scope_stores_nothing(tmp_path: Path, scope: str) -> None:
    with pytest.raises(ClientError, match="--scope: "):
        clients.create(tmp_path, "agent", scopes=["mcp:fs:read_*", scope])
    assert clients.list_clients(tmp_path) == []


def test_old_records_without_scopes_load_as_none_and_edited_ones_are_refused(
        tmp_path: Path) -> None:
    clients.create(tmp_path, "agent")
    path = tmp_path / "clients.json"
    data = json.loads(path.read_text())
    del data["clients"][0]["scopes"]  # as written before scopes existed
    path.write_text(json.dumps(data))
    assert clients.list_clients(tmp_path)[0].scopes == ()
    data["clients"][0]["scopes"] = ["mcp:fs"]  # hand-edited: must not grant anything
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="malformed record"):
        clients.load_table(tmp_path)
    data["clients"][0]["scopes"] = ["mcp:fs:\u202e*"]
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="malformed record"):
        clients.load_table(tmp_path)
    data["clients"][0]["scopes"] = "mcp:*:*"
    path.write_text(json.dumps(data))
    with pytest.raises(StateError, match="malformed record"):
        clients.load_table(tmp_path)


def test_a_signing_rotation_ends_the_tokens_of_the_replaced_key(tmp_path: Path) -> None:
    old, _ = _issue(tmp_path)
    other = KeyEntry(kid="tkid2", key=b"s" * 32, created=0.0)
    newer, _ = issued.issue(tmp_path, other, name="agent", scopes=[], models=None, now=NOW)
    assert issued.key_retired(tmp_path, [KEY.kid], NOW + 60, now=NOW + 1) == 1
    states = {r.jti: r.state(NOW + 2) for r in issued.list_issued(tmp_path)}
    assert states == {old.jti: "grace", newer.jti: "active"}
    assert {r.jti: r.state(NOW + 60) for r in issued.list_issued(tmp_path)}[old.jti] == \
        "revoked"
    # A later rotation never pushes an end further out; a grace token can still be revoked.
    assert issued.key_retired(tmp_path, [KEY.kid], NOW + 500, now=NOW + 3) == 0
    assert [r.jti for r in issued.revoke(tmp_path, old.jti, now=NOW + 4)] == [old.jti]
    assert next(r for r in issued.list_issued(tmp_path) if r.jti == old.jti).revoked == NOW + 4
    assert issued.key_retired(tmp_path / "nothing-here", [KEY.kid], NOW, now=NOW) == 0


def test_scopes_of_a_client_key_can_be_replaced_and_removed(tmp_path: Path) -> None:
    client, token = clients.create(tmp_path, "agent", scopes=["mcp:fs:*"], now=NOW)
    [(_, newer)] = clients.reissue(tmp_path, ["agent"], grace=60, now=NOW + 1)
    # Both live records (the old token is in its grace period) take the new scopes.
    assert clients.set_scopes(tmp_path, "agent", ["mcp:fs:read_*"], now=NOW + 2) == 2
    table = clients.load_table(tmp_path)
    for presented in (token, newer):
        who = Authenticator(table).check(
            [(b"authorization", f"Bearer {presented}".encode())], now=NOW + 3)
        assert isinstance(who, Principal) and who.scopes == ("mcp:fs:read_*",)
    before = (tmp_path / "clients.json").read_bytes()
    with pytest.raises(ClientError, match="--scope: "):
        clients.set_scopes(tmp_path, "agent", ["mcp:fs:read_*", "mcp:bad"], now=NOW + 4)
    with pytest.raises(ClientError, match="no live client key named 'nobody'"):
        clients.set_scopes(tmp_path, "nobody", ["mcp:fs:*"], now=NOW + 4)
    assert (tmp_path / "clients.json").read_bytes() == before
    assert clients.set_scopes(tmp_path, "agent", [], now=NOW + 5) == 2
    assert {c.scopes for c in clients.list_clients(tmp_path)} == {()}
    assert client.scopes == ("mcp:fs:*",)
