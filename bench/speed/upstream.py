"""The provider upstream's client, old (aiohttp) against new (net/http1.py), in process.

    .venv/bin/python bench/speed/upstream.py count [--n 100] [--tree DIR]  # callgrind
    .venv/bin/python bench/speed/upstream.py ab [--calls 4000] [--rounds 40]  # CPU time

Both modes talk to a loopback upstream in a child process (this script's `serve` mode,
not traced by callgrind and not in this process's CPU time): bench/upstream/chat.json
with a Content-Length for a chat request, and for a streamed one the 50-event
`chat.completion.chunk` stream of bench/speed/driver.py, one chunk per event. The
request is bench/chat.lua's body.

`count` runs `drive` under `valgrind --tool=callgrind --dump-before=getppid` (as
count.py does): instructions per call of each shape, minus the empty loop, over N.
Shapes: `attempt_old`/`attempt_new` are the request stage alone (`http_attempt`:
headers, send, read, release), the old one being `upstream/attempt.py` and `pool.py`
of commit OLD (default 78de8e2, the last on aiohttp) loaded from git beside the new;
`stream_old`/`stream_new` the same for a stream read to its end (the upstream writes
it in one burst, so the count does not depend on timing; `--pace 0.02` spaces the events
20 ms apart, long enough under callgrind that each is read on its own, as from a real
provider); `app`/`app_stream` the whole
gateway (`create_app`, default inspection, ASGI called directly) on whatever tree is
first on the path (`--tree DIR` runs the driver on another checkout, e.g. an export of
OLD, for the before/after of the whole path; the attempt shapes then need this tree's
`gateway_cli.net`, so only the app shapes run there).

`ab` alternates the old and new attempt in rounds in this one process and reports the
median CPU time per call (`time.process_time`); streams are paced by the upstream (1 ms
between events), so each event is read on its own as from a real provider.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OLD = "78de8e2"
STREAM_BODY_MARK = b'"stream":true'
sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------ the upstream (child)

async def _serve(port: int, pace: float) -> None:
    sys.path.insert(0, str(HERE))
    import msgspec
    from driver import answer_bytes, stream_events

    chat = answer_bytes()
    text = msgspec.json.decode(chat)["choices"][0]["message"]["content"]
    events = stream_events(text)
    chat_answer = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                   b"%d\r\n\r\n%s" % (len(chat), chat))
    stream_head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                   b"transfer-encoding: chunked\r\n\r\n")
    chunks = [b"%x\r\n%s\r\n" % (len(event), event) for event in events]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)[1])  # type: ignore[index]
                body = await reader.readexactly(length)
                if STREAM_BODY_MARK not in body.replace(b" ", b""):
                    writer.write(chat_answer)
                elif pace <= 0:
                    writer.write(stream_head + b"".join(chunks) + b"0\r\n\r\n")
                else:
                    writer.write(stream_head)
                    for piece in chunks:
                        writer.write(piece)
                        await writer.drain()
                        await asyncio.sleep(pace)
                    writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(one, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def start_upstream(pace: float) -> tuple[subprocess.Popen[bytes], str]:
    from tests.conftest import free_port

    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "serve", str(port), str(pace)],
                             cwd=ROOT, stdout=subprocess.DEVNULL)
    import socket

    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return child, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline:
                child.kill()
                raise SystemExit("the bench upstream did not start") from None
            time.sleep(0.1)


# ------------------------------------------------------------------ the two clients

def _old_modules(commit: str) -> tuple[Any, Any]:
    """upstream/pool.py and attempt.py of `commit`, loaded beside this tree's."""
    def load(name: str, path: str, patch: tuple[str, str] | None = None) -> Any:
        source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        if patch is not None:
            assert patch[0] in source
            source = source.replace(*patch)
        module = types.ModuleType(name)
        module.__file__ = f"{commit}:{path}"
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        return module

    pool = load("old_pool", "gateway_cli/upstream/pool.py")
    attempt = load("old_attempt", "gateway_cli/upstream/attempt.py",
                   ("from gateway_cli.upstream.pool import UpstreamPool",
                    "from old_pool import UpstreamPool"))
    return pool, attempt


def _setup(url: str) -> tuple[Any, bytes]:
    sys.path.insert(0, str(HERE))
    from driver import chat_request

    from gateway_cli.config import parse_config
    from gateway_cli.server.runtime import build_runtime

    config = parse_config({
        "providers": [{"name": "p", "kind": "openai-compatible", "base_url": f"{url}/v1"}],
        "models": [{"name": "bench-model", "deployments": [
            {"provider": "p", "model": "bench-model"}]}]})
    runtime = build_runtime(config)
    [dep] = runtime.models["bench-model"].deployments
    return dep, chat_request()


class Attempts:
    """`http_attempt` old and new against one upstream, each with its own pool."""

    def __init__(self, url: str, commit: str) -> None:
        from gateway_cli.providers.operations import Op
        from gateway_cli.upstream import attempt, pool

        self.op = Op.CHAT
        self.dep, self.body = _setup(url)
        self.stream_body = self.body[:-1] + b',"stream":true}'
        old_pool, self.old = _old_modules(commit)
        self.new = attempt
        self.pools = {"old": old_pool.UpstreamPool(), "new": pool.UpstreamPool()}
        for each in self.pools.values():
            each.open("p", max_connections=256, connect_timeout=10.0)

    async def call(self, which: str, streaming: bool) -> int:
        module = self.old if which == "old" else self.new
        out = await module.http_attempt(self.pools[which], self.dep, self.op,
                                        self.stream_body if streaming else self.body, {},
                                        streaming)
        if streaming:
            size = 0
            try:
                async for piece in out.chunks:
                    size += len(piece)
            finally:
                out.close()
            return size
        return len(out.body)

    async def close(self) -> None:
        for each in self.pools.values():
            await each.close()


