"""The event loop `gateway serve` runs on: uvloop where it is installed, else asyncio's own.

Every request's Python work runs on one event loop, and the loop's own bookkeeping
(ready queue, timers, socket reads and writes for the upstream connections) is a
share of each request's CPU. uvloop runs the same asyncio code on libuv, compiled:
on the proxy bench it took 8% off the gateway's CPU per request and added 8-12% to
its requests per second (bench/README.md, session 12). It is locked by hash like
every dependency, for Linux and macOS; Windows has no uvloop and keeps asyncio's
loop. `[server] event_loop = "asyncio"` keeps asyncio's loop anywhere, for an
operator who wants only the standard library under the request path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal

from gateway_cli.config import EventLoopChoice
from gateway_cli.errors import GatewayError

Loop = Literal["uvloop", "asyncio"]  # what a choice comes to on this machine


class NoUvloop(GatewayError):
    """`event_loop = "uvloop"` was asked for where uvloop is not installed."""


def chosen(choice: EventLoopChoice) -> Loop:
    """The loop `choice` means here: "auto" is uvloop when it can be imported."""
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise NoUvloop("[server] event_loop = \"uvloop\" but uvloop is not installed "
                           "here (it is locked for Linux and macOS only); use \"auto\" or "
                           "\"asyncio\"") from None
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, None], loop: Loop) -> None:
    """`asyncio.run(main)` on the loop named (see `chosen`)."""
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
