"""What a principal may reach on the MCP path, as scope strings.

Grammar (one scope per string; `*` is the only wildcard, any run of characters):

    mcp:<server>:<tool>              a tool            mcp:fs:read_*
    mcp:<server>:prompt/<name>       a prompt          mcp:docs:prompt/summarise
    mcp:<server>:resource/<uri>      a resource        mcp:fs:resource/file:///srv/*

`mcp:fs:*` grants everything on server `fs`; `mcp:*:*` everything on every server.
A tool pattern such as `read_*` never reaches a prompt or a resource, because
their names start with `prompt/` and `resource/`. Nothing is granted unless a
scope says so (deny by default), and a malformed scope grants nothing: `gateway
clients create --scope` and `gateway tokens issue --scope` refuse it with
`parse_scope` before it is stored. Matching is linear (no regular expression),
so a name an upstream or a client picks cannot make it slow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gateway_cli.routing.aliases import compile_pattern, glob_match

Kind = Literal["tool", "prompt", "resource"]

PREFIX = "mcp"
MAX_SCOPE = 512
MAX_SCOPES = 64  # per client key or token
# What a scope's server part may hold: configured server names are plain words.
_SERVER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*")


class ScopeError(ValueError):
    """A scope string that does not follow the grammar above."""


@dataclass(frozen=True)
class Scope:
    server: tuple[str, ...]  # glob pieces
    target: tuple[str, ...]  # glob pieces over "<tool>", "prompt/<name>" or "resource/<uri>"
    text: str


def parse_scope(text: str) -> Scope:
    """One scope string, checked; raises ScopeError naming what is wrong."""
    if not isinstance(text, str) or not text or len(text) > MAX_SCOPE:
        raise ScopeError(f"scope must be a string of 1 to {MAX_SCOPE} characters")
    if not all(0x21 <= ord(c) <= 0x7E for c in text):
        # Printable ASCII only: no whitespace, no C0/C1 controls, no bidi overrides or
        # look-alike letters that would make a listed scope read as another.
        raise ScopeError(f"scope {text!r} holds a character outside printable ASCII")
    prefix, sep, rest = text.partition(":")
    server, sep2, target = rest.partition(":")
    if prefix != PREFIX or not sep or not sep2:
        raise ScopeError(f"scope {text!r} is not of the form mcp:<server>:<tool>")
    if not server or not set(server) <= _SERVER_CHARS:
        raise ScopeError(f"scope {text!r}: server part must be a server name or a pattern")
    if not target:
        raise ScopeError(f"scope {text!r}: empty tool part (use * for every tool)")
    return Scope(compile_pattern(server), compile_pattern(target), text)


def matches(pieces: tuple[str, ...], name: str) -> bool:
    return name == pieces[0] if len(pieces) == 1 else glob_match(pieces, name)


def target_name(kind: Kind, name: str) -> str:
    """The string a scope's target part is matched against."""
    return name if kind == "tool" else f"{kind}/{name}"


def allows(scopes: Iterable[Scope], server: str, kind: Kind, name: str) -> bool:
    """Whether any scope grants `kind` `name` on `server`. No scopes: nothing."""
    target = target_name(kind, name)
    return any(matches(s.server, server) and matches(s.target, target) for s in scopes)


def check_list(texts: Iterable[str]) -> tuple[str, ...]:
    """`--scope` values as stored (each once, order kept), every one checked; ScopeError
    names the first malformed one, so nothing is stored or signed with it."""
    out = tuple(dict.fromkeys(texts))
    if len(out) > MAX_SCOPES:
        raise ScopeError(f"at most {MAX_SCOPES} scopes")
    for text in out:
        parse_scope(text)
    return out


def parse_scopes(texts: Iterable[str]) -> tuple[Scope, ...]:
    return tuple(parse_scope(t) for t in texts)
