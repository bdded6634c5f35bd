"""The injection guard's findings and scores, unchanged text for text, against a recorded digest.

Restructuring the guard (modules, generated tables, the prefilter) must not
change what it finds. `tests/fixtures/injection_digests.json` records, for
every labelled evaluation text in `../shared/fixtures/eval/` and every shape
the guard benchmark times (`bench/guards/run.py`), a short sha256 of the JSON
of its findings (kind, span, confidence, preview) and its scores (`score`,
and `combine` of the findings for each source). The texts themselves are
not copied (their licences vary): only the digests are checked in.

A deliberate change of behaviour rewrites the record, and says so in its commit:

    .venv/bin/python tests/unit/guards/test_guard_injection_differential.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gateway_cli.guards.injection import combine, scan, score

ROOT = Path(__file__).resolve().parents[3]
EVAL = ROOT.parent / "shared" / "fixtures" / "eval"
RECORD = ROOT / "tests" / "fixtures" / "injection_digests.json"
SOURCES = ("user", "system", "tool_result", "document")
_DIGITS = 12


def _short(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGITS]


def digest(text: str) -> str:
    """What the guard says about `text`, as a short hash."""
    found = scan(text)
    findings = [[f.guard, f.kind, f.start, f.end, f.confidence, f.preview] for f in found]
    scores = [score(text), *(combine(found, source=src) for src in SOURCES)]
    return _short(json.dumps([findings, scores], ensure_ascii=False))


def _bench_run() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench" / "guards"))
    try:
        import run  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "bench" / "guards"))
    return run  # type: ignore[no-any-return]


def eval_texts() -> Iterator[str]:
    for name in ("injection", "secrets", "pii"):
        with (EVAL / f"{name}.jsonl").open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)["text"]


def bench_shapes() -> dict[str, str]:
    run = _bench_run()
    return {**run.prompts(), **run.adversarial()}


def _by_text(texts: Iterator[str]) -> dict[str, str]:
    return {_short(text): digest(text) for text in texts}


def _record() -> dict[str, dict[str, str]]:
    recorded: dict[str, dict[str, str]] = json.loads(RECORD.read_text(encoding="utf-8"))
    return recorded


def _differences(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    return [f"{key}: recorded {recorded.get(key)}, now {now.get(key)}"
            for key in sorted(recorded.keys() | now.keys()) if recorded.get(key) != now.get(key)]


def test_eval_texts_unchanged() -> None:
    if not EVAL.is_dir():
        pytest.skip(f"no evaluation data at {EVAL} (the shared fixtures are not checked out)")
    diff = _differences(_record()["eval"], _by_text(eval_texts()))
    assert not diff, f"{len(diff)} eval texts scan differently:\n" + "\n".join(diff[:20])


def test_bench_shapes_unchanged() -> None:
    diff = _differences(_record()["bench"],
                        {name: digest(text) for name, text in bench_shapes().items()})
    assert not diff, f"{len(diff)} bench shapes scan differently:\n" + "\n".join(diff)


def write() -> None:
    record = {"eval": _by_text(eval_texts()),
              "bench": {name: digest(text) for name, text in bench_shapes().items()}}
    RECORD.write_text(json.dumps(record, indent=0, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    write()
