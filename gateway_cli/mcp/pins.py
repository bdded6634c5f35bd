"""Definition pinning: what a person approved, as a signed file, and how a live list compares.

`gateway mcp approve` records, per tool, the SHA-256 of its canonical
definition (name, title, description, input and output schema, annotations)
and the definition itself, and the same for each prompt (name, title,
description, arguments), resource (uri, name, title, description, mimeType,
annotations) and resource template (the same with uriTemplate), so
`gateway mcp diff` can show what changed, in
`<home>/mcp/pins/<server>.json`, with an HMAC over the whole file keyed by a
key that lives in the secret store, not beside the file. An edited file (a
tool's hash replaced to re-trust a changed description) fails the MAC and
the server is served with no tool at all until re-approved: a pin that
cannot be trusted is refused, never re-trusted.

A tool (prompt, resource) is served only when its live definition hashes to
its pin. A changed, added or removed one is drift; a list naming one twice is
drift for that name (an upstream must not show two definitions under one
name). A pin file written before prompts and resources were pinned has none:
they are drift ("added") until the server is approved again.

Pure except `load`/`save`, which read and write the file.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import hmac
import json
import secrets as _secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from gateway_cli.errors import GatewayError
from gateway_cli.formats import sorted_json
from gateway_cli.keys.home import write_private
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import SecretStore

FORMAT = "gateway-mcp-pins/1"
KEY_ITEM = "gateway-mcp-pins"
PINNED_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
Section = Literal["tools", "prompts", "resources", "resourceTemplates"]
SECTIONS: tuple[Section, ...] = ("tools", "prompts", "resources", "resourceTemplates")
# Per section: the field that names an item, and the fields pinned (what a model is told
# and what it may send; never a size or anything else that changes with the content).
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tools": ("name", PINNED_FIELDS),
    "prompts": ("name", ("name", "title", "description", "arguments")),
    "resources": ("uri", ("uri", "name", "title", "description", "mimeType", "annotations")),
    "resourceTemplates": ("uriTemplate", ("uriTemplate", "name", "title", "description",
                                          "mimeType", "annotations")),
}


class PinError(GatewayError):
    """A pin file that cannot be trusted: tampered, signed by an unknown key, malformed."""


# One encoder for every call: json.dumps with these options makes a new JSONEncoder each
# time, which was a third of a tool call's argument digest; the bytes are the same.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# msgspec writes json's bytes here for strings, integers, lists and objects with string
# keys, several times faster (a tool call's argument digest is on every call). Floats
# differ outside 1e-4 <= |x| < 1e16 (json's exponent form) and NaN or infinity, a lone
# surrogate or a non-string key makes msgspec refuse: those values take json's own path,
# so the bytes are always json's (tests/unit/mcp/test_canonical_fast.py compares them).
_FAST = sorted_json.ENCODE


def canonical(value: object) -> bytes:
    if sorted_json.fast_safe(value):
        try:
            return _FAST(value)
        except (TypeError, ValueError, UnicodeError, msgspec.EncodeError):
            pass
    return _CANONICAL.encode(value).encode("utf-8", "surrogatepass")




def definition(item: Mapping[str, Any], section: Section = "tools") -> dict[str, Any]:
    """The parts of an item that decide what a model is told and what it may send."""
    return {name: item[name] for name in FIELDS[section][1] if name in item}


def digest(item: Mapping[str, Any], section: Section = "tools") -> str:
    return hashlib.sha256(canonical(definition(item, section))).hexdigest()


def key_of(item: Mapping[str, Any], section: Section = "tools") -> str:
    return str(item.get(FIELDS[section][0]))


Entries = dict[str, dict[str, Any]]  # name -> {"sha256": ..., "definition": {...}}


@dataclass(frozen=True)
class Pins:
    server: str
    tools: Entries
    approved: str  # when, ISO 8601 UTC
    prompts: Entries = field(default_factory=dict)
    resources: Entries = field(default_factory=dict)
    resourceTemplates: Entries = field(default_factory=dict)  # the MCP name

    def section(self, section: Section) -> Entries:
        return dict(getattr(self, section))

    def hashes(self, section: Section = "tools") -> dict[str, str]:
        return {name: str(entry["sha256"]) for name, entry in self.section(section).items()}


@dataclass(frozen=True)
class Drift:
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.changed or self.added or self.removed)


def _names(items: Sequence[Mapping[str, Any]], section: Section) -> Counter[str]:
    return Counter(key_of(t, section) for t in items)


def served(pins: Pins | None, items: Sequence[Mapping[str, Any]],
           section: Section = "tools") -> list[Mapping[str, Any]]:
    """The live items that match their pin exactly; nothing without (trusted) pins."""
    if pins is None:
        return []
    hashes = pins.hashes(section)
    counts = _names(items, section)
    return [t for t in items if counts[key_of(t, section)] == 1
            and hashes.get(key_of(t, section)) == digest(t, section)]


def compare(pins: Pins | None, items: Sequence[Mapping[str, Any]],
            section: Section = "tools") -> Drift:
    hashes = pins.hashes(section) if pins is not None else {}
    counts = _names(items, section)
    live = {key_of(t, section): t for t in items}
    changed = sorted(n for n, t in live.items()
                     if n in hashes and (counts[n] > 1 or hashes[n] != digest(t, section)))
    added = sorted(n for n in live if n not in hashes)
    removed = sorted(n for n in hashes if n not in live)
    return Drift(tuple(changed), tuple(added), tuple(removed))


def diff_text(pins: Pins | None, items: Sequence[Mapping[str, Any]],
              section: Section = "tools") -> list[str]:
    """A unified diff per drifted item, of its pinned and live definitions."""
    drift = compare(pins, items, section)
    pinned = {n: e["definition"] for n, e in (pins.section(section).items() if pins else ())}
    live = {key_of(t, section): definition(t, section) for t in items}
    prefix = "" if section == "tools" else f"{section}/"
    out: list[str] = []
    for name in (*drift.changed, *drift.added, *drift.removed):
        before = json.dumps(pinned.get(name), indent=2, sort_keys=True,
                            ensure_ascii=False).splitlines() if name in pinned else []
        after = json.dumps(live.get(name), indent=2, sort_keys=True,
                           ensure_ascii=False).splitlines() if name in live else []
        out += list(difflib.unified_diff(before, after, f"approved/{prefix}{name}",
                                         f"live/{prefix}{name}", lineterm=""))
    return out


def _entries(server: str, items: Sequence[Mapping[str, Any]], section: Section) -> Entries:
    counts = _names(items, section)
    twice = sorted(n for n, c in counts.items() if c > 1)
    if twice:
        what = {"tools": "tool", "prompts": "prompt", "resources": "resource",
                "resourceTemplates": "resource template"}[section]
        raise PinError(f"server {server!r} lists {what} {twice[0]!r} more than once: "
                       "refusing to approve an ambiguous list")
    return {key_of(t, section): {"sha256": digest(t, section),
                                 "definition": definition(t, section)} for t in items}


def make(server: str, tools: Sequence[Mapping[str, Any]], approved: str,
         others: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> Pins:
    """Pins of `tools` and of `others` (prompts, resources, resourceTemplates by section)."""
    others = others or {}
    return Pins(server, _entries(server, tools, "tools"), approved,
                **{s: _entries(server, others.get(s, ()), s) for s in SECTIONS[1:]})


# -- the signing key and the file ----------------------------------------------------------


def _decode_key(secret: Secret) -> tuple[str, bytes]:
    try:
        raw = json.loads(secret.reveal())
        return str(raw["kid"]), base64.b64decode(raw["key"])
    except (ValueError, KeyError, TypeError):
        raise PinError(f"the pin key {KEY_ITEM!r} in the secret store is malformed") from None


def pin_key(store: SecretStore | None, *, create: bool = False) -> tuple[str, bytes] | None:
    """(kid, key) from the secret store; made on first approval when `create`."""
    if store is None:
        return None
    secret = store.get(KEY_ITEM)
    if secret is not None:
        return _decode_key(secret)
    if not create:
        return None
    kid = f"p{_secrets.token_hex(6)}"
    key = _secrets.token_bytes(32)
    store.put(KEY_ITEM, Secret(json.dumps({"kid": kid, "key": base64.b64encode(key).decode()})))
    return kid, key


def pins_dir(home: Path) -> Path:
    return home / "mcp" / "pins"


def pin_path(home: Path, server: str) -> Path:
    return pins_dir(home) / f"{server}.json"


def _mac(key: bytes, body: Mapping[str, object]) -> str:
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def encode(pins: Pins, key: tuple[str, bytes]) -> bytes:
    kid, secret = key
    body: dict[str, object] = {"format": FORMAT, "server": pins.server,
                               "approved": pins.approved, "kid": kid,
                               **{s: pins.section(s) for s in SECTIONS}}
    return json.dumps({**body, "mac": _mac(secret, body)}, indent=1, sort_keys=True,
                      ensure_ascii=False).encode() + b"\n"


def decode(data: bytes, server: str, key: tuple[str, bytes] | None) -> Pins:
    """The pins in `data` after checking the MAC; PinError when they cannot be trusted."""
    if key is None:
        raise PinError(f"no pin key in the secret store: the pins of {server!r} cannot be "
                       "checked (approve the server again with the gateway's secret store)")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise PinError(f"the pin file of {server!r} is not JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("mac"), str):
        raise PinError(f"the pin file of {server!r} is not a signed pin file")
    mac = raw.pop("mac")
    kid, secret = key
    if raw.get("kid") != kid or not hmac.compare_digest(_mac(secret, raw), mac):
        raise PinError(f"the pin file of {server!r} fails its signature check (edited, or "
                       "signed with another key): its tools are not served until "
                       f"`gateway mcp approve {server}` is run again")
    sections = {s: raw.get(s, {} if s != "tools" else None) for s in SECTIONS}
    if raw.get("format") != FORMAT or raw.get("server") != server or not all(
            isinstance(entries, dict) and all(
                isinstance(e, dict) and isinstance(e.get("sha256"), str)
                for e in entries.values()) for entries in sections.values()):
        raise PinError(f"the pin file of {server!r} is for another server or format")
    return Pins(server, approved=str(raw.get("approved", "")), **sections)  # type: ignore[arg-type]


def load(home: Path, server: str, key: tuple[str, bytes] | None) -> Pins | None:
    """The server's trusted pins; None when never approved; PinError when untrustworthy."""
    path = pin_path(home, server)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise PinError(f"the pin file {path} cannot be read ({err.strerror})") from None
    return decode(data, server, key)


def save(home: Path, pins: Pins, key: tuple[str, bytes]) -> Path:
    path = pin_path(home, pins.server)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, encode(pins, key))
    return path
