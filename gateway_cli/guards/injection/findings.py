"""What every part of the injection guard shares: its name, its limits, and how a finding is made.

The limits are what keep the worst case linear in the length of the text:
findings per detector are capped, decoded payloads are bounded in length and
count, and decoded text is re-scanned only to a fixed depth.
"""

from __future__ import annotations

from typing import Final, Protocol

from gateway_cli.guards.base import Finding, mask

GUARD: Final = "injection"

MAX_DEPTH: Final = 2  # decoded text is re-scanned, and its decodings once more
MAX_PER_DETECTOR: Final = 16
MAX_DECODE_CANDIDATES: Final = 8
MAX_DECODE_CHARS: Final = 4096
PREVIEW_KEEP: Final = 12


class Rescan(Protocol):
    """The whole scan, for a decoder or a smuggling check to re-scan the text it uncovered."""

    def __call__(self, text: str, depth: int = 0, *,
                 unicode_checks: bool = True) -> list[Finding]: ...


def preview(kind: str, value: str) -> str:
    return f"{kind}: {mask(value, keep=PREVIEW_KEEP)}"


def finding(kind: str, start: int, end: int, confidence: float, value: str) -> Finding:
    return Finding(GUARD, kind, start, end, max(0.0, min(1.0, confidence)),
                   preview(kind, value))
