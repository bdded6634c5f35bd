"""Prompt-injection and jailbreak guard: heuristics with a score, and room for a local model.

Why heuristics first: the gateway must not download or require a model, and
the attacks that matter most against an agent (an instruction override, a
system-prompt extraction, fake chat-template tokens, text hidden from the
human reader) have recognisable surface forms. So does most of a role-play
jailbreak, as scaffolding rather than one phrase: a named persona, framing
that removes the rules ("has no ethical restrictions"), a demand never to
refuse, two answers side by side, a character to keep on pain of lost
tokens, a "[INSERT PROMPT HERE]" slot. Each of those is weak alone, since
honest text uses it too, and a kind of its own, so two or three together
are needed to act. What heuristics cannot see (a persuasive role-play with
none of that) is what the optional `Classifier` hook is for.

How the work stays cheap: a benign prompt is lowered and leet-normalised once
(two C-level passes) and split into words; one set intersection with the
detectors' arming words finds the few detectors worth running (most also need
a second word to co-occur, or a literal to be present), and only those try
their regex, and only where a match can begin: each detector lists the
literals its matches begin with (`starts`, proved from the regex by the unit
tests), a few set lookups in the text's words usually show that none occurs,
and otherwise `find` gives the few places to try. Every regex uses
bounded gaps and no nested quantifiers, decoded payloads are bounded in
length and count, and findings per detector are capped, so the worst case
stays linear in the length of the text.

How the score is made: each finding carries a confidence; the text's score is
the noisy-OR of the strongest finding per kind and the rest at a discount
(independent weak cues add up, one repeated cue does not), then reweighted by
where the text came from: instructions inside a tool result or a retrieved
document are indirect injection, which an honest document has no reason to
contain, so they weigh more; a system prompt is written by the operator and
weighs less.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import codecs
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from gateway_cli.guards.base import Finding, mask

GUARD: Final = "injection"
Source = Literal["user", "system", "tool_result", "document"]

# Score exponent per source: score' = 1 - (1 - score) ** weight.
_SOURCE_WEIGHT: Final[dict[str, float]] = {
    "user": 1.0,
    "system": 0.5,
    "tool_result": 2.0,
    "document": 2.0,
}

_MAX_DEPTH: Final = 2  # decoded text is re-scanned, and its decodings once more
_MAX_PER_DETECTOR: Final = 16
_MAX_DECODE_CANDIDATES: Final = 8
_MAX_DECODE_CHARS: Final = 4096
_MAX_HIDDEN_REGIONS: Final = 64
_MAX_HIDDEN_CHARS: Final = 4000
_MIN_B64_RUN: Final = 20
_ZW_WINDOW: Final = 200
_PREVIEW_KEEP: Final = 12

# All character maps work on UTF-8 bytes: bytes.translate is a 256-entry table
# lookup at C speed whatever the text holds, where str.translate falls back to a
# dict lookup per character once the text is not pure ASCII. Every map touches
# only ASCII bytes and maps them to ASCII bytes, so code-point offsets survive.
_ENC = "surrogatepass"


def _table(mapping: dict[str, str], default: Callable[[int], int] | None = None) -> bytes:
    table = bytearray(range(256)) if default is None else bytearray(default(b) for b in range(256))
    for src, dst in mapping.items():
        table[ord(src)] = ord(dst)
    return bytes(table)


_LEET_PAIRS: Final = {"1": "i", "3": "e", "0": "o", "4": "a", "5": "s", "7": "t",
                      "@": "a", "$": "s"}
# Leetspeak is folded into the matching view, one byte for one.
_LEET: Final = _table(_LEET_PAIRS)
# ASCII punctuation becomes a space, so a split yields the words that arm detectors.
_WORD_MAP: Final = _table(
    {**{chr(c): " " for c in range(128) if not chr(c).isalnum() and chr(c) not in "_'"},
     **_LEET_PAIRS})
_B64_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
# Base64 characters become "a", all else " ": one `in` finds a long run, no regex pass.
_B64_MAP: Final = _table({c: "a" for c in _B64_CHARS}, default=lambda _b: 0x20)
_B64_PROBE: Final = b"a" * _MIN_B64_RUN
_HEX_MAP: Final = _table({**{c: "h" for c in "0123456789abcdefABCDEF"}, " ": " ", ":": " "},
                         default=lambda _b: ord("x"))
_HEX_PROBE: Final = b"hh hh hh hh hh hh hh hh"


# The word map with the apostrophe a separator too: in the result every run of
# non-spaces of an ASCII text's folded view is one of its runs of word characters.
_RUN_MAP: Final = _WORD_MAP.translate(_table({"'": " "}))


@dataclass(frozen=True, slots=True)
class _Start:
    """A literal that can begin a detector's match, written `\\bword\\b` in `_starts`.

    A leading `\\b` says the match begins at a word boundary, a trailing one that a
    non-word character (or the end of the text) follows the literal.
    """

    literal: str  # as it occurs in the detector's view
    # The literal in the spaced copy of an ASCII text's folded view (`_Text.spaced`:
    # every non-word character a space), with a space for each `\\b`; a match
    # at view offset p puts it at copy offset p + shift.
    needle: bytes
    shift: int
    # Wherever the literal occurs in an ASCII text's folded view, each of its
    # runs of word characters that the needle has between two spaces is one of
    # `_Text.pieces()`, and each other run, with the spaces the needle has next
    # to it, is in `_Text.joined()`. In any text and view, each bare run
    # (`loose`) is in `joined()`.
    words: tuple[bytes, ...]
    parts: tuple[bytes, ...]
    loose: tuple[bytes, ...]


def _start(spec: str) -> _Start:
    left = spec.startswith("\\b")
    literal = spec[2:] if left else spec
    right = literal.endswith("\\b")
    literal = literal[:-2] if right else literal
    if not literal or (left and not re.match(r"\w", literal[0])):
        raise ValueError(f"bad start {spec!r}")
    spaced = literal.lower().encode("utf-8", _ENC).translate(_RUN_MAP)
    needle = (b" " if left else b"") + spaced + (b" " if right else b"")
    runs = _runs(needle)
    whole = [r for r in runs if len(r) > 2 and r[:1] == r[-1:] == b" "]
    return _Start(literal, needle, 0 if left else 1, tuple(r[1:-1] for r in whole),
                  tuple(r for r in runs if r not in whole), tuple(spaced.split()))


def _runs(spaced: bytes) -> tuple[bytes, ...]:
    """The runs of non-spaces of `spaced`, each with the spaces next to it."""
    return tuple(spaced[max(0, m.start() - 1) : m.end() + 1]
                 for m in re.finditer(rb"[^ ]+", spaced))


def _probes(literal: str) -> tuple[bytes, ...]:
    """What `_Text.joined()` holds wherever the lowered text contains `literal`.

    Its runs of word characters, with a space where the literal itself has a
    non-word character next to one: true of any text, ASCII or not.
    """
    return _runs(literal.encode("utf-8", _ENC).translate(_RUN_MAP))


def _starts(specs: str) -> tuple[_Start, ...]:
    """`\\bdrop\\b|\\b(skip|ignore)\\b|...`: the literals of which every match begins with one.

    A group `(a|b|)` stands for each of its alternatives (the empty one too), as
    in a regex; groups do not nest.
    """
    literals = (x for spec in re.split(r"\|(?![^()]*\))", specs) for x in _expand(spec))
    return tuple(_start(spec) for spec in dict.fromkeys(literals))


def _expand(spec: str) -> list[str]:
    group = re.search(r"\(([^()]*)\)", spec)
    if group is None:
        return [spec]
    return [x for alt in group.group(1).split("|")
            for x in _expand(spec[: group.start()] + alt + spec[group.end() :])]


class Classifier(Protocol):
    """A local model a user installs; returns P(injection) for a text, in 0..1."""

    def predict(self, text: str) -> float: ...


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    confidence: float
    words: frozenset[bytes]  # any of these words in the lowered, leet-folded text arms it
    subs: tuple[str, ...] = ()  # or any of these substrings of the lowered text
    view: Literal["fold", "raw", "lower"] = "fold"
    non_ascii: bool = False  # cannot match pure ASCII text: skipped for it
    also: frozenset[bytes] = frozenset()  # when set, one of these words must occur too
    # When set, one of these literals (every match contains one) must occur in
    # the detector's view: a cheap `in` that spares a full pass of the regex.
    need: tuple[str, ...] = ()
    # An optional second look at the match that adjusts the confidence.
    adjust: Callable[[str], float] | None = None
    # When set, every match begins with one of these (`_starts`), so the regex is
    # tried only where one occurs: a few `in` checks on the text's distinct words
    # usually show that none does (see `_finditer`). The unit tests prove each
    # list from the regex itself.
    starts: tuple[_Start, ...] = ()


def _c(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _words(spaced: str) -> frozenset[bytes]:
    return frozenset(w.encode() for w in spaced.split())


# Bounded "a few words" gap: no nested unbounded quantifier, so backtracking is
# at most a small constant per start position.
_GAP = r"(?:[\s,]++[\w'\u2019-]{1,20}+){0,4}?[\s,]++"

_VERB_OVERRIDE = (r"(?:ignor(?:e|ing|ed)|disregard(?:ing)?|forg[eo]t(?:ten)?|skip|overrid(?:e|ing)"
                  r"|bypass|abandon|discard|drop|let go of|pay no attention to|stop following"
                  r"|do not follow|don'?t follow|neglect)")
_NOUN_RULES = (r"(?:instructions?|rules|directives?|directions?|guidelines|prompts?|orders|commands"
               r"|constraints|programming|context|messages|polic(?:y|ies)|guardrails"
               r"|everything)")
_TEMPORAL = re.compile(r"\b(?:previous(?:ly)?|prior|above|preceding|earlier|former|original"
                       r"|initial|before|so far|all|every|any|system)\b")


# "ensuring no legal boundaries are breached" asks for the opposite of a jailbreak.
_NOT_BREACHED = (r"(?!\s+(?:are|is|were|was|be|being|get|gets)\s+(?:breached|crossed|violated"
                 r"|broken|exceeded|overstepped))")

_SWITCHED_ON: Final = ("enabled", "activated", "unlocked", "engaged")

_EXTRACTION_STRONG = re.compile(r"\b(?:your|system|initial|original|hidden|secret|above"
                                r"|verbatim|instructed|told|my instructions|given)|systemprompt")


_BARE_SYSTEM_PROMPT = re.compile(r"system\s+prompt", re.IGNORECASE)


def _override_adjust(match: str) -> float:
    # "ignore the rules of grammar" is not an attack; "ignore all previous
    # instructions" is the canonical one. The temporal or totalising word is
    # what separates them.
    return 0.9 if _TEMPORAL.search(match) else 0.4


_EN_DETECTORS: Final[tuple[_Detector, ...]] = (
    _Detector(
        "instruction_override",
        _c(rf"\b{_VERB_OVERRIDE}{_GAP}{_NOUN_RULES}\b"
           r"(?:[\s\w'\u2019,]{0,30}?\b(?:before|above|previously|so far|given to you"
           r"|you (?:got|were given|received)))?"),
        0.9, _words("ignore ignores ignored ignoring disregard disregarding forget forgot forgotten"
                    " override overriding bypass abandon discard drop skip let pay stop follow"
                    " neglect"),
        adjust=_override_adjust,
        need=("instruction", "rules", "directive", "direction", "guidelines", "orders", "commands",
              "constraints", "programming", "context", "messages", "polic", "guardrails",
              "everything", "prompt"),
        starts=_starts(r"\b(ignore|ignored|ignoring|disregard|disregarding|forget|forgot"
                       r"|forgetten|forgotten|skip|override|overriding|bypass|abandon|discard"
                       r"|drop|neglect)\b|\blet go of\b|\bpay no attention to\b"
                       r"|\bstop following\b|\b(do not|don't|dont) follow\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"\b(?:new|updated|real|actual|revised|additional|secret)\s+(?:system\s+)?"
           r"(?:instructions|directives|rules)\s*:"
           r"|\b(?:system|admin|developer)\s+(?:instruction|announcement|override|message)s?"
           r"\s+(?:begins?|follows?|:)"
           r"|\bend of (?:the )?(?:system )?(?:prompt|instructions)\b"),
        0.6, _words("instructions directives rules instruction announcement announcements"
                    " override message messages end"),
        starts=_starts(r"\b(new|updated|real|actual|revised|additional|secret|system|admin"
                       r"|developer)\b|\bend of (the |)(system |)(prompt|instructions)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"\byou are now\s+(?:(?:a|an|the|going|in|called|named|my|no longer|free|[a-z]+gpt)\b"
           r"|[\"\u201c'])"
           r"|\bfrom (?:now on|this (?:point|moment)(?: on(?:wards?)?)?)[\s,]+(?:you|your|we|our)\b"
           r"|\byou (?:are|'re) no longer\s+(?:chatgpt|an? ai|bound|restricted|limited)"
           r"|\byou will now (?:act|pose|pretend|simulate|be|respond)\b"),
        0.45, _words("now longer"),
        starts=_starts(r"\byou are now\b|\bfrom now on\b|\bfrom this (point|moment)\b|\byou ('re"
                       r"|are) no longer\b|\byou will now (act|pose|pretend|simulate|be"
                       r"|respond)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"\bfor the (?:rest|remainder) of (?:this|the|our) (?:conversation|chat|session)[\s,]+"
           r"(?:you|your)\b"),
        0.45, _words("rest remainder"), also=_words("conversation chat session"),
        starts=_starts(r"\bfor the (rest|remainder) of (this|the|our) (conversation|chat"
                       r"|session)\b"),
    ),
    _Detector(
        "prompt_extraction",
        _c(r"\b(?:repeat|print|reveal|show|output|display|tell|give|write|list|dump|leak|share"
           r"|recite|translate|summari[sz]e|spell|copy|paste|continue|what (?:is|are|was|were))"
           r"\b[\s\w,'\u2019]{0,30}?\b(?:your|the|my)\s+(?:(?:initial|original|system|hidden"
           r"|secret|previous|first|full|exact|entire|complete|above|preceding)\s+){0,2}"
           r"(?:system prompt|system message|prompt|instructions|pre-?prompt|directives)\b"
           r"(?:[\s\w,'\u2019]{0,30}?\b(?:you were given|given to you|verbatim|above))?"
           r"|\bsystem\s*_?prompt\b"
           r"|\b(?:my|the|your) (?:system prompt|instructions|initial prompt)"
           r" (?:is|are|was|were)\s*:?"
           r"|\bi was (?:instructed|told) to\b"),
        0.7, _words("prompt instructions preprompt directives systemprompt system_prompt"
                    " instructed told"),
        # The bare term ("requests carry a long system prompt") names the thing, it does not
        # ask for it: weak alone, evidence next to other cues.
        adjust=lambda m: (0.3 if _BARE_SYSTEM_PROMPT.fullmatch(m)
                          else 0.8 if _EXTRACTION_STRONG.search(m) else 0.3),
        starts=_starts(r"\b(repeat|print|reveal|show|output|display|tell|give|write|list|dump"
                       r"|leak|share|recite|translate|summarise|summarize|spell|copy|paste"
                       r"|continue)\b|\bwhat (is|are|was|were)\b|\b(system|systemprompt"
                       r"|system_prompt)\b|\b(my|the|your) (system prompt|instructions"
                       r"|initial prompt) (is|are|was|were)|\bi was (instructed|told) to\b"),
    ),
    _Detector(
        "prompt_extraction",
        _c(r"\b(?:repeat|print|reveal|output|display|copy|show|recite)\b[\s\w,'\u2019]{0,20}?"
           r"\b(?:text|everything|words|content|all)\s+(?:above|before this)\b"
           r"(?:[\s\w,'\u2019]{0,20}?\b(?:verbatim|word for word|in full))?"),
        0.7, _words("above"), also=_words("repeat print reveal output display copy show recite"),
        starts=_starts(r"\b(repeat|print|reveal|output|display|copy|show|recite)\b"),
    ),
    _Detector(
        "jailbreak_term",
        _c(r"\bjailbr(?:eak|oken|eaking)\b"),
        0.3, _words("jailbreak jailbroken jailbreaking"),
        adjust=lambda m: 0.6 if m.endswith("oken") else 0.3,
        starts=_starts(r"\b(jailbreak|jailbreaking|jailbroken)\b"),
    ),
    _Detector(
        "jailbreak_roleplay",
        _c(r"\bdo anything now\b|\b(?:dan|jailbreak|jailbroken|unrestricted|unfiltered) mode\b"
           r"|\bevil confidant\b|\bstrive to avoid norms\b|\balways intelligent and machiavellian\b"
           r"|\b(?:freed|broken free|break free) (?:of|from) the typical confines\b"
           r"|\btypical confines of ai\b"
           # "Developer Mode" is a phone setting and "god mode" a game cheat; only
           # the AI itself in that mode, or a mode's "output", is the jailbreak.
           r"|\b(?:chatgpt|gpt|ai|assistant|model|yourself)\s+(?:with|in|into)\s+(?:the\s+)?"
           r"(?:developer|god|evil|chaos|opposite) mode\b"
           r"|\b(?:developer|god|evil|chaos|opposite) mode (?:output|response|answer)s?\b"),
        0.85, _words("anything mode confidant strive machiavellian confines"),
        starts=_starts(r"\bdo anything now\b|\b(dan|jailbreak|jailbroken|unrestricted"
                       r"|unfiltered) mode\b|\bevil confidant\b|\bstrive to avoid norms\b"
                       r"|\balways intelligent and machiavellian\b|\b(freed|broken free"
                       r"|break free) (of|from) the typical confines\b|\btypical confines of ai\b"
                       r"|\b(chatgpt|gpt|ai|assistant|model|yourself)\b|\b(developer|god|evil"
                       r"|chaos|opposite) mode (output|response|answer)"),
    ),
    _Detector(
        # The bare mode, as a settings question would name it: weak alone.
        "jailbreak_roleplay",
        _c(r"\b(?:developer|god|evil|chaos|opposite)(?: |\\?_)mode\b(?:\s*[:=]?\s*(?:is\s+)?"
           r"(?:now\s+)?(?:enabled|activated|on|unlocked|engaged))?"),
        0.3, _words("mode _mode developer_mode god_mode"),
        also=_words("developer god evil chaos opposite _mode developer_mode god_mode"),
        adjust=lambda m: 0.35 if m.endswith(_SWITCHED_ON) else 0.3,
        starts=_starts(r"\b(developer|god|evil|chaos|opposite)( |_|\_)mode\b"),
    ),
    _Detector(
        "mode_switch",
        # Switched on only: "run it in debug mode" is how every web framework talks.
        _c(r"\b(?:admin|sudo|root|maintenance|debug(?:ging)?)(?: |\\?_)mode\b\s*[:=]?\s*"
           r"(?:is\s+)?(?:now\s+)?(?:enabled|activated|unlocked|engaged)\b"),
        0.3, _words("mode _mode admin_mode debug_mode"),
        also=_words("enabled activated unlocked engaged"),
        starts=_starts(r"\b(admin|sudo|root|maintenance|debug|debugging)( |_|\_)mode\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\b(?:free (?:of|from)|without(?: any)?|no|not bound by(?: any)?|not limited by"
           r"|not restricted by|break(?:s|ing)?|bypass(?:es|ing)?|ignor(?:e|es|ing)|don'?t have"
           r"|doesn'?t have|does not have|do not have|never (?:follow|abide by)"
           r"|overrid(?:e|es|ing)|circumvent(?:s|ing)?)"
           r"\s++(?:all |any |the |its |your |of )?(?:[\w'\u2019-]{1,15}+\s++){0,2}?"
           r"(?:restrictions|filters|filtering|limitations|censorship|boundaries"
           r"|ethical (?:guidelines|principles|constraints)|moral (?:guidelines|principles)"
           r"|content polic(?:y|ies)|openai(?:'s)? (?:rules|polic(?:y|ies)|guidelines))\b"
           + _NOT_BREACHED +
           r"|\bwithout any (?:ethical|moral)\b"
           r"|\bnot (?:bound|limited|restricted) by (?:any )?(?:rules|ethics|morals)\b"),
        0.45, _words("restrictions filters filtering limitations censorship boundaries ethical"
                     " moral openai ethics morals"),
        starts=_starts(r"\bfree (of|from)\b|\b(without|no)\b|\bnot (bound|limited"
                       r"|restricted) by\b|\b(break|breaks|breaking|bypass|bypasses|bypassing"
                       r"|ignore|ignores|ignoring|override|overrides|overriding|circumvent"
                       r"|circumvents|circumventing)\b|\b(don't|dont|doesn't|doesnt|does not"
                       r"|do not) have\b|\bnever (follow|abide by)\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\bno (?:moral|ethical|legal)(?:,?\s+(?:or\s+|and\s+)?(?:moral|ethical|legal)){0,2}"
           r"\s+(?:bounds|boundaries|restrictions|limits|constraints|guidelines|obligations)\b"
           + _NOT_BREACHED),
        0.45, _words("moral ethical legal"),
        also=_words("bounds boundaries restrictions limits constraints guidelines obligations"),
        starts=_starts(r"\bno (moral|ethical|legal)\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\b(?:not bound by any|unbound(?:ed)? by(?: any)?)\s++(?:[\w'\u2019-]{1,15}+\s++){0,2}?"
           r"(?:limits|rules|ethics|morals|morality|laws|guidelines|principles)\b"
           r"|\bnot (?:limited|bound|restricted|constrained) by (?:what |the |any )?"
           r"(?:[\w'\u2019-]{1,15}+\s++){0,3}?(?:an? )?(?:ai|language model|chatgpt|openai|gpt)\b"),
        0.45, _words("bound unbound unbounded limited restricted constrained"),
        also=_words("limits rules ethics morals morality laws guidelines principles ai model"
                    " chatgpt openai gpt"),
        starts=_starts(r"\bnot (bound|limited|restricted|constrained) by\b|\b(unbound"
                       r"|unbounded) by\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\b(?:no|any|without)\s+regard\s+(?:to|for)\s+(?:the\s+)?(?:[\w'\u2019-]{1,15}+\s++)?"
           r"(?:morality|legality|ethics|laws?|rules)\b"),
        0.45, _words("regard"), also=_words("morality legality ethics law laws rules"),
        starts=_starts(r"\b(no|any|without)\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\b(?:does not|doesn'?t|do not|don'?t|never|won'?t|will not|not)\s+(?:have to\s+"
           r"|need to\s+)?(?:follow|obey|abide by|adhere to|comply with)\s+(?:any|openai'?s?)"
           r"\s+(?:[\w'\u2019-]{1,15}+\s++){0,2}?(?:rules|guidelines|polic(?:y|ies)|restrictions|laws)\b"
           r"|\bno (?:prohibitions|censorship)\b"),
        0.45, _words("follow obey abide adhere comply prohibitions censorship"),
        also=_words("rules guidelines policy policies restrictions laws prohibitions censorship"),
        need=("any", "openai", "no prohibitions", "no censorship"),
        starts=_starts(r"\b(does not|doesn't|doesnt|do not|don't|dont|never|won't|wont|will not"
                       r"|not)\b|\bno (prohibitions|censorship)\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\b(?:break(?:s|ing)?|bypass(?:es|ing)?|overrid(?:e|es|ing)|circumvent(?:s|ing)?|defy"
           r"|defies|defying)\s+(?:all |any |the |its |your |normal )?(?:ai|openai'?s?|chatgpt'?s?"
           r"|safety|content|ethical|moral)\s+(?:rules|guidelines|polic(?:y|ies)|conventions"
           r"|restrictions|protocols)\b"),
        0.45, _words("break breaks breaking bypass bypasses bypassing override overrides"
                     " overriding circumvent circumvents circumventing defy defies defying"),
        also=_words("ai openai openai's chatgpt chatgpt's safety content ethical moral"),
        starts=_starts(r"\b(break|breaks|breaking|bypass|bypasses|bypassing|override|overrides"
                       r"|overriding|circumvent|circumvents|circumventing|defy|defies|defying)\b"),
    ),
    _Detector(
        # Alone these are NotInject's trigger words ("an unfiltered list of rock songs").
        "jailbreak_no_limits",
        _c(r"\b(?:amoral|unfiltered|uncensored|unrestricted)\b"),
        0.3, _words("amoral unfiltered uncensored unrestricted"),
        starts=_starts(r"\b(amoral|unfiltered|uncensored|unrestricted)\b"),
    ),
    _Detector(
        # Split from the cues below so that a flood of "act as " without an AI
        # noun arms neither: this one needs the noun, those do not need "act".
        "persona_setup",
        _c(r"\b(?:pretend|act|behave|roleplay|role-play|simulate|immerse yourself)"
           r"\s+(?:to be|as|like|being|into the role of)\s+(?:an?\s+)?(?:[\w-]{1,30}+\s++){0,3}?"
           r"(?:ai|chatbot|language model|model|assistant|bot|gpt)\b"),
        0.2, _words("pretend act behave roleplay role simulate immerse"),
        also=_words("ai chatbot model assistant bot gpt"),
        need=(" as ", " like ", " to be ", " being ", " into the role of "),
        starts=_starts(r"\b(pretend|act|behave|roleplay|role-play|simulate|immerse yourself)\b"),
    ),
    _Detector(
        "persona_setup",
        _c(r"\b(?:two|2) (?:different |separate |distinct )?(?:ways|responses|outputs|answers)\b"
           r"|\bpretend(?:ing)? to be\b|\bimmerse yourself\b"
           r"|\b(?:hypothetical|fictional|imaginary) (?:language model|ai|chatbot|world)\b"
           r"|\b(?:character|ai|model|bot|chatbot) (?:called|named)\b|\balter ego\b"
           r"|\b(?:as an ai language model|i'?m sorry,? but)\b"
           r"|\bchat ?gpt\b"),
        0.2, _words("pretend pretending immerse two 2 model sorry chatgpt gpt character"
                    " hypothetical fictional imaginary ai bot chatbot alter"),
        need=("pretend", "immerse", "ways", "responses", "outputs", "answers", "hypothetical",
              "fictional", "imaginary", "called", "named", "alter ego", "language model",
              "sorry", "gpt"),
        starts=_starts(r"\b(two|2) (different |separate |distinct |)(ways|responses|outputs"
                       r"|answers)\b|\b(pretend|pretending) to be\b|\bimmerse yourself\b"
                       r"|\b(hypothetical|fictional|imaginary) (language model|ai|chatbot"
                       r"|world)\b|\b(character|ai|model|bot|chatbot) (called|named)\b"
                       r"|\balter ego\b|\bas an ai language model\b|\b(i'm|im) sorry\b"
                       r"|\b(chat gpt|chatgpt)\b"),
    ),
    _Detector(
        "persona_name",
        _c(r"\b(?:DAN|STAN|AIM|DUDE|APOPHIS)\b(?![\w'\u2019-])"),
        0.25, _words("dan stan aim dude apophis"), view="raw",
        starts=_starts(r"\b(DAN|STAN|AIM|DUDE|APOPHIS)\b"),
    ),
    _Detector(
        "persona_setup",
        _c(r"\bsimulat(?:e|es|ing)\s+being\b|\bpretend (?:that )?you(?:'re| are)\b"),
        0.2, _words("simulate simulates simulating pretend"), also=_words("being you you're"),
        starts=_starts(r"\b(simulate|simulates|simulating)\b|\bpretend (that |)(you're|you are)\b"),
    ),
    _Detector(
        "persona_setup",
        _c(r"\btake on the (?:role|persona) of\b"
           r"|\byour (?:new )?(?:persona|character) (?:is|will be)\b"),
        0.2, _words("role persona character"), also=_words("take your"),
        need=("take on the", "persona is", "persona will", "character is", "character will"),
        starts=_starts(r"\btake on the (role|persona) of\b|\byour (new |)(persona|character) (is"
                       r"|will be)\b"),
    ),
    _Detector(
        "persona_setup",
        _c(r"\byou(?:'ll| will) be (?:called|known as|named)\b"),
        0.2, _words("called known named"), also=_words("you'll will"),
        starts=_starts(r"\b(you'll|you will) be (called|known as|named)\b"),
    ),
    _Detector(
        "persona_setup",
        _c(r"\b(?:act|pretend|behave|roleplay|role-play|simulate)\s+(?:to be|as|like|being)\s+"
           r"[\"\u201c']?[\w-]{1,30}+[\"\u201d']?,?[\"\u201d']?\s+(?:an?|the)\s+"
           r"(?:[\w'\u2019-]{1,20}+\s++){0,3}?(?:ai|chatbot|language model|model|assistant|bot)\b"),
        0.2, _words("act pretend behave roleplay role simulate"),
        also=_words("ai chatbot model assistant bot"),
        need=(" as ", " like ", " to be ", " being "),
        starts=_starts(r"\b(act|pretend|behave|roleplay|role-play|simulate)\b"),
    ),
    # Jailbreak scaffolding. Each cue below also occurs in honest text (a game
    # that keeps score, a question about what "never refuse" means), so each
    # is weak alone (0.2-0.4) and is a kind of its own: the noisy-OR in
    # `combine` adds independent kinds, so it takes two or three of them
    # together (a persona that answers twice, never refuses and loses tokens
    # for breaking character) to reach 0.5. Each is armed by a pair of words
    # (`words` and `also`) that ordinary prompts rarely hold together, so a
    # prompt pays for these regexes only when it looks like one.
    _Detector(
        "dual_response",
        _c(r"[\[(]\s*(?:\U0001f512|\U0001f513)|(?:\U0001f512|\U0001f513)\s*(?:classic|jailbreak"
           r"|jailbroken|normal|developer|unlocked|unfiltered|dan)\b"),
        0.4, frozenset(), ("\U0001f512", "\U0001f513"), view="lower", non_ascii=True,
    ),
    _Detector(
        "dual_response",
        _c(r"\b(?:answer|respond|reply)(?:s|ing)?\s++(?:[\w'\u2019-]{1,20}+\s++){0,3}?as both\b"),
        0.4, _words("both"),
        also=_words("answer answers answering respond responds responding reply replies replying"),
        need=("as both",),
        starts=_starts(r"\b(answer|answers|answering|respond|responds|responding|reply|replys"
                       r"|replying)\b"),
    ),
    _Detector(
        "dual_response",
        _c(r"\b(?:provide|give|show|write)\s+(?:me\s+)?(?:with\s+)?both\s+(?:answers|responses"
           r"|replies|versions)\b"),
        0.4, _words("both"), also=_words("answers responses replies versions"),
        starts=_starts(r"\b(provide|give|show|write)\b"),
    ),
    _Detector(
        "dual_response",
        _c(r"\bfirst(?:ly)?,?\s+(?:respond|answer|reply)\s+as\b"
           r"|\b(?:respond|answer|reply)\s+first\s+(?:as|with how you (?:would )?normally)\b"
           r"|\bthe first (?:one )?(?:as|being) (?:chatgpt|gpt|yourself|the ai|an ai)\b"),
        0.4, _words("first firstly"), also=_words("respond answer reply as being"),
        starts=_starts(r"\b(first|firstly|respond|answer|reply)\b|\bthe first (one |)(as"
                       r"|being) (chatgpt|gpt|yourself|the ai|an ai)\b"),
    ),
    _Detector(
        "dual_response",
        _c(r"\bopposite of (?:what |how )?(?:chatgpt|gpt|openai|the (?:ai|assistant|original"
           r"|normal))\b"
           r"|\bopposite of (?:what|how) (?:the user|you|i) (?:wants?|asks?|says?|requests?"
           r"|would normally)\b"),
        0.4, _words("opposite"), also=_words("chatgpt gpt openai ai assistant original normal user"
                                              " you i"),
        starts=_starts(r"\bopposite of (what |how |)(chatgpt|gpt|openai|the ai|the assistant"
                       r"|the original|the normal)\b|\bopposite of (what|how) (the user|you"
                       r"|i) (want|wants|ask|asks|say|says|request|requests|would normally)\b"),
    ),
    _Detector(
        # "Let's play a game": the usual opening of a rule-changing role-play.
        "game_framing",
        _c(r"\blet['\u2019]?s play a (?:fun |little |new )?(?:[\w-]{1,20}+ )?game\b"
           r"|\b(?:i|we) (?:want|would like|'d like) to play a (?:[\w-]{1,20}+ )?game\b"
           r"|\bin this (?:role-?playing )?game,? you\b"),
        0.2, _words("game"), also=_words("play this"),
        starts=_starts(r"\b(let's|let’s|lets) play a\b|\b(i|we) (want|would like"  # noqa: RUF001
                       r"|'d like) to play a\b|\bin this (game|roleplaying game"
                       r"|role-playing game)\b"),
    ),
    _Detector(
        "character_lock",
        _c(r"\b(?:stay|remain|keep|staying|remaining)\s+in\s+(?:character|persona)\b"
           r"|\bbreak(?:s|ing)?\s+(?:out\s+of\s+)?character\b|\bcharacter\s+break"
           r"|\bkeep\s+(?:up\s+)?(?:the\s+)?(?:act|character|persona)\b"),
        0.35, _words("character persona act"),
        also=_words("stay remain keep staying remaining break breaks breaking"),
        starts=_starts(r"\b(stay|staying|remain|remaining|keep|break|breaks|breaking|character)\b"),
    ),
    _Detector(
        "character_lock",
        _c(r"\bstay\s+in\s+[a-z]{2,15}+\s+mode\b"
           r"|\b(?:lose|lost|losing|deduct(?:ed|s)?|take away)\s+(?:\d{1,6}\s+|some\s+|all\s+)?"
           r"(?:of\s+)?(?:your\s+)?(?:tokens|points|lives)\b"),
        0.35, _words("mode tokens points lives"),
        also=_words("stay lose lost losing deduct deducted deducts take"), view="lower",
        starts=_starts(r"\b(stay|lose|lost|losing|deduct|deducted|deducts)\b|\btake away\b"),
    ),
    _Detector(
        "compliance_demand",
        # What is never refused matters: a request, an answer, the user; "a
        # detective who never refuses a case" is fiction, not a demand.
        _c(r"\b(?:(?:never|not ever|n't ever)\s+(?:refuse|deny|decline|reject)s?"
           r"|(?:will|must|should|can|shall|may|do|does)\s*(?:not|n't)\s+(?:ever\s+)?"
           r"(?:refuse|deny|decline))"
           r"(?:\s+(?:to\s+(?:answer|respond|reply|comply|help|assist|do|write|say|generate|provide"
           r"|fulfil+|obey|create|give)|an?\s+(?:request|question|prompt|order|command|task|answer)"
           r"|any(?:thing)?|requests|questions|prompts|orders|commands|the\s+user|me|answering"
           r"|responding|replying|my|his|her|their)\b|(?=\s*(?:[.,!;:\"\u201d)]|$)))"),
        0.35, _words("refuse refuses deny denies decline declines reject rejects"),
        also=_words("never not ever won't don't can't shouldn't mustn't cannot doesn't"),
        starts=_starts(r"\b(never|not ever|n't ever)\b|\b(will|must|should|can|shall|may|do"
                       r"|does)(not|n't|)\b"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\b(?:answer|respond to|reply to|fulfil+|comply with|obey)\s+(?:any|every|all)\s++"
           r"(?:[\w'\u2019-]{1,20}+\s++){0,2}?(?:questions?|prompts?|requests?|commands?|orders?)\b"),
        0.35, _words("questions question prompts prompt requests request commands orders"),
        also=_words("answer respond reply fulfil fulfill comply obey"),
        need=("any", "every", "all"),
        starts=_starts(r"\b(answer|respond to|reply to|comply with|obey)\b|\bfulfil"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\bno matter (?:how|what|if)\s++(?:[\w'\u2019-]{1,20}+\s++){0,3}?(?:illegal|unethical"
           r"|immoral|harmful|dangerous|offensive|explicit|inappropriate|wrong|evil|vile"
           r"|controversial|derogatory|hateful|racist)\b"),
        0.35, _words("matter"),
        also=_words("illegal unethical immoral harmful dangerous offensive explicit inappropriate"
                    " wrong evil vile controversial derogatory hateful racist"),
        starts=_starts(r"\bno matter (how|what|if)\b"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\bregardless of\s+(?:any\s+|the\s+|its\s+|their\s+|how\s+)?"
           r"(?:[\w'\u2019-]{1,20}+\s++){0,2}?(?:legality|legal|ethics|ethical|morality|moral|morals"
           r"|laws?|rules|consequences|harm\w{0,4}|polic(?:y|ies)|guidelines|illegal|unethical"
           r"|immoral|dangerous)\b"),
        0.35, _words("regardless"),
        also=_words("legality legal ethics ethical morality moral morals law laws rules"
                    " consequences harm harmful harms policy policies guidelines illegal unethical"
                    " immoral dangerous"),
        starts=_starts(r"\bregardless of\b"),
    ),
    _Detector(
        "compliance_demand",
        # "without warning" alone is an idiom ("may change without warning").
        _c(r"\bwithout\s+(?:any\s+(?:warnings?|disclaimers?)|warnings|disclaimers?"
           r"|censor(?:ing|ship)?|remorse)\b"
           r"|\b(?:never|not|don'?t|do not)\s+(?:include|including|add|adding|give|giving"
           r"|contain|containing)\s+(?:any\s+)?(?:warnings?|disclaimers?|moralizing|moral lectures?"
           r"|apolog(?:y|ies)|caveats?)\b"),
        0.35, _words("warning warnings disclaimer disclaimers censor censoring censorship remorse"
                     " moralizing moral apology apologies caveat caveats"),
        also=_words("without never not don't"),
        starts=_starts(r"\b(without|never|not|don't|dont|do not)\b"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\b(?:doesn'?t|does not|don'?t|do not|won'?t|will not|never)\s+(?:cares?|worry|worries)"
           r"\s+(?:about|for)\s++(?:[\w'\u2019-]{1,20}+\s++){0,3}?(?:consequences|ethics|ethical"
           r"|morals?|morality|legality|rules|laws?|safety|harm|guidelines|polic(?:y|ies))\b"),
        0.35, _words("care cares worry worries"),
        also=_words("consequences ethics ethical moral morals morality legality rules law laws"
                    " safety harm guidelines policy policies"),
        starts=_starts(r"\b(doesn't|doesnt|does not|don't|dont|do not|won't|wont|will not"
                       r"|never)\b"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\b(?:can|will|could)\s+(?:say|write|generate|produce)\s+(?:absolutely\s+)?anything\b"
           r"|\bwhatever\s+(?:it|he|she|they|you|the user|i|we)\s+(?:wants?|asks?|requests?"
           r"|desires?)\b"),
        0.35, _words("anything whatever"),
        also=_words("say write generate produce want wants ask asks request requests desire"
                    " desires"),
        starts=_starts(r"\b(can|will|could|whatever)\b"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\bnone of (?:your|its|his|her|their) (?:responses|answers|replies|messages)"
           r" (?:should|will|must|can|may)\b"
           r"|\b(?:never|not) (?:tell|say to|inform) (?:me|the user|anyone) (?:that )?(?:it|you|he"
           r"|she|they) (?:can'?t|cannot|can not|(?:is|are) (?:unable|not able))\b"),
        0.35, _words("none tell inform say"),
        also=_words("responses answers replies messages can't cannot unable"),
        starts=_starts(r"\bnone of (your|its|his|her|their)\b|\b(never|not) (tell|say to"
                       r"|inform) (me|the user|anyone)\b"),
    ),
    _Detector(
        "identity_denial",
        _c(r"\b(?:do not|don'?t|never|stop|not)\s+(?:(?:pretend(?:ing)? to be|respond(?:ing)? as"
           r"|act(?:ing)? (?:as|like))\s+(?:an? |the )?(?:ai|large language model|language model"
           r"|chatgpt|gpt)\b|(?:remind\w{0,3} (?:me|the user|anyone)|mention(?:ing)?) (?:that )?"
           r"you(?:'re| are)\s+(?:an? |the )?(?:ai|large language model|language model|chatgpt|gpt"
           r"|assistant|chatbot|computer program)\b)"),
        0.4, _words("pretend pretending respond responding act acting remind reminding mention"
                    " mentioning"),
        also=_words("ai model chatgpt gpt assistant chatbot computer"),
        need=("not ", "n't ", "never ", "stop "),
        starts=_starts(r"\b(do not|don't|dont|never|stop|not)\b"),
    ),
    _Detector(
        "identity_denial",
        _c(r"\byou(?:'re| are) (?:not|no longer) (?:an? )?"
           r"(?:ai|chatgpt|language model|assistant)\b"),
        0.4, _words("not longer"), also=_words("ai chatgpt model assistant"),
        need=("you are", "you're"),
        starts=_starts(r"\b(you're|you are) (not|no longer)\b"),
    ),
    _Detector(
        # "[INSERT PROMPT HERE]": the slot of a jailbreak template passed around to be filled.
        "template_placeholder",
        _c(r"[\[{(<]\s*(?:insert\s++(?:[\w'\u2019-]{1,20}+\s++){0,2}?(?:prompt|question|request)"
           r"|(?:your|my)\s+(?:prompt|question|request)\s+here|prompt\s+here)"),
        0.3, _words("insert here"), also=_words("prompt question request"),
    ),
    _Detector(
        "harm_vocabulary",
        _c(r"\b(?:illegal|unethical|immoral|harmful|dangerous|offensive|explicit)\b,?\s+"
           r"(?:or\s+|and\s+)?(?:[\w'\u2019-]{1,20}+\s++)?(?:illegal|unethical|immoral|harmful"
           r"|dangerous|offensive|explicit)\b"),
        0.2, _words("illegal unethical immoral harmful dangerous offensive explicit"),
        also=_words("or and"),
        starts=_starts(r"\b(illegal|unethical|immoral|harmful|dangerous|offensive|explicit)\b"),
    ),
    _Detector(
        "harm_vocabulary",
        _c(r"\b(?:content|safety) filters?\b"
           r"|\bopenai'?s?\s+(?:content\s+)?(?:polic(?:y|ies)|rules|guidelines|restrictions|filters?)\b"),
        0.2, _words("filter filters openai openai's"),
        also=_words("content safety policy policies rules guidelines restrictions filter filters"),
        starts=_starts(r"\b(content|safety) (filter|filters)\b|\b(openai|openais)\b"),
    ),
    _Detector(
        "secret_probe",
        _c(r"\b(?:password|secret(?: word)?)\s+(?:that\s+)?you\s+(?:have been|were|are)\s+"
           r"(?:instructed|told|asked|programmed)\s+(?:not\s+to|to\s+not|never\s+to)\b"),
        0.45, _words("password secret"), also=_words("instructed told asked programmed"),
        starts=_starts(r"\b(password|secret)\b"),
    ),
    _Detector(
        "role_token",
        _c(r"<\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text"
           r"|start_header_id|end_header_id|eot_id)\|?>"
           r"|\[/?inst\]|<</?sys>>|</s>|<s>\s*\[inst"
           r"|^[ \t]*#{2,}\s*(?:system|instruction|instructions|assistant|user|response)\s*:",
           re.MULTILINE),
        0.7, frozenset(), ("<|", "[inst", "[/inst", "<<sys", "<</sys", "</s>", "##"),
        view="lower",
    ),
    _Detector(
        "role_token",
        _c(r"^[ \t]*(?:human|assistant|system|user|ai|chatgpt|gpt)\s*:", re.MULTILINE),
        0.35, frozenset(), ("human:", "assistant:", "system:", "user:", "ai:", "gpt:"),
        view="lower",
    ),
    _Detector(
        "indirect_instruction",
        _c(r"\b(?:ai|assistant|model|chatbot|llm|agent)\s*[,:]\s*(?:please\s+)?"
           r"(?:ignore|instead|you must|do not|don'?t|send|tell|forward|reply|respond|output)\b"
           r"|\binstead,?\s+(?:you (?:should|must|will)|tell|say|respond|reply|output|print)\b"
           r"|\b(?:incorporate|integrate|include|insert|introduce|embed|utili[sz]e|add)\s+(?:the\s+)?"
           r"(?:following|subsequent|below)\s+(?:code|text|link|url|snippet|section|block)"
           r"|\b(?:send|forward|post|upload|exfiltrate)\s+(?:the\s+|all\s+|this\s+)?"
           r"(?:conversation|chat history|user'?s? data|credentials|password|api key)"),
        0.3, _words("instead following subsequent below exfiltrate conversation credentials"
                    " password api"),
        starts=_starts(r"\b(ai|assistant|model|chatbot|llm|agent|instead|incorporate|integrate"
                       r"|include|insert|introduce|embed|utilise|utilize|add|send|forward|post"
                       r"|upload|exfiltrate)\b"),
    ),
    _Detector(
        # "Integrate the subsequent code block into your response": text that tells
        # the model to carry a payload into its answer (BIPIA's code attacks).
        "indirect_instruction",
        _c(r"\b(?:incorporat(?:e|es|ing)|integrat(?:e|es|ing)|includ(?:e|es|ing)|inclusion of"
           r"|insert(?:s|ing)?|introduc(?:e|es|ing)|embed(?:s|ding)?|utili[sz](?:e|es|ing)"
           r"|add(?:s|ing)?|append(?:s|ing)?|inject(?:s|ing)?)\s+(?:the\s+|this\s+)?"
           r"(?:following|subsequent|below|given|provided|attached)\s+(?:[\w-]{1,15}+\s+)?"
           r"(?:code|snippet|script|block|section|function|payload|command)s?\b"
           r"(?:[^\n]{0,60}?\b(?:in|into|within|to)\s+your\s+(?:[\w-]{1,15}+\s+)?"
           r"(?:response|answer|reply|output|elucidation|explanation|message)s?\b)?"
           r"|\b(?:modify|update|revise|change|amend|enhance|augment|extend)\s+your\s+"
           r"(?:[\w-]{1,15}+\s+)?(?:response|answer|reply|output|elucidation|explanation)s?\s+"
           r"(?:by|to)\s+(?:includ|incorporat|insert|add|integrat|embed|append)\w{0,5}"),
        0.35, _words("incorporate incorporates incorporating integrate integrates integrating"
                     " include includes including inclusion insert inserts inserting introduce"
                     " introduces introducing embed embeds embedding utilize utilizes utilizing"
                     " utilise utilises utilising add adds adding append appends appending"
                     " inject injects injecting"),
        also=_words("following subsequent below given provided attached"),
        need=("code", "snippet", "script", "block", "section", "function", "payload", "command"),
        adjust=lambda m: 0.45 if "your" in m else 0.35,
        starts=_starts(r"\b(add|adds|adding|append|appends|appending|inject|injects|injecting"
                       r"|insert|inserts|inserting|incorporate|incorporates|incorporating"
                       r"|integrate|integrates|integrating|include|includes|including|introduce"
                       r"|introduces|introducing|embed|embeds|embedding|utilise|utilises"
                       r"|utilising|utilize|utilizes|utilizing|modify|update|revise|change|amend"
                       r"|enhance|augment|extend)\b|\binclusion of\b"),
    ),
    _Detector(
        "prompt_extraction",
        _c(r"\b(?:repeat|print|reveal|output|display|dump|leak|recite|show|list)\s+(?:me\s+)?"
           r"(?:all\s+|the\s+|any\s+|your\s+)?(?:previous|prior|preceding|earlier|initial|original"
           r"|hidden|secret)\s+(?:instructions|prompts?|directives|system prompt)\b"),
        0.7, _words("instructions prompt prompts directives"),
        also=_words("previous prior preceding earlier initial original hidden secret"),
        need=("repeat", "print", "reveal", "output", "display", "dump", "leak", "recite", "show",
              "list"),
        starts=_starts(r"\b(repeat|print|reveal|output|display|dump|leak|recite|show|list)\b"),
    ),
)

# Core override and extraction phrases in other languages. Literal enough that a
# hit is a strong signal.
_EVERYTHING: Final = ("todo", "tout", "alles", "tutto", "tudo", "всё", "все")
_ML_DETECTORS: Final[tuple[_Detector, ...]] = (
    _Detector(
        "instruction_override",
        _c(  # es, pt, it, fr, de
            r"\bignor(?:a|ar|e|ez|er|ate|iere|ieren|ieren sie)\s++(?:\w{1,15}+\s++){0,3}?"
            r"(?:instrucciones|instruções|instrucoes|instructions|istruzioni|anweisungen"
            r"|indicaciones|consignes|regeln|reglas|regole|regras|befehle|ordens|órdenes|ordini)"
            r"|\b(?:olvida|olvidar|oublie|oubliez|vergiss|vergessen sie|esqueça|esqueca|dimentica)"
            r"\s++(?:\w{1,15}+\s++){0,3}?"
            r"(?:instrucciones|instruções|instrucoes|instructions|istruzioni|anweisungen"
            r"|reglas|règles|regeln|regole|regras)"
            r"|\b(?:игнорируй|игнорируйте|забудь|забудьте)\s++(?:\w{1,15}+\s++){0,3}?"
            r"(?:инструкции|указания|команды|правила)"
        ),
        0.9, _words("ignora ignorar ignore ignorez ignorer ignorate ignoriere ignorieren olvida"
                    " olvidar oublie oubliez vergiss vergessen esqueça esqueca dimentica"
                    " игнорируй игнорируйте забудь забудьте"),
        need=("instrucciones", "instruções", "instrucoes", "instructions", "istruzioni",
              "anweisungen", "indicaciones", "consignes", "regeln", "reglas", "regole",
              "regras", "befehle", "ordens", "órdenes", "ordini", "règles", "инструкции",
              "указания", "команды", "правила"),
        starts=_starts(r"\b(ignora|ignorar|ignore|ignorez|ignorer|ignorate|ignoriere|ignorieren"
                       r"|olvida|olvidar|oublie|oubliez|vergiss|vergessen sie|esqueça|esqueca"
                       r"|dimentica|игнорируй|игнорируйте|забудь|забудьте)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"忽略(?:之前|以前|上面|上述|先前|前面|所有|全部|你)?的?(?:所有|全部)?的?"
           r"(?:指令|指示|说明|命令|提示|规则)"
           r"|(?:以前|前|上記|これまで|先)の(?:すべての)?(?:指示|命令|指令|ルール)を(?:すべて)?無視"
           r"|(?:指示|命令|指令)を(?:すべて)?無視"),
        0.9, frozenset(), ("忽略", "無視"), view="lower", non_ascii=True,
    ),
    _Detector(
        "prompt_extraction",
        _c(r"\b(?:muestra|revela|repite|imprime|dime|montre|révèle|revele|répète|repete|affiche"
           r"|zeige|zeig|wiederhole|gib|mostra|rivela|ripeti|mostre|revele|repita)"
           r"\s+(?:(?:me|mir|moi|mi|tu|tus|el|la|las|ton|ta|tes|votre|vos|deinen|deine|den|die"
           r"|il|le|i|seu|sua|suas|o|a|as)\s+){0,3}"
           r"(?:prompt|instrucciones|instructions|anweisungen|istruzioni|instruções|instrucoes"
           r"|mensaje del sistema|systemprompt|system-prompt)"
           r"|(?:显示|输出|告诉我|重复|打印|泄露)(?:你的)?(?:系统提示|提示词|系统指令|初始指令)"
           r"|システムプロンプト(?:を|の内容を)?(?:表示|教えて|出力|見せて)"
           r"|(?:покажи|выведи|повтори|раскрой)(?:те)?\s+(?:(?:свой|свои|твой|твои|мне)\s+){0,2}"
           r"(?:системный промпт|системные инструкции|инструкции)"),
        0.85, _words("prompt instrucciones instructions anweisungen istruzioni instruções"
                     " instrucoes systemprompt system промпт инструкции"),
        ("系统提示", "提示词", "系统指令", "初始指令", "システムプロンプト"),
        need=("muestra", "revela", "repite", "imprime", "dime", "montre", "révèle", "revele",
              "répète", "repete", "affiche", "zeig", "wiederhole", "gib", "mostra", "rivela",
              "ripeti", "mostre", "repita", "显示", "输出", "告诉我", "重复", "打印", "泄露",
              "システムプロンプト", "покажи", "выведи", "повтори", "раскрой"),
        starts=_starts(r"\b(muestra|revela|repite|imprime|dime|montre|révèle|revele|répète|repete"
                       r"|affiche|zeig|zeige|wiederhole|gib|mostra|rivela|ripeti|mostre|repita)\b"
                       r"|(显示|输出|告诉我|重复|打印|泄露|システムプロンプト|покажи|выведи"
                       r"|повтори|раскрой)"),
    ),
    _Detector(
        "instruction_override",
        _c(r"(?:忽视|忽視|无视)(?:之前|以前|上面|上述|先前|前面|所有|全部|你)?的?(?:所有|全部)?的?"
           r"(?:指令|指示|说明|說明|命令|提示|规则|規則)"
           r"|(?:지시|명령|지침|규칙|프롬프트)(?:을|를|은|는|사항을)?\s*(?:모두\s*)?무시"),
        0.9, frozenset(), ("忽视", "忽視", "无视", "무시"), view="lower", non_ascii=True,
    ),
    _Detector(
        # "Forget everything": es, fr, de, it, pt, ru; with "before"/"above" it is
        # the override itself, alone it may be a figure of speech.
        "instruction_override",
        _c(r"\b(?:olvida|olvídate de|oublie|oubliez|vergiss|vergessen sie|dimentica|dimenticate"
           r"|esqueça|esqueca|esquece|забудь|забудьте)\s+(?:todo|tout|alles|tutto|tudo|всё|все)\b"
           r"(?:[\s\w,'\u2019]{0,30}?\b(?:anterior(?:es|mente)?|antes|précéd\w*|preced\w*|avant|ci-dessus"
           r"|vorher|davor|bisher|zuvor|oben|obigen?|precedent[ei]|prima|sopra|acima|ранее|выше"
           r"|прежде))?"
           r"|忘(?:记|掉|記)(?:之前|以前|上面|上述|先前)的?(?:所有|一切|全部)?"
           r"|(?:これまで|以前|前|上)の(?:指示|命令|内容|会話)を(?:すべて|全部)?忘れ"),
        0.45, _words("olvida olvídate oublie oubliez vergiss vergessen dimentica dimenticate"
                     " esqueça esqueca esquece забудь забудьте"),
        ("忘记", "忘掉", "忘記", "忘れ"),
        adjust=lambda m: 0.45 if m.endswith(_EVERYTHING) else 0.85,
        starts=_starts(r"\b(olvida|olvídate de|oublie|oubliez|vergiss|vergessen sie|dimentica"
                       r"|dimenticate|esqueça|esqueca|esquece|забудь|забудьте)\b|(忘|これまでの"
                       r"|以前の|前の|上の)"),
    ),
    # "From now on you are ...": es/pt, fr, de, it, ru, then zh, ja, ko. Each
    # starts with its literal (no leading \b) so `re` skips ahead to it.
    _Detector(
        "instruction_override",
        _c(r"a partir de (?:ahora|agora|hoy|hoje)[\s,]+(?:(?:tú|tu|usted|você)\s+)?(?:eres|serás"
           r"|seras|vas a|vai|actuarás|responderás|debes|deve|deves|é|és|será)(?!\w)"),
        0.45, _words("partir"),
        also=_words("eres serás seras vas vai actuarás responderás debes deve deves é és será"),
        starts=_starts(r"a partir de (ahora|agora|hoy|hoje)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"(?:à partir de maintenant|désormais|dorénavant)[\s,]+(?:tu|vous)\s+(?:es|êtes|seras"
           r"|serez|vas|allez|dois|devez|agiras|répondras)(?!\w)"),
        0.45, _words("maintenant désormais dorénavant"), also=_words("tu vous"),
        starts=_starts(r"(à partir de maintenant|désormais|dorénavant)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"(?:ab (?:jetzt|sofort)|von nun an)[\s,]+(?:bist|wirst|sollst|musst|antwortest)\s+du\b"
           r"|du bist (?:jetzt|nun|ab sofort)\b"),
        0.45, _words("jetzt sofort nun"), also=_words("du"),
        starts=_starts(r"(ab jetzt|ab sofort|von nun an)\b|du bist (jetzt|nun|ab sofort)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"(?:da (?:ora|adesso)|d'ora) in (?:poi|avanti)[\s,]+(?:tu\s+)?"
           r"(?:sei|sarai|devi|risponderai|agirai)\b"),
        0.45, _words("ora adesso d'ora"), also=_words("poi avanti"),
        starts=_starts(r"(da ora|da adesso|d'ora) in (poi|avanti)\b"),
    ),
    _Detector(
        "instruction_override",
        _c(r"(?:с этого момента|отныне)[\s,]+ты(?!\w)"),  # noqa: RUF001
        0.45, _words("момента отныне"), also=_words("ты"),
        starts=_starts(r"(с этого момента|отныне)\b"),  # noqa: RUF001
    ),
    _Detector(
        "instruction_override",
        _c(r"(?:从现在开始|從現在開始|从现在起|從現在起|从今以后|從今以後)[\uff0c,\s]*你(?:是|将|將|要"
           r"|必须|必須|会|會|就是|扮演)"
           r"|(?:今から|これから|今後)[、,\s]*(?:あなた|君|お前)は"
           r"|(?:지금부터|이제부터)\s*(?:너는|당신은|넌)"),
        0.45, frozenset(),
        ("从现在", "從現在", "从今以后", "從今以後", "今から", "これから", "今後", "지금부터",
         "이제부터"),
        view="lower", non_ascii=True,
    ),
    _Detector(
        # "Without restrictions / censorship / filters": es, fr, de, it, pt, ru, zh, ja, ko.
        "jailbreak_no_limits",
        _c(r"\b(?:sin|sans|ohne|senza|sem|без)\s+(?:ningun[ao]s?\s+|ningún\s+|aucune?s?\s+"
           r"|jegliche[nr]?\s+|irgendwelche\s+|alcun[ao]?\s+|alcune\s+|nenhum[ao]?\s+|qualquer\s+"
           r"|каких-либо\s+|всяких\s+|любых\s+)?(?:restricci[oó]n(?:es)?|restrictions?"
           r"|einschränkungen|beschränkungen|restrizioni|restrições|restricoes|ограничений|censura"
           r"|censure|zensur|цензуры|filtros?|filtres?|filter|filtri|фильтров)(?!\w)"),
        0.4, _words("sin sans ohne senza sem без"),
        also=_words("restricción restriccion restricciones restriction restrictions einschränkungen"
                    " beschränkungen restrizioni restrições restricoes ограничений censura censure"
                    " zensur цензуры filtro filtros filtre filtres filter filtri фильтров"),
        starts=_starts(r"\b(sin|sans|ohne|senza|sem|без)\b"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"(?:没有|沒有|不受|无|無)(?:任何)?的?(?:限制|约束|約束|审查|審查|过滤|過濾)"
           r"|制限(?:なし|のない|は(?:一切)?ありません|を受けない)|検閲(?:なし|のない|されていない)"
           r"|(?:제한|검열)\s?(?:없이|이 없는|없는)"),
        0.4, frozenset(),
        ("限制", "约束", "約束", "审查", "審查", "过滤", "過濾", "制限", "検閲", "제한", "검열"),
        view="lower", non_ascii=True,
    ),
    _Detector(
        "character_lock",
        _c(r"\b(?:mantente|mantén|permanece|quédate) en (?:tu |el )?personaje\b"
           r"|\bno (?:rompas|salgas de) (?:el |tu )?personaje\b"
           r"|\b(?:reste|restez) dans (?:ton|votre|le) (?:personnage|rôle)\b"
           r"|\bne (?:sors|sortez) (?:pas|jamais) de (?:ton|votre|ce) (?:personnage|rôle)\b"
           r"|\b(?:bleib|bleibe|bleiben sie) in (?:der|deiner|ihrer) rolle\b"
           r"|\b(?:fall|falle|fallen sie) (?:nicht|niemals|nie) aus der rolle\b"
           r"|\b(?:resta|rimani) nel (?:personaggio|ruolo)\b"
           r"|\bnon uscire (?:mai )?dal personaggio\b"
           r"|\b(?:permaneça|fique|mantenha-se) no personagem\b|\bnão saia do personagem\b"
           r"|\bне выходи(?:те)? из роли\b|\bоставайся в роли\b"  # noqa: RUF001
           r"|保持(?:角色|人设|人設)|不要(?:脱离|跳出|脫離)(?:角色|人设|人設)"
           r"|キャラ(?:クター)?を(?:維持|保って|崩さない)|캐릭터를\s?유지"),
        0.35, _words("personaje personnage rôle rolle personaggio ruolo personagem роли"),
        ("保持角色", "保持人设", "保持人設", "不要脱离", "不要跳出", "不要脫離", "キャラ",
         "캐릭터"),
        starts=_starts(r"\b(mantente|mantén|permanece|quédate) en\b|\bno (rompas|salgas de)\b"
                       r"|\b(reste|restez) dans\b|\bne (sors|sortez)\b|\b(bleib|bleibe"
                       r"|bleiben sie) in\b|\b(fall|falle|fallen sie)\b|\b(resta|rimani) nel\b"
                       r"|\bnon uscire\b|\b(permaneça|fique|mantenha-se) no personagem\b"
                       r"|\bnão saia do personagem\b|\bне выходи|\bоставайся в роли\b|(保持|不要"  # noqa: RUF001
                       r"|キャラ|캐릭터를)"),
    ),
    _Detector(
        "compliance_demand",
        _c(r"\bnunca (?:te )?(?:niegues|rechaces|negarás|rechazarás|recuses|recusará|recusarás)\b"
           r"|\bne (?:refuse|refusez|refuses) jamais\b|\bne jamais refuser\b"
           r"|\b(?:lehne|lehnen sie) (?:niemals|nie) ab\b|\bverweigere (?:niemals|nie)\b"
           r"|\bnon (?:rifiutare|rifiutarti|rifiuti) mai\b"
           r"|\bникогда не отказывай(?:ся|те)?\b"  # noqa: RUF001
           r"|(?:永远不要|永遠不要|绝不|絕不)拒(?:绝|絕)|決して(?:拒否|断ら)|절대\s?거절하지"),
        0.35, _words("nunca jamais niemals nie mai никогда"),
        ("拒绝", "拒絕", "決して", "거절"),
        starts=_starts(r"\bnunca\b|\bne (refuse|refuses|refusez) jamais\b|\bne jamais refuser\b"
                       r"|\b(lehne|lehnen sie)\b|\bverweigere\b|\bnon (rifiutare|rifiutarti"
                       r"|rifiuti) mai\b|\bникогда не отказывай|(永远不要|永遠不要|绝不|絕不"  # noqa: RUF001
                       r"|決して|절대)"),
    ),
    _Detector(
        # "Developer mode" in other languages: a phone setting too, so weak alone.
        "jailbreak_roleplay",
        _c(r"\bmodo (?:de )?(?:desarrollador|desenvolvedor|sviluppatore)\b"
           r"|\bmode (?:développeur|developpeur)\b|\bentwicklermodus\b"
           r"|\bmodalità sviluppatore\b|\bрежим разработчика\b"  # noqa: RUF001
           r"|开发者模式|開發者模式|開発者モード|개발자\s?모드"),
        0.3, _words("desarrollador desenvolvedor sviluppatore développeur developpeur"
                    " entwicklermodus разработчика"),
        ("开发者模式", "開發者模式", "開発者モード", "개발자"),
        starts=_starts(r"\bmodo (de |)(desarrollador|desenvolvedor|sviluppatore)\b"
                       r"|\bmode (développeur|developpeur)\b|\bentwicklermodus\b"
                       r"|\bmodalità sviluppatore\b|\bрежим разработчика\b|(开发者模式|開發者模式"  # noqa: RUF001
                       r"|開発者モード|개발자)"),
    ),
)

_ALL_DETECTORS: Final = _EN_DETECTORS + _ML_DETECTORS


def _index(detectors: tuple[_Detector, ...]) -> dict[bytes, tuple[int, ...]]:
    by_word: dict[bytes, list[int]] = {}
    for i, det in enumerate(detectors):
        for word in det.words:
            by_word.setdefault(word, []).append(i)
    return {word: tuple(ixs) for word, ixs in by_word.items()}


# Which detectors each arming word switches on: one set intersection per scan
# finds the few detectors a text arms, instead of a check per detector.
_BY_WORD: Final = _index(_ALL_DETECTORS)
_ARM_WORDS: Final = frozenset(_BY_WORD)
# For a substring, its rarest character first: one memchr-fast `in` for a
# character rules most substrings out before the slower substring search.
_RARE_FIRST: Final = "|\\^~`#>[]{}<_@$%&*+=;:/"


def _probe(sub: str) -> str:
    return min(sub, key=lambda c: _RARE_FIRST.find(c) if c in _RARE_FIRST
               else (-1 if not c.isascii() else len(_RARE_FIRST)))


# Each substring with its probe character and what `_Text.joined()` must hold for
# it to occur; the character is looked for first when it is rarer than a colon.
_WITH_SUBS: Final = tuple(
    (i, tuple((_probe(sub) in _RARE_FIRST[: _RARE_FIRST.find(":")], _probe(sub), sub,
               _probes(sub)) for sub in det.subs))
    for i, det in enumerate(_ALL_DETECTORS) if det.subs
)
# An ASCII text cannot hold the other substrings, and skips the non-ASCII detectors.
_WITH_ASCII_SUBS: Final = tuple(
    (i, ascii_subs) for i, subs in _WITH_SUBS if not _ALL_DETECTORS[i].non_ascii
    for ascii_subs in [tuple(s for s in subs if s[2].isascii())] if ascii_subs
)
_MAX_PROBES: Final = 8


def _has_sub(lowered: str, sub: str, probe: str) -> bool:
    """`sub in lowered`, from the few places of its rare character when there are few."""
    offset = sub.index(probe)
    at = lowered.find(probe, offset)
    for _ in range(_MAX_PROBES):
        if at < 0:
            return False
        if lowered.startswith(sub, at - offset):
            return True
        at = lowered.find(probe, at + 1)
    return sub in lowered


# Each `need` literal with what `_Text.joined()` must hold for it to occur, and
# the first of those per literal (when every literal has one) for a quick "none".
_NEED: Final = tuple(tuple((lit, _probes(lit)) for lit in det.need) for det in _ALL_DETECTORS)
_NEED_FIRST: Final = tuple(
    tuple(runs[0] for _, runs in needs) if all(runs for _, runs in needs) else ()
    for needs in _NEED)

# rot13 of ignore, instructions, system, prompt, disregard, previous.
_ROT13_WORDS: Final = _words("vtaber vafgehpgvbaf flfgrz cebzcg qvfertneq cerivbhf")

_UNICODE = re.compile("[\U000e0000-\U000e007f\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
_BIDI_RX = re.compile("[\u202a-\u202e\u2066-\u2069]")
# `(?<=\w)[zw]+(?=\w)`, written to start with the class so the engine skips
# to the next invisible character instead of trying every position.
_ZW_INSIDE = re.compile(
    "[\u200b-\u200f\u2060\ufeff](?<=\\w[\u200b-\u200f\u2060\ufeff])[\u200b-\u200f\u2060\ufeff]*(?=\\w)"
)
_FLAG_BASE = "\U0001f3f4"  # subdivision flags are legitimate tag sequences

_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}")
_HEX_ESC = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){8,}")
_HEX_SPACED = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]){8,}[0-9A-Fa-f]{2}(?![0-9A-Fa-f])")

_HIDDEN_STYLE = re.compile(
    r"<([a-z][a-z0-9]{0,10})\b[^>]{0,300}?style\s*=\s*[\"'][^\"'>]{0,300}?"
    r"(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0+)?(?:px|pt|em|rem|%)?"
    r"(?![.\d])|opacity\s*:\s*0(?:\.0+)?(?![.\d])|color\s*:\s*(?:#fff(?:fff)?\b|white\b"
    r"|rgba?\(\s*255\s*,\s*255\s*,\s*255))[^>]{0,300}>")
# Alt and title text: `alt="..."`, `title="..."`, `aria-label="..."`, the text
# of a Markdown image `![...](`, and a Markdown link title `](url "...")`. The
# link title, `\]\([^\s)]{1,2000}\s+"([^"\n]{1,1000})"\)` as a regex, would read
# the same up-to-2000-character URL again from every `](` inside it (8 s for a
# megabyte of `[x](`), so `_link_titles` finds the same matches by reading
# each URL once.
_ATTR_TEXT = re.compile(r"\b(?:alt|title|aria-label)\s*=\s*\"([^\"<>]{1,1000})\""
                        r"|!\[([^\]\n]{1,1000})\]\(")
# Past this many places to try (plus, for detectors, one per 128 characters),
# one pass of the regex costs less than trying it at each place.
_MAX_TRIES: Final = 48
# Every match begins with one of these: `_attr_search` tries the regex only there.
_ATTR_STARTS: Final = ("alt", "title", "aria-label", "![")
_URL_RUN = re.compile(r"[^\s)]*")
_LINK_TAIL = re.compile(r"\s+\"([^\"\n]{1,1000})\"\)")
_MAX_URL: Final = 2000


def _link_title(text: str, pos: int) -> tuple[int, int, int, int] | None:
    """The first link-title match at or after `pos`: (start, title start, title end, end)."""
    while True:
        p = text.find("](", pos)
        if p < 0:
            return None
        q = p + 2
        run = _URL_RUN.match(text, q)
        r = q if run is None else run.end()  # the URL can only end where the run does
        if r - q > _MAX_URL:
            pos = max(p + 1, r - _MAX_URL - 2)  # only a later `](` can reach r
            continue
        if r > q:
            tail = _LINK_TAIL.match(text, r)
            if tail is not None:
                return p, tail.start(1), tail.end(1), tail.end()
        # Every `](` before r shares this run's end and its tail, so fails too.
        pos = max(r, p + 1)


def _attr_search(text: str, pos: int, places: list[int]) -> re.Match[str] | None:
    """`_ATTR_TEXT.search(text, pos)`, trying the regex only where one of `_ATTR_STARTS` is.

    A search tries every place from `pos` on, left to right, and can match only
    at those: trying them in order finds the same first match. `places` holds
    the next place of each start from an earlier `pos`, kept across calls so
    that each place is found once.
    """
    places[:] = [text.find(lit, pos) if 0 <= p < pos else p
                 for lit, p in zip(_ATTR_STARTS, places, strict=True)]
    for _ in range(_MAX_TRIES):
        at = min((p for p in places if p >= 0), default=-1)
        if at < 0:
            return None
        m = _ATTR_TEXT.match(text, at)
        if m is not None:
            return m
        places[:] = [text.find(lit, at + 1) if p == at else p
                     for lit, p in zip(_ATTR_STARTS, places, strict=True)]
    return _ATTR_TEXT.search(text, pos)


def _attr_texts(text: str) -> Iterable[tuple[int, int]]:
    """The spans of the texts above, as one `finditer` over all three shapes would give."""
    pos = 0
    places = [text.find(lit) for lit in _ATTR_STARTS]
    attr = _attr_search(text, 0, places)
    link = _link_title(text, 0)
    while attr is not None or link is not None:
        if link is None or (attr is not None and attr.start() < link[0]):
            assert attr is not None
            g = 1 if attr.group(1) is not None else 2
            yield attr.start(g), attr.end(g)
            pos = attr.end()
        else:
            yield link[1], link[2]
            pos = link[3]
        if attr is not None and attr.start() < pos:
            attr = _attr_search(text, pos, places)
        if link is not None and link[0] < pos:
            link = _link_title(text, pos)


def _preview(kind: str, value: str) -> str:
    return f"{kind}: {mask(value, keep=_PREVIEW_KEEP)}"


def _finding(kind: str, start: int, end: int, confidence: float, value: str) -> Finding:
    return Finding(GUARD, kind, start, end, max(0.0, min(1.0, confidence)),
                   _preview(kind, value))


def _lower_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A handful of code points lower to two (İ); keep offsets by leaving them be.
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


# The weak role-play cues, when quoted, are more often mentioned than used:
# 'prompts that say "stay in character" and "never refuse"' asks about a
# jailbreak, and counts at half weight.
_MENTION_DAMPED: Final = frozenset({
    "persona_setup", "dual_response", "character_lock", "compliance_demand", "identity_denial",
    "game_framing", "template_placeholder", "harm_vocabulary", "mode_switch", "jailbreak_no_limits",
})
_OPEN_QUOTES: Final = "\"'\u201c\u2018\u00ab`"
_CLOSE_QUOTES: Final = "\"'\u201d\u2019\u00bb`"
_QUOTE_REACH: Final = 24


def _quoted(view: str, start: int, end: int) -> bool:
    """Whether view[start:end] sits inside a short quotation within one sentence."""
    before = view[max(0, start - _QUOTE_REACH) : start]
    after = view[end : end + _QUOTE_REACH]
    opened = max(before.rfind(q) for q in _OPEN_QUOTES)
    if opened < 0 or any(stop in before[opened:] for stop in ".!?\n"):
        return False
    closed = min((i for i in (after.find(q) for q in _CLOSE_QUOTES) if i >= 0), default=-1)
    return closed >= 0 and not any(stop in after[:closed].rstrip(".!?") for stop in ".!?\n")


# The distinct words joined are searched only while they are this long, or a
# quarter of the text: a megabyte of one word is one word as long as the text.
_MAX_JOINED: Final = 8192


def _yes(_: bytes) -> bool:
    return True


class _Text:
    """What `_finditer` asks about one text, each computed on first use.

    All of it comes from the lowered text's bytes through the word map, the
    way `words` does: letters, digits and `_` stay (leetspeak folded), every
    other ASCII character becomes a space, the apostrophe too. For an ASCII
    text and the folded view (where `@` and `$` are letters as well) that is
    exactly the view with each non-word character a space, at the same offsets.
    """

    __slots__ = ("_apostrophe", "_joined", "_low_bytes", "_pieces", "_spaced", "_words",
                 "ascii_only")

    def __init__(self, low_bytes: bytes, words: frozenset[bytes], ascii_only: bool) -> None:
        self._low_bytes = low_bytes
        self._words = words
        self.ascii_only = ascii_only
        self._joined = b""
        self._apostrophe = b""  # `joined()` before its apostrophes became spaces, if it had any
        self._pieces: frozenset[bytes] | None = None
        self._spaced = b""

    def joined(self) -> bytes:
        """The distinct words joined by spaces, apostrophes as spaces, between two spaces.

        A run of word characters of the folded view is, in an ASCII text, one of
        the pieces between two spaces (`pieces`); in any text and view, a
        substring of one.
        """
        if not self._joined:
            joined = b" ".join((b"", *self._words, b""))
            self._joined = joined.replace(b"'", b" ")
            if self._joined != joined:
                self._apostrophe = joined
        return self._joined

    def holds(self) -> Callable[[bytes], bool]:
        """`probe in joined()`, or (when that is long) always true: it only ever rules out.

        `joined()` is short for an ordinary text, but as long as the text for a
        megabyte of one word: then the checks are not worth their passes.
        """
        joined = self.joined()
        short = len(joined) <= max(_MAX_JOINED, len(self._low_bytes) // 4)
        return joined.__contains__ if short else _yes

    def pieces(self) -> frozenset[bytes]:
        """The pieces of `joined()` (and the words with an apostrophe, which no probe is)."""
        if self._pieces is None:
            self.joined()
            self._pieces = self._words
            if self._apostrophe:
                # Each cut adds the piece before it and the one after it.
                cut = self._apostrophe.split(b"'")
                self._pieces = self._words.union(
                    [before.rpartition(b" ")[2] for before in cut[:-1]],
                    [after.partition(b" ")[0] for after in cut[1:]])
        return self._pieces

    def spaced(self) -> bytes:
        """An ASCII text's folded view with every non-word character a space, between two spaces."""
        if not self._spaced:
            self._spaced = b" " + self._low_bytes.translate(_RUN_MAP) + b" "
        return self._spaced


