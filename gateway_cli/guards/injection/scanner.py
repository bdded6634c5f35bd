"""One text's findings: the detector table, the heuristics, the decoders and the hidden regions.

Decoded payloads (base64, hex, rot13, tag characters, words split by
zero-width characters) are scanned again by the same function, one level
deeper each time, up to `findings.MAX_DEPTH`.
"""

from __future__ import annotations

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.decoders import encoded
from gateway_cli.guards.injection.detect import run_detectors
from gateway_cli.guards.injection.findings import MAX_DEPTH
from gateway_cli.guards.injection.heuristics import code_payload, gpt_persona, secret_probe
from gateway_cli.guards.injection.hidden import hidden
from gateway_cli.guards.injection.invisible import SUSPECT, invisible
from gateway_cli.guards.injection.tokens import Shared
from gateway_cli.guards.injection.views import ENC, views


def scan_text(text: str, depth: int = 0, *, unicode_checks: bool = True,
              shared: Shared | None = None) -> list[Finding]:
    """Every finding in `text`, repeats included, at re-scan depth `depth`.

    `shared`: the text's split made for the classifier too (`tokens.share`).
    """
    if not text or depth > MAX_DEPTH:
        return []
    v = views(text, shared)
    lowered, words, ascii_only, t = v.lowered, v.words, v.ascii_only, v.t
    found = run_detectors(v)
    found += code_payload(text, lowered, words)
    found += secret_probe(text, lowered, words)
    found += gpt_persona(text, lowered, words)
    if depth < MAX_DEPTH:
        found += encoded(text, text.encode("utf-8", ENC), words, depth, scan_text)
    if unicode_checks and not ascii_only and SUSPECT.search(text):
        found += invisible(text, depth, scan_text)
    if "<" in text or ("]" in text and "](" in text):
        found += hidden(text, lowered, found, t)
    return found


def scan(text: str, *, source: str = "user", shared: Shared | None = None) -> list[Finding]:
    """Every injection signal in `text`, each with its span; `source` does not change these.

    The source changes the score, not the findings, so a caller that logs
    findings sees the same evidence whichever channel the text came from.
    """
    del source
    unique = {(f.kind, f.start, f.end): f for f in scan_text(text, shared=shared)}
    return sorted(unique.values(), key=lambda f: (f.start, f.end, f.kind))
