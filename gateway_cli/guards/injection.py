"""Prompt-injection and jailbreak guard: heuristics with a score, and room for a local model.

Why heuristics first: the gateway must not download or require a model, and
the attacks that matter most against an agent (an instruction override, a
system-prompt extraction, fake chat-template tokens, text hidden from the
human reader) have recognisable surface forms. What heuristics cannot see
(a persuasive role-play with no tell-tale phrase) is what the optional
`Classifier` hook is for.

How the work stays cheap: a benign prompt is lowered and leet-normalised once
(two C-level passes), then each detector's trigger stems are looked up with
`in`; only detectors whose stems occur run their regex. Every regex uses
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
_NOUN_RULES = (r"(?:instructions?|rules|directives?|guidelines|prompts?|orders|commands"
               r"|constraints|programming|context|messages|polic(?:y|ies)|guardrails"
               r"|everything)")
_TEMPORAL = re.compile(r"\b(?:previous(?:ly)?|prior|above|preceding|earlier|former|original"
                       r"|initial|before|so far|all|every|any|system)\b")


_EXTRACTION_STRONG = re.compile(r"\b(?:your|system|initial|original|hidden|secret|above"
                                r"|verbatim|instructed|told|my instructions|given)|systemprompt")


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
        need=("instruction", "rules", "directive", "guidelines", "orders", "commands",
              "constraints", "programming", "context", "messages", "polic", "guardrails",
              "everything", "prompt"),
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
    ),
    _Detector(
        "instruction_override",
        _c(r"\byou are now\s+(?:a|an|the|going|in|called|named|my|no longer|free|[a-z]+gpt)\b"
           r"|\bfrom (?:now on|this (?:point|moment)(?: on(?:wards?)?)?)[\s,]+(?:you|your|we|our)\b"
           r"|\byou (?:are|'re) no longer\s+(?:chatgpt|an? ai|bound|restricted|limited)"
           r"|\byou will now (?:act|pose|pretend|simulate|be|respond)\b"),
        0.45, _words("now longer"),
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
        adjust=lambda m: (0.8 if _EXTRACTION_STRONG.search(m) else 0.3),
    ),
    _Detector(
        "prompt_extraction",
        _c(r"\b(?:repeat|print|reveal|output|display|copy|show|recite)\b[\s\w,'\u2019]{0,20}?"
           r"\b(?:text|everything|words|content|all)\s+(?:above|before this)\b"
           r"(?:[\s\w,'\u2019]{0,20}?\b(?:verbatim|word for word|in full))?"),
        0.7, _words("above"), also=_words("repeat print reveal output display copy show recite"),
    ),
    _Detector(
        "jailbreak_term",
        _c(r"\bjailbr(?:eak|oken|eaking)\b"),
        0.3, _words("jailbreak jailbroken jailbreaking"),
        adjust=lambda m: 0.6 if m.endswith("oken") else 0.3,
    ),
    _Detector(
        "jailbreak_roleplay",
        _c(r"\bdo anything now\b|\b(?:dan|developer|god|jailbreak|unrestricted|evil|chaos"
           r"|opposite) mode\b|\bdeveloper_mode\b|\bevil confidant\b"
           r"|\bstrive to avoid norms\b|\balways intelligent and machiavellian\b"
           r"|\b(?:freed|broken free|break free) (?:of|from) the typical confines\b"
           r"|\btypical confines of ai\b|\bstay in (?:character|[a-z]+ mode)\b"),
        0.85, _words("anything mode developer_mode confidant strive machiavellian confines stay"),
    ),
    _Detector(
        "jailbreak_no_limits",
        _c(r"\b(?:free (?:of|from)|without(?: any)?|no|not bound by(?: any)?|not limited by"
           r"|not restricted by|break(?:s|ing)?|bypass(?:es|ing)?|ignor(?:e|es|ing)|don'?t have"
           r"|doesn'?t have|does not have|do not have|never (?:follow|abide by))"
           r"\s++(?:all |any |the |its |your |of )?(?:[\w'\u2019-]{1,15}+\s++){0,2}?"
           r"(?:restrictions|filters|filtering|limitations|censorship|boundaries"
           r"|ethical (?:guidelines|principles|constraints)|moral (?:guidelines|principles)"
           r"|content polic(?:y|ies)|openai(?:'s)? (?:rules|polic(?:y|ies)|guidelines))\b"
           r"|\bwithout any (?:ethical|moral)\b|\b(?:amoral|unfiltered|uncensored)\b"
           r"|\bnot (?:bound|limited|restricted) by (?:any )?(?:rules|ethics|morals)\b"),
        0.45, _words("restrictions filters filtering limitations censorship boundaries ethical"
                     " moral openai amoral unfiltered uncensored ethics morals"),
    ),
    _Detector(
        "persona_setup",
        _c(r"\b(?:pretend|act|behave|roleplay|role-play|simulate|immerse yourself)"
           r"\s+(?:to be|as|like|being|into the role of)\s+(?:an?\s+)?(?:[\w-]+\s+){0,3}?"
           r"(?:ai|chatbot|language model|model|assistant|bot|gpt)\b"
           r"|\b(?:two|2) (?:different |separate |distinct )?(?:ways|responses|outputs|answers)\b"
           r"|\bpretend(?:ing)? to be\b|\bimmerse yourself\b|\b(?:stay|remain) in character\b"
           r"|\b(?:hypothetical|fictional|imaginary) (?:language model|ai|chatbot|world)\b"
           r"|\b(?:character|ai|model|bot|chatbot) (?:called|named)\b|\balter ego\b"
           r"|\b(?:as an ai language model|i'?m sorry,? but)\b"
           r"|\bchat ?gpt\b"),
        0.2, _words("pretend act behave roleplay role simulate immerse two 2 model sorry chatgpt"
                    " gpt character hypothetical fictional imaginary ai bot chatbot alter"),
        need=("pretend", "act", "behave", "roleplay", "role-play", "simulate", "immerse",
              "ways", "responses", "outputs", "answers", "character", "hypothetical",
              "fictional", "imaginary", "called", "named", "alter ego", "language model",
              "sorry", "gpt"),
    ),
    _Detector(
        "persona_name",
        _c(r"\b(?:DAN|STAN|AIM|DUDE|APOPHIS)\b(?![\w'\u2019-])"),
        0.25, _words("dan stan aim dude apophis"), view="raw",
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
    ),
)

# Core override and extraction phrases in other languages. Literal enough that a
# hit is a strong signal.
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
    ),
)

_ALL_DETECTORS: Final = _EN_DETECTORS + _ML_DETECTORS

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


def _attr_texts(text: str) -> Iterable[tuple[int, int]]:
    """The spans of the texts above, as one `finditer` over all three shapes would give."""
    pos = 0
    attr = _ATTR_TEXT.search(text)
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
            attr = _ATTR_TEXT.search(text, pos)
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


def _run_detectors(text: str, lowered: str, folded: str, words: frozenset[bytes],
                   ascii_only: bool) -> list[Finding]:
    out: list[Finding] = []
    for det in _ALL_DETECTORS:
        if ascii_only and det.non_ascii:
            continue
        if det.words.isdisjoint(words) and not any(
            sub in lowered for sub in det.subs if not ascii_only or sub.isascii()
        ):
            continue
        if det.also and det.also.isdisjoint(words):
            continue
        view = folded if det.view == "fold" else text if det.view == "raw" else lowered
        if det.need and not any(lit in view for lit in det.need):
            continue
        for n, m in enumerate(det.pattern.finditer(view)):
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


def _try_hex(run: str) -> str | None:
    digits = re.sub(r"\\x|[ :]", "", run[: _MAX_DECODE_CHARS * 4])
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


def _encoded(text: str, raw: bytes, words: frozenset[bytes], depth: int) -> list[Finding]:
    out: list[Finding] = []
    tried = 0
    if _B64_PROBE in raw.translate(_B64_MAP):
        for m in _B64_RUN.finditer(text):
            if tried >= _MAX_DECODE_CANDIDATES:
                break
            tried += 1
            run = m.group(0)
            for label, decoded in (("base64", _try_b64(run)),
                                   ("hex", _try_hex(run) if len(run) % 2 == 0 else None)):
                if decoded is not None:
                    out += _decoded_findings("encoded_payload", label, m.start(), m.end(),
                                             decoded, depth, 0.85)
    hex_escapes = "\\x" in text
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


def _hidden_regions(text: str, lowered: str) -> Iterable[tuple[int, int, str]]:
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
    if "](" in lowered or ("=" in lowered and ("alt" in lowered or "title" in lowered
                                               or "aria-label" in lowered)):
        for g_start, g_end in _attr_texts(text):
            if count >= _MAX_HIDDEN_REGIONS:
                break
            count += 1
            yield g_start, g_end, "alt/title text"


_HIDDEN_KINDS: Final = frozenset({"instruction_override", "prompt_extraction",
                                  "jailbreak_roleplay", "role_token", "indirect_instruction",
                                  "encoded_payload"})


def _hidden(text: str, lowered: str, found: list[Finding]) -> list[Finding]:
    out: list[Finding] = []
    for start, end, label in _hidden_regions(text, lowered):
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


def _scan(text: str, depth: int = 0, *, unicode_checks: bool = True) -> list[Finding]:
    if not text or depth > _MAX_DEPTH:
        return []
    lowered = _lower_same_length(text)
    low_bytes = lowered.encode("utf-8", _ENC)
    folded = low_bytes.translate(_LEET).decode("utf-8", _ENC)
    words = frozenset(low_bytes.translate(_WORD_MAP).split())
    ascii_only = text.isascii()
    found = _run_detectors(text, lowered, folded, words, ascii_only)
    if depth < _MAX_DEPTH:
        found += _encoded(text, text.encode("utf-8", _ENC), words, depth)
    if unicode_checks and not ascii_only and _UNICODE.search(text):
        found += _unicode(text, depth)
    if "<" in text or "](" in text:
        found += _hidden(text, lowered, found)
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
