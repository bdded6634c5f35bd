"""Reversible redaction: the provider sees `[EMAIL_1]`, the client gets its email back.

Three styles, chosen per policy:

- "placeholder": `[EMAIL_1]`, `[SECRET_2]`. The only reversible style: the
  model can still refer to the value ("I have written to [EMAIL_1]") and
  `restore` / `StreamRestorer` put the original back into the answer. The
  same value gets the same placeholder everywhere in one request, so the
  model can tell two mentions of one address from two addresses.
- "mask": the finding's own preview prefix (`sk-p`, at most a quarter of the
  value) then `****`. For logs and for values the model should not use.
- "hash": `[sha256:1a2b3c4d]`, salted per request: equal values stay equal
  within a request (joins still work) but cannot be matched against a table
  of hashes of known values, or across requests.

The originals live only in the `Redactions` object of one request: in memory,
never logged (its repr shows placeholders only), gone with the request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

from gateway_cli.guards.base import Finding

Style = Literal["placeholder", "mask", "hash"]

# A placeholder: `[`, a label of capitals, digits and `_`, `]`. Linear: the
# class excludes both brackets, so every scan stops at the next bracket.
_PLACEHOLDER = re.compile(r"\[[A-Z0-9_]{1,64}\]")
_PREFIX = re.compile(r"\[[A-Z0-9_]{0,64}")
_LABEL_CHARS = re.compile(r"[^A-Z0-9]+")


class Redactions(Mapping[str, str]):
    """Placeholder → original for one request. Create one per request, share it across texts."""

    __slots__ = ("_by_value", "_counter", "_originals", "_salt")

    def __init__(self) -> None:
        self._originals: dict[str, str] = {}
        self._by_value: dict[str, str] = {}
        self._counter = 0
        # Drawn when the first value is hashed: most requests redact by placeholder, and
        # a draw from the OS is a system call per request.
        self._salt: bytes | None = None

    def __getitem__(self, placeholder: str) -> str:
        return self._originals[placeholder]

    def __iter__(self) -> Iterator[str]:
        return iter(self._originals)

    def __len__(self) -> int:
        return len(self._originals)

    def __repr__(self) -> str:
        return f"Redactions({sorted(self._originals)!r})"

    @property
    def longest(self) -> int:
        """Length of the longest placeholder: the most a stream restorer ever holds back."""
        return max(map(len, self._originals), default=0)

    def placeholder(self, value: str, label: str, text: str) -> str:
        """The placeholder for `value`, allocating one that does not already occur in `text`.

        Skipping placeholders the text already contains keeps a user who
        literally typed `[EMAIL_1]` from having it "restored" into someone's
        address in the answer.
        """
        existing = self._by_value.get(value)
        if existing is not None:
            return existing
        while True:
            self._counter += 1
            candidate = f"[{label}_{self._counter}]"
            if candidate not in text and candidate not in self._originals:
                break
        self._originals[candidate] = value
        self._by_value[value] = candidate
        return candidate

    def digest(self, value: str) -> str:
        if self._salt is None:
            self._salt = secrets.token_bytes(16)
        return hashlib.sha256(self._salt + value.encode()).hexdigest()[:8]


def redact(
    text: str,
    findings: Sequence[Finding],
    *,
    style: Style = "placeholder",
    redactions: Redactions | None = None,
) -> tuple[str, Redactions]:
    """`text` with every finding's span replaced, and the request's `Redactions`.

    Pass the same `redactions` for every text of one request (a new one is
    made when omitted). Overlapping findings are merged into one
    span covering all of them, so no part of any flagged value survives; the
    merged span is labelled by the finding with the highest confidence, then
    the longest.
    """
    if redactions is None:
        redactions = Redactions()
    out: list[str] = []
    position = 0
    for start, end, finding in _merge(findings, len(text)):
        value = text[start:end]
        out.append(text[position:start])
        if style == "placeholder":
            out.append(redactions.placeholder(value, _label(finding), text))
        elif style == "mask":
            out.append(_masked(value, finding.preview))
        elif style == "hash":
            out.append(f"[sha256:{redactions.digest(value)}]")
        else:
            raise ValueError(f"unknown redaction style {style!r}")
        position = end
    out.append(text[position:])
    return "".join(out), redactions


def restore(text: str, redactions: Mapping[str, str]) -> str:
    """`text` with every placeholder of this request replaced by its original.

    One pass: an original that itself looks like a placeholder is not
    expanded again, and brackets that are not ours are left as they are.
    """
    if not redactions or "[" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: redactions.get(m.group(), m.group()), text)


class StreamRestorer:
    """`restore` for a streamed answer, where a placeholder can be split across chunks.

    Holds back only a tail that could still grow into a placeholder of this
    request (from the last `[`, shorter than the longest placeholder); text
    without a pending `[` passes straight through. Concatenating every
    `feed` and the `finish` equals `restore` of the whole text.
    """

    __slots__ = ("_held", "_longest", "_redactions")

    def __init__(self, redactions: Mapping[str, str]) -> None:
        self._redactions = redactions
        self._longest = max(map(len, redactions), default=0)
        self._held = ""

    @property
    def held(self) -> int:
        return len(self._held)

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        self._held = ""
        cut = text.rfind("[")
        if cut >= 0 and len(text) - cut < self._longest and _PREFIX.fullmatch(text, cut):
            # A placeholder has no `[` inside, so no placeholder spans `cut`:
            # restoring the part before it now is the same as restoring later.
            self._held = text[cut:]
            text = text[:cut]
        return restore(text, self._redactions)

    def finish(self) -> str:
        held, self._held = self._held, ""
        return restore(held, self._redactions)


def _merge(findings: Sequence[Finding], length: int) -> list[tuple[int, int, Finding]]:
    spans: list[tuple[int, int, Finding]] = []
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        start, end = finding.start, min(finding.end, length)
        if start >= end:
            continue
        if spans and start < spans[-1][1]:
            prev_start, prev_end, prev = spans[-1]
            spans[-1] = (prev_start, max(prev_end, end), _stronger(prev, finding))
        else:
            spans.append((start, end, finding))
    return spans


def _stronger(a: Finding, b: Finding) -> Finding:
    key_a = (a.confidence, a.end - a.start)
    key_b = (b.confidence, b.end - b.start)
    return b if key_b > key_a else a


def _label(finding: Finding) -> str:
    if finding.guard == "secrets":
        return "SECRET"
    label = _LABELS.get(finding.kind)
    if label is None:
        label = _kind_label(finding.kind)
        if len(_LABELS) < _MAX_LABELS:  # kinds are few; a custom guard's are configured
            _LABELS[finding.kind] = label
    return label


def _kind_label(kind: str) -> str:
    label = _LABEL_CHARS.sub("_", kind.upper()).strip("_")
    return label[:24] or "REDACTED"


# A kind's label, computed once: a regex substitution per redacted value was most of
# `_label`'s cost (six values on a 4 KB support ticket).
_LABELS: dict[str, str] = {}
_MAX_LABELS = 1024


def _masked(value: str, preview: str) -> str:
    """The preview's visible prefix, trusted only if it really is a short prefix of the value."""
    prefix = preview.split("…", 1)[0]
    if not value.startswith(prefix) or len(prefix) > len(value) // 4:
        prefix = ""
    return prefix + "****"
