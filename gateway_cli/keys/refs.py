"""Resolve the secret references in gateway.toml to the secrets themselves.

The config names where a secret lives, never the secret: `store:NAME` (the
gateway's secret store: the OS keyring or the encrypted file, as chosen with
`--secrets`; what `gateway keys add` writes), `env:NAME`, `keyring:NAME` (the
OS keyring, service "gateway") or `file:/path` (a mounted container secret).
Resolution happens once at start-up so a missing secret stops the gateway
with a clear message instead of failing the first request.

Values are wrapped in `Secret`, whose repr and str never show the value, so a
stray log line or exception message cannot leak it. Variables read through
`env:` are removed from this process's environment afterwards, so no child
process (or a poisoned dependency spawning one) inherits them.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from gateway_cli.errors import ConfigError

if TYPE_CHECKING:
    from gateway_cli.keys.store import SecretStore

KEYRING_SERVICE = "gateway"


class Secret:
    """A secret value that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(****)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))


# env: values handed over by `gateway serve` before it re-executed itself without them
# (server/env_handover.py); consulted before the environment.
_handed_over: dict[str, str] = {}


def hand_over(values: dict[str, str]) -> None:
    _handed_over.update(values)


def _from_env(name: str, owner: str) -> str:
    value = _handed_over.get(name) or os.environ.get(name)
    if not value:
        raise ConfigError(f"{owner}: secret env:{name} is not set in the environment")
    return value


MAX_SECRET_FILE = 64 * 1024
_SYSTEM_TREES = ("/proc", "/sys", "/dev")


def _from_file(path: str, owner: str) -> str:
    """A secret from a regular, private file of at most 64 KiB.

    Checked on the open descriptor before a byte is read: a FIFO would block
    start-up (or a reload) for ever, /dev/zero would read until memory runs
    out, and /proc/self/environ is not a secret file. Links are followed (a
    mounted container secret is one), but never into /proc, /sys or /dev.
    """
    real = os.path.realpath(path)
    if any(real == tree or real.startswith(tree + "/") for tree in _SYSTEM_TREES):
        raise ConfigError(f"{owner}: secret file:{path} is a system or device file; "
                          "point it at a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ConfigError(f"{owner}: secret file:{path} does not exist") from None
    except OSError as err:
        raise ConfigError(f"{owner}: secret file:{path} cannot be read "
                          f"({type(err).__name__})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ConfigError(f"{owner}: secret file:{path} is not a regular file")
    with os.fdopen(fd, "rb") as file:
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and os.name == "posix":
            raise ConfigError(f"{owner}: secret file:{path} is readable by other users; "
                              f"run: chmod 600 {path}")
        if info.st_size > MAX_SECRET_FILE:
            raise ConfigError(f"{owner}: secret file:{path} is larger than "
                              f"{MAX_SECRET_FILE // 1024} KiB; it should hold one secret")
        try:
            data = file.read(MAX_SECRET_FILE + 1)
        except OSError as err:
            raise ConfigError(f"{owner}: secret file:{path} cannot be read "
                              f"({type(err).__name__})") from None
    if len(data) > MAX_SECRET_FILE:
        raise ConfigError(f"{owner}: secret file:{path} is larger than "
                          f"{MAX_SECRET_FILE // 1024} KiB; it should hold one secret")
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{owner}: secret file:{path} cannot be read "
                          "(UnicodeDecodeError)") from None
    if not value:
        raise ConfigError(f"{owner}: secret file:{path} is empty")
    return value


def _from_keyring(name: str, owner: str) -> str:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover - keyring is a locked runtime dependency
        raise ConfigError(f"{owner}: the keyring library is not installed") from None
    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
    except KeyringError as err:
        raise ConfigError(
            f"{owner}: the OS keyring is not usable here ({type(err).__name__}); "
            "use an env: or file: reference, or start a Secret Service / unlock the keychain"
        ) from None
    if not value:
        raise ConfigError(f"{owner}: no secret named {name!r} in the OS keyring "
                          f"(service {KEYRING_SERVICE!r})")
    return value


def _from_store(name: str, owner: str, store: SecretStore | None) -> Secret:
    if store is None:
        raise ConfigError(f"{owner}: secret store:{name} needs the secret store, which is "
                          "not open here")
    value = store.get(name)
    if value is None or not value.reveal():
        raise ConfigError(f"{owner}: no secret named {name!r} in the {store.describe()}; "
                          f"add it with `gateway keys add PROVIDER --name {name}`")
    return value


def resolve(reference: str, owner: str, store: SecretStore | None = None) -> Secret:
    """The secret a reference points to; `owner` names the config entry for messages."""
    scheme, _, name = reference.partition(":")
    if scheme == "store":
        return _from_store(name, owner, store)
    if scheme == "env":
        return Secret(_from_env(name, owner))
    if scheme == "file":
        return Secret(_from_file(name, owner))
    if scheme == "keyring":
        return Secret(_from_keyring(name, owner))
    raise ConfigError(f"{owner}: unknown secret reference scheme {scheme!r}")


def scrub_environment(references: list[str]) -> None:
    """Remove the env: variables already read, so child processes never inherit them."""
    for reference in references:
        scheme, _, name = reference.partition(":")
        if scheme == "env":
            os.environ.pop(name, None)
