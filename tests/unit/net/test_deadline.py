"""net/deadline.py against asyncio.timeout: each case runs with both, on real tasks
reading from a real loopback socket whose peer never answers, and must end the same way
(TimeoutError, CancelledError or a value; the task's cancel count after), so the
cheaper deadline is a drop-in for the MCP transport's per-call blocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest

from gateway_cli.net.deadline import deadline

# Each test on both loops the served gateway can run on (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("on_each_loop")

KINDS = ["asyncio.timeout", "deadline"]
Body = Callable[[], Awaitable[Any]]


async def under(kind: str, delay: float | None, body: Body) -> Any:
    """`body` under one deadline of the kind compared."""
    if kind == "asyncio.timeout":
        async with asyncio.timeout(delay):
            return await body()
    with deadline(delay):
        return await body()


@asynccontextmanager
async def silent_peer() -> AsyncIterator[asyncio.StreamReader]:
    """A reader on a loopback connection whose server accepts and never writes."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader
    finally:
        writer.close()
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


def outcome(kind: str, case: Callable[[str], Awaitable[Any]]) -> tuple[str, Any]:
    async def run() -> tuple[str, Any]:
        try:
            return "value", await case(kind)
        except TimeoutError as err:
            assert isinstance(err.__cause__, asyncio.CancelledError)
            return "TimeoutError", None
        except asyncio.CancelledError:
            return "CancelledError", None
    return asyncio.run(run())


def both(case: Callable[[str], Awaitable[Any]]) -> tuple[str, Any]:
    """The case's outcome, which must be the same with asyncio.timeout and deadline."""
    expected, got = (outcome(kind, case) for kind in KINDS)
    assert got == expected
    return got


def test_expiry_is_a_timeout_error_and_the_cancel_is_taken_back() -> None:
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            task = asyncio.current_task()
            assert task is not None
            try:
                await under(kind, 0.05, lambda: reader.read(100))
            except TimeoutError:
                return ("timed out", task.cancelling())
            return "read"

    assert both(case) == ("value", ("timed out", 0))


def test_a_block_that_ends_in_time_gives_its_value_and_its_timer_never_fires() -> None:
    async def case(kind: str) -> Any:
        got = await under(kind, 0.05, lambda: asyncio.sleep(0, "done"))
        await asyncio.sleep(0.15)  # well past the deadline: a live timer would cancel here
        task = asyncio.current_task()
        assert task is not None
        return got, task.cancelling()

    assert both(case) == ("value", ("done", 0))


def test_the_timer_is_cancelled_when_the_block_raises() -> None:
    async def case(kind: str) -> Any:
        async def fail() -> None:
            await asyncio.sleep(0)
            raise KeyError("boom")
        with suppress(KeyError):
            await under(kind, 0.05, fail)
        await asyncio.sleep(0.15)
        return "still running"

    assert both(case) == ("value", "still running")


async def ended(inner: asyncio.Task[Any]) -> Any:
    """How a task under a deadline ended, as the outer-cancel tests tell the cases apart."""
    try:
        await inner
    except TimeoutError:
        return "turned into TimeoutError"
    except asyncio.CancelledError:
        return ("cancelled", inner.cancelled())
    return "swallowed"


def test_an_outer_cancel_propagates_as_cancelled_error() -> None:
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            inner = asyncio.create_task(under(kind, 10, lambda: reader.read(100)))
            await asyncio.sleep(0.02)
            inner.cancel()
            return await ended(inner)

    assert both(case) == ("value", ("cancelled", True))


def test_an_outer_cancel_at_the_moment_of_expiry_is_not_swallowed() -> None:
    """The expiry and a cancel from elsewhere in the same turn of the loop: the task was
    asked to stop by someone else too, so it must stop (CancelledError), not go on with a
    TimeoutError."""
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            async def body() -> bytes:
                task = asyncio.current_task()
                assert task is not None
                asyncio.get_running_loop().call_soon(task.cancel)  # after the expiry's
                return await reader.read(100)

            inner = asyncio.create_task(under(kind, 0, body))
            return await ended(inner)

    assert both(case) == ("value", ("cancelled", True))


