"""The front door's checks on a request head (server/gate.py)."""

from __future__ import annotations

import pytest

from gateway_cli.server import gate

KNOWN = frozenset({"/health", "/v1/models", "/v1/chat/completions"})


@pytest.mark.parametrize(("path", "raw", "exact"), [
    ("/v1/chat/completions", b"/v1/chat/completions", True),
    ("/v1/chat/completions", None, True),
    ("/v1/chat/completions", b"/v1/chat%2Fcompletions", False),   # decoded to the same path
    ("/v1/chat/completions", b"/v1/chat/completion%73", False),
    ("//v1/chat/completions", b"//v1/chat/completions", False),
    ("/v1/./chat/completions", b"/v1/./chat/completions", False),
    ("/V1/chat/completions", b"/V1/chat/completions", False),
    ("/v1/chat/completions/", b"/v1/chat/completions/", False),
    ("/health", b"/health", True),
    ("/health", b"/%68ealth", False),
])
def test_exact_path(path: str, raw: bytes | None, exact: bool) -> None:
    assert gate.exact_path(path, raw, KNOWN) is exact


@pytest.mark.parametrize(("host", "allowed"), [
    (b"127.0.0.1:4000", True),
    (b"127.8.9.10", True),
    (b"localhost:4000", True),
    (b"LOCALHOST.", True),
    (b"api.localhost:4000", True),
    (b"[::1]:4000", True),
    (b"[::1]", True),
    (None, True),
    (b"evil.example:4000", False),                # DNS rebinding: the page's own name
    (b"127.0.0.1.evil.example", False),
    (b"localhost.evil.example", False),
    (b"[::ffff:8.8.8.8]", False),
    (b"10.1.2.3:4000", False),
    (b"", False),
    (b"gateway.internal:4000", True),             # configured
    (b"GATEWAY.INTERNAL", True),
])
def test_host_allowed(host: bytes | None, allowed: bool) -> None:
    assert gate.host_allowed(host, ["gateway.internal"], "127.0.0.1") is allowed


def test_listen_address_is_allowed_but_not_the_unspecified_one() -> None:
    assert gate.host_allowed(b"10.1.2.3:4000", [], "10.1.2.3")
    assert not gate.host_allowed(b"0.0.0.0:4000", [], "0.0.0.0")
    assert not gate.host_allowed(b"[::]:4000", [], "::")
    assert gate.host_allowed(b"anything.example", ["*"], "127.0.0.1")


@pytest.mark.parametrize(("origin", "allowed"), [
    (None, True),
    (b"https://app.example.com", True),
    (b"https://APP.example.com/", True),
    (b"https://app.example.com:8443", False),
    (b"http://app.example.com", False),
    (b"https://evil.example", False),
    (b"null", False),                             # sandboxed frames and file:// pages
    (b"http://127.0.0.1:4000", False),            # even a loopback page must be listed
])
def test_origin_allowed(origin: bytes | None, allowed: bool) -> None:
    assert gate.origin_allowed(origin, ["https://app.example.com"]) is allowed


@pytest.mark.parametrize(("value", "json"), [
    (b"application/json", True),
    (b"Application/JSON; charset=utf-8", True),
    (b" application/json ;charset=UTF-8", True),
    (b"text/plain", False),
    (b"text/plain; charset=application/json", False),
    (b"application/x-www-form-urlencoded", False),
    (b"multipart/form-data; boundary=x", False),
    (b"application/jsonx", False),
    (b"", False),
    (None, False),
])
def test_is_json(value: bytes | None, json: bool) -> None:
    assert gate.is_json(value) is json
