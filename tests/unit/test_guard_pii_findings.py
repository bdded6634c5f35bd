"""PII guard: findings stay byte-identical on the labelled eval texts and the bench shapes.

A refactor of the guard (modules, patterns, the candidate budget) must not
move a single finding. `tests/fixtures/pii_findings.json` holds, for every
text of `bench/guards/run.py` (its 4 KB prompts and 1 MB adversarial shapes,
by name) and every record of `../shared/fixtures/eval/*.jsonl` (by file and
line), a digest of what `scan` found, once as configured by default and once
with `include_local_ips=True`: the first 16 hex digits of the sha256 of the
findings as compact JSON, `[[guard, kind, start, end, confidence], ...]`. An
eval record counts in four forms (as is, upper-cased, spaces as line breaks,
between a curly apostrophe and an `e` with an accent), and each file's
records joined by newlines count as one more text, so detectors meet each
other's findings and the budget meets more than one record. No text and no
personal data is stored, only digests.

When a change is meant to alter findings, rewrite the file and review the
counts it prints:

    .venv/bin/python -m tests.unit.test_guard_pii_findings --write
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from gateway_cli.guards.pii import scan

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT.parent / "shared" / "fixtures" / "eval"
EVAL_FILES = ("injection.jsonl", "pii.jsonl", "secrets.jsonl")
DIGESTS = ROOT / "tests" / "fixtures" / "pii_findings.json"


def digest(*texts: str) -> str:
    found = [
        [[f.guard, f.kind, f.start, f.end, f.confidence] for f in scan(t, include_local_ips=local)]
        for t in texts
        for local in (False, True)
    ]
    return hashlib.sha256(json.dumps(found, separators=(",", ":")).encode()).hexdigest()[:16]


def _forms(text: str) -> tuple[str, ...]:
    return text, text.upper(), text.replace(" ", "\n"), f"\u2019{text}\u00e9"


def _bench_run() -> ModuleType:
    """bench/guards/run.py as a module (it is a script, not a package member)."""
    spec = importlib.util.spec_from_file_location(
        "bench_guards_run", ROOT / "bench" / "guards" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shape_digests() -> dict[str, str]:
    run = _bench_run()
    texts: dict[str, str] = {**run.prompts(), **run.adversarial()}
    return {name: digest(text) for name, text in texts.items()}


def eval_digests() -> dict[str, list[str]]:
    """Per file, a digest per record, then one of all the file's records joined."""
    out: dict[str, list[str]] = {}
    for name in EVAL_FILES:
        lines = (EVAL / name).read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
        out[name] = [*(digest(*_forms(t)) for t in texts), digest("\n".join(texts))]
    return out


def _expected() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DIGESTS.read_text())
    return loaded


def _differing(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    return sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))


def test_findings_on_the_bench_shapes_are_unchanged() -> None:
    assert _differing(_expected()["shapes"], shape_digests()) == []


@pytest.mark.skipif(not EVAL.is_dir(), reason=f"no eval data at {EVAL} (../shared next to the "
                    "repository): the digests of its findings cannot be compared")
def test_findings_on_the_eval_texts_are_unchanged() -> None:
    expected = _expected()["eval"]
    assert sorted(expected) == sorted(EVAL_FILES)
    for name, digests in eval_digests().items():
        want = expected[name]
        assert len(want) == len(digests), name
        changed = [i + 1 for i, (a, b) in enumerate(zip(want, digests, strict=True)) if a != b]
        # Line len(digests) is the records joined.
        assert changed == [], f"{name}: findings changed on lines {changed}"


def write() -> None:
    shapes = shape_digests()
    evals = eval_digests()
    DIGESTS.write_text(json.dumps({"shapes": shapes, "eval": evals}, indent=1) + "\n")
    print(f"{DIGESTS}: {len(shapes)} shapes ({len(set(shapes.values()))} distinct), "
          + ", ".join(f"{n} {len(d) - 1} records ({len(set(d))} distinct)"
                      for n, d in evals.items()))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python -m tests.unit.test_guard_pii_findings --write\n{__doc__}")
    write()
