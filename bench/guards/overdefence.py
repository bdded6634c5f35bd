"""Over-defence: how often the default policy blocks or rewrites ordinary code and docs.

    .venv/bin/python bench/guards/overdefence.py [--chunks 2000] [--seed 21] [--show 5]

The corpus is regenerated on every run, never committed: 4 KB chunks of the
Python packages installed in .venv (they come from the hash-pinned lock, so
the same lock gives the same files), their sources and their docs (.py,
.pyi, .md, .rst, .txt), files in sorted order, chunks picked with a fixed
seed; the half of some packages' files that `negatives.py` trains the
classifier on is left out. Each chunk is pasted as a user turn, then as a
tool result (what a coding agent's `Read` returns), then as a retrieved
document, and judged by `Inspector` with the default config. Reported:
block and rewrite (redact) rates per slot kind, and the guard.kind behind
each; `--show N` prints the path and offset of the first N blocked chunks
(never their text) to look at.

Target: block rate <= 0.3% with the default policy.
"""

from __future__ import annotations

import argparse
import random
import sys
import sysconfig
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

import negatives  # noqa: E402

from gateway_cli.config import parse_config  # noqa: E402
from gateway_cli.guards.extract import TextSlot  # noqa: E402
from gateway_cli.guards.pipeline import Inspector  # noqa: E402

SUFFIXES = (".py", ".pyi", ".md", ".rst", ".txt")
CHUNK = 4096
SLOTS = ("user", "tool_result", "document")


def corpus_files(site: Path) -> list[Path]:
    """Sources and docs of the installed packages, in a stable order (not the gateway itself,
    nor the files the classifier's code and docs negatives are cut from: never trained on)."""
    trained = set(negatives.training_files(site))
    files = [p for p in site.rglob("*") if p.suffix in SUFFIXES and p.is_file()
             and "gateway_cli" not in p.parts and p.stat().st_size >= 512 and p not in trained]
    return sorted(files, key=lambda p: p.relative_to(site).as_posix())


def chunks(site: Path, count: int, seed: int) -> list[tuple[str, int, str]]:
    """(file, offset, text) for `count` chunks of up to 4 KB, reproducibly."""
    files = corpus_files(site)
    rng = random.Random(seed)
    out: list[tuple[str, int, str]] = []
    while len(out) < count and files:
        path = files[rng.randrange(len(files))]
        text = path.read_text(encoding="utf-8", errors="replace")
        offset = rng.randrange(max(1, len(text) - CHUNK))
        out.append((path.relative_to(site).as_posix(), offset, text[offset:offset + CHUNK]))
    return out


SITE = Path(sysconfig.get_paths()["purelib"])


def run(count: int = 2000, seed: int = 21, show: int = 5, site: Path = SITE) -> None:
    """Print block and rewrite rates per slot kind (and why) for `count` chunks."""
    inspector = Inspector(parse_config({}).inspection)
    sample = chunks(site, count, seed)
    print(f"corpus: {len(corpus_files(site))} files under {site}, "
          f"{len(sample)} chunks of {CHUNK} chars, seed {seed}")
    for source in SLOTS:
        verdicts: Counter[str] = Counter()
        why: Counter[str] = Counter()
        shown: list[str] = []
        for name, offset, text in sample:
            slot = TextSlot(("text",), text, source)  # type: ignore[arg-type]
            decision = inspector.inspect_slots([slot], {"text": text}, "").decision
            verdicts[decision.verdict] += 1
            if decision.verdict != "allow":
                why[f"{decision.verdict} {decision.reason}"] += 1
            if decision.verdict == "block" and len(shown) < show:
                shown.append(f"    {name} @ {offset}: {decision.reason}")
        n = len(sample)
        print(f"\n== pasted as {source}: block {verdicts['block'] / n:.2%} "
              f"({verdicts['block']}/{n}), rewrite {verdicts['redact'] / n:.2%} "
              f"({verdicts['redact']}/{n})")
        for reason, count in why.most_common():
            print(f"  {count:5d}  {reason}")
        if shown:
            print("  first blocked chunks:")
            print("\n".join(shown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--show", type=int, default=5)
    parser.add_argument("--site", type=Path, default=SITE)
    args = parser.parse_args()
    run(args.chunks, args.seed, args.show, args.site)


if __name__ == "__main__":
    main()
