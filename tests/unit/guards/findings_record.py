"""What a guard's findings test compares: the texts, in their forms, and a record of digests.

The secrets and PII guards each pin their findings on the same texts: every
text of `bench/guards/run.py` (its 4 KB prompts and 1 MB adversarial shapes,
by name) and every record of `../shared/fixtures/eval/*.jsonl` (by file and
line) in four forms (`forms`), then each file's records joined by newlines
as one more text. The guard's test supplies the digest of a text's findings;
the record (a JSON file under tests/fixtures/) holds only digests, never text.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
EVAL = ROOT.parent / "shared" / "fixtures" / "eval"
EVAL_FILES = ("injection.jsonl", "pii.jsonl", "secrets.jsonl")
NO_EVAL = (f"no eval data at {EVAL} (../shared next to the repository): the digests of its "
           "findings cannot be compared")


def forms(text: str) -> tuple[str, ...]:
    """As is, upper-cased, spaces as line breaks, between a curly apostrophe and an accented e."""
    return text, text.upper(), text.replace(" ", "\n"), f"\u2019{text}\u00e9"


def _bench_run() -> ModuleType:
    """bench/guards/run.py as a module (it is a script, not a package member)."""
    spec = importlib.util.spec_from_file_location(
        "bench_guards_run", ROOT / "bench" / "guards" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shape_digests(digest: Callable[[str], str]) -> dict[str, str]:
    run = _bench_run()
    texts: dict[str, str] = {**run.prompts(), **run.adversarial()}
    return {name: digest(text) for name, text in texts.items()}


def eval_digests(digest: Callable[..., str]) -> dict[str, list[str]]:
    """Per file, a digest per record (its forms together), then one of the records joined."""
    out: dict[str, list[str]] = {}
    for name in EVAL_FILES:
        lines = (EVAL / name).read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
        out[name] = [*(digest(*forms(t)) for t in texts), digest("\n".join(texts))]
    return out


def load(record: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(record.read_text())
    return loaded


def differing(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """The names whose digests differ, or that only one side has."""
    return sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))


def assert_eval_unchanged(expected: dict[str, list[str]], actual: dict[str, list[str]]) -> None:
    assert sorted(expected) == sorted(actual)
    for name, digests in actual.items():
        want = expected[name]
        assert len(want) == len(digests), name
        changed = [i + 1 for i, (a, b) in enumerate(zip(want, digests, strict=True)) if a != b]
        # Line len(digests) is the records joined.
        assert changed == [], f"{name}: findings changed on lines {changed}"


def write(record: Path, digest: Callable[..., str]) -> None:
    """Record the digests of every text, and print how many (and how many distinct) it recorded."""
    shapes = shape_digests(digest)
    evals = eval_digests(digest)
    record.write_text(json.dumps({"shapes": shapes, "eval": evals}, indent=1) + "\n")
    print(f"{record}: {len(shapes)} shapes ({len(set(shapes.values()))} distinct), "
          + ", ".join(f"{n} {len(d) - 1} records ({len(set(d))} distinct)"
                      for n, d in evals.items()))
