"""The local control channel: a 0600 Unix socket that applies rotations at once.

`gateway rotate-keys` and `gateway clients` write the new state, then ask
every running gateway to reload it over this socket; the answer comes back
once the new keys are in force. A socket rather than an HTTP admin endpoint:
no port to expose by mistake, file permissions decide who may talk, and the
peer's uid is checked as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway_cli.errors import GatewayError
from gateway_cli.keys.notify import ACCEPTED

log = logging.getLogger("gateway.control")
Reloader = Callable[[tuple[str, ...]], Awaitable[list[str]]]
_MAX_LINE = 4096


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     reload: Reloader) -> None:
    try:
        uid = _peer_uid(writer)
        if uid is not None and uid not in (os.getuid(), 0):
            answer: dict[str, object] = {"ok": False, "error": "permission denied"}
        else:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            request = json.loads(line[:_MAX_LINE] or b"{}")
            what = request.get("reload") if isinstance(request, dict) else None
            if not isinstance(what, list) or not what \
                    or not all(isinstance(w, str) and w in ACCEPTED for w in what):
                answer = {"ok": False,
                          "error": f"expected {{\"reload\": [subset of {ACCEPTED}]}}"}
            else:
                answer = {"ok": True, "reloaded": await reload(tuple(what)),
                          "pid": os.getpid()}
    except GatewayError as err:  # a corrupt state file, an unusable store: say which
        log.warning("reload refused, previous keys stay in force: %s", err)
        answer = {"ok": False, "error": f"previous keys stay in force: {err}"}
    except (ValueError, TimeoutError, RecursionError) as err:
        answer = {"ok": False, "error": f"bad control request ({type(err).__name__})"}
    except Exception:  # one failure must not stop the channel; no detail may leak a value
        log.exception("control request failed")
        answer = {"ok": False, "error": "reload failed (see the gateway's log)"}
    with contextlib.suppress(OSError):
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
        writer.close()


async def start(path: Path, reload: Reloader) -> asyncio.AbstractServer:
    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
    try:
        server = await asyncio.start_unix_server(
            lambda r, w: _serve_one(r, w, reload), path=str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server
