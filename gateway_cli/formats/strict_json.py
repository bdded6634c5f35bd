"""JSON decoding that refuses what two readers could read differently.

A JSON object with the same key twice is read by msgspec (and Python's
json) as its last copy, while other parsers, including some providers',
keep the first. A gateway that inspects one copy and forwards bytes holding
both lets the uninspected copy through: `{"messages": [<attack>],
"messages": [<harmless>]}`. So a duplicate key anywhere is refused, and what
the guards see is then exactly what the forwarded bytes mean.

Also turned into one error here: invalid UTF-8 inside a string and nesting
deep enough to exhaust the decoder's recursion, which msgspec raises as
UnicodeDecodeError and RecursionError rather than DecodeError.

The check costs one `msgspec.json.format` and one encode (a few microseconds
for a typical request): when the minified input equals the re-encoded
value, no key can have been dropped. Only when they differ for another
reason (escapes such as `\\u00e9`, number spellings such as `1e5`) does the
slower exact search with the standard library's parser run.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_format = msgspec.json.format


class JsonProblem(ValueError):
    """Input that is not one unambiguous JSON value; the message says why."""


class DuplicateKey(JsonProblem):
    def __init__(self, key: str, keys: list[str]) -> None:
        # Keys are the client's own text: shown to it, but each cut short (one may be
        # megabytes long).
        shown = ", ".join(_short(k) for k in keys[:4]) + (", ..." if len(keys) > 4 else "")
        super().__init__(f"duplicate key {_short(key)} in a JSON object (the object with "
                         f"keys {shown})")
        self.key = key


def _short(key: str) -> str:
    return repr(key) if len(key) <= 64 else repr(key[:60]) + "..."


def decode_unique(raw: bytes | str) -> Any:
    """Decode `raw`, refusing invalid JSON, invalid UTF-8, runaway nesting and duplicate keys."""
    try:
        value = _decode(raw)
        if (b"{" in raw if isinstance(raw, bytes) else "{" in raw) \
                and _format(raw, indent=-1) != (_encode(value) if isinstance(raw, bytes)
                                                else _encode(value).decode()):
            _find_duplicate(raw)
    except msgspec.DecodeError as err:
        raise JsonProblem(f"not valid JSON ({err})") from None
    except UnicodeDecodeError:
        raise JsonProblem("not valid JSON (a string holds invalid UTF-8)") from None
    except RecursionError:
        raise JsonProblem("not valid JSON (nested too deeply)") from None
    return value


def _find_duplicate(raw: bytes | str) -> None:
    """Raise DuplicateKey for the first object with a repeated key (the exact, slow path)."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise DuplicateKey(key, list(dict.fromkeys(k for k, _ in items)))
            seen.add(key)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except DuplicateKey:
        raise
    except (ValueError, RecursionError):
        # msgspec accepted it, so this is a difference between the two parsers
        # (e.g. a number the standard library reads differently), not a duplicate.
        return

