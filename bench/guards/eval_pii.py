"""Precision, recall and speed of the PII guard on labelled data.

Run: .venv/bin/python bench/guards/eval_pii.py [--data PATH] [--min-confidence X] [--details]

The data is the shared development split (presidio-research synthetic
samples); it is read in place, never copied into the repo. A finding matches a
labelled entity of its type when the spans overlap. Findings that overlap an
entity of another labelled type we do not detect (a domain, a driver's licence,
a person) count as false positives; records whose unlabelled types could hide
a real match are not special-cased, because none of those types is one we
report.

Results (2026-11-26, development split, 289 records; tp/fp/fn):

  type         min confidence 0.0            min confidence 0.5
               P      R      tp  fp  fn      P      R      tp  fp  fn
  EMAIL        1.000  1.000  60   0   0      1.000  1.000  60   0   0
  PHONE        1.000  1.000  41   0   0      1.000  1.000  41   0   0
  CREDIT_CARD  1.000  0.988  80   0   1      1.000  0.988  80   0   1
  IBAN         1.000  1.000  22   0   0      1.000  1.000  22   0   0
  US_SSN       0.914  1.000  32   3   0      1.000  1.000  32   0   0
  IP_ADDRESS   1.000  1.000  12   0   0      1.000  1.000  12   0   0

  The three US_SSN false positives at 0.0 are nine-digit driver's licence
  numbers, reported at confidence 0.3 by design (bare nine digits with no
  "SSN" nearby). The one card missed has a prefix (06...) no network issues.
  The data is synthetic (Faker-made): perfect scores here say the validators
  and formats are right, not that real prompts will score as well; the
  national phone formats in particular are only as good as their word list.

Timing (CPython 3.11, shared 2-core machine with other jobs running; p50 and
p99 of 2000 runs, 1 MB inputs p50 and max of 5):

  4 KB realistic prompt (code, logs, dates, versions, one email, one phone):
    p50 0.155 ms, p99 0.29 ms        (aim was 0.1 ms: not met)
  4 KB PII-dense prompt (a card, IP, phone, email, dates every 450 chars):
    p50 0.43 ms, p99 0.7 ms
  1 MB adversarial, p50: digits 28 ms, `1 1 1` 42 ms, `12-12-` 73 ms,
    `@@@@` 41 ms, `a@a@` 46 ms, `1.1.1.` 79 ms, `::::` 46 ms, `ab:ab:` 92 ms,
    `a.a.@b.b.` 10 ms, `GB12GB12` 35 ms, `+(1+(1` 26 ms, `1  1  ` 39 ms,
    `1234 1234 ` 136 ms (over the 100 ms budget: the phone, SSN and card
    patterns each make a pass over the one long run). Since the long-run
    work (bench/guards/README.md): `1234 1234 ` about 45-65 ms; all shapes
    here under 100 ms; run bench/guards/run.py for the current table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii import scan

DATA = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "eval" / "pii.jsonl"
if not DATA.exists():
    DATA = Path("/work/shared/fixtures/eval/pii.jsonl")

KIND_TO_TYPE = {
    "email": "EMAIL",
    "phone": "PHONE",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN",
    "us_ssn": "US_SSN",
    "ip_address": "IP_ADDRESS",
}


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def evaluate(path: Path, min_conf: float, details: bool) -> dict[str, tuple[float, float]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    misses: list[str] = []
    false_pos: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        text: str = record["text"]
        entities = [e for e in record["entities"] if e["type"] in KIND_TO_TYPE.values()]
        findings = [f for f in scan(text) if f.confidence >= min_conf]
        for e in entities:
            hit = any(
                KIND_TO_TYPE[f.kind] == e["type"]
                and _overlaps(f.start, f.end, e["start"], e["end"])
                for f in findings
            )
            if hit:
                tp[e["type"]] += 1
            else:
                fn[e["type"]] += 1
                misses.append(f"{e['type']:<12} {mask(e['value'])}  shape={_shape(e['value'])}")
        for f in findings:
            t = KIND_TO_TYPE[f.kind]
            if not any(
                e["type"] == t and _overlaps(f.start, f.end, e["start"], e["end"]) for e in entities
            ):
                fp[t] += 1
                other = [
                    x["type"]
                    for x in record["entities"]
                    if _overlaps(f.start, f.end, x["start"], x["end"])
                ]
                false_pos.append(
                    f"{t:<12} {f.preview} conf={f.confidence} "
                    f"shape={_shape(text[f.start : f.end])} labelled_as={other}"
                )
    results: dict[str, tuple[float, float]] = {}
    print(f"min confidence {min_conf}")
    print(f"  {'type':<12} {'P':>6} {'R':>6}   tp  fp  fn")
    for t in KIND_TO_TYPE.values():
        p = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0
        r = tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0
        results[t] = (p, r)
        print(f"  {t:<12} {p:6.3f} {r:6.3f}  {tp[t]:3} {fp[t]:3} {fn[t]:3}")
    if details:
        print("  misses:")
        for m in misses:
            print("    " + m)
        print("  false positives:")
        for m in false_pos:
            print("    " + m)
    return results


def _shape(value: str) -> str:
    """The value's layout with every letter and digit hidden: enough to tune on."""
    return "".join("9" if c.isdigit() else "a" if c.isalpha() else c for c in value)


