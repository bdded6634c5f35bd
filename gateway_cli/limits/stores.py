"""Open the store `[limits] store` names: one place that knows the three kinds.

The memory store needs nothing; SQLite a file in the state directory; Redis a
URL and, kept apart from it so that it can come from the secret store rather
than the config file, a password.
"""

from __future__ import annotations

import os
from typing import Literal

from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.model import Store
from gateway_cli.limits.redis_store import RedisStore
from gateway_cli.limits.sqlite_store import SqliteStore

StoreKind = Literal["memory", "sqlite", "redis"]


def open_store(kind: StoreKind | str, *, path: str | os.PathLike[str] | None = None,
               url: str | None = None, password: str | None = None,
               prefix: str = "gw:") -> Store:
    """A store of `kind`: `path` is the SQLite file, `url` the redis:// URL (its password,
    if any, is overridden by `password`). Redis connects on first use."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        if path is None:
            raise ValueError("the sqlite limits store needs a file path")
        return SqliteStore(path)
    if kind == "redis":
        if not url:
            raise ValueError("the redis limits store needs a redis:// URL")
        return RedisStore.from_url(url, password=password, prefix=prefix)
    raise ValueError(f"unknown limits store {kind!r}: expected memory, sqlite or redis")
