"""One pool of kept-alive connections per provider, on the gateway's own HTTP/1.1 client.

Each provider gets its own pool with a bounded size (`max_connections`, in use and idle
together; callers beyond it wait, bounded by the deployment's timeout) and a 30 s
keep-alive, so one slow provider cannot starve the others of connections. Where
requests go is decided by gateway.toml alone: no proxy settings from the environment, no
redirect followed (gateway_cli/net/http1.py). The client replaced aiohttp here
(bench/README.md, "2026-12-07: the provider upstream on the lean HTTP/1.1 client").
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway_cli import __version__
from gateway_cli.net import http1

USER_AGENT = f"gateway/{__version__}"
KEEP_ALIVE = 30.0
# Asked for as aiohttp did; the answer is decoded in bounded pieces (net/inflate.py).
_HEADERS = {"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate"}


@dataclass(frozen=True)
class _Settings:
    max_connections: int
    connect_timeout: float


class UpstreamPool:
    def __init__(self) -> None:
        self._settings: dict[str, _Settings] = {}
        self._clients: dict[str, http1.Client] = {}
        # Clients replaced by `gateway reload` (a provider's settings changed): requests
        # and streams in flight may still use them, so they are closed at shutdown.
        self._retired: list[http1.Client] = []

    def open(self, name: str, *, max_connections: int, connect_timeout: float) -> None:
        """Set up the provider's pool (its connections open when first needed)."""
        self._settings[name] = _Settings(max_connections, connect_timeout)
        replaced = self._clients.pop(name, None)
        if replaced is not None:
            self._retired.append(replaced)

    def client(self, name: str, url: str) -> http1.Client:
        """The provider's client; made for `url`'s origin at the first request (every
        URL of a provider shares its base URL)."""
        client = self._clients.get(name)
        if client is None:
            settings = self._settings[name]
            client = self._clients[name] = http1.Client(
                url, connect_timeout=settings.connect_timeout,
                max_open=settings.max_connections, max_idle=settings.max_connections,
                keep_idle=KEEP_ALIVE, headers=_HEADERS)
        return client

    async def close(self) -> None:
        for client in [*self._clients.values(), *self._retired]:
            await client.close()
        self._clients.clear()
        self._retired.clear()
