"""An OSV-compatible advisory service on 127.0.0.1, fed with real OSV records.

Why this exists: `gateway audit` (and pip-audit) must be tested against the
API they call in production, POST /v1/query, without reaching osv.dev. The
server answers the way api.osv.dev does: the records whose `affected` entries
match the queried PyPI release, by OSV's ECOSYSTEM range rules evaluated with
`packaging.version` (introduced / fixed / last_affected / limit, plus the
explicit `versions` lists), `{}` when nothing matches, a `next_page_token`
when a page is full, and `{"code": 3, "message": ...}` with HTTP 400 for a
query it cannot read. It uses only the standard library and `packaging`, so it
shares no code with the client under test. Faults are set per server:
`respond(...)` replaces every answer with raw bytes, `stall(seconds)` holds
each request before answering.

Usage::

    with FakeOsv(load_records()) as osv:
        run_gateway("audit", "--osv-url", osv.url, ...)
        assert osv.queries[0]["package"]["name"] == "h11"
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.fakes.loopback import LoopbackServer

JSON: TypeAlias = dict[str, Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "osv"


def load_records(directory: Path = FIXTURES) -> list[JSON]:
    """Every OSV record (*.json) stored in the fixtures directory, by file name."""
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


# ------------------------------------------------------------------ OSV matching


def _parse(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _range_includes(version: Version, events: Iterable[Mapping[str, str]]) -> bool:
    """OSV's `includes()`: walk the events in version order ("0" lowest)."""
    parsed: list[tuple[Version, str]] = []
    for event in events:
        for kind, value in event.items():
            at = Version("0") if value == "0" else _parse(value)
            if at is None:
                return False  # a range we cannot order says nothing reliable
            parsed.append((at, kind))
    limits = [at for at, kind in parsed if kind == "limit"]
    if limits and not any(version < at for at in limits):
        return False
    affected = False
    for at, kind in sorted(parsed, key=lambda p: p[0]):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def affects(record: Mapping[str, Any], name: str, version: str | None) -> bool:
    """Whether the record lists this PyPI release (any release when version is None)."""
    wanted = canonicalize_name(name)
    parsed = _parse(version) if version is not None else None
    for affected in record.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) \
                != wanted:
            continue
        if version is None or version in affected.get("versions", []):
            return True
        if parsed is None:
            continue
        for rng in affected.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and _range_includes(parsed, rng.get("events", [])):
                return True
    return False


class _BadQuery(Exception):
    pass


def _read_query(body: bytes) -> tuple[str, str | None, int]:
    try:
        query = json.loads(body)
    except ValueError:
        raise _BadQuery("Invalid query: body is not JSON") from None
    if not isinstance(query, dict):
        raise _BadQuery("Invalid query: expected a JSON object")
    package, version = query.get("package"), query.get("version")
    if not isinstance(package, dict) or not isinstance(package.get("name"), str):
        raise _BadQuery("Invalid query: package.name is required")
    if package.get("ecosystem") != "PyPI":
        raise _BadQuery("Invalid query: this fake knows the PyPI ecosystem only")
    if version is not None and not isinstance(version, str):
        raise _BadQuery("Invalid query: version must be a string")
    token = query.get("page_token") or "0"
    if not isinstance(token, str) or not token.isdigit():
        raise _BadQuery("Invalid query: bad page_token")
    return package["name"], version, int(token)


# --------------------------------------------------------------------- server


class FakeOsv:
    """The service; `url` is the /v1/query endpoint to pass as --osv-url."""

    def __init__(self, records: Iterable[JSON], *, page_size: int = 1000) -> None:
        self.records = list(records)
        self.page_size = page_size
        self.queries: list[JSON] = []
        self._raw: tuple[int, bytes, dict[str, str]] | None = None
        self._stall = 0.0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1/query"

    def respond(self, status: int, body: bytes, headers: Mapping[str, str] | None = None,
                ) -> None:
        """Answer every request with exactly this, whatever was asked."""
        self._raw = (status, body, dict(headers or {}))

    def stall(self, seconds: float) -> None:
        self._stall = seconds

    def answer(self, body: bytes) -> tuple[int, JSON]:
        """The status and JSON a real OSV API gives for this /v1/query body."""
        try:
            name, version, offset = _read_query(body)
        except _BadQuery as err:
            return 400, {"code": 3, "message": str(err)}
        with self._lock:
            self.queries.append(json.loads(body))
        matches = [r for r in self.records if affects(r, name, version)]
        page = matches[offset:offset + self.page_size]
        if not page:
            return 200, {}
        out: JSON = {"vulns": page}
        if offset + self.page_size < len(matches):
            out["next_page_token"] = str(offset + self.page_size)
        return 200, out

    def __enter__(self) -> FakeOsv:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(LoopbackServer):
    fake: FakeOsv

    def __init__(self, fake: FakeOsv) -> None:
        super().__init__(fake, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-osv"
    sys_version = ""
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent; FakeOsv.queries records what was asked."""

    def do_POST(self) -> None:
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if fake._stall and fake._stopping.wait(fake._stall):
            self.close_connection = True
            return
        if fake._raw is not None:
            status, data, headers = fake._raw
            self._send(status, data, headers)
        elif self.path == "/v1/query":
            status, obj = fake.answer(body)
            self._send(status, json.dumps(obj).encode(), {})
        else:
            self._send(404, b'{"code": 5, "message": "Not Found"}', {})

    def do_GET(self) -> None:
        """GET /v1/vulns/{id}, as osv.dev serves a single record."""
        fake = self.server.fake
        ident = self.path.removeprefix("/v1/vulns/")
        record = next((r for r in fake.records if r.get("id") == ident), None)
        if self.path.startswith("/v1/vulns/") and record is not None:
            self._send(200, json.dumps(record).encode(), {})
        else:
            self._send(404, b'{"code": 5, "message": "Bug not found."}', {})

    def _send(self, status: int, data: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
        for key, value in headers.items():
            if key != "Content-Type":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
