"""Evaluate the secrets guard on labelled data and time it.

Results (development split, 292 records: 67 secret, 225 clean; 2026-11-26):

    overall   precision 0.811   recall 0.642   false-positive rate 0.044
              (tp 43, fn 24, fp 10, tn 215)

  False positives: 9 of 10 are real-format Google API keys (`AIza` + 35) that
  gitleaks allowlists by value (public browser/Firebase keys); by format alone
  they are indistinguishable from a Gemini key, which is a real credential, so
  they stay. The 10th is a real-format Mailchimp key in code. Every hash, SRI
  string, UUID and commit id in the set (59 records) is clean.
  Misses, by cause: placeholders the data labels secret but the guard is
  meant to ignore (`xxxx`, `ZZZZ` runs, `EXAMPLE`, `fake`, `password` as the
  password: 17 of 24); formats that fail validation by design (two-segment
  JWT, a Discord id that is not a number, glsoat length, `"type":
  "service_account"` alone and a PEM header with no key material, both
  reported below the act threshold); one high-entropy value with no key word.
  Per-kind lines are printed by the script.

Timing (this script; CPython 3.11, shared 2-core box with other jobs running,
load ~1-2, so numbers vary by about 1.5x between runs):

    4 KB realistic prompt (prose, code, config, URL, hash, UUID; no secret):
        p50 0.105-0.14 ms, p99 0.16-0.28 ms
    1 MB adversarial inputs, median of 5 (max of 5 in brackets):
        one char 35 (36) ms, "a=" repeated 28 (28), base64 run 31 (32),
        many BEGIN headers 59 (70), "password=" repeated 51 (55),
        token prefixes 63 (68), digits and dots 41 (42),
        "aws" + base64 runs 76 (79), "eyJ" run 32 (33), bearer junk 53 (59),
        service-account markers 26 (37), BEGIN..junk..END 45 (46),
        1 MB of valid-looking tokens (capped at 1000 findings) 50 (55) ms.
    All linear: the test suite checks 200 KB versions of these in < 1 s each.

A record counts as detected when scan() returns a finding with confidence
>= ACT_THRESHOLD (0.5): that is the level a caller acts on; lower findings
are informational. The data (/work/shared/fixtures/eval/secrets.jsonl) is read in
place and never copied into the repository; previews printed here are masked.

Run: .venv/bin/python bench/guards/eval_secrets.py [--data PATH] [--no-timing]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import string
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from gateway_cli.guards.base import mask
from gateway_cli.guards.secrets import ACT_THRESHOLD, scan

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared/fixtures/eval/secrets.jsonl"


def _detected(text: str) -> bool:
    return any(f.confidence >= ACT_THRESHOLD for f in scan(text))


def evaluate(path: Path) -> None:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp fn fp tn
    misses: list[str] = []
    false_pos: list[str] = []
    for line, rec in enumerate(records, 1):
        hit = _detected(rec["text"])
        secret = rec["label"] == "secret"
        counts = per_kind[rec["kind"]]
        if secret and hit:
            counts[0] += 1
        elif secret:
            counts[1] += 1
            misses.append(f"line {line} {rec['kind']}: {mask(rec['text'])}")
        elif hit:
            counts[2] += 1
            kinds = ",".join(sorted({f.kind for f in scan(rec["text"])}))
            false_pos.append(f"line {line} {rec['kind']} (as {kinds}): {mask(rec['text'])}")
        else:
            counts[3] += 1
    tp, fn, fp, tn = (sum(c[i] for c in per_kind.values()) for i in range(4))
    print(f"records {len(records)}: {tp + fn} secret, {fp + tn} clean")
    print(_line("OVERALL", tp, fn, fp, tn))
    for kind in sorted(per_kind):
        print(_line(kind, *per_kind[kind]))
    print(f"\nmisses ({len(misses)}):")
    for m in misses:
        print("  " + m)
    print(f"\nfalse positives ({len(false_pos)}):")
    for f in false_pos:
        print("  " + f)


def _line(name: str, tp: int, fn: int, fp: int, tn: int) -> str:
    precision = f"{tp / (tp + fp):.3f}" if tp + fp else "  -  "
    recall = f"{tp / (tp + fn):.3f}" if tp + fn else "  -  "
    fpr = f"{fp / (fp + tn):.3f}" if fp + tn else "  -  "
    return f"{name:40} P {precision}  R {recall}  FPR {fpr}  (tp {tp} fn {fn} fp {fp} tn {tn})"


def realistic_prompt(size: int = 4096) -> str:
    """A code-review style prompt: prose, code, config, a URL, a hash; no secret."""
    block = (
        "Please review the following change and explain why the retry loop in the upstream "
        "client might hang when the provider returns a 429 with a Retry-After header.\n"
        "```python\nasync def fetch(session, url: str, token_name: str = 'api') -> dict:\n"
        "    for attempt in range(3):\n        async with session.get(url) as resp:\n"
        "            if resp.status == 429:\n                await asyncio.sleep(2 ** attempt)\n"
        "                continue\n            return await resp.json()\n```\n"
        "Config: timeout = 30, password_policy = strict, base_url = https://api.example.com/v1\n"
        "The build pinned sha256:eeac2acb5a20ed25e0ad6d1df9891a520b78b404266b6d11778f25d5d691a6c9"
        " and request id 2987123a-ba93-4704-b489-ec1e5f25292c. Thanks, and keep it short!\n"
    )
    return (block * (size // len(block) + 1))[:size]


def adversarial_inputs(size: int) -> dict[str, str]:
    rng = random.Random(7)
    b64 = string.ascii_letters + string.digits + "+/"
    return {
        "one char": "a" * size,
        "a= repeated": "a=" * (size // 2),
        "base64 run": "".join(rng.choice(b64) for _ in range(size)),
        "many BEGIN": ("-----BEGIN RSA PRIVATE KEY-----\n" * (size // 32 + 1))[:size],
        "password= repeated": ("password=" * (size // 9 + 1))[:size],
        "prefixes": ("sk-ghp_xoxb-AKIAeyJ.://@" * (size // 24 + 1))[:size],
        "digits and dots": ("1234567890.abcdef." * (size // 18 + 1))[:size],
        "aws context + base64": ("aws " + "A" * 60 + " ") * (size // 65),
        "eyJ run": "eyJ" * (size // 3),
        "bearer junk": ("Authorization: Bearer " + "a" * 30 + " ") * (size // 53),
        "gcp markers": '"type": "service_account", "private_key": "x" ' * (size // 48),
        "BEGIN junk END": (
            "-----BEGIN PRIVATE KEY-----!" * 600 + "-----END PRIVATE KEY-----\n"
        ) * (size // 16_826),
        "secret flood (capped)": ("ghp_" + "aB3" * 12 + " ") * (size // 41),
    }


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def timing() -> None:
    prompt = realistic_prompt()
    assert not [f for f in scan(prompt) if f.confidence >= ACT_THRESHOLD], scan(prompt)
    samples = sorted(_time(lambda: scan(prompt), 2000))
    p50 = statistics.median(samples) * 1e3
    p99 = samples[int(len(samples) * 0.99)] * 1e3
    print(f"\n4 KB realistic prompt: p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    for name, text in adversarial_inputs(1 << 20).items():
        runs = _time(lambda text=text: scan(text), 5)  # type: ignore[misc]
        median, worst = statistics.median(runs) * 1e3, max(runs) * 1e3
        print(f"1 MB adversarial {name!r:24}: median {median:6.1f} ms  max {worst:6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    evaluate(args.data)
    if not args.no_timing:
        timing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
