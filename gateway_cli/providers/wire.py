"""Where each provider kind wants a request and how it wants it signed.

Pure: from the provider's settings, the operation and the body, build the
URL and headers of the upstream request. The client's own credentials are
never forwarded (they are gateway credentials); only a short allow-list of
client headers that change the upstream's behaviour is passed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from gateway_cli.keys.refs import Secret
from gateway_cli.providers.operations import Op

_OPENAI_PATHS = {Op.CHAT: "/chat/completions", Op.EMBEDDINGS: "/embeddings",
                 Op.RESPONSES: "/responses"}
_AZURE_PATHS = {Op.CHAT: "chat/completions", Op.EMBEDDINGS: "embeddings"}
_ANTHROPIC_PATHS = {Op.MESSAGES: "/v1/messages", Op.COUNT_TOKENS: "/v1/messages/count_tokens"}

# Client headers worth forwarding: they select API behaviour, carry no credential.
_FORWARD = {
    "openai": (b"openai-beta",),
    "anthropic": (b"anthropic-beta",),
}


_LISTS = tuple(name for names in _FORWARD.values() for name in names)


def client_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The client's headers by name. A forwarded list header sent on several lines
    (`anthropic-beta: a` then `anthropic-beta: b`, as RFC 9110 allows) is one
    comma-separated value, so no beta the client named is dropped on the way."""
    raw = list(raw)
    headers = dict(raw)
    for name in _LISTS:
        if name in headers:
            values = [value for key, value in raw if key == name]
            if len(values) > 1:
                headers[name] = b",".join(values)
    return headers


class Unsupported(Exception):
    """This provider kind has no endpoint for the operation."""


@dataclass(frozen=True)
class ProviderWire:
    name: str
    kind: str
    base_url: str
    api_version: str | None
    anthropic_version: str
    extra_headers: tuple[tuple[bytes, bytes], ...]


def url_for(wire: ProviderWire, op: Op, upstream_model: str) -> str:
    if wire.kind == "azure":
        path = _AZURE_PATHS.get(op)
        if path is None:
            raise Unsupported(f"provider {wire.name!r} (azure) does not serve {op.value}")
        return (f"{wire.base_url}/openai/deployments/{quote(upstream_model, safe='')}/{path}"
                f"?api-version={quote(wire.api_version or '', safe='')}")
    if wire.kind == "anthropic":
        path = _ANTHROPIC_PATHS.get(op)
        if path is None:
            raise Unsupported(f"provider {wire.name!r} (anthropic) does not serve {op.value}")
        return wire.base_url + path
    path = _OPENAI_PATHS.get(op)
    if path is None:
        raise Unsupported(f"provider {wire.name!r} ({wire.kind}) does not serve {op.value}")
    return wire.base_url + path


def headers_for(wire: ProviderWire, secret: Secret | None,
                client_headers: Mapping[bytes, bytes]) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    for name, value in wire.extra_headers:
        headers[name.decode()] = value.decode()
    family = "anthropic" if wire.kind == "anthropic" else "openai"
    for name in _FORWARD[family]:
        if name in client_headers:
            headers[name.decode()] = client_headers[name].decode("latin-1")
    if wire.kind == "anthropic":
        client_version = client_headers.get(b"anthropic-version")
        headers["anthropic-version"] = client_version.decode("latin-1") if client_version \
            else wire.anthropic_version
        if secret is not None:
            headers["x-api-key"] = secret.reveal()
    elif wire.kind == "azure":
        if secret is not None:
            headers["api-key"] = secret.reveal()
    elif secret is not None:
        headers["authorization"] = "Bearer " + secret.reveal()
    return headers
