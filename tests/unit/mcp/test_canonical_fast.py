"""pins.canonical (pins' hashes, the audit log's argument digests) writes json's
canonical bytes by msgspec where it can: for thousands of random JSON-like values, and
the edge cases of each type, the bytes (or the refusal) are exactly json's."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from gateway_cli.mcp import pins

CHARS = ["a", "Z", "0", " ", '"', "\\", "/", "\x00", "\x08", "\t", "\n", "\x1f", "\x7f",
         "\x80", "é", "\u2028", "\u2029", "\ud800", "\udfff", "\uffff", "\U0001f600", "<",
         "&", "'"]
FLOATS = [0.0, -0.0, 1.5, -2.25, 0.1, 0.30000000000000004, 1e-4, 9.999e-5, 1e-5, 1e15,
          9999999999999998.0, 1e16, -1e16, 1e22, 1.7976931348623157e308, 5e-324,
          123456.789, math.nan, math.inf, -math.inf]
INTS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64, 10**30]


def reference(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                      ).encode("utf-8", "surrogatepass")


def outcome(encode: Any, value: object) -> tuple[str, object]:
    try:
        return "bytes", encode(value)
    except Exception as err:  # the same refusal, by type
        return "refused", type(err)


def text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randrange(0, 8)))


def value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return text(rng)
    if kind == 1:
        return rng.choice(INTS) if rng.random() < 0.5 else rng.randrange(-10**6, 10**6)
    if kind == 2:
        return rng.choice(FLOATS) if rng.random() < 0.5 else rng.uniform(-1e6, 1e6)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.uniform(-1, 1) * 10 ** rng.randrange(-8, 20)
    if kind == 5:
        return text(rng)
    if kind == 6:
        return [value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {text(rng): value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def test_random_values_give_jsons_bytes() -> None:
    rng = random.Random(19)
    for _ in range(5000):
        v = value(rng)
        assert outcome(pins.canonical, v) == outcome(reference, v), repr(v)


@pytest.mark.parametrize("v", [*FLOATS, *INTS, *CHARS, "".join(CHARS), True, None, [],
                               {}, {"b": 1, "a": 2, "é": 3, "\U0001f600": 4, "\uffff": 5},
                               {1: "a"}, {1: "a", "2": "b"}, {"a": {"b": [1.0, {"c": 1e-7}]}},
                               {"nan": [math.nan]}, (1, 2), {"t": (1, "x")}])
def test_each_edge_case_gives_jsons_bytes_or_its_refusal(v: object) -> None:
    assert outcome(pins.canonical, v) == outcome(reference, v)
