"""The injection classifier's scores stay byte-identical on the eval texts and the bench shapes.

Making the classifier faster (how a window's features are counted and looked
up, how windows are chosen) must not move a single score. The record
`tests/fixtures/classifier_digests.json` holds, for every text of
`bench/guards/run.py` (its 4 KB prompts, its 1 MB adversarial shapes and the
megabytes the classifier finds costly, by name) and every record of
`../shared/fixtures/eval/*.jsonl` (in the four forms of `findings_record`,
then each file's records joined), a digest of what `Model.locate` returned:
the probability's `repr` (every bit of the float), the span's start and end.
No text is stored, only digests.

The record is for one weights file (its sha256 is in the record): a retrained
`classifier.bin` changes scores on purpose, so the record is rewritten with it,
and the counts it prints reviewed:

    .venv/bin/python -m tests.unit.guards.test_guard_injection_classifier_findings --write
"""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from gateway_cli.guards.injection import classifier_digest
from gateway_cli.guards.injection.classifier import shipped
from tests.unit.guards import findings_record as record
from tests.unit.guards.findings_record import EVAL, NO_EVAL, ROOT

DIGESTS = ROOT / "tests" / "fixtures" / "classifier_digests.json"


def digest(*texts: str) -> str:
    model = shipped()
    found = [[repr(p), start, end] for p, start, end in map(model.locate, texts)]
    return hashlib.sha256(json.dumps(found, separators=(",", ":")).encode()).hexdigest()[:16]


def classifier_shape_digests() -> dict[str, str]:
    shapes = record.shape_digests(digest)
    run = record._bench_run()
    shapes.update({name: digest(text) for name, text in run.classifier_shapes().items()})
    return shapes


def _recorded() -> dict[str, object]:
    loaded = record.load(DIGESTS)
    if loaded["weights_sha256"] != classifier_digest.SHA256:
        pytest.fail(f"{DIGESTS.name} was recorded for weights {loaded['weights_sha256']}, the "
                    f"shipped file is {classifier_digest.SHA256}: a retrain changes scores on "
                    "purpose; rewrite the record with --write (see this module's docstring)")
    return loaded


def test_scores_on_the_bench_shapes_are_unchanged() -> None:
    expected = _recorded()["shapes"]
    assert isinstance(expected, dict)
    assert record.differing(expected, classifier_shape_digests()) == []


@pytest.mark.skipif(not EVAL.is_dir(), reason=NO_EVAL)
def test_scores_on_the_eval_texts_are_unchanged() -> None:
    expected = _recorded()["eval"]
    assert isinstance(expected, dict)
    record.assert_eval_unchanged(expected, record.eval_digests(digest))


def write() -> None:
    shapes = classifier_shape_digests()
    evals = record.eval_digests(digest)
    DIGESTS.write_text(json.dumps({"weights_sha256": classifier_digest.SHA256, "shapes": shapes,
                                   "eval": evals}, indent=1) + "\n")
    print(f"{DIGESTS}: {len(shapes)} shapes ({len(set(shapes.values()))} distinct), "
          + ", ".join(f"{n} {len(d) - 1} records ({len(set(d))} distinct)"
                      for n, d in evals.items()))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.unit.guards.test_guard_injection_classifier_findings "
                 f"--write\n{__doc__}")
    write()
