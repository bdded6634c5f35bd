"""The collector settings a serving process runs with."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway_cli.server import collector


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored")
def test_start_up_objects_are_frozen_and_young_collections_rarer() -> None:
    built_at_start = [{"table": i} for i in range(1000)]
    collector.settle()
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold() == (collector.YOUNG, collector.OLDER, collector.OLDER)
    assert collector.YOUNG > 700  # CPython's default, which this exists to raise


@pytest.mark.usefixtures("restored")
def test_cycles_made_after_start_are_still_collected() -> None:
    collector.settle()

    class Node:
        pass

    before = gc.get_count()[0]
    for _ in range(collector.YOUNG * 2):
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
    # Left to reference counting these would all stay; the collector ran on its own.
    assert gc.get_count()[0] < before + collector.YOUNG * 4
    assert sum(1 for o in gc.get_objects() if type(o) is Node) < collector.YOUNG * 4
