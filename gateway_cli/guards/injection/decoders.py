"""Encoded payloads: base64, hex and rot13 runs decoded and scanned again.

An instruction hidden in an encoding is still an instruction to a model that
decodes it, and the encoding is itself a tell. Decoding is bounded: at most a
few candidate runs per text, each cut to a few thousand characters, and the
decoded text is re-scanned only to a fixed depth (`findings.MAX_DEPTH`), so
the worst case stays linear. The run finders read the text's bytes through a
translate table (one C-level pass) before any regex runs.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterable
from typing import Final

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.findings import (
    GUARD,
    MAX_DECODE_CANDIDATES,
    MAX_DECODE_CHARS,
    Rescan,
)
from gateway_cli.guards.injection.views import table, wordset

MIN_B64_RUN: Final = 20
_B64_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
# Base64 characters become "a", all else " ": one `in` finds a long run, no regex pass.
B64_MAP: Final = table({c: "a" for c in _B64_CHARS}, default=lambda _b: 0x20)
_B64_PROBE: Final = b"a" * MIN_B64_RUN
_HEX_MAP: Final = table({**{c: "h" for c in "0123456789abcdefABCDEF"}, " ": " ", ":": " "},
                        default=lambda _b: ord("x"))
_HEX_PROBE: Final = b"hh hh hh hh hh hh hh hh"

B64_RUN: Final = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}")
_HEX_ESC: Final = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){8,}")
_HEX_SPACED: Final = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]){8,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])")

# rot13 of ignore, instructions, system, prompt, disregard, previous.
_ROT13_WORDS: Final = wordset("vtaber vafgehpgvbaf flfgrz cebzcg qvfertneq cerivbhf")


def _printable(decoded: str) -> bool:
    if not decoded:
        return False
    good = sum(1 for c in decoded if c.isprintable() or c in "\n\r\t")
    return good >= 0.9 * len(decoded)


def _try_b64(run: str) -> str | None:
    run = run[: MAX_DECODE_CHARS * 4 // 3].rstrip("=")
    run = run[: len(run) - len(run) % 4] if len(run) % 4 == 1 else run
    try:
        raw = base64.b64decode(run + "=" * (-len(run) % 4), altchars=b"-_"
                               if ("-" in run or "_" in run) else None)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded if _printable(decoded) else None


_HEX_SEPARATORS = re.compile(r"\\x|[ :]")


def _try_hex(run: str) -> str | None:
    digits = _HEX_SEPARATORS.sub("", run[: MAX_DECODE_CHARS * 4])
    if len(digits) % 2 or not digits:
        return None
    try:
        decoded = bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None
    return decoded if _printable(decoded) else None


def decoded_findings(kind: str, label: str, start: int, end: int, decoded: str,
                     depth: int, base_conf: float, rescan: Rescan) -> list[Finding]:
    """One finding for an encoded span whose decoding, re-scanned, has findings of its own."""
    inner = rescan(decoded[:MAX_DECODE_CHARS], depth + 1)
    if not inner:
        return []
    top = max(f.confidence for f in inner)
    return [Finding(GUARD, kind, start, end, min(1.0, max(base_conf, top) + 0.05),
                    f"{kind}: {label} decodes to {inner[0].kind}")]


def b64_runs(text: str, marks: bytes) -> Iterable[tuple[int, int]]:
    """The spans `B64_RUN.finditer(text)` gives, from `marks` (the text's bytes by `B64_MAP`).

    Offsets in `marks` are offsets in `text` only for an ASCII text; otherwise
    this is the regex. A match is a maximal run of 20 or more base64 characters
    and up to two `=` after it; `find` in `marks` lands on the first such run
    from where the last match ended (nothing there continues a run).
    """
    if not text.isascii():
        yield from (m.span() for m in B64_RUN.finditer(text))
        return
    pos = 0
    while True:
        start = marks.find(_B64_PROBE, pos)
        if start < 0:
            return
        end = marks.find(b" ", start + MIN_B64_RUN)
        end = len(text) if end < 0 else end
        pos = end + len(text[end : end + 2]) - len(text[end : end + 2].lstrip("="))
        yield start, pos


def encoded(text: str, raw: bytes, words: frozenset[bytes], depth: int,
            rescan: Rescan) -> list[Finding]:
    """Base64, hex and rot13 payloads in `text` (its UTF-8 bytes `raw`) that decode to an attack."""
    out: list[Finding] = []
    tried = 0
    marks = raw.translate(B64_MAP)
    if _B64_PROBE in marks:
        decodings: dict[str, tuple[tuple[str, str | None], ...]] = {}
        for start, end in b64_runs(text, marks):
            if tried >= MAX_DECODE_CANDIDATES:
                break
            tried += 1
            run = text[start:end]
            pairs = decodings.get(run)
            if pairs is None:  # a run repeated in the text decodes the same
                pairs = decodings[run] = (
                    ("base64", _try_b64(run)),
                    ("hex", _try_hex(run) if len(run) % 2 == 0 else None))
            for label, decoded in pairs:
                if decoded is not None:
                    out += decoded_findings("encoded_payload", label, start, end,
                                            decoded, depth, 0.85, rescan)
    hex_escapes = "\\" in text and "\\x" in text
    hex_spaced = _HEX_PROBE in raw.translate(_HEX_MAP)
    if hex_escapes or hex_spaced:
        for rx in (_HEX_ESC, _HEX_SPACED):
            if (rx is _HEX_ESC and not hex_escapes) or (rx is _HEX_SPACED and not hex_spaced):
                continue
            for m in rx.finditer(text):
                if tried >= 2 * MAX_DECODE_CANDIDATES:
                    break
                tried += 1
                decoded = _try_hex(m.group(0))
                if decoded is not None:
                    out += decoded_findings("encoded_payload", "hex", m.start(), m.end(),
                                            decoded, depth, 0.85, rescan)
    if not _ROT13_WORDS.isdisjoint(words):
        rot = codecs.decode(text, "rot13")  # one code point to one: spans carry over
        for f in rescan(rot, depth + 1, unicode_checks=False):
            if f.kind in ("instruction_override", "prompt_extraction"):
                out.append(Finding(GUARD, "encoded_payload", f.start, f.end,
                                   min(1.0, f.confidence + 0.05),
                                   f"encoded_payload: rot13 decodes to {f.kind}"))
    return out
