"""Each upstream server's live tool definitions checked against its signed pins.

The live list is fetched and compared again for every tools/list and
list_changed, and a call is checked against a comparison at most
CALL_RECHECK seconds old, so a rug pull is caught at the next use, not the
next session. A pin file is re-read whenever it changes on disk: a list
looks at the file every time (an approval shows at once), a call at most
PIN_RECHECK seconds after the last look (so a revoked or edited approval
stops calls within that bound, and a busy server is not a `stat` per call).
Drift is logged and recorded as an alert once per change.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway_cli.config import McpServerConfig
from gateway_cli.keys.store import SecretStore
from gateway_cli.mcp import pins
from gateway_cli.mcp.connection import Connection
from gateway_cli.mcp.transport import UpstreamError

log = logging.getLogger("gateway.mcp")
MAX_PAGES = 20
CALL_RECHECK = 5.0  # seconds a pin check stands for calls (tools/list always checks anew)
PIN_RECHECK = 1.0  # seconds a look at the pin file stands for calls (lists always look)
Alert = Callable[[dict[str, object]], None]


async def live_tools(connection: Connection) -> list[dict[str, Any]]:
    """Every tool the upstream lists now (all pages); UpstreamError if it cannot."""
    return await live_items(connection, "tools")


_METHODS: dict[str, str] = {"tools": "tools/list", "prompts": "prompts/list",
                            "resources": "resources/list",
                            "resourceTemplates": "resources/templates/list"}
_CAPABILITY = {"prompts": "prompts", "resources": "resources", "resourceTemplates": "resources"}


async def live_items(connection: Connection, section: pins.Section) -> list[dict[str, Any]]:
    """Every item of one list the upstream gives now (all pages): none when the server does
    not offer prompts or resources; UpstreamError when it cannot list its tools."""
    if section != "tools":
        await connection.ensure()
        if _CAPABILITY[section] not in connection.capabilities:
            return []
    key = pins.FIELDS[section][0]
    items: list[dict[str, Any]] = []
    cursor: object = None
    for _ in range(MAX_PAGES):
        answer = await connection.call(
            _METHODS[section], {"cursor": cursor} if isinstance(cursor, str) else {})
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get(section), list):
            if section == "tools":
                raise UpstreamError(f"MCP server {connection.name!r} gave no tool list")
            return items
        items += [t for t in result[section] if isinstance(t, dict)
                  and isinstance(t.get(key), str)]
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return items


async def live_all(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every list of the server (tools, prompts, resources, resource templates)."""
    return {section: await live_items(connection, section) for section in pins.SECTIONS}


def _never() -> dict[str, float]:
    return dict.fromkeys(pins.SECTIONS, -1e9)


@dataclass
class Server:
    name: str
    config: McpServerConfig
    connection: Connection
    trusted: pins.Pins | None = None
    pin_error: str | None = None
    stamp: tuple[int, int, int] | None = None  # the pin file's (inode, mtime, size) as read
    read: bool = False
    pin_file: str | None = None  # its path, made once
    looked: float = -1e9  # when the pin file was last looked at (monotonic)
    # Per section (tools, prompts, resources, resourceTemplates): the drift last alerted,
    # when the live list was last compared with the pins (monotonic) and what matched then.
    alerted: dict[str, pins.Drift] = field(default_factory=dict)
    checked: dict[str, float] = field(default_factory=_never)
    approved: dict[str, frozenset[str]] = field(default_factory=dict)


