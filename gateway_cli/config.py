"""The gateway.toml schema and its loader.

The schema is a tree of frozen msgspec Structs: decoding validates types,
ranges and unknown keys in one pass, and the resulting objects are immutable,
so the request path can share them without locks. Every field has a safe
default, so no config file at all is a valid configuration (loopback only,
the built-in mock model).

Validation errors are rewritten into one line that names the key, the value
found and what was expected, e.g.
``gateway.toml: server.port = 70000: expected an integer <= 65535``.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from gateway_cli.errors import ConfigError

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for config sections: unknown keys are typos, and typos are errors."""


class ServerConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    host: str = DEFAULT_HOST
    port: Port = DEFAULT_PORT
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024**3)] = DEFAULT_MAX_BODY_BYTES
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class MockConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """The built-in mock provider: always available, never leaves the process."""

    enabled: bool = True


class Config(_Strict, frozen=True, forbid_unknown_fields=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    mock: MockConfig = msgspec.field(default_factory=MockConfig)


_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_EXPECTED_RE = re.compile(r"^Expected `(?P<what>[^`]*)`(?P<rest>.*?)(, got `(?P<got>[^`]*)`)?$")


def _lookup(raw: Any, dotted: str) -> tuple[bool, Any]:
    """Find the raw value at a msgspec path like ``.server.port`` or ``.models[0].name``."""
    node = raw
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", dotted):
        key, index = part
        try:
            node = node[key] if key else node[int(index)]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _choices(path: str) -> tuple[Any, ...]:
    """The allowed values of the Literal field at a msgspec path, for error messages."""
    node: Any = Config
    for key, _index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        if not key:
            args = typing.get_args(node)
            node = args[0] if args else node
            continue
        hints = typing.get_type_hints(node, include_extras=True) if isinstance(node, type) else {}
        node = hints.get(key)
        while typing.get_origin(node) is Annotated:
            node = typing.get_args(node)[0]
    return typing.get_args(node) if typing.get_origin(node) is Literal else ()


def _describe(err: msgspec.ValidationError, raw: dict[str, Any], source: str) -> str:
    message = str(err)
    path = ""
    m = _PATH_RE.search(message)
    if m:
        path = m.group("path")
        message = message[: m.start()]
    key = path.lstrip(".") or "(top level)"
    unknown = re.match(r"Object contains unknown field `([^`]*)`", message)
    if unknown:
        full = f"{key}.{unknown.group(1)}" if path else unknown.group(1)
        return f"{source}: unknown key '{full}' (check the spelling; see gateway.example.toml)"
    missing = re.match(r"Object missing required field `([^`]*)`", message)
    if missing:
        full = f"{key}.{missing.group(1)}" if path else missing.group(1)
        return f"{source}: missing required key '{full}'"
    found, value = _lookup(raw, path)
    shown = repr(value) if found and not isinstance(value, dict | list) else "a table/array"
    expected = message
    e = _EXPECTED_RE.match(message)
    if e:
        expected = f"expected {e.group('what')}{e.group('rest')}"
    elif message.startswith("Invalid enum value"):
        choices = _choices(path)
        expected = f"expected one of {', '.join(map(repr, choices))}" if choices else message
    return f"{source}: {key} = {shown}: {expected}"


def parse_config(raw: dict[str, Any], source: str = "gateway.toml") -> Config:
    """Validate an already-parsed TOML document (pure: no file access)."""
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as err:
        raise ConfigError(_describe(err, raw, source)) from None


def load_config(path: Path | None) -> Config:
    """Load gateway.toml, or the defaults when no path is given."""
    if path is None:
        return Config()
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{source}: permission denied reading the config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text; a config file is TOML") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from None
    return parse_config(raw, source)
