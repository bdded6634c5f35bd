"""The walk that finds every string the guards read (screen.strings) against the
push-and-pop walk it replaced, kept here as the reference: on fixed and random JSON
values, the same strings with the same paths in the same order (the order is the
findings' order, and the decision's reason is the first top-ranked finding's). And a
clean screening is exactly what the policy decides for no findings."""

from __future__ import annotations

import random
from typing import Any

import pytest

from gateway_cli.config import InspectionConfig
from gateway_cli.mcp import screen
from gateway_cli.policy.decide import decide, policies_for
from tests.unit.guards.test_guard_secrets import with_crc


def _reference(value: Any, *, skip: frozenset[str] = frozenset()
               ) -> list[tuple[screen.Path_, str]]:
    out: list[tuple[screen.Path_, str]] = []
    stack: list[tuple[Any, screen.Path_]] = [(value, ())]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            if node and not (at and at[-1] in skip):
                out.append((at, node))
        elif isinstance(node, dict):
            for key, item in reversed(list(node.items())):
                if isinstance(key, str) and len(key) > 16 and key not in screen._PROTOCOL_KEYS:
                    out.append(((*at, key, ""), key))
                stack.append((item, (*at, key)))
        elif isinstance(node, list):
            stack.extend((node[i], (*at, i)) for i in reversed(range(len(node))))
    return out


KEYS = ["a", "type", "text", "uri", "blob", "mimeType", "", "structuredContent",
        "a_key_longer_than_sixteen", "another_long_key_name"]


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.random()
    if depth > 5 or pick < 0.3:
        return rng.choice(["", "x", "hello", 1, None, True, 2.5, "a longer text"])
    if pick < 0.65:
        return {rng.choice(KEYS) + rng.choice(["", "", "9"]): _value(rng, depth + 1)
                for _ in range(rng.randint(0, 5))}
    return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


@pytest.mark.parametrize("value", [
    "top", "", 3, None, [], {}, ["a", ["b", {"text": "c"}], "d"],
    {"content": [{"type": "text", "text": "hi"}], "structuredContent": {"result": "hi"},
     "isError": False},
    {"z_key_longer_than_sixteen": {"y_key_longer_than_sixteen": "v", "k": ["w"]},
     "a_key_longer_than_sixteen": "u"},
])
def test_the_walk_finds_what_the_old_walk_found(value: Any) -> None:
    for skip in (frozenset(), screen._NOT_TEXT):
        assert screen.strings(value, skip=skip) == _reference(value, skip=skip)


def test_random_values_walk_as_before() -> None:
    rng = random.Random(13)
    found = 0
    for _ in range(5000):
        value = _value(rng, 0)
        for skip in (frozenset(), screen._NOT_TEXT):
            got = screen.strings(value, skip=skip)
            assert got == _reference(value, skip=skip), value
            found += len(got)
    assert found > 10000  # the values were not all empty


def test_a_deep_value_is_walked_without_recursion() -> None:
    value: Any = "bottom"
    for _ in range(5000):
        value = [value, {"a_key_longer_than_sixteen": "side"}]
    got = screen.strings(value)
    assert got == _reference(value) and len(got) == 10001


@pytest.mark.parametrize("mode", ["enforce", "observe"])
def test_a_clean_screening_is_what_the_policy_decides_for_nothing_found(mode: str) -> None:
    config = InspectionConfig(mode=mode)  # type: ignore[arg-type]
    assert decide([], policies_for(config, "mcp/x"), mode=config.mode, errors=[]) == \
        screen.CLEAN
    clean = screen.result(config, {"content": [{"type": "text", "text": "fine"}]}, "x")
    assert clean.decision == screen.CLEAN and clean.findings == ()
    leaked = with_crc("ghp_")
    found = screen.arguments(config, {"text": f"token {leaked}"}, "x")
    assert found.decision != screen.CLEAN and found.findings
