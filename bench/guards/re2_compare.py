"""Python `re` against google-re2 on a few of the guards' own patterns.

Run with an interpreter that has google-re2 installed (never the project's
venv, which must not gain the dependency), for example:

    python3.11 -m venv /tmp/re2venv && /tmp/re2venv/bin/pip install google-re2
    /tmp/re2venv/bin/python bench/guards/re2_compare.py

The patterns are copied here, not imported, so this file needs nothing from
the project. Times are the best of 3, in ms; "n/a" means RE2 rejects the
pattern (look-around, back-references and possessive quantifiers are
outside RE2's syntax).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

# The injection guard's canonical override detector (bounded word gap), the
# same with RE2-compatible greedy quantifiers, and two plain token patterns.
_GAP = r"(?:[\s,]++[\w'\u2019-]{1,20}+){0,4}?[\s,]++"
_GAP_PLAIN = "(?:[\\s,]+[\\w'\u2019-]{1,20}){0,4}?[\\s,]+"  # RE2 wants the character
_VERB = r"(?:ignor(?:e|ing|ed)|disregard(?:ing)?|forg[eo]t(?:ten)?|skip|overrid(?:e|ing)|bypass)"
_NOUN = r"(?:instructions?|rules|directives?|guidelines|prompts?|orders|commands)"
PATTERNS: dict[str, str] = {
    "injection override (as shipped)": rf"\b{_VERB}{_GAP}{_NOUN}\b",
    "injection override (RE2 syntax)": rf"\b{_VERB}{_GAP_PLAIN}{_NOUN}\b",
    "secrets JWT": (
        r"eyJ[A-Za-z0-9_-]{4,4000}(?:\.[A-Za-z0-9_-]{0,8000}(?:\.[A-Za-z0-9_-]{0,1000})?)?"
    ),
    "secrets JWT (RE2 bounds <= 1000)": (
        r"eyJ[A-Za-z0-9_-]{4,1000}(?:\.[A-Za-z0-9_-]{0,1000}(?:\.[A-Za-z0-9_-]{0,1000})?)?"
    ),
    "pii card (look-behinds)": (
        r"[0-9](?<![\w.+\-][0-9])(?<![0-9][ \-][0-9])(?:[ \-]?[0-9]){11,18}(?!\w)(?![.\- ]?[0-9])"
    ),
    "pii card (RE2 syntax)": r"\b[0-9](?:[ \-]?[0-9]){11,18}\b",
    "email domain": r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,63}",
}

_BLOCK = (
    "Please review the following change and explain why the retry loop in the upstream "
    "client might hang when the provider returns a 429 with a Retry-After header. "
    "Config: timeout = 30, base_url = https://api.example.com/v1, ticket 48213, "
    "build 2024-03-12, card ending 4242, mail ops@example.com. Thanks!\n"
)
INPUTS: dict[str, str] = {
    "4 KB prompt": (_BLOCK * 20)[:4096],
    "1 MB prompt text": (_BLOCK * 5000)[: 1 << 20],
    "1 MB 'ignore '": ("ignore " * 150_000)[: 1 << 20],
    "1 MB 'eyJ'": ("eyJ" * 350_000)[: 1 << 20],
    "1 MB '1234 '": ("1234 " * 210_000)[: 1 << 20],
    "1 MB 'a'": "a" * (1 << 20),
}


def _best(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if best > 1.0:  # one slow run says enough
            break
    return best * 1e3


def _spans(rx: Any, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in rx.finditer(text)]


def _compile(mod: ModuleType, pattern: str) -> Any:
    try:
        return mod.compile(pattern)
    except Exception:  # re2.error and friends: syntax outside RE2
        return None


def main() -> int:
    try:
        import re2  # type: ignore[import-not-found]
    except ImportError:
        print("google-re2 is not importable from this interpreter:", sys.executable)
        return 1
    print(f"Python {sys.version.split()[0]}, google-re2 from {re2.__file__}")
    print(f"{'pattern':34} {'input':18} {'re ms':>9} {'re2 ms':>9} {'same':>5}")
    for name, pattern in PATTERNS.items():
        py = re.compile(pattern)
        r2 = _compile(re2, pattern)
        for label, text in INPUTS.items():
            runs = 200 if len(text) < 10_000 else 3
            t_py = _best(partial(_spans, py, text), runs)
            if r2 is None:
                print(f"{name:34} {label:18} {t_py:9.3f} {'n/a':>9} {'-':>5}")
                continue
            t_r2 = _best(partial(_spans, r2, text), runs)
            # A pathological RE2 run is not repeated just to compare spans.
            same = "-" if t_r2 > 1000 else _spans(py, text) == _spans(r2, text)
            print(f"{name:34} {label:18} {t_py:9.3f} {t_r2:9.3f} {same!s:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
