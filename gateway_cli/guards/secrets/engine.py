"""The scan engine: which detectors run on a text, and one finding per region.

Every prompt goes through every guard, so most text must cost about one pass:

- Every prefixed token is at least 20 characters, so the words of 20+
  characters are joined into a short string (`long_words`) and the ~80
  distinct token needles are looked for there (`in`, a C loop; a missing
  separator such as `_` rules out a whole group at once; formats share a
  needle where they can, since each needle is one pass over the long words);
  a token's regex only runs over the text when its needle is there
  (`tokens`). The needles and what they arm are generated from the token
  table into needles.py. The other detectors are gated by a few literal
  needles (`DETECTORS`), all of one haystack looked for at once
  (guards/literals.py: one pass in C, or each needle behind its rarest
  character); a text with no long word skips the long-word steps (plan.py).
- The same marks say whether the text has a word of 16+ characters: the
  keyword regexes whose values need one do not run without it
  (`assignments.LONG_VALUE`), and each keyword regex runs only once `find`
  sees its literal (`assignments.keyword_matches`).
- Regexes start with a literal where the format allows, so `re` skips ahead
  to it; alternations (which would cost a step per character) are split into
  one literal-led regex each.
- Linear time: token bodies use greedy bounded repetition with no trailing
  assertion, so an attempt that consumed a run succeeds and `finditer`
  resumes after it; boundaries and exact lengths are checked afterwards in
  Python (`token_hits`). A detector that finds more than
  `MAX_HITS_PER_DETECTOR` stops, and the rest of the text is one
  `secrets_overflow` finding.
- Overlaps: the first detector (most specific) wins a region; a finding
  carries `mask(value)`, never the value.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import Final

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.literals import Literals
from gateway_cli.guards.normalise import on_original
from gateway_cli.guards.secrets import assignments, detectors, pairs
from gateway_cli.guards.secrets.assignments import env_gate
from gateway_cli.guards.secrets.needles import NEEDLES
from gateway_cli.guards.secrets.plan import Detector, compile_plan
from gateway_cli.guards.secrets.token_table import GATE_CHARS, TOKENS, Token
from gateway_cli.guards.secrets.values import Hit, is_placeholder, left_ok, right_ok

try:  # the compiled word scan (guards/_runs.c), built where a C compiler was found
    from gateway_cli.guards._runs import words as _word_runs
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _word_runs = None  # type: ignore[assignment]

GUARD: Final = "secrets"
# Confidence at or above which a finding is meant to be acted on (redact/block).
ACT_THRESHOLD = 0.5

# Where a detector's needles are looked for: "long" is the words of 20+
# characters joined (every prefixed token is at least that long, so checking
# dozens of needles there is nearly free), "text" the text, "lower" its
# lower-cased copy; "env" is "long" plus a NAME=value word among the long words,
# "long-rx" is "long" plus a match of the detector's own shape among them
# (`LONG_GATES`).
DETECTORS: tuple[tuple[str, tuple[str, ...], Detector], ...] = (
    ("long", (":AA",), detectors.telegram),
    ("long", ("-us",), detectors.mailchimp),
    # A Discord token is one word of 35+ characters, so in the long words whole:
    # the regex itself, over those, is a closer gate than their dots.
    ("long-rx", (".",), detectors.discord),
    ("long", ("Q~",), detectors.azure_ad),
    ("long", ("eyJ",), detectors.jwt),
    ("text", ("-----BEGIN ",), detectors.private_key),
    ("text", ("service_account",), detectors.gcp),
    ("text", ("://",), detectors.url_creds),
    ("text", ("-u",), detectors.curl),  # also the start of "--user"
    ("lower", ("auth",), detectors.auth),  # Authorization headers and auth=(user, pw)
    ("long", ("_authToken",), detectors.npmrc),
    ("lower", ("x-jfrog-art-api",), detectors.jfrog),
    ("long", ("PuTTY-User-Key-File-",), detectors.putty),
    ("long", (".atlasv1.",), detectors.terraform),
    # The new format has `JQQJ` and `AZDO`; a legacy PAT is a 52-char base32 run.
    ("long", ("AZDO",), detectors.azure_devops),
    ("long-rx", ("",), detectors.azure_devops_legacy),
    ("lower", ("aws", "amazon"), detectors.aws_secret),
    ("long", ("AKIA", "ASIA"), detectors.aws_secret),  # a key id is context for its secret
    ("lower", ("azure", "ocp-apim"), detectors.azure_key),
    ("lower", ("", ), assignments.generic),
    # A name and its value in sibling fields (HAR, Postman, Kubernetes env lists).
    ("lower", ("value",), pairs.pairs),
    # After the keywords (a named credential is the more specific finding): every
    # NAME=value with a long value is one long word.
    ("env", ("=",), assignments.env_assign),
)
# The "long-rx" detectors' own regexes, each found whole within one long word.
LONG_GATES: dict[Detector, Callable[[str], bool]] = {
    detectors.discord: lambda long: detectors.DISCORD.search(long) is not None,
    detectors.azure_devops_legacy: detectors.ado_legacy_gate,
}
# The table compiled for the loop in `_scan` (plan.py): each step's needles as bits of
# its haystack's `Literals`, and a shorter plan for a text with no long word.
PLAN, PLAN_NO_LONG, LITERALS = compile_plan(DETECTORS, LONG_GATES, env_gate)
_MIN_TOKEN = 20
# An ASCII text's bytes with each whitespace character (as `str.split` has it) a
# space and every other character an "a": a run of 20 "a"s is in a long word.
_WORD_MARKS = bytes(0x20 if chr(b).isspace() else 0x61 for b in range(128)) + b"a" * 128
_LONG_RUN = b"a" * _MIN_TOKEN
_VALUE_RUN = b"a" * assignments.LONG_VALUE


def long_words(text: str) -> str:
    """The distinct words (split at whitespace) of 20+ characters, joined by newlines."""
    return words(text, text)[0]


def words(text: str, lower: str) -> tuple[str, bool]:
    """`text`'s distinct words (split at whitespace) of 20+ characters joined by newlines,
    and whether `lower` (its lower-cased copy) has a word of `assignments.LONG_VALUE`+.

    The long words are only ever searched for needles and word shapes that hold
    no newline, so neither their order nor repeats matter. An ASCII text is not
    split: its words are found with `find` on its marks (`_WORD_MARKS`), one
    `find` for both answers when no word is that long (a run of 20 starts at or
    after the first run of 16).
    """
    if _word_runs is not None:
        # One pass in C (guards/_runs.c): whether a word of 16+ characters is there, and
        # the spans of those of 20+, whitespace as `str.split` has it (any text).
        has, spans = _word_runs(text, assignments.LONG_VALUE, _MIN_TOKEN)
        if not spans:
            return "", has
        return "\n".join(dict.fromkeys(text[spans[k]:spans[k + 1]]
                                       for k in range(0, len(spans), 2))), True
    if not text.isascii():
        # `str.split` and `re`'s `\s` (what the keyword values exclude) are the same
        # whitespace (Py_UNICODE_ISSPACE), and `lower`, which the keyword regexes
        # scan, has it where `text` has (tests check every code point for both).
        # The longest word first, in C: prose has no long word, and then no word
        # goes through a Python loop.
        split = text.split()
        longest = max(map(len, split), default=0)
        if longest < _MIN_TOKEN:
            return "", longest >= assignments.LONG_VALUE
        return "\n".join(dict.fromkeys(w for w in split if len(w) >= _MIN_TOKEN)), True
    marks = text.encode("ascii").translate(_WORD_MARKS)  # lower-casing keeps whitespace
    start = marks.find(_VALUE_RUN)
    if start < 0:
        return "", False
    found: list[str] = []
    start = marks.find(_LONG_RUN, start)
    while start >= 0:
        end = marks.find(b" ", start + _MIN_TOKEN)  # the run goes on to the next space
        if end < 0:
            found.append(text[start:])
            break
        found.append(text[start:end])
        start = marks.find(_LONG_RUN, end)
    return "\n".join(dict.fromkeys(found)), True


OVERFLOW = "secrets_overflow"
# Past this many hits from one detector the text is a flood of secret-shaped
# strings (a dump, or crafted to burn CPU): stop there and report the rest of
# the text as one finding, so a redacting caller still covers all of it.
MAX_HITS_PER_DETECTOR = 1000


def capped(hits: Iterator[Hit], n: int) -> Iterator[Hit]:
    """`hits` up to `MAX_HITS_PER_DETECTOR`, then one overflow hit to `n` (the text's end)."""
    for count, hit in enumerate(hits):
        if count == MAX_HITS_PER_DETECTOR:
            yield OVERFLOW, hit[1], n, 1.0
            return
        yield hit


# Up to this length the long words' set of characters costs less than the
# passes it spares; past it, only the separators are looked for first.
_MAX_CHAR_SET = 1 << 16


# The token needles as one `Literals` (two C scans) and what each arms, by bit.
_TOKEN_NEEDLES = Literals([n for n, *_ in NEEDLES])
_ARMS = tuple(idx for *_, idx in NEEDLES)


def tokens(text: str, long: str) -> Iterator[Hit]:
    """The prefixed tokens in `text` whose needles are in `long` (its long words)."""
    armed: set[int] = set()
    if _TOKEN_NEEDLES.compiled:
        # Every needle looked for at once; only the found ones' bits are walked.
        found = _TOKEN_NEEDLES.present(long)
        while found:
            low = found & -found
            armed |= _ARMS[low.bit_length() - 1]
            found ^= low
    elif len(long) <= _MAX_CHAR_SET:
        chars = frozenset(long)
        for n, _, needs, idx in NEEDLES:
            if needs <= chars and n in long:
                armed |= idx
    else:
        has = {c: c in long for c in GATE_CHARS}
        has[""] = True
        for n, g, _, idx in NEEDLES:
            if has[g] and n in long:
                armed |= idx
    for i in sorted(armed):
        yield from capped(token_hits(TOKENS[i], text), len(text))


def token_hits(tok: Token, text: str) -> Iterator[Hit]:
    """Every match of one token's regex in `text` that its checks keep."""
    for m in tok.pattern.finditer(text):
        start, end = m.span()
        if not left_ok(text, start) or not right_ok(text, end, tok.body_chars):
            continue
        if tok.check_group is not None and is_placeholder(m.group(tok.check_group)):
            continue
        conf: float | None = tok.confidence
        if tok.validate is not None:
            conf = tok.validate(m)
        if conf is not None:
            yield tok.kind, *m.span(tok.span_group), conf


def scan(text: str) -> list[Finding]:
    """All credentials in `text`, matched on its folded view (zero-width characters and
    full-width forms cannot hide one; see normalise.py), spans in `text` itself."""
    return on_original(_scan, text)


def _scan(text: str) -> list[Finding]:
    """All credentials in `text`, most specific first, with overlapping matches merged.

    If a detector finds more than `MAX_HITS_PER_DETECTOR`, the text from its
    first unreported hit to the end is one `secrets_overflow` finding.
    """
    lower = lowered(text)
    return findings(all_hits(text, lower), text)


def lowered(text: str) -> str:
    """`text` lower-cased, one character for one (same offsets)."""
    lower = text.lower()
    if len(lower) != len(text):  # a few code points change length when lowered
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return lower


def all_hits(text: str, lower: str) -> list[Hit]:
    """Every detector's hits, in the table's order (the most specific first).

    Each detector runs when a needle of its step is in its haystack (all of a
    haystack's needles looked for at once, plan.py), the steps on the long
    words only when there are some.
    """
    long, long_word = words(text, lower)
    hits: list[Hit] = list(tokens(text, long)) if long else []
    ran: set[Detector] = set()
    hays = (long, lower, text)
    present = [-1, -1, -1]  # per haystack, its needles found (`Literals`), once asked
    literals = LITERALS
    for where, needles, gate, detector in PLAN if long else PLAN_NO_LONG:
        if detector in ran:
            continue
        at = present[where]
        if at < 0:
            at = present[where] = literals[where].present(hays[where])
        if not at & needles:
            continue
        if gate is not None and not gate(long):
            continue
        ran.add(detector)
        found = (assignments.generic(text, lower, long_word)
                 if detector is assignments.generic else detector(text, lower))
        hits.extend(capped(found, len(text)))
    return hits


def findings(hits: list[Hit], text: str) -> list[Finding]:
    """One finding per region (`_resolve`), and the overflow finding if there is one."""
    if not hits:
        return []
    overflow = min((h[1] for h in hits if h[0] == OVERFLOW), default=None)
    if overflow is None:
        return _resolve(hits, text)
    hits = [h for h in hits if h[0] != OVERFLOW]
    # Cut where no kept hit crosses: at `overflow`, or else at the last hit
    # start that nothing before it reaches past.
    reach, safe = 0, 0
    for s, e in sorted((h[1], h[2]) for h in hits if h[1] < overflow):
        if s >= reach:
            safe = s
        reach = max(reach, e)
    if reach > overflow:
        overflow = safe
    kept = [h for h in hits if h[2] <= overflow]
    tail = Finding(GUARD, OVERFLOW, overflow, len(text), 1.0, mask(text[overflow:]))
    return [*_resolve(kept, text), tail]


def _resolve(hits: list[Hit], text: str) -> list[Finding]:
    """Keep one finding per region: the first detector (most specific) wins.

    The kept spans never overlap, so they are kept sorted and each new hit is
    checked against its two neighbours only: many findings stay cheap.
    """
    starts: list[int] = []
    ends: list[int] = []
    chosen: list[Hit] = []
    for hit in hits:
        _, s, e, _ = hit
        if e <= s:
            continue
        i = bisect_right(starts, s)
        if i > 0 and ends[i - 1] > s:
            continue
        if i < len(starts) and starts[i] < e:
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        chosen.insert(i, hit)
    return [Finding(GUARD, kind, s, e, conf, mask(text[s:e])) for kind, s, e, conf in chosen]


class SecretsGuard:
    """The secrets guard as an object, for callers that hold a list of guards."""

    name = "secrets"

    def scan(self, text: str) -> list[Finding]:
        return scan(text)
