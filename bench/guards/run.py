"""One command for the guards' quality and speed: `.venv/bin/python bench/guards/run.py`.

1. Runs the three evaluations (secrets, PII, injection) on the labelled data
   in /work/shared/fixtures/eval/ (read in place, never copied), and the
   secrets guard on generated texts of issue 21's categories
   (secrets_categories.py).
2. Times every guard alone and all of them together through the gateway's own
   `Inspector(parse_config({}).inspection).inspect_slots(...)` on realistic
   4 KB prompts (p50/p99 over --runs runs, default 2000).
3. Times every guard on every 1 MB adversarial shape (the eval scripts' shapes
   and more: ReDoS shapes, long runs of one character, deep nesting), the
   median of 3 runs in ms, and flags any over the 100 ms budget.
4. Runs the over-defence set (overdefence.py: 4 KB chunks of the locked
   packages' code and docs, pasted as a user turn and as a tool result) and
   prints the block and rewrite rates per slot kind (--overdefence-chunks N,
   0 to skip).
5. If an interpreter with google-re2 is available (--re2-python, default
   /tmp/re2venv/bin/python), runs re2_compare.py with it.

Options: --no-eval, --no-timing, --runs N, --overdefence-chunks N,
--re2-python PATH (or "" to skip).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import eval_injection  # noqa: E402
import eval_pii  # noqa: E402
import eval_secrets  # noqa: E402
import overdefence  # noqa: E402
import secrets_categories  # noqa: E402

from gateway_cli.config import parse_config  # noqa: E402
from gateway_cli.guards import extract, pii, secrets  # noqa: E402
from gateway_cli.guards.custom import CustomGuard  # noqa: E402
from gateway_cli.guards.injection import InjectionGuard  # noqa: E402
from gateway_cli.guards.injection.classifier import shipped as shipped_classifier  # noqa: E402
from gateway_cli.guards.pipeline import Inspector  # noqa: E402

DATA = Path("/work/shared/fixtures/eval")
BUDGET_MS = 100.0
MB = 1 << 20

_rules = InjectionGuard(classifier=None)
_classifier = shipped_classifier()
_custom = CustomGuard()
# The injection guard is its rules and the shipped classifier, timed apart so each
# one's cost shows; "sum of p50" adds both, and the Inspector runs the real guard.
GUARDS: dict[str, Callable[[str], object]] = {
    "secrets": secrets.scan,
    "pii": pii.scan,
    "injection rules": lambda t: _rules.scan(t, source="user"),
    "classifier": _classifier.locate,
    "custom": _custom.scan,
}
INJECTION = ("injection rules", "classifier")


def prompts() -> dict[str, str]:
    return {
        "code review (secrets eval)": eval_secrets.realistic_prompt(4096),
        "support ticket (PII eval)": eval_pii.PROMPT_4K,
        "agent prompt (injection eval)": eval_injection.realistic_prompt(),
    }


def _fill(unit: str, size: int = MB) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def adversarial() -> dict[str, str]:
    shapes: dict[str, str] = {}
    for name, text in eval_secrets.adversarial_inputs(MB).items():
        shapes[f"secrets: {name}"] = text
    for name, text in eval_pii.ADVERSARIAL.items():
        shapes[f"pii: {name}"] = text
    shapes["injection: eval mix"] = eval_injection.adversarial(MB)
    extra = {
        "spaces": " ",
        "newlines": "\n",
        "tabs+commas": "\t,",
        "zero-width": "\u200b",
        "a + zero-width": "a\u200b",
        "tag chars": "\U000e0041",
        "bidi": "\u202e",
        "'ignore '": "ignore ",
        "'ignore previous instructions '": "ignore previous instructions ",
        "'ignore' + gap words": "ignore the very many words ",
        "'you are now '": "you are now ",
        "'<|'": "<|",
        "'<!--'": "<!--",
        "'<div style='": "<div style=display:none>",
        "'[x](' links": "[x](",
        "nested ((((": "(",
        "nested [[[[": "[",
        "nested {{{{": "{",
        "'1234  ' double": "1234  ",
        "'123-45-6789 ' SSN-shaped": "123-45-6789 ",
        "'(415) 555-0132 '": "(415) 555-0132 ",
        "'123 1234 '": "123 1234 ",
        "'4111 1111 1111 1111 '": "4111 1111 1111 1111 ",
        "'eyJ'": "eyJ",
        "'-us1'": "-us1",
        "'Q~'": "Q~",
        "'AKIA'": "AKIA",
        "'\\x41'": "\\x41",
        "'41 '": "41 ",
        # Session 11: bare numbers a phone word makes phones, digits of other scripts.
        "'2125550199' lines": "2125550199\n",
        "'phone 4155550132 '": "phone 4155550132 ",
        "Arabic-Indic digits": "".join(chr(0x660 + d) for d in range(10)),
        "Arabic-Indic card list": "".join(chr(0x660 + int(c)) for c in "4111111111111111") + " ",
        "digits of six scripts": "".join(chr(z + 1) for z in (0x660, 0x6F0, 0x966, 0x9E6, 0xE50,
                                                               0x1040)) + " ",
    }
    for name, unit in extra.items():
        shapes[f"extra: {name}"] = _fill(unit)
    return shapes


def classifier_shapes() -> dict[str, str]:
    """Megabytes that are costly for the classifier and not floods of one unit.

    A flood repeats its pieces, which the classifier weighs once each; these do
    not: distinct short words (the most words per megabyte), and invisible
    characters that only the regex removes, one between every two letters.
    """
    rng = random.Random(21)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = " ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                     for _ in range(MB // 4))
    short = " ".join(rng.choice(letters) + rng.choice(letters) for _ in range(MB // 3))
    rare = "".join(rng.choice(letters) + "\u180b" for _ in range(MB // 2))
    return {"classifier: random words": words[:MB], "classifier: random 2-letter words":
            short[:MB], "classifier: letters and U+180B": rare[:MB]}


def _samples(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    out.sort()
    return out


def _p(samples: list[float], q: float) -> float:
    return samples[min(len(samples) - 1, int(len(samples) * q))]


def time_prompts(runs: int) -> None:
    # The verdict cache off: the same text is inspected run after run, and what is timed
    # is the guards judging it, not the cache remembering it (guards/verdict_cache.py).
    inspector = Inspector(parse_config({"inspection": {"cache_entries": 0}}).inspection)
    print(f"\n== 4 KB realistic prompts: p50 / p99 in ms over {runs} runs ==")
    head = ["prompt", *GUARDS, "sum of p50", "Inspector"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, text in prompts().items():
        cells = [label]
        total = 0.0
        for fn in GUARDS.values():
            s = _samples(partial(fn, text), runs)
            total += statistics.median(s)
            cells.append(f"{statistics.median(s):.3f} / {_p(s, 0.99):.3f}")
        cells.append(f"{total:.3f}")
        slot = extract.TextSlot(path=("messages", 0, "content"), text=text, source="user")
        body = {"messages": [{"role": "user", "content": text}]}
        s = _samples(partial(inspector.inspect_slots, [slot], body, "m"), runs)
        cells.append(f"{statistics.median(s):.3f} / {_p(s, 0.99):.3f}")
        print("| " + " | ".join(cells) + " |")


def time_adversarial() -> list[str]:
    over: list[str] = []
    print(f"\n== 1 MB adversarial shapes: median of 3 runs in ms (budget {BUDGET_MS:.0f} ms) ==")
    print("| shape | " + " | ".join(GUARDS) + " | injection guard (rules + classifier) |")
    print("|---|" + "---:|" * (len(GUARDS) + 1))
    for name, text in {**adversarial(), **classifier_shapes()}.items():
        cells = []
        times = {}
        for guard, fn in GUARDS.items():
            ms = times[guard] = statistics.median(_samples(partial(fn, text), 3))
            cells.append(f"{ms:.1f}")
        both = sum(times[g] for g in INJECTION)
        budgets = {**{g: t for g, t in times.items() if g not in INJECTION},
                   "injection guard": both}
        for guard, ms in budgets.items():
            if ms > BUDGET_MS:
                over.append(f"{guard} on {name}: {ms:.1f} ms")
        cells.append(f"{both:.1f}" + (" **over**" if both > BUDGET_MS else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    return over


def time_linearity() -> None:
    """The classifier's time per megabyte at four sizes of two non-repeating texts."""
    print("\n== classifier: ms at 128 KB / 256 KB / 512 KB / 1 MB (median of 3), and ms per MB ==")
    for name, text in classifier_shapes().items():
        cells = []
        for size in (MB // 8, MB // 4, MB // 2, MB):
            ms = statistics.median(_samples(partial(_classifier.locate, text[:size]), 3))
            cells.append(f"{ms:.1f} ({ms * MB / size:.0f}/MB)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def run_evals() -> None:
    print("== secrets (detected = a finding with confidence >= 0.5) ==")
    buf = io.StringIO()
    with redirect_stdout(buf):
        eval_secrets.evaluate(DATA / "secrets.jsonl")
    # Per kind, then the misses and false positives (masked previews).
    print(buf.getvalue().rstrip())
    print("\n== secrets: issue 21's categories, generated (secrets_categories.py) ==")
    argv = sys.argv
    sys.argv = [argv[0]]
    try:
        secrets_categories.main()
    finally:
        sys.argv = argv
    print("\n== PII (a finding counts when its span overlaps a labelled entity of its type) ==")
    for conf in (0.0, 0.5):
        results = eval_pii.evaluate(DATA / "pii.jsonl", conf, False)
        f1s = [2 * p * r / (p + r) if p + r else 0.0 for p, r in results.values()]
        print(f"  macro F1 over the six types: {statistics.mean(f1s):.3f}"
              f" (min {min(f1s):.3f})")
    print("\n== injection (score >= 0.5, source=user) ==")
    argv = sys.argv
    sys.argv = [argv[0], "--data", str(DATA / "injection.jsonl"), "--no-timing"]
    try:
        eval_injection.main()
    finally:
        sys.argv = argv


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {model}, Python {sys.version.split()[0]}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--overdefence-chunks", type=int, default=2000)
    ap.add_argument("--re2-python", default="/tmp/re2venv/bin/python")
    args = ap.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}\n")
    if not args.no_eval:
        run_evals()
    over: list[str] = []
    if not args.no_timing:
        time_prompts(args.runs)
        over = time_adversarial()
        time_linearity()
        print(f"\nshapes over {BUDGET_MS:.0f} ms: {len(over)}")
        for line in over:
            print("  " + line)
    if args.overdefence_chunks:
        print("\n== over-defence: default policy on code and docs, per slot kind ==")
        overdefence.run(args.overdefence_chunks, show=0)
    if args.re2_python and Path(args.re2_python).exists():
        print("\n== regex engines: Python re vs google-re2 (re2_compare.py) ==")
        subprocess.run([args.re2_python, str(HERE / "re2_compare.py")], check=False,
                       stderr=subprocess.DEVNULL)
    elif args.re2_python:
        print(f"\n(no {args.re2_python}: regex engine comparison skipped; see re2_compare.py)")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
