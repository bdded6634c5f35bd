"""Inspect a model's answer before the client sees it.

The answer is scanned as the upstream sent it (placeholders not yet
restored), so personal data or secrets found there came from the model, not
from the client's own request. Findings from the output guard (canary,
exfiltration links, active HTML) and from the secrets and PII guards are all
judged by the `[inspection.output]` policy: block, mask or flag.

Whole answers are judged (and masked) here. Streams are judged in flight by
`mask_stream.MaskingStream`, which holds back the last `stream_hold`
characters of text under block or mask, so a finding is blocked (the stream
ended with an error event in the client's format) or masked before any of it
is sent; under flag or in observe mode it only watches. `OutputWatch` judges
what is not held (tool-call arguments and other deltas) as it passes, over a
sliding window (`StreamScanner`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import msgspec

from gateway_cli.config import GuardPolicyConfig, Mode, OutputPolicyConfig
from gateway_cli.formats.sse import SSEParser
from gateway_cli.guards import answers, extract, pii, redact, secrets
from gateway_cli.guards.base import Finding, mask, scan_all
from gateway_cli.guards.joined import joined, split_by_slot
from gateway_cli.guards.output import OutputGuard, StreamScanner
from gateway_cli.policy.decide import Decision, decide
from gateway_cli.providers.operations import Family

_decode = msgspec.json.decode


def policies(config: OutputPolicyConfig) -> dict[str, GuardPolicyConfig]:
    policy = GuardPolicyConfig(action=config.action, min_confidence=config.min_confidence,
                               fail_open=config.fail_open)
    return {"output": policy, "secrets": policy, "pii": policy}


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_MAX_RUNS = 64
# A text has a base64 run only if it has 24 of its characters in a row: in the UTF-8
# bytes with each of them made `a` and every other byte a space, `a` * 24 occurs.
# (All are ASCII; a multi-byte character's bytes are all >= 0x80, so never `a`.)
# Two C passes that cost a tenth of the regex's failing at every word of prose.
_RUN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")
_RUN_MARKS = bytes(0x61 if b in _RUN_CHARS else 0x20 for b in range(256))
_MIN_RUN = b"a" * 24


def may_hold_base64(text: str) -> bool:
    """False only when `_BASE64_RUN` cannot match anywhere in `text`."""
    return text.encode("utf-8", "surrogatepass").translate(_RUN_MARKS).find(_MIN_RUN) >= 0


def secrets_in_base64(text: str) -> list[Finding]:
    """Credentials a model base64-encoded: each run that decodes to text is scanned.

    A finding covers the encoded run, so masking or blocking acts on what the
    client would receive.
    """
    out: list[Finding] = []
    if not may_hold_base64(text):
        return out
    for number, run in enumerate(_BASE64_RUN.finditer(text)):
        if number >= _MAX_RUNS:
            break
        encoded = run.group().rstrip("=")
        alphabet = b"-_" if ("-" in encoded or "_" in encoded) else None
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=alphabet,
                                   validate=True)
            decoded = raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            continue
        if not decoded.replace("\n", " ").replace("\t", " ").isprintable():
            continue
        found = secrets.scan(decoded)
        if found:
            best = max(found, key=lambda f: f.confidence)
            out.append(Finding("secrets", f"{best.kind}_base64", run.start(), run.end(),
                               best.confidence, mask(run.group())))
    return out


# What splits one credential into pieces a reader joins again: a string concatenation
# ("sk-ant-..." + "..."), adjacent string literals, a line continuation, or a line break
# inside a run of key characters (a key wrapped at a fixed width).
_KEY_CHARS = r"[A-Za-z0-9_\-/+]"
# Every alternative starts at one of `"'\` or a line break, so the engine skips to
# those characters instead of trying each alternative at every position (9x faster).
_SPLIT = re.compile(
    r"""[\"'`\\\r\n](?:(?<=["'`])\s*\+\s*["'`]|(?<=["'`])\s*\n\s*["'`]|(?<=\\)\r?\n\s*"""
    rf"|(?<={_KEY_CHARS}{{12}}\r)\n[ \t]*(?={_KEY_CHARS}{{4}})"
    rf"|(?<={_KEY_CHARS}{{12}}\n)[ \t]*(?={_KEY_CHARS}{{4}}))")


