"""How soon a changed pin file applies (pinned.PinKeeper), against the SDK notes server
over stdio: a list looks at the file every time, so an approval or a revocation shows in
the next list; a call looks at it at most PIN_RECHECK seconds after the last look, so a
revoked approval stops calls within that bound and no sooner is promised."""

from __future__ import annotations

import asyncio
import time
import tomllib
from pathlib import Path

import pytest

from gateway_cli.config import parse_config
from gateway_cli.mcp import pinned, pins
from gateway_cli.mcp.connection import Connection
from tests.integration.mcp_helpers import notes_stdio

KEY = ("test-pins", b"p" * 32)


def test_a_revoked_approval_stops_calls_within_the_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pinned, "PIN_RECHECK", 0.3)
    notes = tmp_path / "notes"
    notes.mkdir()
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = parse_config(tomllib.loads(notes_stdio("notes", notes))).mcp.servers["notes"]

    async def main() -> None:
        connection = Connection("notes", config, home=home, store=None)
        keeper = pinned.PinKeeper(home, None, None)
        keeper.key = KEY
        server = pinned.Server("notes", config, connection)
        try:
            keeper.read(server)
            assert await keeper.approved_now(server) == frozenset()  # not approved yet
            tools = await pinned.live_tools(connection)
            pins.save(home, pins.make("notes", tools, "now"), KEY)
            # A list looks at the pin file every time: the approval shows at once.
            listed = {t["name"] for t in await keeper.served_tools(server)}
            assert "read_note" in listed
            assert await keeper.approved_now(server) == frozenset(listed)

            pins.pin_path(home, "notes").unlink()  # the approval revoked
            revoked_at = time.monotonic()
            # Within the bound a call may still go by the last look (what is promised is
            # the bound, not more) ...
            if time.monotonic() - server.looked < pinned.PIN_RECHECK:
                assert await keeper.approved_now(server) == frozenset(listed)
            # ... and after it, no call is allowed.
            await asyncio.sleep(pinned.PIN_RECHECK)
            assert await keeper.approved_now(server) == frozenset()
            assert time.monotonic() - revoked_at < pinned.PIN_RECHECK + 2.0

            # Approved again: the next list shows it at once, and calls follow it.
            pins.save(home, pins.make("notes", tools, "now"), KEY)
            assert {t["name"] for t in await keeper.served_tools(server)} == listed
            assert await keeper.approved_now(server) == frozenset(listed)
            # An edited pin file is refused as a whole, for calls within the bound.
            path = pins.pin_path(home, "notes")
            path.write_text(path.read_text().replace("read_note", "read_notf", 1))
            await asyncio.sleep(pinned.PIN_RECHECK)
            assert await keeper.approved_now(server) == frozenset()
            assert server.pin_error is not None
        finally:
            await connection.close()

    asyncio.run(main())


def test_a_call_does_not_look_at_the_pin_file_again_within_the_bound(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = parse_config(tomllib.loads(notes_stdio("notes", tmp_path))).mcp.servers["notes"]
    keeper = pinned.PinKeeper(home, None, None)
    server = pinned.Server("notes", config, Connection("notes", config, home=home,
                                                      store=None))
    keeper.read(server)
    first = server.looked
    keeper.read(server, pinned.PIN_RECHECK)
    assert server.looked == first  # the look before stands
    keeper.read(server)
    assert server.looked > first  # a list (no bound) always looks
