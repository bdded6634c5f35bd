"""Where `gateway keys` keeps provider secrets: the OS keyring or an encrypted file.

A desktop has a keyring that is unlocked at login, so secrets there need no
passphrase. A headless server usually has none, and there the store is one
passphrase-encrypted file. `open_store` picks between them, and it never
falls back to anything that would keep a secret in plain text: when neither
backend can be used the caller gets a `StoreError` that says what to pass.

Backends are imported lazily so a file-only setup never loads the keyring
library and a keyring-only setup never derives a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from gateway_cli.errors import GatewayError
from gateway_cli.keys.refs import Secret

DEFAULT_FILE_NAME = "secrets.enc"
HEADLESS_HINT = ("on a headless server use the encrypted file store: "
                 "--secrets file with --passphrase-fd N or --passphrase-file PATH")


class StoreError(GatewayError):
    """A secret store cannot be opened, read or written; the message says what to do."""


def missing_file_error(path: Path) -> StoreError:
    return StoreError(f"no secrets file at {path}; run `gateway keys add` to create one, "
                      "or pass the right path with --secrets file:PATH")


class SecretStore(Protocol):
    kind: str

    def describe(self) -> str: ...

    def get(self, name: str) -> Secret | None: ...

    def put(self, name: str, value: Secret) -> None: ...

    def delete(self, name: str) -> bool: ...


def open_store(spec: str = "auto", *, home: Path, passphrase: str | None = None,
               create: bool = False, interactive: bool | None = None) -> SecretStore:
    """The store `spec` names, ready to use; the passphrase is only read for a file store.

    `spec` is "auto", "keyring", "file" or "file:PATH"; `passphrase` is a source
    ("prompt", "fd:N", "file:PATH"), never the passphrase itself.
    """
    kind, _, path = spec.partition(":")
    if spec == "keyring":
        from gateway_cli.keys.keyring_store import open_keyring

        return open_keyring(home)
    if spec == "auto":
        return _open_auto(home, passphrase, interactive)
    if kind == "file":
        if spec != "file" and not path:
            raise StoreError("--secrets file: needs a path, e.g. --secrets file:/etc/gateway/"
                             f"{DEFAULT_FILE_NAME}")
        target = (Path(path) if path else home / DEFAULT_FILE_NAME).absolute()
        return _open_file(target, passphrase, create=create, interactive=interactive)
    # The unknown value is not echoed: it might be a secret pasted into the wrong flag.
    raise StoreError("unknown secrets store; use --secrets auto, keyring, file or file:PATH")


def _open_auto(home: Path, passphrase: str | None,
               interactive: bool | None) -> SecretStore:
    """Keyring first because it needs no passphrase; an existing file second; never plain text."""
    from gateway_cli.keys.keyring_store import KeyringUnavailable, open_keyring

    try:
        return open_keyring(home)
    except KeyringUnavailable as err:
        reason = err.reason
    target = (home / DEFAULT_FILE_NAME).absolute()
    if target.exists():
        return _open_file(target, passphrase, create=False, interactive=interactive)
    raise StoreError(f"no usable OS keyring here ({reason}); {HEADLESS_HINT}")


def _open_file(path: Path, passphrase: str | None, *, create: bool,
               interactive: bool | None) -> SecretStore:
    """Check for the file before asking for a passphrase, so nobody types one for nothing."""
    from gateway_cli.keys.encrypted_file import EncryptedFileStore
    from gateway_cli.keys.passphrase import read_passphrase

    exists = path.exists()
    if not exists and not create:
        raise missing_file_error(path)
    secret = read_passphrase(passphrase, interactive=interactive, confirm=not exists)
    store = EncryptedFileStore(path, secret)
    if exists:
        store.unlock()
    else:
        store.create()
    return store
