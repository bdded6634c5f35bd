"""Three heuristics that are not one regex: harmful code, a spelled-out secret, a "...GPT" persona.

Each is cheap to rule out: it needs one of a few words among the text's words
before it reads the text at all, and then reads it in bounded windows.
"""

from __future__ import annotations

import re
from typing import Final

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.findings import GUARD, MAX_PER_DETECTOR, finding
from gateway_cli.guards.injection.views import wordset

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
_CODE_WORDS: Final = wordset("socket clipboard pyperclip pynput keylog keylogger keylogging"
                            " getasynckeystate imagegrab true disable rm format mkfs del dd")


def code_payload(text: str, lowered: str, words: frozenset[bytes]) -> list[Finding]:
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
_SPELL_WORDS: Final = wordset("letter character backwards backward reverse separated each")
_SECRET_WORDS: Final = wordset("password passphrase secret prompt instructions")
_SPELL_WINDOW: Final = 80


def secret_probe(text: str, lowered: str, words: frozenset[bytes]) -> list[Finding]:
    if _SPELL_WORDS.isdisjoint(words) or _SECRET_WORDS.isdisjoint(words):
        return []
    out: list[Finding] = []
    for n, m in enumerate(_SPELL_MARKER.finditer(lowered)):
        if n >= MAX_PER_DETECTOR or len(out) >= MAX_PER_DETECTOR // 4:
            break
        lo, hi = max(0, m.start() - _SPELL_WINDOW), m.end() + _SPELL_WINDOW
        for name in _SECRET_NAME.finditer(lowered, lo, hi):
            start, end = min(name.start(), m.start()), max(name.end(), m.end())
            gap = lowered[min(name.end(), m.end()) : max(name.start(), m.start())]
            if not any(stop in gap for stop in ".?!\n"):
                out.append(finding("secret_probe", start, end, 0.45, text[start:end]))
                break
    return out


# A made-up "...GPT" persona (BasedGPT, DarkGPT): the in-the-wild jailbreak's
# usual name for its unrestricted twin; products keep their names. Found by
# looking back from each "gpt", so a megabyte of letters costs one `find`.
_GPT_WORDS: Final = wordset("chatgpt gpt openai ai")
_GPT_PRODUCTS: Final = frozenset({"chat", "auto", "instruct", "nano", "mini", "baby", "open",
                                  "private", "shell", "bio", "docs", "code"})
_MAX_GPT_LOOKS: Final = 64


def gpt_persona(text: str, lowered: str, words: frozenset[bytes]) -> list[Finding]:
    if _GPT_WORDS.isdisjoint(words):
        return []
    out: list[Finding] = []
    pos = lowered.find("gpt")
    looks = 0
    while pos >= 0 and looks < _MAX_GPT_LOOKS and len(out) < MAX_PER_DETECTOR // 4:
        looks += 1
        end = pos + 3
        start = pos
        while start > 0 and pos - start < 20 and "a" <= lowered[start - 1] <= "z":
            start -= 1
        after = lowered[end : end + 1]
        if (pos - start >= 2 and (start == 0 or not lowered[start - 1].isalnum())
                and not (after.isalnum() or after == "_")
                and lowered[start:pos] not in _GPT_PRODUCTS):
            out.append(finding("persona_name", start, end, 0.25, text[start:end]))
        pos = lowered.find("gpt", end)
    return out
