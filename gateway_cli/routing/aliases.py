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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A client picks the name (up to the body size); no configured name is this long, and a
# pattern is never tried on more.
MAX_NAME = 256


def is_pattern(alias: str) -> bool:
    return "*" in alias


def compile_pattern(alias: str) -> tuple[str, ...]:
    """The literal pieces between the stars."""
    return tuple(alias.split("*"))


def glob_match(pieces: tuple[str, ...], name: str) -> bool:
    """Whether `name` is the pieces in order with anything between them.

    The first piece must start the name and the last end it; each one between is
    found leftmost after the previous (leftmost is always right for `*`-only
    patterns). Linear in the name for each piece: no regular expression, so no
    backtracking a client could make slow.
    """
    first, *middle, last = pieces
    if len(name) < len(first) + len(last) or not name.startswith(first) \
            or not name.endswith(last):
        return False
    at, end = len(first), len(name) - len(last)
    for piece in middle:
        found = name.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


@dataclass(frozen=True)
class Aliases:
    exact: Mapping[str, str]  # alias -> canonical name
    patterns: tuple[tuple[tuple[str, ...], str], ...]  # (pieces, model), in config order

    @classmethod
    def of(cls, models: Iterable[tuple[str, Iterable[str]]]) -> Aliases:
        exact: dict[str, str] = {}
        patterns: list[tuple[tuple[str, ...], str]] = []
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
        if len(name) <= MAX_NAME:
            for pieces, target in self.patterns:
                if glob_match(pieces, name):
                    return target
        return name


NO_ALIASES = Aliases({}, ())
