"""Which task a tools/call is cancelled through (server/mcp_endpoint.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway_cli.server.mcp_endpoint import _cancellable


class _StandIn(asyncio.Task):  # type: ignore[type-arg]
    """Like a scheduler's stand-in for a task: `cancel` does nothing."""

    def cancel(self, msg: Any = None) -> bool:
        return False


def test_a_plain_task_serves_the_call_itself() -> None:
    async def inside() -> asyncio.Task[Any] | None:
        return _cancellable()

    async def main() -> None:
        task = asyncio.ensure_future(inside())
        assert await task is task

    asyncio.run(main())


def test_a_task_whose_cancel_does_nothing_gets_a_task_per_call() -> None:
    async def inside() -> asyncio.Task[Any] | None:
        return _cancellable()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = _StandIn(inside(), loop=loop)
        assert await task is None

    asyncio.run(main())


def test_cancelling_the_request_task_interrupts_the_call_and_the_answer_still_goes() -> None:
    """What a cancel does to a call served in the request's own task: the wait is
    interrupted, and after `uncancel` the task can still await (send the answer)."""
    async def call(started: asyncio.Event) -> str:
        own = _cancellable()
        assert own is not None
        try:
            started.set()
            await asyncio.sleep(30)
            return "answered"
        except asyncio.CancelledError:
            own.uncancel()
        await asyncio.sleep(0)  # the answer's `send`
        return "cancelled, answered"

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.ensure_future(call(started))
        await started.wait()
        task.cancel()
        assert await asyncio.wait_for(task, 5) == "cancelled, answered"
        assert task.cancelling() == 0

    asyncio.run(main())
