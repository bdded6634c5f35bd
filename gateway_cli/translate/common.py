"""Small helpers both translation directions share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from gateway_cli.translate.errors import TranslationError

JSON = dict[str, Any]


def entries(items: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(path, element) of the array field `where` (absent: none); the path names the element
    in an error, e.g. `tools[2]`."""
    if items is None:
        return
    if not isinstance(items, list):
        raise TranslationError(f"'{where}' must be an array")
    for i, item in enumerate(items):
        yield f"{where}[{i}]", item


def objects(items: Any, where: str) -> Iterator[tuple[str, JSON]]:
    """(path, element) of an array whose every element must be a JSON object."""
    for path, item in entries(items, where):
        if not isinstance(item, dict):
            raise TranslationError(f"{path} must be an object")
        yield path, item


def obj(value: Any) -> JSON:
    """`value` if it is a JSON object, else an empty one: upstream output is not trusted."""
    return value if isinstance(value, dict) else {}


def compact(value: Any) -> str:
    """Compact JSON text, as OpenAI carries tool-call arguments."""
    return msgspec.json.encode(value).decode()
