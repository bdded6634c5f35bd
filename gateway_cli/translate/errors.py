"""The two ways a translation can fail, kept apart because callers answer them differently."""

from __future__ import annotations


class TranslationError(ValueError):
    """The client's request cannot be expressed in the upstream's format.

    The client sent something the other API has no way to say (n > 1, an
    audio part, malformed tool-call arguments), so the caller answers HTTP 400
    with this message instead of sending upstream a request that means
    something else.
    """


class UpstreamStreamError(Exception):
    """The upstream reported an error in the middle of a stream.

    Headers have already gone to the client by then, so the caller has to
    turn this into the client format's in-stream error rather than a status.
    """

    def __init__(self, type: str, message: str) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message
