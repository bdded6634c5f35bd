"""The front door's checks on a request's head, before any handler or router sees it.

Pure functions over the ASGI scope's parts, so each rule is tested alone and
`Front` stays a short sequence of decisions:

- the path must be one of the gateway's own, spelled exactly (no encoded or
  repeated slashes, no dot segments, no absolute form): a router that
  normalises paths behind a gate that does not is how `//v1/...` once
  reached a handler without a key;
- the Host must name this machine's loopback or a configured name, so a web
  page that rebinds its own DNS name to 127.0.0.1 cannot reach a local
  gateway;
- a browser Origin must be configured, so a page the user visits cannot POST
  to a local gateway cross-site;
- JSON endpoints take `application/json` only: `text/plain` and form bodies
  are what a browser may send cross-site without asking first.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

# RFC 6761: browsers resolve these to loopback themselves, never through DNS.
_LOOPBACK_NAMES = ("localhost",)


def exact_path(path: str, raw_path: bytes | None, known: frozenset[str]) -> bool:
    """True when the request names one of `known` in its one canonical spelling.

    `raw_path` is what the client sent before percent-decoding; a path that
    needed decoding (`/%2Fv1/...`) or has a query marker inside is not exact.
    """
    if path not in known:
        return False
    return raw_path is None or raw_path == path.encode()


MODEL_PATH = "/v1/models/{id}"
_MODEL_PREFIX = "/v1/models/"


def model_id(path: str, raw_path: bytes | None) -> str | None:
    """The model id of a `GET /v1/models/{id}` path, or None for any other path.

    Model ids may hold `/` (`mock/echo`) and SDKs differ on percent-encoding it, so the
    id is the whole decoded rest of the path; only the prefix must be spelled exactly.
    The id is only ever looked up in the model table, never routed on.
    """
    if not path.startswith(_MODEL_PREFIX) or len(path) == len(_MODEL_PREFIX):
        return None
    if raw_path is not None and not raw_path.startswith(_MODEL_PREFIX.encode()):
        return None
    return path[len(_MODEL_PREFIX):]


def host_name(value: bytes) -> str:
    """The host part of a Host header, lower-case, without port or a trailing dot."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        end = text.find("]")
        return text[:end + 1] if end > 0 else text
    name, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        text = name
    return text[:-1] if text.endswith(".") else text


@functools.lru_cache(maxsize=256)  # every request's Host: parsed once per name, not each time
def _is_loopback_literal(name: str) -> bool:
    literal = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return ipaddress.ip_address(literal).is_loopback
    except ValueError:
        return False


def is_loopback_address(address: str) -> bool:
    """Whether a peer address (the ASGI scope's client) is this machine's loopback;
    an IPv4-mapped IPv6 form (::ffff:127.0.0.1) counts."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _is_unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def host_allowed(value: bytes | None, allowed: Iterable[str], listen_host: str) -> bool:
    """Loopback names and addresses, the listening address, and configured names.

    A request with no Host at all (HTTP/1.0 tools) is not a browser's and is
    let through; every browser request carries one.
    """
    if value is None:
        return True
    name = host_name(value)
    if name in _LOOPBACK_NAMES or name.endswith(".localhost") or _is_loopback_literal(name):
        return True
    listen = listen_host.lower()
    if name in (listen, f"[{listen}]") and not _is_unspecified(listen):
        return True
    return any(entry == "*" or entry.lower() == name for entry in allowed)


def origin_allowed(value: bytes | None, allowed: Iterable[str]) -> bool:
    """No Origin (not a browser, or a same-origin GET) passes; any other must be listed."""
    if value is None:
        return True
    origin = value.decode("latin-1").strip().lower().rstrip("/")
    return any(entry.lower().rstrip("/") == origin for entry in allowed)


def is_json(content_type: bytes | None) -> bool:
    """`application/json`, with or without parameters such as charset."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json"
