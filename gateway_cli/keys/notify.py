"""Tell every gateway running from this state directory to reload its keys.

Each running gateway listens on its own Unix socket in `<home>/run/` (0600,
in a 0700 directory, peer uid checked), so a rotation reaches all local
instances at once and no other user can trigger or spoof one. A socket whose
process is gone is removed on the way.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

RUN_DIR = "run"
MAX_REPLY = 64 * 1024  # a gateway's answer is one short line
WHAT = ("clients", "signing", "secrets")
# Also accepted: "runs", the leases of `gateway run` tokens (renewed every few seconds,
# so never part of a default reload), and "config", gateway.toml (`gateway reload`).
ACCEPTED = (*WHAT, "runs", "config")
# How a gateway that serves the client-key table shared through Redis reports a "clients"
# reload: it read that table, not clients.json (the CLI warns a change made without it).
SHARED_CLIENTS = "clients from the shared table"


@dataclass(frozen=True)
class Notified:
    socket: str
    ok: bool
    detail: str
    seconds: float


def run_dir(home: Path) -> Path:
    path = home / RUN_DIR
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def notify_all(home: Path, what: tuple[str, ...] = WHAT,
               timeout: float = 5.0) -> list[Notified]:
    results = []
    directory = home / RUN_DIR
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.sock")):
        start = time.perf_counter()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(timeout)
                conn.connect(str(path))
                conn.sendall(json.dumps({"reload": list(what)}).encode() + b"\n")
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
                    if len(reply) > MAX_REPLY:
                        raise ValueError("reply too long")
            answer = json.loads(reply or b"{}")
            ok = bool(answer.get("ok"))
            detail = "reloaded " + ", ".join(answer.get("reloaded", [])) if ok \
                else str(answer.get("error", "no answer"))
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):
                path.unlink()  # the gateway that owned it is gone
            continue
        except (OSError, ValueError) as err:
            ok, detail = False, f"no usable answer ({type(err).__name__})"
        results.append(Notified(path.name, ok, detail, time.perf_counter() - start))
    return results


def socket_path(home: Path, pid: int | None = None) -> Path:
    """The control socket of the gateway process `pid` (default: this one)."""
    return run_dir(home) / f"gateway-{os.getpid() if pid is None else pid}.sock"
