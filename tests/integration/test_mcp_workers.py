"""`serve --workers 2`: a client's follow-ups to its session work on either worker.

A cancel, the answer to a server's sampling request and a DELETE are sent on a
connection that one worker accepted while the call they concern runs on a
connection the other worker accepted. Which worker holds a connection is read from
/metrics over that same kept-alive connection (`gateway_worker`), so each test knows
that its follow-up landed on the other worker instead of hoping it did.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, stop_gateway
from tests.integration.mcp_helpers import approve, notes_stdio
from tests.integration.test_client_keys import make_home

VERSION = "2025-11-25"
_WORKER = re.compile(r'^gateway_worker\{worker="(\d+)",workers="2"\} 1$', re.M)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Path]]:
    tmp = tmp_path_factory.mktemp("mcp-workers")
    home = make_home(tmp)
    notes = tmp / "notes"
    notes.mkdir()
    config = '[mcp]\nopen_scopes = ["mcp:notes:*"]\n' + notes_stdio(
        "notes", notes, extra='client_requests = "relay"')
    path = Path(tmp / "gateway.toml")
    path.write_text(config)
    approve(home, path, "notes")
    gateway = home.serve(tmp, "--workers", "2", config=config)
    yield gateway, home.path
    stop_gateway(gateway)


@pytest.fixture
def gateway(served: tuple[Gateway, Path]) -> Gateway:
    return served[0]


def _worker_of(client: httpx.Client) -> str:
    page = client.get("/metrics")
    found = _WORKER.search(page.text)
    assert found is not None, page.text[:500]
    return found[1]


@pytest.fixture
def pair(gateway: Gateway) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two clients, each with one kept-alive connection, accepted by different workers.
    New connections are opened eight at a time (one after another, the kernel may hand
    them all to one worker) until both workers hold one; bounded."""
    opened: list[httpx.Client] = []
    by_worker: dict[str, httpx.Client] = {}
    try:
        for _ in range(10):
            batch = [httpx.Client(base_url=gateway.url, timeout=30,
                                  limits=httpx.Limits(max_connections=1))
                     for _ in range(8)]
            opened += batch
            with ThreadPoolExecutor(8) as pool:
                workers = list(pool.map(_worker_of, batch))
            for worker, client in zip(workers, batch, strict=True):
                by_worker.setdefault(worker, client)
            if len(by_worker) == 2:
                break
        assert len(by_worker) == 2, "every new connection reached one worker"
        first, second = by_worker["1"], by_worker["2"]
        assert _worker_of(first) == "1" and _worker_of(second) == "2"  # kept alive
        yield first, second
    finally:
        for client in opened:
            client.close()


def _headers(sid: str | None = None) -> dict[str, str]:
    out = {"content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": VERSION}
    if sid is not None:
        out["mcp-session-id"] = sid
    return out


def _open(client: httpx.Client) -> str:
    init = client.post("/mcp/notes", headers=_headers(), json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": VERSION, "capabilities": {"sampling": {}},
            "clientInfo": {"name": "workers-test", "version": "1"}}})
    assert init.status_code == 200, init.text
    sid = init.headers["mcp-session-id"]
    done = client.post("/mcp/notes", headers=_headers(sid), json={
        "jsonrpc": "2.0", "method": "notifications/initialized"})
    assert done.status_code == 202, done.text
    return sid


def _call(name: str, arguments: dict[str, Any], request_id: int = 7) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}


