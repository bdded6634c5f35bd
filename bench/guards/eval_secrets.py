"""Evaluate the secrets guard on labelled data and time it.

Results (development split, 292 records: 67 secret, 225 clean; 2026-11-26,
after the detection work described in bench/guards/README.md):

    overall   precision 0.980   recall 0.731   false-positive rate 0.004
              (tp 49, fn 18, fp 1, tn 224)
    before:   precision 0.811   recall 0.642   false-positive rate 0.044

  False positive: a real-format Mailchimp key in code (gitleaks' own false
  negative, labelled clean). Google API keys (`AIza` + 35) with nothing
  around them are reported at 0.45, below the act threshold: browser and
  Firebase keys are public by design and the split's clean examples are such
  keys; with a word like `key`, `gemini`, `goog` nearby they are acted on.
  Every hash, SRI string, UUID and commit id in the set (59 records) is clean.
  Misses (18): 15 are placeholders or documentation values that the split
  labels clean elsewhere (`AP6xxxxxxxxxx`, `ASIAZZZZ...`, `SKxxxx...`, a
  webhook of `x`s, repeated `EXAMPLE`, `fake`, `username:password`, AWS's
  documented secret key); 2 are reported below the act threshold by design
  (a lone `"type": "service_account"`, a PEM header followed by prose).
  Acting on placeholders would give recall 0.955 at FPR 0.080.
  Per-kind lines are printed by the script.

Timing (this script; CPython 3.11, shared 2-core box with other jobs running,
load ~1-2, so numbers vary by about 1.5x between runs):

    4 KB realistic prompt (prose, code, config, URL, hash, UUID; no secret):
        p50 0.11-0.13 ms, p99 0.16-0.28 ms
    1 MB adversarial inputs: all under 70 ms (CPU time) on an idle box; the
        before/after table per shape is in bench/guards/README.md.
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


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_52 = "".join(random.Random(52).choices(_BASE32, k=52))


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
        "authorization headers": ("Proxy-Authorization: Basic " * (size // 27 + 1))[:size],
        "JQQJ": "JQQJ" * (size // 4),
        # A legacy Azure DevOps PAT (52 base32 chars) after its context word, dense.
        "base32 and azure": ("azure " + _BASE32_52 + " ") * (size // 59),
        "ADO signatures": ("JQQJ" + "a" * 20 + "AZDO") * (size // 28),
        "sgp_": "sgp_" * (size // 4),
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