# A realistic prompt: a support request with code, a log excerpt, numbers,
# dates and versions, and two pieces of PII (an email and a phone number).
PROMPT_4K = (
    "You are a senior support engineer. Answer briefly and cite the log lines.\n\n"
    "Customer message (ticket 48213, priority 2, opened 2024-03-12 09:41 UTC):\n"
    "Hi team, since upgrading the SDK from 4.2.1 to 4.3.0 our nightly export job"
    " fails after about 15 minutes. It processes roughly 120,000 rows per run and"
    " used to finish in 11 minutes on the same m5.xlarge instance. Nothing else"
    " changed except the Python version (3.11.8). You can reach me at"
    " jordan.alvarez@example.com or +1 415-555-0132 if you need more details.\n\n"
    "Here is the relevant part of our code:\n\n"
    "```python\n"
    "def export(batch_size: int = 500) -> None:\n"
    "    client = Client(timeout=30, retries=3)\n"
    "    for page in range(0, total_rows, batch_size):\n"
    "        rows = client.fetch(offset=page, limit=batch_size)\n"
    "        writer.write_rows(rows)  # 64 KiB buffer\n"
    "        if page % 10_000 == 0:\n"
    "            log.info('exported %d of %d rows', page, total_rows)\n"
    "```\n\n"
    "And the log around the failure:\n\n"
    "2024-03-12T02:14:07Z INFO exported 90000 of 120431 rows\n"
    "2024-03-12T02:14:55Z WARN retry 1/3 after 502 from api.example.net (took 30.2s)\n"
    "2024-03-12T02:15:26Z WARN retry 2/3 after 502 from api.example.net (took 30.0s)\n"
    "2024-03-12T02:15:58Z ERROR giving up after 3 attempts: ReadTimeout(30)\n\n"
    "We tried raising the timeout to 60 and lowering batch_size to 250, which"
    " helped for two nights (runs 311 and 312) but run 313 failed again at 97%."
    " Memory stays under 1.5 GB and CPU under 40%. Is this related to the change"
    " in connection pooling mentioned in the 4.3 release notes? Should we pin"
    " 4.2.1 for now, and if so until which version? Thanks a lot!\n\n"
)
PROMPT_4K = (PROMPT_4K * (4096 // len(PROMPT_4K) + 1))[:4096]

# The same size, dense with personal data: a worst case for the validators.
PROMPT_DENSE = (
    "Hi, I ordered a laptop last week (order 2024-118-55) and it still has not"
    " arrived. My name is Dana and you can reach me at dana.k@example.org or on"
    " +44 20 7946 0958. I paid with the card ending 4242 and the tracking page"
    " shows an error from 10.0.3.17 when I open it with version 3.2.1.4 of the"
    " app. Please refund to my account; the last invoice was 1,299.00 EUR on"
    " 12/03/2024 and I would like a receipt. Thanks!\n"
)
PROMPT_DENSE = (PROMPT_DENSE * (4096 // len(PROMPT_DENSE) + 1))[:4096]


def _timed(fn: Callable[[], list[Finding]], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


ADVERSARIAL: dict[str, str] = {
    "digits": "1" * 1_000_000,
    "spaced digits": "1 " * 500_000,
    "dashed digits": "12-" * 333_333,
    "at signs": "@" * 1_000_000,
    "a@ runs": "a@" * 500_000,
    "dotted ones": "1." * 500_000,
    "colons": ":" * 1_000_000,
    "hex colons": "ab:" * 333_333,
    "email-ish": "a." * 250_000 + "@" + "b." * 250_000,
    "letters+digits": "GB12" * 250_000,
    "plus paren": "+(1" * 333_333,
    "digit groups": "1234 " * 200_000,
    "double spaced": "1  " * 333_333,
}


def timing() -> None:
    for name, prompt in (("realistic", PROMPT_4K), ("PII-dense", PROMPT_DENSE)):
        p50, p99 = _timed(lambda prompt=prompt: scan(prompt), 2000)  # type: ignore[misc]
        print(f"4 KB {name} prompt: p50 {p50:.3f} ms, p99 {p99:.3f} ms")
    for name, text in ADVERSARIAL.items():
        p50, p99 = _timed(lambda text=text: scan(text), 5)  # type: ignore[misc]
        print(f"1 MB {name:<15}: p50 {p50:7.1f} ms, max {p99:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--min-confidence", type=float, default=None)
    ap.add_argument("--details", action="store_true")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    thresholds = [args.min_confidence] if args.min_confidence is not None else [0.0, 0.5]
    for t in thresholds:
        evaluate(args.data, t, args.details)
    if not args.no_timing:
        timing()


if __name__ == "__main__":
    main()
