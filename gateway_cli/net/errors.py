"""What the HTTP/1.1 client raises about an answer, apart from the socket's own OSErrors.

The messages name the kind of problem only, never a value from the answer: they reach
logs and, through the MCP relay, clients.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """The upstream's answer is not well-formed HTTP/1.1 (the message names no value)."""


class TooLarge(ProtocolError):
    """The answer's body, decoded, is over the reader's limit."""


class ConnectTimeout(ConnectionError):
    """No connection within the connect timeout: nothing was sent."""
