"""Open the limits store the config chose, when serving starts (inside the serving loop).

The memory store counts in one process: with `gateway serve --workers N` each
worker would allow the full rate, so there the SQLite store in the state
directory (shared by the workers, the same file `store = "sqlite"` uses) takes
its place. Redis and SQLite are shared already.
"""

from __future__ import annotations

from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.stores import open_store
from gateway_cli.request.limits import Limiter
from gateway_cli.server.runtime import Runtime


def effective_store(kind: str, workers: int) -> str:
    return "sqlite" if kind == "memory" and workers > 1 else kind


def make_limiter(runtime: Runtime) -> Limiter:
    config = runtime.config.limits
    home = runtime.home
    if home is None:
        from gateway_cli.keys.home import gateway_home

        home = gateway_home(None)
    password = runtime.limits_password.reveal() if runtime.limits_password else None
    kind = effective_store(config.store, runtime.workers)
    store = open_store(kind, path=home / "limits.sqlite", url=config.redis_url,
                       password=password)
    local = MemoryStore() if config.store == "redis" and config.on_store_failure == "local" \
        else None
    return Limiter(config, store, local)
