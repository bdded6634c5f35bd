"""The client headers a request carries on: a list header on several lines is one value."""

from __future__ import annotations

from gateway_cli.providers.wire import ProviderWire, client_headers, headers_for


def wire(kind: str) -> ProviderWire:
    return ProviderWire("p", kind, "http://127.0.0.1:1", None, "2023-06-01", ())


def test_a_beta_header_on_two_lines_keeps_both_betas() -> None:
    raw = [(b"host", b"x"), (b"anthropic-beta", b"a-2025-01-01"),
           (b"content-type", b"application/json"), (b"anthropic-beta", b"b-2026-01-01,c")]
    merged = client_headers(raw)
    assert merged[b"anthropic-beta"] == b"a-2025-01-01,b-2026-01-01,c"
    assert headers_for(wire("anthropic"), None, merged)["anthropic-beta"] == \
        "a-2025-01-01,b-2026-01-01,c"
    merged = client_headers([(b"openai-beta", b"assistants=v2"), (b"openai-beta", b"x=1")])
    assert headers_for(wire("openai"), None, merged)["openai-beta"] == "assistants=v2,x=1"


def test_other_headers_and_single_lines_are_as_sent() -> None:
    raw = [(b"anthropic-beta", b"only"), (b"x-other", b"1"), (b"x-other", b"2")]
    assert client_headers(raw) == {b"anthropic-beta": b"only", b"x-other": b"2"}
    assert client_headers(iter(raw)) == client_headers(raw)  # any iterable, read once
    assert client_headers([]) == {}
