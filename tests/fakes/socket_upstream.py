"""An upstream on a raw socket whose every connection a test scripts byte for byte.

RawUpstream answers one request per connection; the gateway's own HTTP client keeps
connections alive, drops them, caps them and streams over them, which only shows on a
server that sees the connections: this one counts them (open now, most at once) and
hands each to `serve(conn, upstream)` on its own thread, with helpers to read a request
and to answer.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType

Serve = Callable[[socket.socket, "SocketUpstream"], None]

CHAT = (b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":'
        b'[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":'
        b'"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}')


def sse_event(text: str) -> bytes:
    return (b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'
            b'"model":"m","choices":[{"index":0,"delta":{"content":"%s"},'
            b'"finish_reason":null}]}\n\n' % text.encode())


def answer(body: bytes, *, status: int = 200, headers: bytes = b"",
           content_type: bytes = b"application/json") -> bytes:
    """A Content-Length answer; `headers`: raw extra lines, each ending in CRLF."""
    return (b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s"
            % (status, content_type, len(body), headers, body))


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class SocketUpstream:
    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.events: list[str] = []  # what `serve` noted, in order
        self.lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
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
        with self.lock:
            self.connections += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            with conn, suppress(OSError):
                conn.settimeout(10)
                self.serve(conn, self)
        finally:
            with self.lock:
                self.open -= 1

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (head and Content-Length body), or None when the peer closed."""
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return None
            data += more
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            more = conn.recv(65536)
            if not more:
                return None
            rest += more
        request = head + b"\r\n\r\n" + rest
        with self.lock:
            self.requests.append(request)
        return request

    def note(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def __enter__(self) -> SocketUpstream:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=5)


def close_with_answer(conn: socket.socket, raw: bytes) -> None:
    """Send `raw` and close, the answer and the FIN in one segment (TCP_CORK holds the
    data until the close), as a server does that closes a connection after each answer
    without saying so: the client's next request on it must not be its first sign."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    conn.sendall(raw)
    conn.close()
