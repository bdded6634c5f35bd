"""Deployment-specific rules: banned substrings and regexes from gateway.toml.

Substrings match case-insensitively; regexes are compiled once at start-up
(an invalid one is a config error) and searched with Python's `re`, so an
operator's pattern is trusted like the rest of the config: keep them simple.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway_cli.guards.base import Finding, mask


class CustomGuard:
    name = "custom"

    def __init__(self, banned: Sequence[str] = (), regexes: Sequence[str] = ()) -> None:
        words = [re.escape(w) for w in banned if w]
        self._banned = re.compile("|".join(words), re.IGNORECASE) if words else None
        self._regexes = [re.compile(p) for p in regexes]

    def scan(self, text: str) -> list[Finding]:
        found: list[Finding] = []
        if self._banned is not None:
            found += [Finding("custom", "banned_substring", m.start(), m.end(), 1.0,
                              mask(m.group()))
                      for m in self._banned.finditer(text)]
        for i, pattern in enumerate(self._regexes):
            found += [Finding("custom", f"regex_{i}", m.start(), m.end(), 1.0, mask(m.group()))
                      for m in pattern.finditer(text) if m.end() > m.start()]
        return found
