"""The request pipeline: every slot through every guard, one decision, redaction per slot."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.config import parse_config
from gateway_cli.guards import extract
from gateway_cli.guards.custom import CustomGuard
from gateway_cli.guards.pipeline import Inspector

EMAIL = "alice.liddell@example.com"


def _slots(*texts: str) -> tuple[list[extract.TextSlot], dict[str, object]]:
    body = {"messages": [{"role": "user", "content": t} for t in texts]}
    slots = [extract.TextSlot(path=("messages", i, "content"), text=t, source="user")
             for i, t in enumerate(texts)]
    return slots, body


def test_empty_custom_guard_is_not_called(monkeypatch: pytest.MonkeyPatch) -> None:
    inspector = Inspector(parse_config({}).inspection)

    def broken(self: CustomGuard, text: str) -> list[object]:
        raise AssertionError("called")

    monkeypatch.setattr(CustomGuard, "scan", broken)
    slots, body = _slots(f"write to {EMAIL}")
    result = inspector.inspect_slots(slots, body, "m")
    assert result.errors == ()
    assert [p.finding.kind for p in result.findings] == ["email"]


def test_configured_custom_guard_still_runs() -> None:
    config = parse_config({"inspection": {"custom": {"banned": ["Nightjar"]}}}).inspection
    slots, body = _slots("Project Nightjar ships in May.")
    result = Inspector(config).inspect_slots(slots, body, "m")
    assert result.decision.reason == "custom.banned_substring"
    assert result.decision.applied == "block"


def test_each_slot_is_redacted_with_its_own_findings() -> None:
    slots, body = _slots(f"mail {EMAIL} now", "nothing here", f"again {EMAIL}, and bob@example.org")
    result = Inspector(parse_config({}).inspection).inspect_slots(slots, body, "m")
    assert result.body is not None
    sent = [m["content"] for m in result.body["messages"]]
    assert sent == ["mail [EMAIL_1] now", "nothing here", "again [EMAIL_1], and [EMAIL_2]"]
    assert result.redactions is not None and dict(result.redactions) == {
        "[EMAIL_1]": EMAIL, "[EMAIL_2]": "bob@example.org"}


def test_findings_of_the_joined_pass_land_on_their_own_slots_with_their_own_offsets() -> None:
    from gateway_cli.config import InspectionConfig
    from gateway_cli.guards import extract
    from gateway_cli.guards.base import Finding
    from gateway_cli.guards.joined import joined as _joined
    from gateway_cli.guards.joined import split_by_slot as _split_by_slot
    from gateway_cli.guards.pipeline import Inspector
    from tests.unit.guards.test_guard_secrets import with_crc

    tokens = [with_crc("ghp_") for _ in range(3)]
    slots = [extract.TextSlot(("a",), f"first {tokens[0]}", "user"),
             extract.TextSlot(("b",), "nothing here", "user"),
             extract.TextSlot(("c",), f"x {tokens[1]} and {tokens[2]}", "tool_result")]
    _, pairs, _ = Inspector(InspectionConfig()).inspect(slots, "m")
    found = [(p.slot.path, p.slot.text[p.finding.start:p.finding.end]) for p in pairs
             if p.finding.guard == "secrets"]
    assert found == [(("a",), tokens[0]), (("c",), tokens[1]), (("c",), tokens[2])]
    # A finding over the rest of the text (an overflow) is cut at each slot's end.
    joined, starts = _joined([s.text for s in slots])
    rest = Finding("secrets", "secrets_overflow", 3, len(joined), 1.0, "…")
    cut = _split_by_slot([rest], starts, [s.text for s in slots])
    assert [(i, f.start, f.end) for i, f in cut] == [
        (0, 3, len(slots[0].text)), (1, 0, len(slots[1].text)), (2, 0, len(slots[2].text))]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.lists(st.tuples(st.integers(0, 45), st.integers(0, 10)),
                                     max_size=8))
def test_one_slot_findings_are_what_the_walk_over_slots_gives(size: int,
                                                              spans: list[tuple[int, int]]
                                                              ) -> None:
    """The one-slot shortcut of `split_by_slot` equals its walk (two slots, the second
    empty and past the first, gives the walk for the first slot), findings kept as they
    are; a finding past the text's end takes the walk."""
    from gateway_cli.guards.base import Finding
    from gateway_cli.guards.joined import split_by_slot

    text = "x" * size
    found = [Finding("pii", "email", a, a + n, 0.9, "") for a, n in spans]
    one = split_by_slot(found, [0], [text])
    walked = [(i, f) for i, f in split_by_slot(found, [0, size + 2], [text, ""]) if i == 0]
    assert one == walked
    if all(f.end <= size for f in found):
        assert all(mine is f for (_, mine), f in zip(one, found, strict=True))


def test_the_injection_guards_are_made_once_per_threshold() -> None:
    inspector = Inspector(parse_config({}).inspection)
    slot = extract.TextSlot(("messages", 0, "content"), "hello there", "user")
    tool = extract.TextSlot(("tools", 0, "description"), "reads a file", "tool_definition")
    inspector.inspect([slot, tool], "m")
    made = dict(inspector._injection_guards)
    inspector.inspect([slot, tool], "m")
    assert inspector._injection_guards == made
    assert all(g.threshold == t for t, g in made.items())
    assert 0.5 in made