def test_a_cancel_from_outside_the_task_while_it_waits_under_a_deadline() -> None:
    """The whole run is cancelled (as asyncio.run's caller or a session's end would):
    the CancelledError reaches the top."""
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().call_later(0.02, task.cancel)
            return await under(kind, 10, lambda: reader.read(100))

    assert both(case) == ("CancelledError", None)


def test_nested_the_inner_expiry_is_the_inner_blocks_own() -> None:
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            async def inner() -> str:
                try:
                    await under(kind, 0.03, lambda: reader.read(100))
                except TimeoutError:
                    await asyncio.sleep(0.01)  # the outer block goes on
                    return "inner timed out"
                return "read"
            got = await under(kind, 5, inner)
            task = asyncio.current_task()
            assert task is not None
            return got, task.cancelling()

    assert both(case) == ("value", ("inner timed out", 0))


def test_nested_the_outer_expiry_passes_through_the_inner_block() -> None:
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            seen: list[str] = []

            async def inner() -> None:
                try:
                    await under(kind, 5, lambda: reader.read(100))
                except TimeoutError:
                    seen.append("inner TimeoutError")
                    raise
                except asyncio.CancelledError:
                    seen.append("inner CancelledError")
                    raise
            try:
                await under(kind, 0.03, inner)
            except TimeoutError:
                seen.append("outer TimeoutError")
            return seen

    assert both(case) == ("value", ["inner CancelledError", "outer TimeoutError"])


def test_both_nested_blocks_expire_in_the_same_turn() -> None:
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            async def inner() -> None:
                await under(kind, 0, lambda: reader.read(100))
            try:
                await under(kind, 0, inner)
            except TimeoutError:
                task = asyncio.current_task()
                assert task is not None
                return ("TimeoutError", task.cancelling())
            return "read"

    assert both(case) == ("value", ("TimeoutError", 0))


def test_an_expiry_inside_a_task_that_was_already_being_cancelled() -> None:
    """Entered while a cancel is pending (cancelling() == 1, as in a cleanup that runs on
    cancellation): its own expiry is still its own TimeoutError."""
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            with suppress(asyncio.CancelledError):  # cancelling() stays 1: no uncancel
                await asyncio.sleep(1)
            try:
                await under(kind, 0.02, lambda: reader.read(100))
            except TimeoutError:
                return ("TimeoutError", task.cancelling())
            return "read"

    assert both(case) == ("value", ("TimeoutError", 1))


def test_none_is_no_deadline_and_an_outer_cancel_still_propagates() -> None:
    async def case(kind: str) -> Any:
        async with silent_peer() as reader:
            task = asyncio.current_task()
            assert task is not None
            got = await under(kind, None, lambda: asyncio.sleep(0.05, "slept"))
            asyncio.get_running_loop().call_later(0.05, task.cancel)
            try:
                await under(kind, None, lambda: reader.read(100))
            except TimeoutError:
                return "turned into TimeoutError"
            return got

    assert both(case) == ("CancelledError", None)


def test_outside_a_task_and_twice_are_refused() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"), deadline(1):
        pass

    async def in_a_callback() -> None:
        done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

        def callback() -> None:  # the loop runs it, but not as a task
            try:
                with deadline(1):
                    pass
            except RuntimeError as err:
                done.set_result(err)
            else:
                done.set_result(None)
        asyncio.get_running_loop().call_soon(callback)
        err = await done
        assert isinstance(err, RuntimeError) and "inside a task" in str(err)

    asyncio.run(in_a_callback())

    async def twice() -> None:
        block = deadline(1)
        with block:
            pass
        with pytest.raises(RuntimeError, match="entered once"), block:
            pass

    asyncio.run(twice())
