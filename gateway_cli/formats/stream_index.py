"""The indexes an upstream stream uses to tell its choices and content blocks apart.

Each distinct index makes the gateway keep some state for the rest of the
stream (a masker's held text, a placeholder restorer, a translated tool
call), so a hostile upstream sending 500,000 distinct indexes grew the
process by hundreds of megabytes, and an index that is not a number (a list)
crashed the stream. An index must be a small non-negative integer; anything
else ends the stream with an error event in the client's format (the relay
treats this ValueError like any malformed event).
"""

from __future__ import annotations

from typing import Any, overload

# Far above real use: OpenAI caps `n` at 128; a message rarely has 100 content blocks.
MAX_STREAM_SLOTS = 1024


class StreamShapeError(ValueError):
    """An upstream stream event the gateway will not keep state for."""


@overload
def index_of(value: Any, default: int = 0) -> int: ...
@overload
def index_of(value: Any, default: None) -> int | None: ...


def index_of(value: Any, default: int | None = 0) -> int | None:
    """`value` as a slot index; `default` when absent (None); otherwise StreamShapeError."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value < MAX_STREAM_SLOTS:
        raise StreamShapeError(f"a stream index must be an integer from 0 to "
                               f"{MAX_STREAM_SLOTS - 1}")
    return value


def check_room(slots: int) -> None:
    """Refuse to open one more slot when a stream already has MAX_STREAM_SLOTS of them."""
    if slots >= MAX_STREAM_SLOTS:
        raise StreamShapeError(f"the stream opened more than {MAX_STREAM_SLOTS} choices or "
                               "content blocks")