class PinKeeper:
    """The pin key, and per server its trusted pins and the last comparison with them."""

    def __init__(self, home: Path, store: SecretStore | None, alert: Alert | None) -> None:
        self.home = home
        self.store = store
        self.alert = alert
        self.key: tuple[str, bytes] | None = None

    def load(self, servers: Mapping[str, Server]) -> None:
        """Read the pin key once (the store may be slow), then every server's pins."""
        try:
            self.key = pins.pin_key(self.store)
        except pins.PinError as err:
            self.key = None
            log.warning("MCP pins cannot be checked: %s", err)
        for server in servers.values():
            self.read(server)

    def read(self, server: Server, within: float = 0.0) -> None:
        """The server's pins as the file is now: checked whenever the file changed, so an
        approval applies at once and an edit is caught at the next use. With `within`,
        a look at the file less than that many seconds ago stands."""
        now = time.monotonic()
        if within and server.read and now - server.looked < within:
            return
        server.looked = now
        if server.pin_file is None:
            server.pin_file = str(pins.pin_path(self.home, server.name))
        try:
            info = os.stat(server.pin_file)
            stamp: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if server.read and stamp == server.stamp:
            return
        server.read = True
        server.stamp = stamp
        server.checked, server.approved = _never(), {}  # new pins: compare anew
        try:
            server.trusted = pins.load(self.home, server.name, self.key)
            server.pin_error = None
        except pins.PinError as err:
            server.trusted, server.pin_error = None, str(err)
            log.warning("MCP server %r: %s", server.name, err)
            self.raise_alert(server.name, {"error": "pins_untrusted"})
        server.alerted = {}
        if server.trusted is None and server.pin_error is None:
            log.warning("MCP server %r is not approved: its tools are not served until "
                        "`gateway mcp approve %s`", server.name, server.name)

    def raise_alert(self, server: str, data: dict[str, object]) -> None:
        if self.alert is not None:
            self.alert({"server": server, "changed": [], "added": [], "removed": [],
                        "error": None, **data})

    async def served_tools(self, server: Server) -> list[dict[str, Any]]:
        return await self.served(server, "tools")

    async def served(self, server: Server, section: pins.Section) -> list[dict[str, Any]]:
        """The live items that match their pins, with exactly their approved fields; drift
        logged and recorded once per change."""
        items = await live_items(server.connection, section)
        self.read(server)
        if server.trusted is None:
            server.approved[section] = frozenset()
            return []
        drift = pins.compare(server.trusted, items, section)
        if not drift.clean and drift != server.alerted.get(section, pins.Drift()):
            what = "tool" if section == "tools" else section
            log.warning("MCP server %r: %s definitions differ from the approved ones "
                        "(changed: %s; added: %s; removed: %s); those are not served "
                        "until `gateway mcp approve %s`", server.name, what,
                        ", ".join(drift.changed) or "-", ", ".join(drift.added) or "-",
                        ", ".join(drift.removed) or "-", server.name)
            extra: dict[str, object] = {} if section == "tools" else {"kind": section}
            self.raise_alert(server.name, {"changed": list(drift.changed),
                                           "added": list(drift.added),
                                           "removed": list(drift.removed), **extra})
        server.alerted[section] = drift
        # Exactly the approved fields: anything else a server adds (_meta, icons...) was not
        # seen by the person who approved, so it is not passed on.
        served = [pins.definition(t, section)
                  for t in pins.served(server.trusted, items, section)]
        server.approved[section] = frozenset(pins.key_of(t, section) for t in served)
        server.checked[section] = time.monotonic()
        return served

    async def approved_now(self, server: Server, section: pins.Section = "tools"
                           ) -> frozenset[str]:
        """The items a call may use: from a check at most CALL_RECHECK seconds old (a list,
        a list_changed or an earlier call), else from a new one. Saves an upstream round
        trip per call while a changed definition still stops calls within seconds; the
        pin file is looked at again at most every PIN_RECHECK seconds."""
        self.read(server, PIN_RECHECK)
        if server.trusted is None:
            return frozenset()
        if time.monotonic() - server.checked.get(section, -1e9) > CALL_RECHECK:
            await self.served(server, section)
        return server.approved.get(section, frozenset())


def under_template(templates: frozenset[str], uri: str) -> bool:
    """Whether `uri` is an instance of an approved resource template, by the template's
    literal text before its first `{` (a template with no variable is one URI)."""
    for template in templates:
        head, brace, _ = template.partition("{")
        if (uri == template) if not brace else (bool(head) and uri.startswith(head)):
            return True
    return False
