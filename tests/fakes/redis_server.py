"""A real redis-server on a free loopback port, in a temp dir, with no persistence.

Started by the tests that need shared state (the limits stores, two gateways
sharing limits) and killed at the end; `pause`/`resume` freeze it to show
what a hung server does. The password, when there is one, goes in a 0600
config file, never in argv.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import free_port, require_program


class RedisServer:
    def __init__(self, exe: str, workdir: Path, password: str | None = None) -> None:
        self.exe, self.workdir, self.password = exe, workdir, password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.workdir / "redis.conf"
        lines = ['save ""', "appendonly no", f"port {self.port}", "bind 127.0.0.1",
                 f"dir {self.workdir}"]
        if self.password:
            lines.append(f"requirepass {self.password}")  # in a 0600 file, not in argv
        config.write_text("\n".join(lines) + "\n")
        config.chmod(0o600)
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen([self.exe, str(config)], stdout=log,
                                        stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (self.workdir / "redis.log").read_text()
                raise RuntimeError(f"redis-server exited: {text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if s.recv(64):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def redis_running(tmp: Path, password: str | None = None) -> Iterator[RedisServer]:
    server = RedisServer(require_program("redis-server"), tmp, password)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.resume()
        server.stop()
