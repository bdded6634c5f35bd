"""The structural checks on a request body (formats/requests.py): nesting depth."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway_cli.formats.openai_chat import RequestProblem
from gateway_cli.formats.requests import check_depth

LIMIT = 10


def _objects(depth: int) -> Any:
    """`depth` levels of containers counting the outer object: {"n": {"n": ... "leaf"}}."""
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = {"n": value}
    return {"x": value} if depth > 1 else {"x": "leaf"}


def _arrays(depth: int) -> Any:
    """An object holding arrays nested to `depth` levels in all: {"x": [[[ ... ]]]}."""
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return {"x": value}


def _mixed(depth: int) -> Any:
    value: Any = 1
    for i in range(depth - 1):
        value = [value] if i % 2 else {"k": value}
    return {"x": value}


@pytest.mark.parametrize("shape", [_objects, _arrays, _mixed])
def test_exactly_at_the_limit_passes_and_one_more_is_refused(shape: Any) -> None:
    at = shape(LIMIT)
    over = shape(LIMIT + 1)
    check_depth(msgspec.json.encode(at), at, LIMIT)
    with pytest.raises(RequestProblem, match=f"nested deeper than {LIMIT} levels"):
        check_depth(msgspec.json.encode(over), over, LIMIT)


def test_depth_counts_the_top_object_as_one() -> None:
    assert _arrays(1) == {"x": "leaf"}
    check_depth(b"{}", {}, 1)
    with pytest.raises(RequestProblem):
        check_depth(b'{"x": []}', {"x": []}, 1)


def test_deep_array_among_many_shallow_siblings() -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}] * 50,
                            "extra": _arrays(LIMIT + 1)["x"]}
    with pytest.raises(RequestProblem):
        check_depth(msgspec.json.encode(body), body, LIMIT)
