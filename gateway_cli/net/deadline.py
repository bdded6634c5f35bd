"""A per-call deadline with asyncio.timeout's semantics, at a fraction of its cost.

Why: every upstream exchange runs under a deadline (an MCP tools/call has two: the
call's, and the bounded read of the rest of its SSE stream), and `asyncio.timeout` is an
async context manager: entering and leaving it makes and runs two coroutines, plus its
state enum and repr machinery. Under callgrind the two blocks cost ~81,000 instructions
per tools/call (bench/mcp/README.md, session 10). This is a plain `with` block doing only
what asyncio.timeout does for a fixed delay, so it needs no await of its own.

The semantics are asyncio.timeout's (Python 3.11's asyncio/timeouts.py), and the tests
hold it to them against real tasks and sockets (tests/unit/net/test_deadline.py):

- on expiry the task is cancelled, and the CancelledError that leaves the block becomes
  a TimeoutError (chained from it);
- a cancellation from outside (another task's `cancel()`, the session's end) propagates
  as CancelledError and is never swallowed or turned into a TimeoutError, even when it
  comes together with the expiry: `Task.cancelling()` is taken on entry and compared
  after our own `uncancel()` on exit, exactly as asyncio.timeout does;
- nested deadlines each answer for their own expiry only;
- the timer is cancelled whenever the block is left, however it is left.

Only a fixed delay (or None: no deadline, as `asyncio.timeout(None)`): no `reschedule`,
no `when`, no `expired()` (no caller here uses them).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["deadline"]

_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError


class deadline:  # lower case: used like asyncio.timeout, `with deadline(5):`
    """`with deadline(seconds):` inside a task; TimeoutError if the block is still running
    when they have passed. Single use, like asyncio.timeout."""

    __slots__ = ("_cancelling", "_delay", "_expired", "_handle", "_task")

    def __init__(self, delay: float | None) -> None:
        self._delay = delay
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.Handle | None = None
        self._expired = False
        self._cancelling = 0

    def __enter__(self) -> deadline:
        if self._task is not None:
            raise RuntimeError("a deadline is entered once")
        task = _current_task()
        if task is None:
            raise RuntimeError("a deadline is used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        if self._delay is None:
            return self
        loop = task.get_loop()
        when = loop.time() + self._delay
        # As asyncio.timeout: a deadline already past fires at the loop's next turn.
        self._handle = (loop.call_soon(self._expire) if when <= loop.time()
                        else loop.call_at(when, self._expire))
        return self

    def _expire(self) -> None:
        self._handle = None
        self._expired = True
        assert self._task is not None
        self._task.cancel()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        handle = self._handle
        if handle is not None:
            handle.cancel()
            self._handle = None
        if self._expired:
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and exc_type is _CancelledError:
                raise TimeoutError from exc
