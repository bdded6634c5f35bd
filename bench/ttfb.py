"""Time to first byte of a stream: does the gateway pass events on as they arrive?

Two sub-commands (stdlib only, plus httpx for the client side):

  ttfb.py upstream --port P [--delay 1.0]
      A tiny OpenAI-style SSE upstream on 127.0.0.1:P. Every POST gets a
      200 text/event-stream answer in chunked encoding: one event at once,
      then a pause of --delay seconds, then the other 19 events and
      `data: [DONE]`. Runs until SIGTERM/SIGINT (or --lifetime seconds).

  ttfb.py measure --url NAME=URL [--url NAME=URL ...] [--runs 7] [--model M]
      POSTs a streaming chat request to each URL --runs times over one
      keep-alive connection (after one warm-up request) and prints, per URL,
      one line:
        BENCH_TTFB {"target":NAME,"url":..,"runs":..,"ttfb_ms_p50":..,
                    "ttfb_ms_min":..,"ttfb_ms_max":..,"total_ms_p50":..,"events":..}
      ttfb = from sending the request to the first `data:` line received;
      total = to the end of the stream. A proxy that buffers shows a ttfb of
      about --delay; one that streams shows a ttfb of a few milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import time

EVENTS = 20


def _event(i: int, model: str) -> bytes:
    delta: dict[str, object] = {"content": f" word{i}"} if i else {"role": "assistant",
                                                                     "content": ""}
    chunk = {
        "id": "chatcmpl-ttfb", "object": "chat.completion.chunk", "created": 1741570283,
        "model": model, "system_fingerprint": "fp_ttfb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None,
                     "finish_reason": "stop" if i == EVENTS - 1 else None}],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  delay: float) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
                elif name.strip().lower() == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\n"
                         b"content-type: text/event-stream; charset=utf-8\r\n"
                         b"cache-control: no-cache\r\n"
                         b"transfer-encoding: chunked\r\n"
                         b"connection: keep-alive\r\n\r\n")
            writer.write(_chunk(_event(0, "bench-slow")))
            await writer.drain()
            await asyncio.sleep(delay)
            for i in range(1, EVENTS):
                writer.write(_chunk(_event(i, "bench-slow")))
            writer.write(_chunk(b"data: [DONE]\n\n"))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            if close:
                return
    except ConnectionError:
        return
    finally:
        writer.close()


async def _serve(port: int, delay: float, lifetime: float) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(r, w, delay), "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.call_later(lifetime, stop.set)
    async with server:
        await stop.wait()


def _measure(target: str, url: str, runs: int, model: str) -> dict[str, object]:
    import httpx

    body = json.dumps({
        "model": model, "stream": True, "max_tokens": 100,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Say twenty words, one at a time."},
        ],
    }).encode()
    headers = {"content-type": "application/json", "accept": "text/event-stream",
               "authorization": "Bearer sk-bench-not-a-real-key"}
    ttfbs: list[float] = []
    totals: list[float] = []
    events = 0
    with httpx.Client(timeout=30.0) as client:
        for run in range(runs + 1):  # run 0 warms up the connections
            events = 0
            first: float | None = None
            start = time.perf_counter()
            with client.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    raise SystemExit(f"ttfb: {url} answered HTTP {response.status_code}: "
                                     f"{response.read()[:300]!r}")
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        if first is None:
                            first = time.perf_counter()
                        events += 1
            end = time.perf_counter()
            if first is None:
                raise SystemExit(f"ttfb: {url} sent no data: line")
            if run:
                ttfbs.append((first - start) * 1000)
                totals.append((end - start) * 1000)
    return {"target": target, "url": url, "runs": runs,
            "ttfb_ms_p50": round(statistics.median(ttfbs), 2),
            "ttfb_ms_min": round(min(ttfbs), 2), "ttfb_ms_max": round(max(ttfbs), 2),
            "total_ms_p50": round(statistics.median(totals), 1), "events": events}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upstream", help="run the slow SSE upstream")
    up.add_argument("--port", type=int, required=True)
    up.add_argument("--delay", type=float, default=1.0)
    up.add_argument("--lifetime", type=float, default=3600.0,
                    help="stop by itself after this many seconds (a safety bound)")
    me = sub.add_parser("measure", help="measure time to first event")
    me.add_argument("--url", action="append", required=True, metavar="NAME=URL")
    me.add_argument("--runs", type=int, default=7)
    me.add_argument("--model", default="bench-slow")
    args = parser.parse_args()
    if args.command == "upstream":
        asyncio.run(_serve(args.port, args.delay, args.lifetime))
        return 0
    for spec in args.url:
        target, _, url = spec.partition("=")
        if not url:
            parser.error(f"--url {spec!r}: expected NAME=URL")
        print("BENCH_TTFB " + json.dumps(_measure(target, url, args.runs, args.model)),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
