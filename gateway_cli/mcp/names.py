"""Names on the aggregated endpoint: `server__tool`, `server__prompt`, `server__<uri>`.

Server names are plain words in which `__` cannot occur (config.McpName), so
the first `__` always separates the server from the name the server chose,
whatever that name holds. Pure.
"""

from __future__ import annotations

from collections.abc import Container

SEPARATOR = "__"


def join(server: str, name: str) -> str:
    return f"{server}{SEPARATOR}{name}"


def split(full: str, servers: Container[str]) -> tuple[str, str] | None:
    """(server, its own name), or None when `full` names no configured server."""
    server, sep, name = full.partition(SEPARATOR)
    if not sep or not name or server not in servers:
        return None
    return server, name


# Resource URIs must stay URIs (clients parse them), so they are namespaced as one:
# `mcp-gateway:<server>/<the server's own URI>`.
URI_PREFIX = "mcp-gateway:"


def join_uri(server: str, uri: str) -> str:
    return f"{URI_PREFIX}{server}/{uri}"


def split_uri(full: str, servers: Container[str]) -> tuple[str, str] | None:
    if not full.startswith(URI_PREFIX):
        return None
    server, sep, uri = full[len(URI_PREFIX):].partition("/")
    if not sep or not uri or server not in servers:
        return None
    return server, uri
