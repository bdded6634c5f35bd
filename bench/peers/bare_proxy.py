"""The architecture's ceiling for the peers table: Litestar on Granian's embedded server
forwarding chat completions to the upstream with one pooled aiohttp session, with no
checks at all (no key, no parsing, no inspection, no log). Bench only.

    python bench/peers/bare_proxy.py --port PORT --upstream http://127.0.0.1:NGINX

A body naming the model "bench-stream" goes to the upstream's /stream/v1 path (the
nginx mock's streamed answer), as the gateway's bench config routes it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import aiohttp
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server.embed import Server
from litestar import Litestar, asgi


def build(upstream: str) -> Litestar:
    state: dict[str, aiohttp.ClientSession] = {}

    async def open_session() -> None:
        state["session"] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=None))

    async def close_session() -> None:
        await state["session"].close()

    @asgi("/v1/chat/completions", copy_scope=False)
    async def chat(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = "/stream/v1/chat/completions" if b'"bench-stream"' in body \
            else "/v1/chat/completions"
        async with state["session"].post(upstream + path, data=body, headers={
                "content-type": "application/json",
                "authorization": "Bearer sk-bench-not-a-real-key"}) as answer:
            await send({"type": "http.response.start", "status": answer.status,
                        "headers": [(b"content-type", answer.headers.get(
                            "content-type", "application/json").encode())]})
            async for chunk in answer.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    return Litestar(route_handlers=[chat], on_startup=[open_session],
                    on_shutdown=[close_session], openapi_config=None, logging_config=None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    server = Server(target=build(args.upstream), address="127.0.0.1", port=args.port,
                    interface=Interfaces.ASGI, http=HTTPModes.http1, websockets=False,
                    log_level=LogLevels.warning, backlog=1024, backpressure=1024)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
