"""`gateway verify`'s text report groups violations that say the same thing."""

from __future__ import annotations

from gateway_cli.supply import report
from gateway_cli.supply.verify import Violation

REASON = "provenance not fetched yet (this index serves none); nothing to verify"


def _unknown(name: str) -> Violation:
    return Violation("provenance.unknown", None,
                     f"{name} 1.0 ({name}-1.0-py3-none-any.whl): {REASON}", "warning",
                     distribution=name, fix="add it")


def test_identical_warnings_print_as_one_block() -> None:
    names = [f"dist{i:02d}" for i in range(20)]
    groups = report._grouped([_unknown(n) for n in names])
    assert len(groups) == 1 and len(groups[0]) == 20
    text = report._group_text(groups[0], strict=False)
    assert text[0] == f"warning [provenance.unknown] 20 distributions: {REASON}"
    assert text[1] == "    " + ", ".join(names[:12]) + " and 8 more"
    assert text[2] == "    what to do: add it"


def test_few_or_different_violations_stay_apart() -> None:
    modified = Violation("files.modified", "idna/core.py", "idna/core.py changed",
                         distribution="idna", fix="recreate")
    groups = report._grouped([_unknown("a"), _unknown("b"), modified])
    assert groups == [[_unknown("a")], [_unknown("b")], [modified]]
    other = Violation("provenance.unknown", None, "c 1.0 (c.whl): another reason", "warning",
                      distribution="c", fix="x")
    three = [_unknown("a"), other, _unknown("b"), _unknown("d")]
    assert [len(g) for g in report._grouped(three)] == [3, 1]