# ------------------------------------------------------------------ the whole app

def _asgi_scope(raw: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(raw)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}


async def through_app(app: Any, raw: bytes) -> int:
    sent = False
    size = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal size
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(_asgi_scope(raw), receive, send)
    return size


async def _app(url: str) -> tuple[Any, bytes, bytes]:
    from gateway_cli.config import parse_config
    from gateway_cli.server.app import create_app

    sys.path.insert(0, str(HERE))
    from driver import chat_request

    config = parse_config({
        "server": {"log_level": "warning", "access_log": False},
        "providers": [{"name": "p", "kind": "openai-compatible", "base_url": f"{url}/v1"}],
        "models": [{"name": "bench-model", "deployments": [
            {"provider": "p", "model": "bench-model"}]}]})
    app = create_app(config)
    assert app.start is not None
    await app.start()
    raw = chat_request()
    return app, raw, raw[:-1] + b',"stream":true}'


# ------------------------------------------------------------------ modes

def mark() -> None:
    os.getppid()


async def _drive(n: int, shapes: list[str], commit: str, pace: float) -> None:
    child, url = start_upstream(pace)
    try:
        runs: dict[str, Any] = {"empty": None}
        attempts = None
        if any(s.startswith(("attempt", "stream")) for s in shapes):
            attempts = Attempts(url, commit)
            runs |= {"attempt_old": lambda: attempts.call("old", False),
                     "attempt_new": lambda: attempts.call("new", False),
                     "stream_old": lambda: attempts.call("old", True),
                     "stream_new": lambda: attempts.call("new", True)}
        app = None
        if any(s.startswith("app") for s in shapes):
            app, raw, stream_raw = await _app(url)
            runs |= {"app": lambda: through_app(app, raw),
                     "app_stream": lambda: through_app(app, stream_raw)}
        chosen = [("empty", None), *((s, runs[s]) for s in shapes)]
        sizes = {}
        for name, run in chosen:  # warm-up: connections, caches, lazy imports
            for _ in range(5):
                sizes[name] = await run() if run is not None else 0
        for _name, run in chosen:
            mark()
            for _ in range(n):
                if run is not None:
                    await run()
        mark()
        for name, _ in chosen:
            print(f"{name} {sizes[name]}")
        if attempts is not None:
            await attempts.close()
        if app is not None and app.stop is not None:
            await app.stop()
    finally:
        child.kill()


def count(n: int, shapes: list[str], tree: Path, commit: str, pace: float
          ) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": f"{tree}:{ROOT}"}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=getppid",
             f"--callgrind-out-file={out}", sys.executable, __file__, "drive", str(n),
             commit, str(pace), *shapes],
            capture_output=True, text=True, env=env, check=False, cwd=tree)
        if done.returncode != 0:
            raise SystemExit(f"driver failed:\n{done.stderr[-3000:]}")
        totals = []
        for k in range(2, len(shapes) + 3):
            text = Path(f"{out}.{k}").read_text(errors="replace")
            totals.append(int(re.search(r"^totals: (\d+)", text, re.M)[1]))  # type: ignore[index]
        print(done.stdout, end="")
    return {shape: round((totals[i + 1] - totals[0]) / n) for i, shape in enumerate(shapes)}


async def ab(calls: int, rounds: int, commit: str) -> None:
    child, url = start_upstream(0.001)
    try:
        attempts = Attempts(url, commit)
        for streaming in (False, True):
            for which in ("old", "new"):  # warm-up
                for _ in range(20):
                    await attempts.call(which, streaming)
            per_round = max(1, calls // rounds // (10 if streaming else 1))
            cpu: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(rounds):
                for which in ("old", "new"):
                    start = time.process_time()
                    for _ in range(per_round):
                        await attempts.call(which, streaming)
                    cpu[which].append((time.process_time() - start) / per_round * 1e6)
            old, new = (statistics.median(cpu[k]) for k in ("old", "new"))
            shape = "50-event stream (paced)" if streaming else "chat request"
            print(f"| {shape} | {per_round * rounds} each, {rounds} rounds | {old:.0f} | "
                  f"{new:.0f} | {new - old:+.0f} ({(new - old) / old:+.0%}) |")
        await attempts.close()
    finally:
        child.kill()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        asyncio.run(_serve(int(sys.argv[2]), float(sys.argv[3])))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "drive":
        sys.path.insert(0, os.getcwd())
        asyncio.run(_drive(int(sys.argv[2]), sys.argv[5:], sys.argv[3], float(sys.argv[4])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["count", "ab"])
    parser.add_argument("shapes", nargs="*")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--pace", type=float, default=0.0,
                        help="count: seconds between stream events (0: one burst)")
    parser.add_argument("--old", default=OLD, help=f"the aiohttp commit ({OLD})")
    args = parser.parse_args()
    if args.mode == "ab":
        print("| shape | calls | old (aiohttp) CPU us/call | new (http1) | change |")
        print("|---|---|---:|---:|---:|")
        asyncio.run(ab(args.calls, args.rounds, args.old))
        return 0
    shapes = args.shapes or ["attempt_old", "attempt_new", "stream_old", "stream_new",
                             "app", "app_stream"]
    result = count(args.n, shapes, args.tree.resolve(), args.old, args.pace)
    print("| shape | instructions per call |\n|---|---:|")
    for shape, per in result.items():
        print(f"| {shape} | {per:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
