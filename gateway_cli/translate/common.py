"""Small helpers both translation directions share."""

from __future__ import annotations

from typing import Any

import msgspec

JSON = dict[str, Any]


def obj(value: Any) -> JSON:
    """`value` if it is a JSON object, else an empty one: upstream output is not trusted."""
    return value if isinstance(value, dict) else {}


def compact(value: Any) -> str:
    """Compact JSON text, as OpenAI carries tool-call arguments."""
    return msgspec.json.encode(value).decode()
