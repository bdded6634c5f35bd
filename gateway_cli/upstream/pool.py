"""One pooled aiohttp session per provider.

aiohttp rather than httpx: on these machines it costs about a quarter of the
CPU per proxied request (bench/README.md). Each provider gets its own
connection pool with a bounded size and keep-alive, so one slow provider
cannot starve the others of connections. Proxy settings from the environment
are ignored (trust_env=False): where requests go is decided by gateway.toml
alone, not by whatever HTTP_PROXY a process inherited.
"""

from __future__ import annotations

import aiohttp

from gateway_cli import __version__

USER_AGENT = f"gateway/{__version__}"


class UpstreamPool:
    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        # Sessions replaced by `gateway reload` (a provider's settings changed): requests
        # and streams in flight may still use them, so they are closed at shutdown.
        self._retired: list[aiohttp.ClientSession] = []

    def open(self, name: str, *, max_connections: int, connect_timeout: float) -> None:
        """Create the provider's session; must run inside the serving event loop."""
        connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections,
                                         keepalive_timeout=30, ttl_dns_cache=300)
        replaced = self._sessions.get(name)
        if replaced is not None:
            self._retired.append(replaced)
        self._sessions[name] = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, connect=connect_timeout),
            headers={"user-agent": USER_AGENT},
            trust_env=False,
            auto_decompress=True,
            raise_for_status=False,
        )

    def session(self, name: str) -> aiohttp.ClientSession:
        return self._sessions[name]

    async def close(self) -> None:
        for session in [*self._sessions.values(), *self._retired]:
            await session.close()
        self._sessions.clear()
        self._retired.clear()