def secrets_split(text: str) -> list[Finding]:
    """Credentials split in pieces, found in the text with the splits taken out.

    Only findings that span a split are reported (the rest the plain scan
    reports), each covering the pieces as they stand in `text`.
    """
    if "\n" not in text and "+" not in text:
        return []  # every split needs one or the other
    cuts = [(m.start(), m.end()) for m in _SPLIT.finditer(text)]
    if not cuts:
        return []
    pieces, starts, origins = [], [], []
    position = length = 0
    for start, end in cuts:
        starts.append(length)
        origins.append(position)
        pieces.append(text[position:start])
        length += start - position
        position = end
    starts.append(length)
    origins.append(position)
    pieces.append(text[position:])
    joined = "".join(pieces)

    def original(index: int) -> int:
        k = bisect_right(starts, index) - 1
        return origins[k] + index - starts[k]

    out = []
    for found in secrets.scan(joined):
        if found.end <= found.start:
            continue
        start, end = original(found.start), original(found.end - 1) + 1
        if any(start < cut_start and cut_end <= end for cut_start, cut_end in cuts):
            out.append(Finding("secrets", f"{found.kind}_split", start, end, found.confidence,
                               mask(text[start:end])))
    return out


def scanner(config: OutputPolicyConfig, canary: str | None,
            errors: set[str]) -> Callable[[str], list[Finding]]:
    guard = OutputGuard(canary=canary, link_allowlist=frozenset(config.link_allowlist))
    parts: tuple[tuple[str, Callable[[str], list[Finding]]], ...] = (
        ("output", guard.scan), ("secrets", secrets.scan), ("pii", pii.scan),
        ("secrets", secrets_in_base64), ("secrets", secrets_split))

    def scan(text: str) -> list[Finding]:
        return scan_all(parts, text, errors)

    return scan


