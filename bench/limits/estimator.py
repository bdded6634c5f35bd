"""How far `gateway_cli.limits.tokens.estimate_text` is from real tokenizer counts.

A development-time measurement, never run by the gateway: the real counts come from
npm tokenizer packages that ship their vocabularies, installed outside the work tree
and driven by `count_tokens.cjs` beside this file. See ESTIMATOR.md for the results.

    npm install --prefix /tmp/tok gpt-tokenizer@4.0.0 @anthropic-ai/tokenizer@0.0.4
    .venv/bin/python bench/limits/estimator.py --node-modules /tmp/tok/node_modules \\
        [--node-script bench/limits/count_tokens.cjs] [--speed] [FILE.jsonl ...]

Each FILE is JSON lines with a `text` field (default: the eval fixtures in
../shared/fixtures/eval). Prints, per tokenizer and per file, the relative error
(estimate - real) / real: mean, median, 95th percentile of its absolute value, the
largest under-estimate, and the share of texts under-estimated by more than 10%.
Only numbers are printed, never a text.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gateway_cli.limits.tokens import estimate_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EVAL = ROOT.parent / "shared" / "fixtures" / "eval"
TOKENIZERS = ("o200k_base", "cl100k_base", "claude_legacy")


def read_texts(path: Path) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                text = json.loads(line).get("text")
                if isinstance(text, str) and text:
                    texts.append(text)
    return texts


def real_counts(texts: list[str], script: Path, node_modules: Path) -> list[dict[str, int]]:
    feed = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    done = subprocess.run(["node", str(script)], input=feed, capture_output=True, text=True,
                          env=env, check=True)
    counts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(counts) != len(texts):
        raise SystemExit(f"the node script answered {len(counts)} counts for {len(texts)} texts")
    return counts


def stats(errors: list[float]) -> str:
    ordered = sorted(abs(e) for e in errors)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    under = sum(1 for e in errors if e < -0.10) / len(errors)
    return (f"{statistics.mean(errors):+.3f} | {statistics.median(errors):+.3f} | {p95:.3f} | "
            f"{min(errors):+.3f} | {under:.1%}")


def speed() -> None:
    texts = {"4 KB English": ("The quick brown fox jumps over the lazy dog. " * 100)[:4096],
             "4 KB Python": (Path(ROOT / "gateway_cli" / "limits" / "tokens.py")
                             .read_text(encoding="utf-8"))[:4096],
             "4 KB random base64": ("kq3Zt9+Vb0aX/7pLmQ2wYc8Rj4Ne1HsTfGu6Ko5DiA" * 100)[:4096],
             "4 KB CJK": ("令牌估计" * 400)[:1365]}
    for name, text in texts.items():
        n = 2000
        best = min(_timed(text, n) for _ in range(5))
        print(f"{name}: {best * 1e6:.1f} µs per call")


def _timed(text: str, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        estimate_text(text)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--node-script", type=Path, default=HERE / "count_tokens.cjs")
    parser.add_argument("--node-modules", type=Path, required=True)
    parser.add_argument("--speed", action="store_true", help="also time the estimator")
    args = parser.parse_args()
    files = args.files or sorted(EVAL.glob("*.jsonl"))
    print("| texts | tokenizer | N | mean | median | p95 abs | max under | under >10% |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    every: dict[str, list[float]] = {name: [] for name in TOKENIZERS}
    total = 0
    for path in files:
        texts = read_texts(path)
        counts = real_counts(texts, args.node_script, args.node_modules)
        estimates = [estimate_text(t) for t in texts]
        total += len(texts)
        for name in TOKENIZERS:
            errors = [(e - c[name]) / c[name] for e, c in zip(estimates, counts, strict=True)
                      if c[name] > 0]
            every[name] += errors
            print(f"| {path.stem} | {name} | {len(errors)} | {stats(errors)} |")
    for name in TOKENIZERS:
        print(f"| all | {name} | {len(every[name])} | {stats(every[name])} |")
    print(f"\n{total} texts from {len(files)} files", file=sys.stderr)
    if args.speed:
        speed()


if __name__ == "__main__":
    main()
