"""A hostile upstream: answers every request with exactly the bytes it is given.

FakeUpstream speaks the providers' formats faithfully; this one speaks whatever
a test hands it (a 200 that is not JSON, an object with a key twice, a stream
whose events are malformed), to show the gateway never relays what it could
not read. It records each request's head and body.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress
from types import TracebackType


class RawUpstream:
    def __init__(self, status: int = 200, body: bytes = b"{}",
                 content_type: bytes = b"application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = b""
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def answer(self, status: int, body: bytes, content_type: bytes = b"application/json",
               headers: bytes = b"") -> None:
        """`headers`: extra raw header lines, each ending in CRLF."""
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
            self.requests.append(head + b"\r\n\r\n" + rest)
            conn.sendall(b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                         b"connection: close\r\n%s\r\n%s"
                         % (self.status, self.content_type, len(self.body), self.headers,
                            self.body))

    def __enter__(self) -> RawUpstream:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=5)
