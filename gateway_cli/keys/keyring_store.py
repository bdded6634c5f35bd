"""The secret store backed by the OS keyring (Secret Service, macOS Keychain, Windows).

The `keyring` library happily "works" on machines without a real keyring:
it picks a backend that fails on every call, a null backend that stores
nothing, or (with keyrings.alt installed) one that writes secrets to a
plain-text file. `open_keyring` accepts only a backend that would actually
protect a secret and that answers a harmless lookup, and says why otherwise,
so `--secrets auto` can move on to the encrypted file with a clear reason.

Failures from the library and from D-Bus underneath it are reported by
exception type only: their messages are not ours to vouch for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from keyring.backend import KeyringBackend

from gateway_cli.keys.refs import KEYRING_SERVICE, Secret
from gateway_cli.keys.store import StoreError

PROBE_NAME = "__probe__"
T = TypeVar("T")


class KeyringUnavailable(StoreError):
    """The OS keyring cannot be used here; `reason` is short enough to quote in another message."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the OS keyring is not usable here ({reason}); use the encrypted file "
                         "store: --secrets file with --passphrase-fd N or --passphrase-file PATH")


def backend_errors() -> tuple[type[BaseException], ...]:
    """What a keyring call can raise besides bugs: the library's errors and D-Bus's below it."""
    from keyring.errors import KeyringError

    errors: list[type[BaseException]] = [KeyringError, OSError, EOFError]
    try:
        from secretstorage.exceptions import SecretStorageException

        errors.append(SecretStorageException)
    except ImportError:  # pragma: no cover - secretstorage is only installed on Linux
        pass
    try:
        from jeepney import DBusErrorResponse  # type: ignore[import-untyped]

        errors.append(DBusErrorResponse)
    except ImportError:  # pragma: no cover - jeepney is only installed on Linux
        pass
    return tuple(errors)


def backend_name(backend: KeyringBackend) -> str:
    """A name people recognise: keyring calls most of its classes just "Keyring"."""
    cls = type(backend)
    if cls.__name__ == "Keyring":
        return cls.__module__.rsplit(".", 1)[-1]
    return cls.__name__


def service_for(home: Path | None) -> str:
    """The keyring service of a state directory's store.

    The keyring is one per user, state directories can be many (a test or a
    second gateway with its own GATEWAY_HOME): each gets its own service so
    rotating one never rotates the other. The default directory keeps the
    plain name, which `keyring:NAME` references also use.
    """
    from gateway_cli.keys.home import default_home

    if home is None or home.absolute() == default_home().absolute():
        return KEYRING_SERVICE
    return f"{KEYRING_SERVICE}@{home.absolute()}"


class KeyringStore:
    """A `SecretStore` over one keyring backend; item names are the store names."""

    kind = "keyring"

    def __init__(self, backend: KeyringBackend, service: str = KEYRING_SERVICE) -> None:
        self._backend = backend
        self._errors = backend_errors()
        self.service = service

    def __repr__(self) -> str:
        return f"KeyringStore({backend_name(self._backend)})"

    def describe(self) -> str:
        return f"OS keyring ({backend_name(self._backend)})"

    def get(self, name: str) -> Secret | None:
        value = self._call("read", name, lambda: self._backend.get_password(self.service,
                                                                           name))
        return Secret(value) if value else None

    def put(self, name: str, value: Secret) -> None:
        if not isinstance(value, Secret) or not value.reveal():
            raise StoreError(f"refusing to store an empty secret as {name!r}")
        self._call("write", name,
                   lambda: self._backend.set_password(self.service, name, value.reveal()))

    def delete(self, name: str) -> bool:
        """Looks first because backends report "not there" and "could not delete" alike."""
        if self.get(name) is None:
            return False
        return self._call("delete", name, lambda: _delete(self._backend, self.service, name))

    def _call(self, action: str, name: str, call: Callable[[], T]) -> T:
        if not isinstance(name, str) or not name:
            raise StoreError("a secret name must be a non-empty string")
        try:
            return call()
        except self._errors as err:
            raise StoreError(
                f"the OS keyring ({backend_name(self._backend)}) could not {action} {name!r} "
                f"({type(err).__name__}); unlock the keyring or use --secrets file") from None


def _delete(backend: KeyringBackend, service: str, name: str) -> bool:
    from keyring.errors import PasswordDeleteError

    try:
        backend.delete_password(service, name)
    except PasswordDeleteError:  # removed by someone else since we looked
        return False
    return True


def open_keyring(home: Path | None = None) -> KeyringStore:
    """The OS keyring as the store of `home`, or `KeyringUnavailable` saying why it cannot
    be one."""
    return KeyringStore(usable_backend(), service_for(home))


def usable_backend() -> KeyringBackend:
    """The backend keyring would use, if it really keeps secrets safe here and answers."""
    import keyring
    from keyring.backends import chainer

    backend = keyring.get_keyring()
    if isinstance(backend, chainer.ChainerBackend):
        backend = _unchain(list(backend.backends))
    _refuse_unsafe(backend)
    name = backend_name(backend)
    errors: tuple[type[BaseException], ...] = (*backend_errors(), RuntimeError)
    try:
        priority = float(type(backend).priority)
        backend.get_password(KEYRING_SERVICE, PROBE_NAME)
    except errors as err:  # RuntimeError: how keyring's priority checks fail
        raise KeyringUnavailable(f"{name} does not answer: {type(err).__name__}") from None
    if priority <= 0:
        raise KeyringUnavailable(f"{name} has priority {priority:g}, too low to trust")
    return backend


def _unchain(backends: list[KeyringBackend]) -> KeyringBackend:
    """The best chained backend that is not plain text, so a write never lands in one."""
    safe = [backend for backend in backends if not _is_plaintext(backend)]
    if safe:
        return safe[0]
    if backends:
        raise KeyringUnavailable("only plain-text keyring backends (keyrings.alt) are "
                                 "installed; they are refused")
    raise KeyringUnavailable(_no_backend_reason())


def _refuse_unsafe(backend: KeyringBackend) -> None:
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | chainer.ChainerBackend):
        raise KeyringUnavailable(_no_backend_reason())
    if isinstance(backend, null.Keyring):
        raise KeyringUnavailable("the keyring is disabled (null backend)")
    if _is_plaintext(backend):
        raise KeyringUnavailable(f"{type(backend).__module__}.{type(backend).__name__} keeps "
                                 "secrets in plain text; it is refused")


def _is_plaintext(backend: KeyringBackend) -> bool:
    """Every keyrings.alt backend counts: none of them is protected by the OS login."""
    module = type(backend).__module__
    return module == "keyrings.alt" or module.startswith("keyrings.alt.")


def _no_backend_reason() -> str:
    """Name the usual cause on Linux, unless a Secret Service is there and merely not chosen."""
    if sys.platform.startswith("linux") and not _secret_service_answers():
        return "no Secret Service on the session bus"
    return "no keyring backend is available (fail backend)"


def _secret_service_answers() -> bool:
    from keyring.backends import SecretService

    errors: tuple[type[BaseException], ...] = (*backend_errors(), RuntimeError)
    try:
        return float(SecretService.Keyring.priority) > 0
    except errors:
        return False
