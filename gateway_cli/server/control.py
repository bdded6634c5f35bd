"""The local control channel: a 0600 Unix socket that applies rotations at once.

`gateway rotate-keys` and `gateway clients` write the new state, then ask
every running gateway to reload it over this socket; the answer comes back
once the new keys are in force. A socket rather than an HTTP admin endpoint:
no port to expose by mistake, file permissions decide who may talk, and the
peer's uid is checked as well (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS;
a system where it cannot be learnt refuses every request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway_cli.errors import GatewayError
from gateway_cli.keys.notify import ACCEPTED

log = logging.getLogger("gateway.control")
Reloader = Callable[[tuple[str, ...]], Awaitable[list[str]]]
# `gateway mcp approve-call ID [--deny]`: (call id, allow) -> whether that call was held here.
CallDecider = Callable[[str, bool], bool]
# `gateway mcp status`: each MCP server's state and its last stderr lines (redacted).
StatusReader = Callable[[], dict[str, object]]
# `serve --workers N`: a sibling worker's passed-on MCP message (server/mcp_peers.py).
PeerReceiver = Callable[[object], Awaitable[dict[str, object]]]
_MAX_LINE = 4096
# A passed-on MCP message carries a client's JSON-RPC message ([mcp] max_message_bytes, at
# most 64 MiB), escaped once more inside this line.
_MAX_PEER_LINE = 2 * 64 * 1024 * 1024 + 65536


# macOS and the BSDs: getsockopt(SOL_LOCAL, LOCAL_PEERCRED) fills a struct xucred
# {u_int cr_version; uid_t cr_uid; short cr_ngroups; gid_t cr_groups[16]}.
_SOL_LOCAL = 0
_LOCAL_PEERCRED = 1
_XUCRED = struct.Struct("=IIh")
_XUCRED_SIZE = 4 + 4 + 2 + 2 + 16 * 4  # with the padding before cr_groups


def xucred_uid(data: bytes) -> int | None:
    """The peer uid from an xucred, or None if it is not one (version 0 only exists)."""
    if len(data) < _XUCRED.size:
        return None
    version, uid, _ = _XUCRED.unpack_from(data)
    return int(uid) if version == 0 else None


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    """The connecting process's uid, or None when this system cannot tell (then refused)."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    try:
        if hasattr(socket, "SO_PEERCRED"):
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            return int(uid)
        if sys.platform == "darwin" or "bsd" in sys.platform:
            return xucred_uid(sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED_SIZE))
    except OSError:
        return None
    return None


def _decide_call(request: dict[str, object], decide: CallDecider | None) -> dict[str, object]:
    from gateway_cli.mcp.held import CALL_ID

    call_id, allow = request.get("mcp_call"), request.get("allow")
    if not isinstance(call_id, str) or not CALL_ID.match(call_id) \
            or not isinstance(allow, bool):
        return {"ok": False, "error": 'expected {"mcp_call": "<16 hex>", "allow": true|false}'}
    if decide is None or not decide(call_id, allow):
        return {"ok": False, "error": "no such call is waiting here"}
    return {"ok": True, "reloaded": [f"call {call_id} {'approved' if allow else 'denied'}"]}


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     reload: Reloader, decide: CallDecider | None = None,
                     status: StatusReader | None = None,
                     peer: PeerReceiver | None = None) -> None:
    try:
        uid = _peer_uid(writer)
        # The request is read (bounded) either way, so a refused caller gets its answer
        # instead of a broken pipe; a refused one is never parsed.
        line = await asyncio.wait_for(reader.readline(), timeout=5)
        if uid is None or uid not in (os.getuid(), 0):
            answer: dict[str, object] = {"ok": False, "error": "permission denied"}
        else:
            peer_line = line.startswith(b'{"mcp_session"')
            request = json.loads((line if peer_line else line[:_MAX_LINE]) or b"{}")
            what = request.get("reload") if isinstance(request, dict) else None
            if peer_line and isinstance(request, dict) and "mcp_session" in request:
                answer = await peer(request["mcp_session"]) if peer is not None \
                    else {"ok": False, "error": "no MCP sessions here"}
            elif isinstance(request, dict) and "mcp_call" in request:
                answer = _decide_call(request, decide)
            elif isinstance(request, dict) and request.get("mcp_status") is True:
                answer = {"ok": True, "pid": os.getpid(),
                          "servers": status() if status is not None else {}}
            elif not isinstance(what, list) or not what \
                    or not all(isinstance(w, str) and w in ACCEPTED for w in what):
                answer = {"ok": False,
                          "error": f"expected {{\"reload\": [subset of {ACCEPTED}]}}"}
            else:
                answer = {"ok": True, "reloaded": await reload(tuple(what)),
                          "pid": os.getpid()}
    except GatewayError as err:  # a corrupt state file, an unusable store: say which
        log.warning("reload refused, what was in force stays in force: %s", err)
        answer = {"ok": False, "error": f"what was in force stays in force: {err}"}
    except (ValueError, TimeoutError, RecursionError) as err:
        answer = {"ok": False, "error": f"bad control request ({type(err).__name__})"}
    except Exception:  # one failure must not stop the channel; no detail may leak a value
        log.exception("control request failed")
        answer = {"ok": False, "error": "reload failed (see the gateway's log)"}
    with contextlib.suppress(OSError):
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
        writer.close()


async def start(path: Path, reload: Reloader, decide: CallDecider | None = None,
                status: StatusReader | None = None,
                peer: PeerReceiver | None = None) -> asyncio.AbstractServer:
    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
    try:
        server = await asyncio.start_unix_server(
            lambda r, w: _serve_one(r, w, reload, decide, status, peer), path=str(path),
            limit=_MAX_PEER_LINE)
    finally:
        os.umask(old_umask)
    # No chmod by name (it would follow a link planted in its place): the umask made it
    # 0600; check that what is there now is that socket.
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 \
            or info.st_uid != os.getuid():
        server.close()
        raise GatewayError(f"the control socket {path} is not this gateway's private socket")
    return server
