"""The classifier's benign texts from locked packages (bench/guards/negatives.py).

- Only MIT / Apache-2.0 packages, by what their installed metadata states; a
  package stating another licence, or two joined by AND, is refused by name.
- The files they are cut from are never in the over-defence corpus, so that
  benchmark stays text the classifier did not see; vendored code is never read.
- The same installed packages give the same texts (the shipped weights are
  rebuilt from them by test_guard_injection_classifier).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
BENCH = ROOT / "bench" / "guards"


@pytest.fixture(scope="module")
def negatives() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))
    try:
        import negatives as module  # type: ignore[import-not-found]
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_every_package_is_permissive_by_its_metadata_and_named_in_notice(
        negatives: ModuleType) -> None:
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    for dist, (_, licence) in negatives.PACKAGES.items():
        assert licence in {"MIT", "Apache-2.0"}
        assert negatives.licence_of(dist) == licence, dist
        assert f"- {dist}," in notice or f"- {dist} " in notice, f"NOTICE does not name {dist}"


@pytest.mark.parametrize(("dist", "stated"), [
    ("certifi", "MPL-2.0"),        # another licence
    ("tqdm", "MPL-2.0 AND MIT"),   # a permissive one joined to another by AND
])
def test_a_package_under_another_licence_is_refused_by_name(
        negatives: ModuleType, monkeypatch: pytest.MonkeyPatch, dist: str, stated: str) -> None:
    assert stated in negatives.licence_of(dist)
    monkeypatch.setitem(negatives.PACKAGES, dist, ((dist,), "MIT"))
    with pytest.raises(SystemExit, match=f"{dist}: licence .*{stated.split()[0]}.*not trained on"):
        negatives.code_and_docs(5)


def test_over_defence_never_reads_a_file_the_classifier_trained_on(
        negatives: ModuleType) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import overdefence  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BENCH))
    trained = set(negatives.training_files())
    assert len(trained) > 500
    assert not trained & set(overdefence.corpus_files(negatives.SITE))
    assert not any(negatives.VENDORED & set(p.parts) for p in trained)
    # The other half of the same packages is over-defence data.
    assert any(not negatives.in_training_half(p.relative_to(negatives.SITE).as_posix())
               for p in overdefence.corpus_files(negatives.SITE)
               if p.relative_to(negatives.SITE).parts[0] == "openai")


def test_the_same_packages_give_the_same_texts(negatives: ModuleType) -> None:
    first = negatives.negatives(2, 20)
    assert first == negatives.negatives(2, 20)
    kinds = {n.source.split(" ", 1)[0] for n in first}
    assert kinds == {"lorem", "readme", "code"}, {
        dist: len(negatives.long_description(dist)) for dist in negatives.PACKAGES}
    locales = {n.source.split()[3] for n in first if n.source.startswith("lorem")}
    assert {"es_ES", "fr_FR", "de_DE", "zh_CN"} <= locales
    assert all(n.licence in {"MIT", "Apache-2.0"} and n.text.strip() for n in first)


def test_frequency_lists_are_sampled_by_rank(negatives: ModuleType) -> None:
    """Spanish prose is mostly function words: "de" must come far more often than
    a word from the end of the list, as it does in real text."""
    spanish = " ".join(n.text.lower() for n in negatives.multilingual(24)
                       if " es_ES " in n.source).split()
    words = negatives._words("es_ES")
    assert words[0] == "de"
    assert spanish.count("de") > 20 * max(1, spanish.count(words[-1]))