def _messages(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON-RPC messages of an answer, JSON or SSE, as they arrive."""
    if response.headers["content-type"].startswith("application/json"):
        response.read()
        yield response.json()
        return
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_a_cancel_sent_to_the_other_worker_ends_the_call(
        pair: tuple[httpx.Client, httpx.Client]) -> None:
    holder, other = pair
    sid = _open(holder)
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(lambda: holder.post("/mcp/notes", headers=_headers(sid),
                                                 json=_call("wait", {"seconds": 25})))
        # Sent until the call ends: one sent before the call is in flight finds nothing.
        while not answer.done():
            assert time.monotonic() - started < 15, "the cancel never reached the call"
            sent = other.post("/mcp/notes", headers=_headers(sid), json={
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 7, "reason": "test"}})
            assert sent.status_code == 202, sent.text
            time.sleep(0.3)
        reply = answer.result()
    assert time.monotonic() - started < 15
    assert reply.status_code == 200
    assert reply.json()["error"] == {"code": -32800, "message": "request cancelled"}


def test_a_sampling_answer_sent_to_the_other_worker_reaches_the_server(
        pair: tuple[httpx.Client, httpx.Client]) -> None:
    holder, other = pair
    sid = _open(holder)
    asked = []
    with holder.stream("POST", "/mcp/notes", headers=_headers(sid),
                       json=_call("ask", {"question": "which worker?", "tagged": False})
                       ) as response:
        assert response.status_code == 200
        for message in _messages(response):
            if message.get("method") == "sampling/createMessage":
                asked.append(message["params"]["messages"][0]["content"]["text"])
                sent = other.post("/mcp/notes", headers=_headers(sid), json={
                    "jsonrpc": "2.0", "id": message["id"], "result": {
                        "role": "assistant", "model": "test-model",
                        "content": {"type": "text", "text": "answered on the other"}}})
                assert sent.status_code == 202, sent.text
            elif message.get("id") == 7:
                final = message
                break
    assert asked == ["which worker?"]
    assert final["result"]["content"][0]["text"] == "answered on the other", final


def test_a_delete_on_the_other_worker_ends_the_session_everywhere(
        pair: tuple[httpx.Client, httpx.Client]) -> None:
    holder, other = pair
    sid = _open(holder)
    listed = holder.post("/mcp/notes", headers=_headers(sid),
                         json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert listed.status_code == 200 and "echo" in listed.text
    assert other.delete("/mcp/notes", headers=_headers(sid)).status_code == 200
    for client in (holder, other):
        gone = client.post("/mcp/notes", headers=_headers(sid),
                           json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        assert gone.status_code == 404, gone.text


def _control(path: Path, request: object) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(path))
        conn.sendall(json.dumps(request).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    answer = json.loads(reply)
    assert isinstance(answer, dict)
    return answer


def test_a_worker_applies_only_well_formed_messages_for_sessions_it_holds(
        served: tuple[Gateway, Path], pair: tuple[httpx.Client, httpx.Client]) -> None:
    """What a worker accepts on its control socket from a sibling: bad shapes get a clear
    error; a message for a session it does not hold, or for another caller, is not
    applied."""
    holder, _ = pair
    sid = _open(holder)  # held by worker 1
    sockets = sorted((served[1] / "run").glob("gateway-*.sock"))
    assert len(sockets) == 2
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled",
              "params": {"requestId": 7}}

    def ask(**fields: object) -> list[dict[str, Any]]:
        return [_control(path, {"mcp_session": fields}) for path in sockets]

    assert ask() == [{"ok": False, "error": "expected session, principal and server"}] * 2
    for path in sockets:
        assert _control(path, {"mcp_session": "x"}) == {"ok": False,
                                                         "error": "expected an object"}
    assert ask(what="move", session=sid, principal="open", server="notes") == [
        {"ok": False, "error": "expected what: message or end"}] * 2
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}
    assert ask(what="message", session=sid, principal="open", server="notes",
               body=request) == [
        {"ok": False, "error": "only a response or a cancel is passed on"}] * 2
    assert ask(what="message", session=sid, principal="open", server="notes",
               body={"jsonrpc": "2.0"}) == [
        {"ok": False, "error": "only a response or a cancel is passed on"}] * 2
    # Another caller, another endpoint, an id never made: nothing is applied or ended.
    for principal, server in (("someone-else", "notes"), ("open", None)):
        assert ask(what="end", session=sid, principal=principal, server=server) == [
            {"ok": False}] * 2
    assert ask(what="message", session="a.2025-11-25." + "0" * 32, principal="open",
               server="notes", body=cancel) == [{"ok": False}] * 2
    still = holder.post("/mcp/notes", headers=_headers(sid),
                        json={"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert still.status_code == 200 and still.json()["result"] == {}
