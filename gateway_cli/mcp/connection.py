"""One upstream MCP server as the gateway holds it: started on first use, initialised,
restarted with backoff when it dies, its requests numbered by the gateway.

The gateway is the only client the upstream sees: every downstream session
shares this one connection, with ids the gateway allocates (so two clients
that both use id 1 never collide upstream) and progress tokens the gateway
substitutes (so one client never sees another's progress).

A request the server sends on its own (sampling, elicitation, roots) goes to
the handler of the call whose stream carried it. On stdio nothing in MCP
says which call that is: it goes to the call whose (gateway-assigned)
progress token the server names in `_meta.progressToken` (every stdio call
gets one, whether its client asked for progress or not), else to the one
call in flight when there is exactly one, and is refused with an error that
says why otherwise (never guessed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from gateway_cli import __version__
from gateway_cli.config import McpServerConfig
from gateway_cli.keys.refs import Secret, resolve
from gateway_cli.keys.store import SecretStore
from gateway_cli.mcp import jsonrpc
from gateway_cli.mcp.transport import (
    PROTOCOL_VERSION,
    Handler,
    HttpTransport,
    StdioTransport,
    Transport,
    UpstreamError,
)

log = logging.getLogger("gateway.mcp")
MINIMAL_PATH = "/usr/local/bin:/usr/bin:/bin"
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
SHORT_LIFE = 10.0  # a child that dies sooner than this after starting counts as failing
Notice = Callable[[str, dict[str, Any]], Awaitable[None]]


def child_env(config: McpServerConfig, home: Path, name: str,
              store: SecretStore | None, private: Path | None = None) -> dict[str, str]:
    """The child's whole environment: a minimal PATH and a private HOME (under the state
    directory unless `private` is given), then what the config grants, with `store:NAME`
    values read from the secret store (and nothing else of the gateway's environment)."""
    if private is None:
        private = home / "mcp" / "home" / name
        private.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {"PATH": MINIMAL_PATH, "HOME": str(private)}
    for var, value in config.env.items():
        env[var] = resolve(value, f"MCP server {name!r} env {var}", store).reveal() \
            if value.startswith("store:") else value
    return env


def program(command: list[str], env: Mapping[str, str]) -> list[str]:
    """The command with its program found on the child's PATH, else on the gateway's."""
    first = command[0]
    if os.path.isabs(first):
        return command
    found = shutil.which(first, path=env.get("PATH")) or shutil.which(first)
    return [found or first, *command[1:]]


def _progress_to(handler: Handler, token: object) -> Handler:
    """A handler that gives progress back under the client's own token."""

    async def handle(message: dict[str, Any]) -> dict[str, Any] | None:
        params = message.get("params")
        if isinstance(params, dict):
            message = {**message, "params": {**params, "progressToken": token}}
        return await handler(message)

    return handle


class Connection:
    def __init__(self, name: str, config: McpServerConfig, *, home: Path,
                 store: SecretStore | None, on_notice: Notice | None = None,
                 limit: int = 16 * 1024 * 1024, child_home: Path | None = None) -> None:
        self.name = name
        self.child_home = child_home  # the child's HOME when not under the state directory
        self.config = config
        self.home = home
        self.store = store
        self.on_notice = on_notice
        self.limit = max(limit, config.max_result_bytes * 4 + 65536)
        self.transport: Transport | None = None
        self.ids = itertools.count(1)
        self.lock = asyncio.Lock()
        self.failures = 0
        self.starts = 0  # successful starts, for /metrics (restarts are the ones after the first)
        self.next_try = 0.0
        self.started = 0.0
        self.initialized: dict[str, Any] = {}
        self.progress: dict[str, Handler] = {}
        self.handlers: dict[int, Handler] = {}  # upstream id -> handler of calls in flight
        self.owners: dict[str, Handler] = {}  # our progress token -> its call's handler
        self.secret: Secret | None = None
        self.granted: tuple[str, ...] = ()  # the child's env values read from the store
        if config.url is not None and config.secret is not None:
            self.secret = resolve(config.secret, f"MCP server {name!r}", store)

    # -- lifecycle -----------------------------------------------------------------------

    def _transport(self) -> Transport:
        if self.config.url is not None:
            return HttpTransport(self.name, self.config.url, self.secret, self._message,
                                 self.limit)
        assert self.config.command is not None
        env = child_env(self.config, self.home, self.name, self.store, self.child_home)
        self.granted = tuple(env[var] for var, value in self.config.env.items()
                             if value.startswith("store:"))
        return StdioTransport(self.name, program(self.config.command, env), env,
                              self.config.cwd, self._message, self.limit, self.granted)

    async def ensure(self) -> Transport:
        transport = self.transport
        if transport is not None and transport.alive:
            return transport
        async with self.lock:
            if self.transport is not None and self.transport.alive:
                return self.transport
            if self.transport is not None:
                if time.monotonic() - self.started < SHORT_LIFE:
                    self._failed()
                log.warning("MCP server %r stopped; starting it again", self.name)
                await self.transport.close()
                self.transport = None
            wait = self.next_try - time.monotonic()
            if wait > 0:
                raise UpstreamError(f"MCP server {self.name!r} is failing; the gateway "
                                    f"tries it again in {wait:.1f} s")
            transport = self._transport()
            try:
                await transport.start()
                self.started = time.monotonic()
                await self._handshake(transport)
            except UpstreamError:
                self._failed()
                await transport.close()
                raise
            self.transport = transport
            self.starts += 1
            log.info("MCP server %r ready (%s)", self.name,
                     self.initialized.get("serverInfo", {}).get("name", "?")
                     if isinstance(self.initialized.get("serverInfo"), dict) else "?")
            return transport

    def _failed(self) -> None:
        self.failures += 1
        self.next_try = time.monotonic() + min(BACKOFF_MAX,
                                               BACKOFF_FIRST * 2 ** (self.failures - 1))

    async def _handshake(self, transport: Transport) -> None:
        capabilities: dict[str, Any] = {}
        if self.config.client_requests == "relay":
            capabilities = {"sampling": {}, "elicitation": {}, "roots": {}}
        answer = await transport.request(jsonrpc.request(next(self.ids), "initialize", {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": capabilities,
            "clientInfo": {"name": "gateway", "version": __version__}}), None,
            self.config.timeout)
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("protocolVersion"), str):
            raise UpstreamError(f"MCP server {self.name!r} refused to initialise")
        self.initialized = result
        if isinstance(transport, HttpTransport):
            transport.protocol_version = result["protocolVersion"]
        await transport.send(jsonrpc.notification("notifications/initialized"))
        self.failures = 0
        self.next_try = 0.0

    async def close(self) -> None:
        if self.transport is not None:
            await self.transport.close()
            self.transport = None

    def stderr_tail(self) -> list[str]:
        """The last lines a stdio child wrote on stderr, redacted (none for HTTP)."""
        transport = self.transport
        return list(transport.stderr.lines) if isinstance(transport, StdioTransport) else []

    def own_secrets(self) -> tuple[str, ...]:
        """The credentials the gateway gave this server: never to be shown to a client."""
        own = self.granted
        if self.secret is not None:
            own = (*own, self.secret.reveal())
        return own

    # -- traffic -------------------------------------------------------------------------

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.initialized.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   handler: Handler | None = None,
                   sent: Callable[[int], None] | None = None) -> dict[str, Any]:
        """The upstream's response message (result or error) to one request."""
        transport = await self.ensure()
        upstream_id = next(self.ids)
        params = dict(params or {})
        token = None
        meta = params.get("_meta")
        asked = isinstance(meta, dict) and "progressToken" in meta
        # On stdio every call with a handler gets a token of the gateway's, asked for
        # progress or not: it is the only name a server can give a call when it sends a
        # request of its own (see _owner). Progress under a token the client did not ask
        # for goes nowhere.
        if handler is not None and (asked or self.config.command is not None):
            token = f"gw-{self.name}-{upstream_id}"
            params["_meta"] = {**(meta if isinstance(meta, dict) else {}),
                               "progressToken": token}
            if asked:
                assert isinstance(meta, dict)
                self.progress[token] = _progress_to(handler, meta["progressToken"])
            self.owners[token] = handler
        elif asked:
            assert isinstance(meta, dict)
            params["_meta"] = {k: v for k, v in meta.items() if k != "progressToken"}
        if handler is not None:
            self.handlers[upstream_id] = handler
        if sent is not None:
            sent(upstream_id)
        try:
            return await transport.request(jsonrpc.request(upstream_id, method, params),
                                           handler, self.config.timeout)
        finally:
            self.handlers.pop(upstream_id, None)
            if token is not None:
                self.progress.pop(token, None)
                self.owners.pop(token, None)

    def _owner(self, message: dict[str, Any], params: dict[str, Any]
               ) -> tuple[Handler | None, dict[str, Any]]:
        """The call a server's request (sampling, elicitation, roots) belongs to, on a
        transport that does not say (stdio): the call whose progress token the server
        gives in `_meta` (taken out before the client sees it: it is the gateway's), else
        the one call in flight when there is exactly one; else none (never guessed)."""
        meta = params.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get("progressToken"), str | int):
            owner = self.owners.get(str(meta["progressToken"]))
            if owner is not None:
                rest = {k: v for k, v in meta.items() if k != "progressToken"}
                cleaned = {**params, "_meta": rest} if rest else \
                    {k: v for k, v in params.items() if k != "_meta"}
                return owner, {**message, "params": cleaned}
        if len(self.handlers) == 1:
            return next(iter(self.handlers.values())), message
        return None, message

    def _unrouted(self, method: str) -> str:
        if not self.handlers:
            return f"{method[:60]} arrived while no call is in flight: nobody to ask"
        return (f"{method[:60]} cannot be routed: {len(self.handlers)} calls are in flight "
                "and stdio does not say which one this request belongs to (MCP gives a "
                "server-to-client request no related request id there); name the call by "
                "its progress token in params._meta.progressToken, or make one call at a "
                "time")

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        transport = await self.ensure()
        await transport.send(jsonrpc.notification(method, params))

    async def _message(self, message: dict[str, Any], handler: Handler | None) -> None:
        """Something the server sent that answers none of our requests."""
        method = message.get("method")
        if not isinstance(method, str):
            return
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        assert isinstance(params, dict)
        if "id" in message:  # a request of the server's own
            target, message = (handler, message) if handler is not None \
                else self._owner(message, params)
            answer = await target(message) if target is not None else None
            if answer is None and target is None:
                answer = jsonrpc.error(message.get("id"), jsonrpc.INVALID_REQUEST,
                                       self._unrouted(method))
                log.warning("MCP server %r: %s", self.name, answer["error"]["message"])
            elif answer is None:
                answer = jsonrpc.error(message.get("id"), jsonrpc.METHOD_NOT_FOUND,
                                       f"the gateway does not relay {method[:60]} here")
            if self.transport is not None:
                with contextlib.suppress(UpstreamError):
                    await self.transport.send(answer)
            return
        if method == "notifications/progress":
            target = self.progress.get(str(params.get("progressToken")))
            if target is not None:
                await target(message)
            return
        if method == "notifications/cancelled":
            return
        if handler is not None and method == "notifications/message":
            await handler(message)
            return
        if self.on_notice is not None:
            await self.on_notice(self.name, message)
