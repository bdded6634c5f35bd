"""The list methods (tools, prompts, resources, resource templates): what a principal sees.

Only what the principal's scopes grant (deny by default) and only what matches
its signed pin (tools, prompts, resources and templates alike: pinned.py). A
server none of whose things are granted is not even started. On /mcp names
are namespaced `server__name` (URIs by names.join_uri); on /mcp/NAME they are
the server's own.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from gateway_cli.config import McpConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.mcp import jsonrpc, names
from gateway_cli.mcp.pinned import Server
from gateway_cli.mcp.pins import Section
from gateway_cli.mcp.scopes import Kind, Scope, ScopeError, allows, matches, parse_scope
from gateway_cli.mcp.sessions import Session
from gateway_cli.mcp.transport import UpstreamError
from gateway_cli.request.trace import Trace

if TYPE_CHECKING:
    from gateway_cli.mcp.relay import Relay

log = logging.getLogger("gateway.mcp")
# Methods answered per kind: the list method, the result's key and the item's name field.
LISTS: dict[str, tuple[Kind, Section, str]] = {
    "tools/list": ("tool", "tools", "name"),
    "prompts/list": ("prompt", "prompts", "name"),
    "resources/list": ("resource", "resources", "uri"),
    "resources/templates/list": ("resource", "resourceTemplates", "uriTemplate")}


def scopes_of(principal: Principal, config: McpConfig) -> tuple[Scope, ...]:
    """What the principal is granted; a malformed scope grants nothing (never everything)."""
    texts = config.open_scopes if principal.kind == "open" else principal.scopes
    return _parsed(tuple(texts))


@functools.lru_cache(maxsize=4096)
def _parsed(texts: tuple[str, ...]) -> tuple[Scope, ...]:
    """Parsed once per distinct list of scope strings (pure), not once per request."""
    out = []
    for text in texts:
        try:
            out.append(parse_scope(text))
        except ScopeError:
            continue
    return tuple(out)


def grants_of(scopes: Iterable[Scope], server: str) -> bool:
    """Whether any scope could grant anything on `server` (its server part matches)."""
    return any(matches(s.server, server) for s in scopes)


def targets(servers: Mapping[str, Server], scope: str | None) -> list[Server]:
    return [servers[scope]] if scope is not None else list(servers.values())


async def answer(relay: Relay, method: str, message: jsonrpc.Message, session: Session,
                 scopes: tuple[Scope, ...], trace: Trace) -> dict[str, Any]:
    kind, key, field_name = LISTS[method]
    out: list[dict[str, Any]] = []
    for server in targets(relay.servers, session.server):
        if not grants_of(scopes, server.name):
            continue  # nothing of this server is granted: do not even start it
        try:
            items = await relay.pins.served(server, key)
        except UpstreamError as err:
            if session.server is not None:
                raise
            log.warning("%s (left out of the aggregated list)", err)
            continue
        for item in items:
            name = item.get(field_name)
            if not isinstance(name, str) or not allows(scopes, server.name, kind, name):
                continue
            if session.server is None:
                joined = names.join_uri(server.name, name) if kind == "resource" \
                    else names.join(server.name, name)
                item = {**item, field_name: joined}
            out.append(item)
    return jsonrpc.result(message.id, {key: out})
