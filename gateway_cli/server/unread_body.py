"""A response that starts before its request's body was read (most refusals).

HTTP/1.1 can carry the next request on a connection only once this request's
body has been read off it. The server under Granian drains a body that has
already arrived, and closes the connection without a word when the body is
still on its way: the client then sends its next request on a closed
connection and gets no answer at all ("Server disconnected"). This happened
under load when a rotated key's 401 raced its own request body. So before such
a response starts, the rest of a small body is read, bounded in size and time;
a body too large or too slow gets `connection: close` in the response instead,
which every client honours by opening a new connection.
"""

from __future__ import annotations

import asyncio

from litestar.types import Receive, ReceiveMessage, Scope

from gateway_cli.formats.errors import Headers

# A refused request's body is read only this far, and only this long: an
# unauthenticated client cannot make the gateway read megabytes for it.
DRAIN_LIMIT = 65536
DRAIN_TIMEOUT = 1.0
CLOSE = (b"connection", b"close")


def declares_body(scope: Scope) -> bool:
    if scope.get("http_version", "1.1").startswith("2"):
        return False  # HTTP/2 streams end on their own; connection headers are illegal
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class Reading:
    """The request's `receive`, noting when the last of the body has been read."""

    __slots__ = ("_scope", "done", "receive")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.receive = receive
        self.done = not declares_body(scope)
        self._scope = scope  # its Content-Length is read only if a drain is needed

    async def __call__(self) -> ReceiveMessage:
        message = await self.receive()
        if not message.get("more_body", False):  # the last body part, or a disconnect
            self.done = True
        return message

    async def settle(self, headers: Headers) -> list[tuple[bytes, bytes]]:
        """The response headers to send, once the body is read or the connection is
        marked to close."""
        out = list(headers)
        if self.done or any(name == b"connection" for name, _ in out):
            return out
        if await self._drain():
            return out
        out.append(CLOSE)
        return out

    async def _drain(self) -> bool:
        declared = _length(self._scope)
        if declared is not None and declared > DRAIN_LIMIT:
            return False
        total = 0
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                while not self.done:
                    message = await self()
                    body = message.get("body", b"")
                    total += len(body) if isinstance(body, bytes) else 0
                    if total > DRAIN_LIMIT:
                        return False
        except TimeoutError:
            return False
        return True


def _length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
