"""Client keys: token format, hashing, lookup, revocation, rotation, state file."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from gateway_cli.guards.secrets import scan
from gateway_cli.keys import clients
from gateway_cli.keys.clients import ClientError, load_table
from gateway_cli.keys.jsonstate import StateError


def test_token_shape_is_recognised_by_the_secrets_guard() -> None:
    ident, token = clients.new_token()
    assert token.startswith(f"gwk_{ident}_") and len(ident) == 12
    assert clients.token_id(token) == ident
    kinds = {f.kind for f in scan(f"key: {token}") if f.confidence >= 0.9}
    assert "gateway_client_key" in kinds


def test_only_the_digest_is_stored(tmp_path: Path) -> None:
    client, token = clients.create(tmp_path, "app")
    raw = (tmp_path / "clients.json").read_text()
    assert token not in raw and token.split("_")[-1] not in raw
    assert client.digest in raw
    assert stat.S_IMODE((tmp_path / "clients.json").stat().st_mode) == 0o600


def test_authenticate_accepts_the_token_and_nothing_near_it(tmp_path: Path) -> None:
    client, token = clients.create(tmp_path, "app")
    table = load_table(tmp_path)
    assert table.enforcing
    assert table.authenticate(token, 0.0 + client.created) == client
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token[:-1], token + "x", "gwk_", "", "Bearer " + token,
                token.replace(client.id, "a" * 12)):
        assert table.authenticate(bad, client.created) is None


def test_run_keys_do_not_switch_on_enforcement(tmp_path: Path) -> None:
    clients.create(tmp_path, "run-1", kind="run")
    assert not load_table(tmp_path).enforcing


def test_revoked_keys_keep_enforcement_on(tmp_path: Path) -> None:
    clients.create(tmp_path, "app")
    clients.revoke(tmp_path, ["app"])
    table = load_table(tmp_path)
    assert table.enforcing  # revoking everything must lock the gateway, not reopen it


def test_expiry_and_revocation(tmp_path: Path) -> None:
    client, token = clients.create(tmp_path, "app", expires=1000.0, now=10.0)
    table = load_table(tmp_path)
    assert table.authenticate(token, 999.0) is not None
    assert table.authenticate(token, 1000.0) is None
    assert client.state(1000.0) == "expired"
    clients.revoke(tmp_path, ["app"], at=500.0, now=100.0)
    table = load_table(tmp_path)
    assert table.authenticate(token, 499.0) is not None  # grace
    assert table.authenticate(token, 500.0) is None


def test_duplicate_names_refused_and_reserved_names(tmp_path: Path) -> None:
    clients.create(tmp_path, "app")
    with pytest.raises(ClientError, match="already exists"):
        clients.create(tmp_path, "app")
    for bad in ("all", "", "a b", "x" * 65, "app/1"):
        with pytest.raises(ClientError):
            clients.create(tmp_path, bad)


def test_reissue_with_grace_keeps_the_old_token_until_it_ends(tmp_path: Path) -> None:
    _, old_token = clients.create(tmp_path, "app", models=["m"], rpm=5, now=0.0)
    [(new, new_token)] = clients.reissue(tmp_path, ["app"], grace=60.0, now=100.0)
    assert new.name == "app" and new.models == ("m",) and new.rpm == 5
    table = load_table(tmp_path)
    assert table.authenticate(old_token, 159.0) is not None
    assert table.authenticate(old_token, 160.0) is None
    assert table.authenticate(new_token, 160.0) is not None
    with pytest.raises(ClientError, match="no live client key"):
        clients.reissue(tmp_path, ["nope"])


def test_end_all_stops_everything_but_the_kept(tmp_path: Path) -> None:
    _, a = clients.create(tmp_path, "a", now=0.0)
    _, r = clients.create(tmp_path, "r", kind="run", now=0.0)
    [(b, b_token)] = clients.reissue(tmp_path, ["a"], grace=1000.0, now=1.0)
    assert clients.end_all(tmp_path, keep=[b.id], now=2.0) == 2
    table = load_table(tmp_path)
    assert table.authenticate(a, 3.0) is None
    assert table.authenticate(r, 3.0) is None
    assert table.authenticate(b_token, 3.0) is not None


def test_prune_drops_only_old_run_keys(tmp_path: Path) -> None:
    clients.create(tmp_path, "app", now=0.0)
    clients.create(tmp_path, "run-1", kind="run", expires=10.0, now=0.0)
    clients.create(tmp_path, "run-2", kind="run", expires=10_000.0, now=0.0)
    assert clients.prune(tmp_path, older_than=100.0, now=1000.0) == 1
    assert {c.name for c in clients.list_clients(tmp_path)} == {"app", "run-2"}


def test_concurrent_creators_lose_nothing(tmp_path: Path) -> None:
    def make(i: int) -> None:
        for j in range(10):
            clients.create(tmp_path, f"c{i}-{j}")

    threads = [threading.Thread(target=make, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(clients.list_clients(tmp_path)) == 60


def test_corrupt_or_unsafe_state_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(StateError, match="not valid JSON"):
        load_table(tmp_path)
    path.write_text(json.dumps({"version": 2, "clients": []}))
    with pytest.raises(StateError, match="unknown format"):
        load_table(tmp_path)
    path.write_text(json.dumps({"version": 1, "clients": [{"id": 1}]}))
    with pytest.raises(StateError, match="malformed record"):
        load_table(tmp_path)
    path.write_text(json.dumps({"version": 1, "clients": []}))
    os.chmod(path, 0o666)
    with pytest.raises(StateError, match="chmod 600"):
        load_table(tmp_path)


def test_missing_home_reads_as_empty_without_creating_it(tmp_path: Path) -> None:
    home = tmp_path / "absent"
    assert clients.list_clients(home) == []
    assert not home.exists()
