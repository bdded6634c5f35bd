"""json's sorted, compact bytes written by msgspec where the two agree, for hashed lines.

The audit chain's lines and the MCP pins' argument digests are json's canonical
form (`sort_keys`, `(",", ":")` separators, `ensure_ascii=False`): hashes and
signatures cover those bytes. msgspec writes the same bytes several times faster
for strings, integers, booleans, null, lists and objects with string keys.
Floats differ outside 1e-4 <= |x| < 1e16 (json's exponent form), and NaN,
infinity, a lone surrogate or a non-string key make the two differ or msgspec
refuse: `fast_safe` says when a value holds none of those, and the callers take
json's own path otherwise (their tests compare the bytes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

ENCODE: Final = msgspec.json.Encoder(order="sorted").encode


def fast_safe(value: object) -> bool:
    """Only plain JSON values, and no float that msgspec would write differently, at any depth."""
    if type(value) is dict:
        items: Iterable[object] = value.values()
    elif type(value) is list:
        items = value
    else:
        items = (value,)
    for item in items:
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if kind is float:
            if not (item == 0.0 or 1e-4 <= abs(item) < 1e16):  # type: ignore[arg-type]
                return False
        elif kind is dict or kind is list:
            if not fast_safe(item):
                return False
        else:
            return False
    return True