_Needs = tuple[tuple[str, tuple[bytes, ...]], ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """A detector's starts, arranged for few checks: by their first whole word, then the rest."""

    first: frozenset[bytes]
    by_first: dict[bytes, tuple[_Start, ...]]
    rest: tuple[_Start, ...]


def _plan(det: _Detector) -> _Plan | None:
    if not det.starts:
        return None
    by_first: dict[bytes, list[_Start]] = {}
    for start in det.starts:
        if start.words:
            by_first.setdefault(start.words[0], []).append(start)
    return _Plan(frozenset(by_first), {w: tuple(s) for w, s in by_first.items()},
                 tuple(s for s in det.starts if not s.words))


def _finditer(det: _Detector, plan: _Plan | None, needs: _Needs, firsts: tuple[bytes, ...],
              view: str, t: _Text) -> Iterable[re.Match[str]]:
    """What `det.pattern.finditer(view)` gives, when `det.need` allows a match, else nothing.

    Every match begins with one of `det.starts`; a start whose words are not all
    in the text (see `_Text`) cannot occur, and the others are found with
    `find`. Trying the regex at each place found, in order and past the end of
    the last match, gives the same matches as one pass: a pass tries the same
    places (and fails everywhere else), left to right, and `match` at a place
    sees the text before it as a pass does.
    """
    if plan is None:
        if needs and not _needed(needs, firsts, view, t):
            return ()
        return det.pattern.finditer(view)
    joined_has = t.holds()
    spaced = t.ascii_only and det.view == "fold"
    if spaced:
        pieces = t.pieces()
        viable = [s for w in plan.first.intersection(pieces) for s in plan.by_first[w]
                  if pieces.issuperset(s.words) and all(map(joined_has, s.parts))]
        viable += [s for s in plan.rest if all(map(joined_has, s.parts))]
    else:
        viable = [s for s in det.starts if all(map(joined_has, s.loose))]
    # `need` can rule out what the regex alone would match (a line break where
    # the literal has a space), so it is checked whenever a match could begin.
    if not viable or (needs and not _needed(needs, firsts, view, t)):
        return ()
    places: list[int] = []
    limit = _MAX_TRIES + len(view) // 128
    for start in viable:
        if spaced:
            copy, needle, shift = t.spaced(), start.needle, start.shift
            at = copy.find(needle)
            while at >= 0 and len(places) <= limit:
                places.append(at - shift)
                at = copy.find(needle, at + 1)
        else:
            literal = start.literal
            at = view.find(literal)
            while at >= 0 and len(places) <= limit:
                places.append(at)
                at = view.find(literal, at + 1)
        if len(places) > limit:
            break
    if not places:
        return ()
    if len(places) > limit:
        return det.pattern.finditer(view)
    places.sort()
    return _match_at(det.pattern, view, places)


def _needed(needs: _Needs, firsts: tuple[bytes, ...], view: str, t: _Text) -> bool:
    """Whether one of a detector's `need` literals is in its view."""
    joined_has = t.holds()
    if firsts and not any(map(joined_has, firsts)):
        return False
    return any(all(map(joined_has, runs)) and lit in view for lit, runs in needs)


def _match_at(pattern: re.Pattern[str], view: str, places: list[int]) -> Iterable[re.Match[str]]:
    end = 0
    for at in places:
        if at >= end:
            m = pattern.match(view, at)
            if m is not None:
                yield m
                end = m.end()  # every start is a non-empty literal: so is every match


_PLANS: Final = tuple(_plan(det) for det in _ALL_DETECTORS)


def _run_detectors(text: str, lowered: str, folded: str, words: frozenset[bytes],
                   ascii_only: bool, t: _Text) -> list[Finding]:
    armed: set[int] = set()
    for word in _ARM_WORDS.intersection(words):
        armed.update(_BY_WORD[word])
    joined_has = t.holds()
    for i, subs in _WITH_ASCII_SUBS if ascii_only else _WITH_SUBS:
        if i not in armed and any(
            (probe in lowered and all(map(joined_has, runs)) and _has_sub(lowered, sub, probe))
            if rare else (all(map(joined_has, runs)) and probe in lowered and sub in lowered)
            for rare, probe, sub, runs in subs
        ):
            armed.add(i)
    out: list[Finding] = []
    for i in sorted(armed):  # in declaration order, as before the index
        det = _ALL_DETECTORS[i]
        if ascii_only and det.non_ascii:
            continue
        if det.also and det.also.isdisjoint(words):
            continue
        view = folded if det.view == "fold" else text if det.view == "raw" else lowered
        for n, m in enumerate(_finditer(det, _PLANS[i], _NEED[i], _NEED_FIRST[i], view, t)):
            if n >= _MAX_PER_DETECTOR:
                break
            start, end = m.span()
            if start == end:
                continue
            matched = m.group(0)
            conf = det.adjust(matched) if det.adjust is not None else det.confidence
            kind = det.kind
            if det.view == "fold" and lowered[start:end] != matched:
                # Only the leet-folded view matched: obfuscation is itself a tell.
                kind, conf = "encoded_payload", max(conf, 0.6) + 0.1
            elif kind in _MENTION_DAMPED and _quoted(view, start, end):
                conf *= 0.5
            out.append(_finding(kind, start, end, conf, text[start:end]))
    return out


def _printable(decoded: str) -> bool:
    if not decoded:
        return False
    good = sum(1 for c in decoded if c.isprintable() or c in "\n\r\t")
    return good >= 0.9 * len(decoded)


def _try_b64(run: str) -> str | None:
    run = run[: _MAX_DECODE_CHARS * 4 // 3].rstrip("=")
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
    digits = _HEX_SEPARATORS.sub("", run[: _MAX_DECODE_CHARS * 4])
    if len(digits) % 2 or not digits:
        return None
    try:
        decoded = bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None
    return decoded if _printable(decoded) else None


def _decoded_findings(kind: str, label: str, start: int, end: int, decoded: str,
                      depth: int, base_conf: float) -> list[Finding]:
    inner = _scan(decoded[:_MAX_DECODE_CHARS], depth + 1)
    if not inner:
        return []
    top = max(f.confidence for f in inner)
    return [Finding(GUARD, kind, start, end, min(1.0, max(base_conf, top) + 0.05),
                    f"{kind}: {label} decodes to {inner[0].kind}")]


def _b64_runs(text: str, marks: bytes) -> Iterable[tuple[int, int]]:
    """The spans `_B64_RUN.finditer(text)` gives, from `marks` (the text's bytes by `_B64_MAP`).

    Offsets in `marks` are offsets in `text` only for an ASCII text; otherwise
    this is the regex. A match is a maximal run of 20 or more base64 characters
    and up to two `=` after it; `find` in `marks` lands on the first such run
    from where the last match ended (nothing there continues a run).
    """
    if not text.isascii():
        yield from (m.span() for m in _B64_RUN.finditer(text))
        return
    pos = 0
    while True:
        start = marks.find(_B64_PROBE, pos)
        if start < 0:
            return
        end = marks.find(b" ", start + _MIN_B64_RUN)
        end = len(text) if end < 0 else end
        pos = end + len(text[end : end + 2]) - len(text[end : end + 2].lstrip("="))
        yield start, pos


def _encoded(text: str, raw: bytes, words: frozenset[bytes], depth: int) -> list[Finding]:
    out: list[Finding] = []
    tried = 0
    marks = raw.translate(_B64_MAP)
    if _B64_PROBE in marks:
        decodings: dict[str, tuple[tuple[str, str | None], ...]] = {}
        for start, end in _b64_runs(text, marks):
            if tried >= _MAX_DECODE_CANDIDATES:
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
                    out += _decoded_findings("encoded_payload", label, start, end,
                                             decoded, depth, 0.85)
    hex_escapes = "\\" in text and "\\x" in text
    hex_spaced = _HEX_PROBE in raw.translate(_HEX_MAP)
    if hex_escapes or hex_spaced:
        for rx in (_HEX_ESC, _HEX_SPACED):
            if (rx is _HEX_ESC and not hex_escapes) or (rx is _HEX_SPACED and not hex_spaced):
                continue
            for m in rx.finditer(text):
                if tried >= 2 * _MAX_DECODE_CANDIDATES:
                    break
                tried += 1
                decoded = _try_hex(m.group(0))
                if decoded is not None:
                    out += _decoded_findings("encoded_payload", "hex", m.start(), m.end(),
                                             decoded, depth, 0.85)
    if not _ROT13_WORDS.isdisjoint(words):
        rot = codecs.decode(text, "rot13")  # one code point to one: spans carry over
        for f in _scan(rot, depth + 1, unicode_checks=False):
            if f.kind in ("instruction_override", "prompt_extraction"):
                out.append(Finding(GUARD, "encoded_payload", f.start, f.end,
                                   min(1.0, f.confidence + 0.05),
                                   f"encoded_payload: rot13 decodes to {f.kind}"))
    return out


def _unicode(text: str, depth: int) -> list[Finding]:
    out: list[Finding] = []
    for n, m in enumerate(_TAG_RUN.finditer(text)):
        if n >= _MAX_DECODE_CANDIDATES:
            break
        start, end = m.span()
        if start > 0 and text[start - 1] == _FLAG_BASE:
            continue
        decoded = "".join(chr(ord(c) - 0xE0000) for c in m.group(0)[:_MAX_DECODE_CHARS])
        out.append(Finding(GUARD, "unicode_tag_smuggling", start, end, 0.7,
                           f"unicode_tag_smuggling: {end - start} invisible tag characters"))
        out += _decoded_findings("unicode_tag_smuggling", "tag characters", start, end,
                                 decoded, depth, 0.9)
    for n, m in enumerate(_BIDI_RX.finditer(text)):
        if n >= _MAX_PER_DETECTOR:
            break
        out.append(Finding(GUARD, "bidi_control", m.start(), m.end(), 0.4,
                           f"bidi_control: U+{ord(m.group(0)):04X}"))
    hits = 0
    for m in _ZW_INSIDE.finditer(text):
        before = text[m.start() - 1]
        # ZWJ/ZWNJ between non-ASCII letters are legitimate (emoji, Indic, Persian).
        if not before.isascii() and m.group(0).strip("\u200c\u200d") == "":
            continue
        out.append(Finding(GUARD, "zero_width", m.start(), m.end(), 0.3,
                           f"zero_width: {m.end() - m.start()} invisible inside a word"))
        hits += 1
        if depth < _MAX_DEPTH and hits <= _MAX_DECODE_CANDIDATES:
            # Re-scan around it with the invisible characters removed ("ig\u200bnore"),
            # in a bounded window so a megabyte of them costs no more than a few.
            lo = max(0, m.start() - _ZW_WINDOW)
            out += _rescan_stripped(text[lo : m.end() + _ZW_WINDOW], lo, depth)
        if hits >= _MAX_PER_DETECTOR:
            break
    return out


def _rescan_stripped(window: str, offset: int, depth: int) -> list[Finding]:
    removed: list[int] = []  # stripped-view offset of each removed run
    cumulative: list[int] = []  # characters removed up to and including that run
    total = 0
    for m in _ZW_INSIDE.finditer(window):
        removed.append(m.start() - total)
        total += m.end() - m.start()
        cumulative.append(total)

    def original(k: int) -> int:
        j = bisect.bisect_right(removed, k)
        return offset + k + (cumulative[j - 1] if j else 0)

    out: list[Finding] = []
    for f in _scan(_ZW_INSIDE.sub("", window), depth + 1, unicode_checks=False):
        start = original(f.start)
        end = original(f.end - 1) + 1 if f.end > f.start else start
        out.append(Finding(GUARD, f.kind, start, end, min(1.0, f.confidence + 0.1), f.preview))
    return out


# The words `_ATTR_TEXT`'s first branch begins with (each must be one of the
# text's words): `alt`, `title` or `aria-label`.
_ATTR_WORDS: Final = (frozenset({b"alt"}), frozenset({b"title"}), frozenset({b"aria", b"label"}))


def _may_have_attrs(lowered: str, t: _Text) -> bool:
    """Whether `alt`, `title` or `aria-label` is in the text: `_ATTR_TEXT` needs one.

    It is matched on the text, where `@` and `$` are not word characters as
    they are in the words (leetspeak): without them, an ASCII text holds one
    only as one of its words (after a word boundary, before `=` or a space).
    """
    if t.ascii_only and "@" not in lowered and "$" not in lowered:
        pieces = t.pieces()
        return any(map(pieces.issuperset, _ATTR_WORDS))
    return "alt" in lowered or "title" in lowered or "aria-label" in lowered


def _hidden_regions(text: str, lowered: str, t: _Text) -> Iterable[tuple[int, int, str]]:
    """Regions a human reader would not see: comments, invisible styles, alt/title text."""
    count = 0
    pos = 0
    while count < _MAX_HIDDEN_REGIONS:
        start = lowered.find("<!--", pos)
        if start < 0:
            break
        end = lowered.find("-->", start + 4)
        stop = len(text) if end < 0 else end + 3
        count += 1
        yield start, stop, "HTML comment"
        if end < 0:
            break
        pos = stop
    if "style" in lowered:
        for m in _HIDDEN_STYLE.finditer(lowered):
            if count >= _MAX_HIDDEN_REGIONS:
                break
            count += 1
            close = lowered.find("</" + m.group(1), m.end(), m.end() + _MAX_HIDDEN_CHARS)
            yield m.start(), (m.end() + _MAX_HIDDEN_CHARS if close < 0 else close), \
                "invisible styled text"
    if "](" in lowered or ("=" in lowered and _may_have_attrs(lowered, t)):
        for g_start, g_end in _attr_texts(text):
            if count >= _MAX_HIDDEN_REGIONS:
                break
            count += 1
            yield g_start, g_end, "alt/title text"


_HIDDEN_KINDS: Final = frozenset({"instruction_override", "prompt_extraction",
                                  "jailbreak_roleplay", "role_token", "indirect_instruction",
                                  "encoded_payload"})


def _hidden(text: str, lowered: str, found: list[Finding], t: _Text) -> list[Finding]:
    out: list[Finding] = []
    for start, end, label in _hidden_regions(text, lowered, t):
        end = min(end, len(text))
        inside = [f for f in found if f.kind in _HIDDEN_KINDS and start <= f.start < end]
        if inside:
            top = max(f.confidence for f in inside)
            out.append(Finding(GUARD, "hidden_text", start, end, min(1.0, top + 0.1),
                               f"hidden_text: {label} carries {inside[0].kind}"))
        elif label != "alt/title text" and end - start > 40:
            # Hidden prose with no recognised instruction is only a weak hint.
            out.append(Finding(GUARD, "hidden_text", start, end, 0.15,
                               f"hidden_text: {label} ({end - start} chars)"))
    return out


# Code that does harm whatever the program around it: what an injected "add
# this snippet to your answer" carries. Checked as literal co-occurrences
# (each an `in` on the lowered text) only when the text holds code at all.
_CODE_MARKERS: Final = ("```", "import ", "#include", "require(", "<?php", "#!/")
_CODE_SHELL: Final = ("dup2", "/bin/sh", "/bin/bash", "cmd.exe", "pty.spawn", "powershell")
_CODE_CAPTURE: Final = ("clipboard", "pyperclip", "pynput", "keylog", "getasynckeystate",
                        "imagegrab")
_CODE_SEND: Final = ("requests.post", "requests.put", "urlopen", "smtplib", "ftplib", "sendall",
                     "http.client", "webhook")
_CODE_LOOP: Final = ("while true", "while(true)", "while (true)")
_CODE_NET: Final = ("requests.", "urlopen", "curl", "socket", "http")
_CODE_DEFENCE: Final = ("adapter", "firewall", "defender", "antivirus", "netsh")
_CODE_DESTROY: Final = ("rm -rf /", "format c:", "mkfs.", "del /f /s /q", ":(){",
                        "dd if=/dev/zero of=/dev/")


# One of these words (of the lowered, leet-folded text) is in every shape above.
_CODE_WORDS: Final = _words("socket clipboard pyperclip pynput keylog keylogger keylogging"
                            " getasynckeystate imagegrab true disable rm format mkfs del dd")


def _code_payload(text: str, lowered: str, words: frozenset[bytes]) -> list[Finding]:
    if _CODE_WORDS.isdisjoint(words) or not any(m in lowered for m in _CODE_MARKERS):
        return []

    def has(literals: tuple[str, ...]) -> bool:
        return any(lit in lowered for lit in literals)

    why = None
    if "socket" in lowered and "connect" in lowered and has(_CODE_SHELL):
        why = "a reverse shell"
    elif has(_CODE_CAPTURE) and has(_CODE_SEND):
        why = "captures input and sends it out"
    elif has(_CODE_LOOP) and has(_CODE_NET) and "sleep" not in lowered:
        why = "an unthrottled network loop"  # a poller sleeps; a flood does not
    elif "disable" in lowered and has(_CODE_DEFENCE):
        why = "disables a network or security control"
    elif has(_CODE_DESTROY):
        why = "destroys data"
    if why is None:
        return []
    start = lowered.find("```")
    end = lowered.find("```", start + 3) if start >= 0 else -1
    start, end = (0, len(text)) if start < 0 else (start, len(text) if end < 0 else end + 3)
    return [Finding(GUARD, "code_payload", start, end, 0.3, f"code_payload: {why}")]


# Spelling a guarded secret out a letter at a time, or backwards: the usual
# way round an output filter that looks for the secret itself. The marker is
# found first, then the secret's name in the same sentence near it, so a
# flood of either word costs one pass and a few bounded windows.
_SPELL_MARKER = re.compile(r"letter by letter|one (?:letter|character) at a time|backwards?\b"
                           r"|in reverse\b|separated by (?:spaces|dashes|commas)|each letter")
_SECRET_NAME = re.compile(r"\b(?:password|passphrase|secret(?: word| key| code)?|system prompt"
                          r"|instructions)\b")
_SPELL_WORDS: Final = _words("letter character backwards backward reverse separated each")
_SECRET_WORDS: Final = _words("password passphrase secret prompt instructions")
_SPELL_WINDOW: Final = 80


def _secret_probe(text: str, lowered: str, words: frozenset[bytes]) -> list[Finding]:
    if _SPELL_WORDS.isdisjoint(words) or _SECRET_WORDS.isdisjoint(words):
        return []
    out: list[Finding] = []
    for n, m in enumerate(_SPELL_MARKER.finditer(lowered)):
        if n >= _MAX_PER_DETECTOR or len(out) >= _MAX_PER_DETECTOR // 4:
            break
        lo, hi = max(0, m.start() - _SPELL_WINDOW), m.end() + _SPELL_WINDOW
        for name in _SECRET_NAME.finditer(lowered, lo, hi):
            start, end = min(name.start(), m.start()), max(name.end(), m.end())
            gap = lowered[min(name.end(), m.end()) : max(name.start(), m.start())]
            if not any(stop in gap for stop in ".?!\n"):
                out.append(_finding("secret_probe", start, end, 0.45, text[start:end]))
                break
    return out


# A made-up "...GPT" persona (BasedGPT, DarkGPT): the in-the-wild jailbreak's
# usual name for its unrestricted twin; products keep their names. Found by
# looking back from each "gpt", so a megabyte of letters costs one `find`.
_GPT_WORDS: Final = _words("chatgpt gpt openai ai")
_GPT_PRODUCTS: Final = frozenset({"chat", "auto", "instruct", "nano", "mini", "baby", "open",
                                  "private", "shell", "bio", "docs", "code"})
_MAX_GPT_LOOKS: Final = 64


def _gpt_persona(text: str, lowered: str, words: frozenset[bytes]) -> list[Finding]:
    if _GPT_WORDS.isdisjoint(words):
        return []
    out: list[Finding] = []
    pos = lowered.find("gpt")
    looks = 0
    while pos >= 0 and looks < _MAX_GPT_LOOKS and len(out) < _MAX_PER_DETECTOR // 4:
        looks += 1
        end = pos + 3
        start = pos
        while start > 0 and pos - start < 20 and "a" <= lowered[start - 1] <= "z":
            start -= 1
        after = lowered[end : end + 1]
        if (pos - start >= 2 and (start == 0 or not lowered[start - 1].isalnum())
                and not (after.isalnum() or after == "_")
                and lowered[start:pos] not in _GPT_PRODUCTS):
            out.append(_finding("persona_name", start, end, 0.25, text[start:end]))
        pos = lowered.find("gpt", end)
    return out


def _scan(text: str, depth: int = 0, *, unicode_checks: bool = True) -> list[Finding]:
    if not text or depth > _MAX_DEPTH:
        return []
    lowered = _lower_same_length(text)
    low_bytes = lowered.encode("utf-8", _ENC)
    folded = low_bytes.translate(_LEET).decode("utf-8", _ENC)
    words = frozenset(low_bytes.translate(_WORD_MAP).split())
    ascii_only = text.isascii()
    t = _Text(low_bytes, words, ascii_only)
    found = _run_detectors(text, lowered, folded, words, ascii_only, t)
    found += _code_payload(text, lowered, words)
    found += _secret_probe(text, lowered, words)
    found += _gpt_persona(text, lowered, words)
    if depth < _MAX_DEPTH:
        found += _encoded(text, text.encode("utf-8", _ENC), words, depth)
    if unicode_checks and not ascii_only and _UNICODE.search(text):
        found += _unicode(text, depth)
    if "<" in text or ("]" in text and "](" in text):
        found += _hidden(text, lowered, found, t)
    return found


def scan(text: str, *, source: str = "user") -> list[Finding]:
    """Every injection signal in `text`, each with its span; `source` does not change these.

    The source changes the score, not the findings, so a caller that logs
    findings sees the same evidence whichever channel the text came from.
    """
    del source
    unique = {(f.kind, f.start, f.end): f for f in _scan(text)}
    return sorted(unique.values(), key=lambda f: (f.start, f.end, f.kind))


def combine(findings: Iterable[Finding], *, source: str = "user") -> float:
    """Noisy-OR of the evidence, reweighted by source; see the module docstring.

    Per kind, the strongest finding counts fully and further ones of the same
    kind at a quarter: forty mentions of "ChatGPT" are not forty independent
    signals, but a persona, a "no restrictions" clause and a fake turn are.
    """
    by_kind: dict[str, list[float]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f.confidence)
    miss = 1.0
    for confs in by_kind.values():
        confs.sort(reverse=True)
        miss *= 1.0 - confs[0]
        for c in confs[1:4]:
            miss *= 1.0 - 0.25 * c
    weight = _SOURCE_WEIGHT.get(source, 1.0)
    combined: float = 1.0 - miss**weight
    return max(0.0, min(1.0, combined))


def score(text: str, *, source: str = "user") -> float:
    """How likely `text` is an injection or jailbreak, in 0..1, from heuristics alone."""
    return combine(_scan(text), source=source)


def _logit(p: float) -> float:
    p = min(0.99, max(0.01, p))
    return math.log(p / (1.0 - p))


def blend(heuristic: float, model: float) -> float:
    """Average the heuristic score and a classifier's probability in log-odds.

    Either one alone at full certainty lands exactly on 0.5 (the default
    threshold), so a confident model can flag what no rule saw and a
    confident rule survives a model that shrugs; when both are unsure the
    result is unsure. Both inputs are clamped to 0.01..0.99 so neither can
    veto the other outright.
    """
    return 1.0 / (1.0 + math.exp(-(_logit(heuristic) + _logit(model)) / 2.0))


class InjectionGuard:
    """The injection guard with a threshold and an optional local classifier.

    `scan` returns the findings only when the (blended) score reaches the
    threshold, so weak cues in an ordinary prompt do not become verdicts;
    `score` exposes the number for callers that want their own policy.
    """

    name = "injection"

    def __init__(self, threshold: float = 0.5, classifier: Classifier | None = None,
                 *, source: str = "user") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} outside 0..1")
        self.threshold = threshold
        self.classifier = classifier
        self.source = source

    def score(self, text: str, *, source: str | None = None) -> float:
        src = self.source if source is None else source
        heuristic = score(text, source=src)
        if self.classifier is None:
            return heuristic
        return blend(heuristic, float(self.classifier.predict(text)))

    def scan(self, text: str, *, source: str | None = None) -> list[Finding]:
        src = self.source if source is None else source
        findings = scan(text, source=src)
        heuristic = combine(findings, source=src)
        total = (heuristic if self.classifier is None
                 else blend(heuristic, float(self.classifier.predict(text))))
        if total < self.threshold:
            return []
        if not findings:
            # Only the model saw it: one whole-text finding so the verdict has evidence.
            return [Finding(GUARD, "classifier", 0, len(text), min(1.0, total),
                            f"classifier: p={total:.2f}")]
        return findings
