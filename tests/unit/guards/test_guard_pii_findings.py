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

    .venv/bin/python -m tests.unit.guards.test_guard_pii_findings --write
"""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from gateway_cli.guards.pii import scan
from tests.unit.guards import findings_record as record
from tests.unit.guards.findings_record import EVAL, NO_EVAL, ROOT

DIGESTS = ROOT / "tests" / "fixtures" / "pii_findings.json"


def digest(*texts: str) -> str:
    found = [
        [[f.guard, f.kind, f.start, f.end, f.confidence] for f in scan(t, include_local_ips=local)]
        for t in texts
        for local in (False, True)
    ]
    return hashlib.sha256(json.dumps(found, separators=(",", ":")).encode()).hexdigest()[:16]


def test_findings_on_the_bench_shapes_are_unchanged() -> None:
    expected = record.load(DIGESTS)["shapes"]
    assert record.differing(expected, record.shape_digests(digest)) == []


@pytest.mark.skipif(not EVAL.is_dir(), reason=NO_EVAL)
def test_findings_on_the_eval_texts_are_unchanged() -> None:
    record.assert_eval_unchanged(record.load(DIGESTS)["eval"], record.eval_digests(digest))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python -m tests.unit.guards.test_guard_pii_findings --write\n{__doc__}")
    record.write(DIGESTS, digest)
