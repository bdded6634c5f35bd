"""The MCP gateway's parts in a running gateway: the relay, its sessions, its paths.

Made once at start from `[mcp]`: the servers, their paths and credentials are
fixed for the life of the process (a reload that changes `mcp.servers` says a
restart is needed, server/reconfigure.py). Pins are read and checked at start;
stdio children start on first use, or at start-up when configured.
"""

from __future__ import annotations

import time

from litestar import Litestar

from gateway_cli.auditlog.records import MCP_ALERT_EVENT
from gateway_cli.config import InspectionConfig
from gateway_cli.keys.home import gateway_home
from gateway_cli.keys.notify import run_dir
from gateway_cli.mcp.relay import Relay
from gateway_cli.mcp.sessions import Sessions
from gateway_cli.server import mcp_endpoint
from gateway_cli.server.mcp_peers import Peers
from gateway_cli.server.proxy import AsgiHandler
from gateway_cli.server.runtime import Runtime


def make_relay(runtime: Runtime) -> Relay:
    config = runtime.config.mcp

    def inspection() -> InspectionConfig | None:
        current = runtime.config.inspection  # read per call: `gateway reload` changes it
        return current if current.enabled else None

    def alert(data: dict[str, object]) -> None:
        if runtime.audit is not None:
            runtime.audit.submit(MCP_ALERT_EVENT, data, time.time())

    home = runtime.home or gateway_home()
    return Relay(config, config.servers, home=home, store=runtime.store,
                 inspection=inspection, alert=alert, limiter=lambda: runtime.limiter)


def routes(runtime: Runtime, app: Litestar) -> tuple[Relay, dict[str, AsgiHandler]]:
    """/mcp and /mcp/NAME for every configured server; the relay opens and closes with
    the app."""
    relay = make_relay(runtime)
    mcp = runtime.config.mcp
    sessions = Sessions(mcp.max_sessions, mcp.session_idle, key=runtime.mcp_session_key,
                        adopt=runtime.workers > 1)
    relay.broadcast = sessions.broadcast
    relay.load_pins()
    peers = None
    if runtime.workers > 1:
        peers = Peers(relay, sessions, run_dir(relay.home))
        relay.from_peer = peers.receive

    def limit() -> int:
        return runtime.config.mcp.max_message_bytes

    # In-process (tests) through Litestar's lifespan; `gateway serve` runs no lifespan and
    # calls them from Front.start/stop (app.create_app), once for all of Granian's workers.
    app.on_startup.append(relay.start_eager)
    app.on_shutdown.append(relay.close)
    out = {"/mcp": mcp_endpoint.make_handler(relay, sessions, None, limit, peers)}
    for name in mcp.servers:
        out[f"/mcp/{name}"] = mcp_endpoint.make_handler(relay, sessions, name, limit, peers)
    return relay, out
