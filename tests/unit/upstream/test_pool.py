"""A provider's client replaced by a reload stays usable for what is in flight, and is
closed at the end with the rest."""

from __future__ import annotations

import asyncio

from gateway_cli.upstream.pool import USER_AGENT, UpstreamPool


def test_a_replaced_client_is_closed_at_shutdown_not_before() -> None:
    async def run() -> None:
        pool = UpstreamPool()
        pool.open("p", max_connections=4, connect_timeout=1.0)
        first = pool.client("p", "http://127.0.0.1:9/v1/chat/completions")
        assert pool.client("p", "http://127.0.0.1:9/v1/embeddings") is first
        assert (first.max_open, first.max_idle, first.connect_timeout) == (4, 4, 1.0)
        pool.open("p", max_connections=8, connect_timeout=2.0)  # what a reload does
        second = pool.client("p", "http://127.0.0.1:9/v1/chat/completions")
        assert second is not first and not first.closed  # a stream may still read from it
        assert (second.max_open, second.connect_timeout) == (8, 2.0)
        await pool.close()
        assert first.closed and second.closed

    asyncio.run(run())


def test_every_request_names_the_gateway_and_the_codings_it_reads() -> None:
    async def run() -> bytes:
        pool = UpstreamPool()
        pool.open("p", max_connections=4, connect_timeout=1.0)
        client = pool.client("p", "http://127.0.0.1:9/v1/chat/completions")
        return client._head("POST", "/v1/x", {"content-type": "application/json"}, 2)

    head = asyncio.run(run())
    assert head == (b"POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncontent-type: application/"
                    b"json\r\nuser-agent: " + USER_AGENT.encode() +
                    b"\r\naccept-encoding: gzip, deflate\r\ncontent-length: 2\r\n\r\n")
