"""What every guard returns, and the one way a finding shows the text it found.

A guard is a pure function `scan(text: str) -> list[Finding]`: no IO, no
clock, no global state, linear time in the length of the text. A finding
carries where the match is (code-point offsets, so a caller can redact it)
and a masked preview that is safe to log, print or put in the audit log;
the raw value is never stored in a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

GuardName = Literal["secrets", "pii", "injection", "output", "custom"]


@dataclass(frozen=True, slots=True)
class Finding:
    guard: GuardName
    kind: str  # e.g. "openai_api_key", "email", "instruction_override"
    start: int  # code-point offset in the scanned text, inclusive
    end: int  # exclusive
    confidence: float  # 0.0 .. 1.0
    preview: str  # masked: never the raw value

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span {self.start}..{self.end}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} outside 0..1")


class Guard(Protocol):
    name: str

    def scan(self, text: str) -> list[Finding]: ...


def mask(value: str, keep: int = 4) -> str:
    """A preview that identifies a value to a person without revealing it.

    Shows at most `keep` leading characters (a known prefix such as `sk-p` or
    `ghp_` is what tells a person which credential leaked), never the end,
    and never more than a quarter of the value, then the length.
    """
    shown = value[: min(keep, len(value) // 4)]
    return f"{shown}…({len(value)} chars)"


def scan_all(guards: Iterable[tuple[str, Callable[[str], list[Finding]]]], text: str,
             errors: set[str]) -> list[Finding]:
    """Every guard's findings on `text`; a guard that raises is named in `errors`.

    A failing guard must not silently pass a request, nor take the others down
    with it: the policy decides what its failure means (block unless fail_open).
    """
    found: list[Finding] = []
    for name, scan in guards:
        try:
            found += scan(text)
        except Exception:
            errors.add(name)
    return found
