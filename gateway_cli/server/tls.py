"""The certificate and key of the gateway's own HTTPS listener, checked before Granian.

Granian loads both files in its Rust worker, after the socket is open; a bad file there
is a panic or a worker that exits without a useful word, and an encrypted key would
have nobody to ask for its passphrase. So everything foreseeable is checked here first
and reported as one line naming the file and the fix.

The key is handled like any other secret of the gateway: it must be a private file of
the user running the gateway, so a certificate copied into place with the wrong mode is
refused instead of served. Nothing read from the key ever reaches a message.
"""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

from gateway_cli.errors import StartupError

MAX_PEM_BYTES = 1024 * 1024  # a long chain is a few KiB; more is not a certificate file
_SYSTEM_TREES = ("/proc", "/sys", "/dev")


def check_tls_files(cert: Path, key: Path) -> None:
    """Refuse to start on any certificate or key Granian could not serve safely."""
    read_checked(cert, key)
    check_pair(cert, key)


def read_checked(cert: Path, key: Path) -> tuple[bytes, bytes]:
    """The certificate's and the key's bytes, each checked on its own (not as a pair)."""
    key_data = _check_key(key)
    return _check_cert(cert), key_data


def check_pair(cert: Path, key: Path, shown: tuple[Path, Path] | None = None) -> None:
    """That the key belongs to the certificate and OpenSSL loads both; `shown` are the
    names a message gives (the files the user configured, when these are copies)."""
    shown_cert, shown_key = shown or (cert, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # The passphrase callback only runs for an encrypted key _check_key missed;
        # without one OpenSSL would prompt on the terminal and hang a service start.
        context.load_cert_chain(str(cert), str(key), password=_no_passphrase)
    except _EncryptedKey:
        raise StartupError(_encrypted(shown_key)) from None
    except ssl.SSLError as err:
        if err.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(f"TLS key {shown_key} does not belong to the certificate "
                               f"{shown_cert}; give the key the certificate was issued "
                               "for") from None
        raise StartupError(f"TLS certificate {shown_cert} and key {shown_key} cannot be "
                           f"loaded ({err.reason or 'SSL error'})") from None
    except OSError as err:  # replaced or removed between the checks and now
        raise StartupError(f"TLS files {shown_cert} and {shown_key} cannot be read "
                           f"({type(err).__name__})") from None


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey


def _encrypted(key: Path) -> str:
    return (f"TLS key {key} is encrypted with a passphrase, which the gateway cannot be "
            f"given; store it decrypted with mode 0600 (openssl pkey -in {key} -out NEW.pem)")


def _read(path: Path, what: str, *, private: bool) -> bytes:
    """The file's bytes, checked on the open descriptor before a byte is read.

    Links are followed (certbot's live/ directory and mounted container secrets are
    links), but never into /proc, /sys or /dev; a FIFO would block the start for ever.
    """
    real = os.path.realpath(path)
    if any(real == tree or real.startswith(tree + "/") for tree in _SYSTEM_TREES):
        raise StartupError(f"{what} {path} is a system or device file; point it at a "
                           "regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise StartupError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise StartupError(f"{what} {path} cannot be read by this user") from None
    except OSError as err:
        raise StartupError(f"{what} {path} cannot be read ({type(err).__name__})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StartupError(f"{what} {path} is not a regular file")
        if private and os.name == "posix":
            if info.st_uid not in (os.geteuid(), 0):
                raise StartupError(f"{what} {path} belongs to another user (uid "
                                   f"{info.st_uid}); it must belong to the user running "
                                   "the gateway or to root")
            if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise StartupError(f"{what} {path} is open to other users (mode "
                                   f"{stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}")
        try:
            data = file.read(MAX_PEM_BYTES + 1)
        except OSError as err:
            raise StartupError(f"{what} {path} cannot be read "
                               f"({type(err).__name__})") from None
    if len(data) > MAX_PEM_BYTES:
        raise StartupError(f"{what} {path} is larger than {MAX_PEM_BYTES // 1024} KiB; "
                           "expected a PEM file")
    return data


def _check_key(key: Path) -> bytes:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _read(key, "TLS key", private=True)
    if b"ENCRYPTED" in data:  # "BEGIN ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED"
        raise StartupError(_encrypted(key))
    try:
        load_pem_private_key(data, password=None)
    except TypeError:  # encrypted in a way the text above does not show
        raise StartupError(_encrypted(key)) from None
    except (ValueError, UnsupportedAlgorithm):
        raise StartupError(f"TLS key {key} is not a PEM private key "
                           "(-----BEGIN PRIVATE KEY-----)") from None
    return data


# Long enough to renew by hand before clients start failing.
EXPIRY_WARNING_DAYS = 14


def expiry_warning(cert: Path, now: float) -> str | None:
    """A warning when the served certificate has expired or soon will: clients refuse an
    expired one, and nothing else would say so until they do. At start and each reload."""
    from cryptography.x509 import load_pem_x509_certificates

    leaf = load_pem_x509_certificates(_read(cert, "TLS certificate", private=False))[0]
    ends = leaf.not_valid_after_utc.timestamp()
    left = ends - now
    when = leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    if left <= 0:
        return f"the TLS certificate {cert} expired at {when}: clients will refuse it"
    if left < EXPIRY_WARNING_DAYS * 86400:
        return (f"the TLS certificate {cert} expires at {when} (in {left / 86400:.1f} days); "
                "renew it and run `gateway reload`")
    return None


def _check_cert(cert: Path) -> bytes:
    from cryptography.x509 import load_pem_x509_certificates

    data = _read(cert, "TLS certificate", private=False)
    if b"PRIVATE KEY" in data:
        # A combined certificate-and-key file is a key file: it is held to the same rules.
        _read(cert, "TLS certificate-and-key file", private=True)
    try:
        load_pem_x509_certificates(data)
    except ValueError:
        raise StartupError(f"TLS certificate {cert} is not a PEM certificate "
                           "(-----BEGIN CERTIFICATE-----)") from None
    return data
