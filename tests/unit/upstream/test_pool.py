"""A session replaced by a reload stays usable for what is in flight, and is closed at the
end with the rest."""

from __future__ import annotations

import asyncio


def test_a_replaced_session_is_closed_at_shutdown_not_before() -> None:
    from gateway_cli.upstream.pool import UpstreamPool

    async def run() -> None:
        pool = UpstreamPool()
        pool.open("p", max_connections=4, connect_timeout=1.0)
        first = pool.session("p")
        pool.open("p", max_connections=8, connect_timeout=1.0)  # what a reload does
        second = pool.session("p")
        assert second is not first and not first.closed  # a stream may still read from it
        await pool.close()
        assert first.closed and second.closed

    asyncio.run(run())
