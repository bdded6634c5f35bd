"""Other names for a public model: `aliases = ["claude-opus-4-8", "claude-*-4-5*"]`.

Coding agents ask for model names that change with every release; an alias
lets the operator point them at a configured model without copying its
deployment list. Lookup order makes the answer unambiguous: a model's own
name first, then an exact alias, then the first pattern in the order the
models appear in gateway.toml. A pattern's only wildcard is `*` (any run of
characters); the rest is matched literally. Limits, policy rules and key
scopes all see the canonical name, so an alias is never a way around them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def is_pattern(alias: str) -> bool:
    return "*" in alias


def compile_pattern(alias: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in alias.split("*")), re.DOTALL)


@dataclass(frozen=True)
class Aliases:
    exact: Mapping[str, str]  # alias -> canonical name
    patterns: tuple[tuple[re.Pattern[str], str], ...]  # in config order

    @classmethod
    def of(cls, models: Iterable[tuple[str, Iterable[str]]]) -> Aliases:
        exact: dict[str, str] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for name, aliases in models:
            for alias in aliases:
                if is_pattern(alias):
                    patterns.append((compile_pattern(alias), name))
                else:
                    exact[alias] = name
        return cls(exact, tuple(patterns))

    def canonical(self, name: str, models: Mapping[str, object]) -> str:
        """The configured model `name` stands for; `name` itself when none (a 404 later)."""
        if name in models:
            return name
        found = self.exact.get(name)
        if found is not None:
            return found
        for pattern, target in self.patterns:
            if pattern.fullmatch(name):
                return target
        return name


NO_ALIASES = Aliases({}, ())