def value_hash(value: str) -> str:
    """How a request's sensitive values are remembered for one request: never in clear."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def leaks(findings: list[Finding], text: str, known: frozenset[str]) -> list[Finding]:
    """Drop secrets and PII the client itself sent: echoing them back is not a leak."""
    return [f for f in findings if f.guard == "output"
            or value_hash(text[f.start:f.end]) not in known]


def inspect_answer(config: OutputPolicyConfig, mode: Mode, family: Family, answer: Any,
                   canary: str | None,
                   known: frozenset[str] = frozenset()) -> tuple[Decision, Any]:
    """The verdict on a whole answer, and the answer to send (masked when so decided)."""
    errors: set[str] = set()
    scan = scanner(config, canary, errors)
    slots = answers.texts(family, answer)
    texts = [text for _, text in slots]
    whole, starts = joined(texts)  # one pass of each guard over every text of the answer
    by_slot: list[list[Finding]] = [[] for _ in slots]
    for index, finding in split_by_slot(scan(whole) if texts else [], starts, texts):
        by_slot[index].append(finding)
    per_slot = [(path, text, leaks(by_slot[i], text, known))
                for i, (path, text) in enumerate(slots)]
    findings = [f for _, _, found in per_slot for f in found]
    decision = decide(findings, policies(config), mode=mode, errors=sorted(errors))
    if decision.applied != "redact":
        return decision, answer
    edits = {}
    for path, text, found in per_slot:
        chosen = [f for f in found if f.confidence >= config.min_confidence]
        if chosen:
            edits[path] = redact.redact(text, chosen, style="mask")[0]
    if not edits:
        return decision, answer
    return decision, _without_logprobs(extract.replace(answer, edits))


def mask_error_body(config: OutputPolicyConfig, body: bytes) -> bytes:
    """An upstream error body with the secrets and personal data in its texts masked."""
    from gateway_cli.formats.strict_json import JsonProblem, decode_unique

    try:
        value = decode_unique(body)
    except JsonProblem:
        return body
    edits = {}
    for path, text in answers.texts("openai", value):
        found = [f for f in (*secrets.scan(text), *pii.scan(text))
                 if f.confidence >= config.min_confidence]
        if found:
            edits[path] = redact.redact(text, found, style="mask")[0]
    if not edits:
        return body
    return msgspec.json.encode(extract.replace(value, edits))


def _without_logprobs(answer: Any) -> Any:
    """Token logprobs spell the answer out token by token, masked text included."""
    if isinstance(answer, dict):
        for choice in answer.get("choices") or ():
            if isinstance(choice, dict) and choice.get("logprobs") is not None:
                choice["logprobs"] = None
        for item in answer.get("output") or ():  # Responses API
            for part in (item.get("content") or ()) if isinstance(item, dict) else ():
                if isinstance(part, dict) and part.get("logprobs"):
                    part["logprobs"] = []
    return answer


class OutputWatch:
    """Scans a client-format SSE stream as it passes; says when policy ends it.

    Nothing is held back: a finding is judged once the text after it shows where it
    ends, so under block its characters may already have passed. `MaskingStream` uses
    it only for what it does not hold (tool-call arguments and other deltas).
    """

    def __init__(self, config: OutputPolicyConfig, mode: Mode, family: Family,
                 canary: str | None, known: frozenset[str] = frozenset()) -> None:
        self._known = known
        self._text = ""  # the answer so far, to read what a finding points at
        self._config = config
        self._mode = mode
        self._family = family
        self._errors: set[str] = set()
        self._scanner = StreamScanner(scanner(config, canary, self._errors))
        self._parser = SSEParser()
        self._policies = policies(config)
        self.blocked: Decision | None = None
        self.reported: Decision | None = None  # the strongest verdict so far, to report

    def _judge(self, findings: list[Finding]) -> None:
        findings = leaks(findings, self._text, self._known)
        if not findings and not self._errors:
            return
        decision = decide(findings, self._policies, mode=self._mode,
                          errors=sorted(self._errors))
        if decision.applied == "block":
            self.blocked = decision
        if decision.verdict != "allow" and (self.reported is None
                                            or self.reported.verdict != "block"):
            self.reported = decision

    def check(self, data: bytes) -> bool:
        """Feed bytes about to be sent; False when the stream must end before them."""
        for event in self._parser.feed(data):
            if not event.data.startswith("{"):
                continue
            try:
                payload = _decode(event.data)
            except msgspec.DecodeError:
                continue
            if isinstance(payload, dict):
                self.see(answers.delta_texts(self._family, payload))
        return self.blocked is None

    def see(self, texts: list[str]) -> bool:
        """Judge answer text already taken out of its events; False once policy ends the stream."""
        for text in texts:
            self._text += text
            self._judge(self._scanner.feed(text))
        return self.blocked is None

    def finish(self) -> bool:
        self._judge(self._scanner.finish())
        return self.blocked is None


def with_canary(body: dict[str, Any], canary: str, *, anthropic: bool) -> dict[str, Any]:
    """The request with `canary` planted in its system prompt (added if there is none)."""
    from gateway_cli.guards.output import plant

    if anthropic:
        system = body.get("system")
        if isinstance(system, list):
            return {**body, "system": [*system, {"type": "text", "text": plant("", canary)}]}
        return {**body, "system": plant(system if isinstance(system, str) else "", canary)}
    messages = list(body.get("messages") or [])
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in ("system", "developer") \
                and isinstance(message.get("content"), str):
            messages[i] = {**message, "content": plant(message["content"], canary)}
            return {**body, "messages": messages}
    return {**body, "messages": [{"role": "system", "content": plant("", canary)}, *messages]}
