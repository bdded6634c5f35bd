"""Edges of caller authentication found by mutation testing (bench/mutation/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_cli.keys import clients, jwt
from gateway_cli.server.auth import Authenticator, Denied, Principal

KEY = b"s" * 32


def _bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


def test_a_replaced_snapshot_keeps_or_swaps_the_signing_keys(tmp_path: Path) -> None:
    clients.create(tmp_path, "app")
    table = clients.load_table(tmp_path)
    other = b"o" * 32
    token = jwt.issue("t2", other, {"aud": "gateway", "exp": 10**10, "jti": "j2",
                                    "sub": "run:y"})
    auth = Authenticator(table, jwt_keys={"t1": (KEY, None)})
    assert isinstance(auth.check(_bearer(token)), Denied)
    swapped = auth.replaced(jwt_keys={"t2": (other, None)})
    assert isinstance(swapped.check(_bearer(token)), Principal)
    kept = swapped.replaced(table=clients.load_table(tmp_path))
    assert isinstance(kept.check(_bearer(token)), Principal)


@pytest.mark.parametrize("lease", ["yes", 1, None])
def test_a_lease_flag_that_is_not_a_boolean_is_refused(tmp_path: Path, lease: object) -> None:
    clients.create(tmp_path, "app")
    auth = Authenticator(clients.load_table(tmp_path), jwt_keys={"k1": (KEY, None)},
                         leases={"j1": 5000.0})
    base = {"aud": "gateway", "exp": 2000, "jti": "j1", "sub": "run:x"}
    denied = auth.check(_bearer(jwt.issue("k1", KEY, {**base, "lease": lease})), now=1000.0)
    assert isinstance(denied, Denied) and denied.status == 401
    leased = auth.check(_bearer(jwt.issue("k1", KEY, {**base, "lease": True})), now=1000.0)
    assert isinstance(leased, Principal) and leased.kind == "run"


def test_a_replaced_snapshot_keeps_or_swaps_the_leases(tmp_path: Path) -> None:
    clients.create(tmp_path, "app")
    token = jwt.issue("k1", KEY, {"aud": "gateway", "exp": 2000, "jti": "j1", "sub": "run:x",
                                  "lease": True})
    auth = Authenticator(clients.load_table(tmp_path), jwt_keys={"k1": (KEY, None)})
    assert isinstance(auth.check(_bearer(token), now=1000.0), Denied)  # no lease renewed yet
    renewed = auth.replaced(leases={"j1": 1030.0})
    assert isinstance(renewed.check(_bearer(token), now=1000.0), Principal)
    kept = renewed.replaced(revoked_jtis=frozenset({"other"}))
    assert isinstance(kept.check(_bearer(token), now=1000.0), Principal)
    assert isinstance(kept.check(_bearer(token), now=1030.0), Denied)  # the lease ran out
