"""At most one log line per key per interval, saying how many were held back.

A failing upstream under load would otherwise write a warning per request:
the first one is what an operator needs, then a count.
"""

from __future__ import annotations


class Throttle:
    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str, now: float) -> int | None:
        """None to stay quiet; else how many were held back since the last line."""
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)
