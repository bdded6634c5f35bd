"""The secret store for machines without an OS keyring: one passphrase-encrypted file.

Layout (all of it before the ciphertext is the GCM associated data, so no
header field can be changed without the decryption failing):

    b"GWSECRT" | version 2 | log2 N | r | p | salt (16) | verifier (32) | nonce (12)
    | checksum (16) | ciphertext

The checksum (SHA-256 of the fields before it) is unkeyed: it cannot stop a
deliberate rewrite, which GCM stops, but it tells a damaged salt or cost
("modified") apart from a wrong passphrase, which a changed salt would
otherwise look like. Version 1 files (no checksum) are still read and are
rewritten as version 2 on the next change.

scrypt turns the passphrase into 64 bytes: the first half is the AES-256-GCM
key, the second half feeds an HMAC whose result is the verifier. Checking the
verifier before decrypting tells "wrong passphrase" apart from "the file was
changed", which GCM alone reports as the same failure. The scrypt cost is
stored in the header so it can be raised later without breaking old files;
values outside what `gateway keys` writes (plus a small margin) are refused,
and scrypt runs with a memory cap, so a tampered header cannot ask for
gigabytes of memory and minutes of CPU before the passphrase is even checked.

Every write happens under an exclusive lock on a sidecar lock file and goes
through a re-read of the current file, so concurrent `gateway keys add` runs
cannot lose each other's entries, and lands via a synced temp file and
rename, so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import stat
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError, missing_file_error

MAGIC = b"GWSECRT"
VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
LOG2_N_RANGE = range(14, 19)  # written: 17 (14 in tests); at most 2**18 * r * 128 = 256 MiB
R_RANGE = range(1, 9)
P_RANGE = range(1, 3)
MAX_SCRYPT_MEMORY = 300 * 1024 * 1024
VERIFIER_LABEL = b"gateway secrets verifier"
CHECKSUM_LABEL = b"gateway secrets header"
HEADER_V1 = struct.Struct(">7sBBBB16s32s12s")
HEADER = struct.Struct(">7sBBBB16s32s12s16s")
TAG_SIZE = 16
MIN_SIZE = HEADER.size + TAG_SIZE
MIN_SIZE_V1 = HEADER_V1.size + TAG_SIZE

Table = dict[str, str]


@dataclass(frozen=True)
class Params:
    """What the key depends on besides the passphrase; kept across rewrites of one file."""

    log2_n: int
    r: int
    p: int
    salt: bytes


@dataclass(frozen=True)
class _Keys:
    aes: bytes = field(repr=False)
    verifier: bytes = field(repr=False)


@dataclass(frozen=True)
class _Header:
    params: Params
    verifier: bytes
    nonce: bytes
    raw: bytes


def derive_keys(passphrase: bytes, params: Params) -> _Keys:
    """Deliberately slow: this is what makes guessing the passphrase from the file expensive."""
    material = hashlib.scrypt(passphrase, salt=params.salt, n=2**params.log2_n, r=params.r,
                              p=params.p, dklen=64, maxmem=MAX_SCRYPT_MEMORY)
    verifier = hmac.new(material[32:], VERIFIER_LABEL, hashlib.sha256).digest()
    return _Keys(aes=material[:32], verifier=verifier)


class EncryptedFileStore:
    """A `SecretStore` kept in one AES-256-GCM file; the key is derived once per object."""

    kind = "file"

    def __init__(self, path: Path | str, passphrase: bytes, *,
                 log2_n: int = DEFAULT_LOG2_N) -> None:
        if log2_n not in LOG2_N_RANGE:
            raise ValueError(f"log2_n must be in {LOG2_N_RANGE.start}..{LOG2_N_RANGE.stop - 1}")
        if not passphrase:
            raise StoreError("an empty passphrase is not allowed")
        self._path = Path(path).absolute()
        self._passphrase = passphrase
        self._log2_n = log2_n
        self._cached: tuple[Params, _Keys] | None = None
        self._derive_lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def lock_path(self) -> Path:
        return self._path.with_name(self._path.name + ".lock")

    def __repr__(self) -> str:
        return f"EncryptedFileStore({str(self._path)!r})"

    def describe(self) -> str:
        return f"encrypted file {self._path}"

    def exists(self) -> bool:
        return self._path.exists()

    def unlock(self) -> None:
        """Fail now, not at the first secret, if the passphrase or the file is wrong."""
        self._read_table()

    def create(self) -> None:
        """Write an empty store if there is none; an existing one is only checked."""
        self._update(lambda table: False)

    def get(self, name: str) -> Secret | None:
        value = self._read_table().get(_checked_name(name))
        return Secret(value) if value else None

    def put(self, name: str, value: Secret) -> None:
        name = _checked_name(name)
        if not isinstance(value, Secret) or not value.reveal():
            raise StoreError(f"refusing to store an empty secret as {name!r}")

        def change(table: Table) -> bool:
            table[name] = value.reveal()
            return True

        self._update(change)

    def delete(self, name: str) -> bool:
        name = _checked_name(name)
        return self._update(lambda table: table.pop(name, None) is not None, may_create=False)

    # Reading and writing

    def _read_table(self) -> Table:
        if not self._path.exists():  # checked first so a failed read leaves no lock file
            raise missing_file_error(self._path)
        with self._locked(fcntl.LOCK_SH, for_write=False):
            data = self._read_bytes()
        if data is None:
            raise missing_file_error(self._path)
        return self._decrypt(data)[1]

    def _update(self, change: Callable[[Table], bool], *, may_create: bool = True) -> bool:
        """Apply `change` to the table as it is on disk now; write only if it says so."""
        if not may_create and not self._path.exists():
            raise missing_file_error(self._path)
        with self._locked(fcntl.LOCK_EX, for_write=True):
            data = self._read_bytes()
            table: Table
            if data is None and not may_create:  # removed since we looked
                raise missing_file_error(self._path)
            if data is None:
                params, table = self._new_params(), {}
            else:
                params, table = self._decrypt(data)
            changed = change(table)
            if changed or data is None:
                self._write_atomic(self._encrypt(params, table))
        return changed

    def _new_params(self) -> Params:
        return Params(self._log2_n, SCRYPT_R, SCRYPT_P, os.urandom(16))

    def _keys(self, params: Params) -> _Keys:
        with self._derive_lock:
            if self._cached is None or self._cached[0] != params:
                self._cached = (params, derive_keys(self._passphrase, params))
            return self._cached[1]

    def _decrypt(self, data: bytes) -> tuple[Params, Table]:
        header = _parse_header(data, self._path)
        keys = self._keys(header.params)
        if not hmac.compare_digest(keys.verifier, header.verifier):
            raise StoreError(f"wrong passphrase for {self._path}")
        try:
            plain = AESGCM(keys.aes).decrypt(header.nonce, data[len(header.raw):], header.raw)
        except InvalidTag:
            raise StoreError(f"{self._path} was modified or corrupted: authentication failed; "
                             "restore it from a backup") from None
        return header.params, _parse_table(plain, self._path)

    def _encrypt(self, params: Params, table: Table) -> bytes:
        keys = self._keys(params)
        nonce = os.urandom(12)
        fields = HEADER_V1.pack(MAGIC, VERSION, params.log2_n, params.r, params.p, params.salt,
                                keys.verifier, nonce)
        header = fields + _checksum(fields)
        plain = json.dumps(table, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return header + AESGCM(keys.aes).encrypt(nonce, plain, header)

    def _read_bytes(self) -> bytes | None:
        """The file's bytes, or None if there is none; refuses one others can read."""
        try:
            # No following a link (a write would replace the link, leaving its target stale)
            # and no blocking on a FIFO: the type is checked on the descriptor below.
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
                         | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return None
        except OSError as err:
            if self._path.is_symlink():
                raise StoreError(f"{self._path} is a symbolic link; point --secrets at the "
                                 "file itself") from None
            raise StoreError(f"{self._path} cannot be read ({type(err).__name__})") from None
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise StoreError(f"{self._path} is not a regular file; check the --secrets path")
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise StoreError(f"{self._path} is readable by other users; "
                                 f"run: chmod 600 {self._path}")
            return file.read()

    @contextmanager
    def _locked(self, operation: int, *, for_write: bool) -> Iterator[None]:
        """flock on a sidecar file, because the store file itself is replaced on every write.

        A reader that cannot create the lock file (a read-only mount) reads
        unlocked, which is still safe: writers only ever rename whole files in.
        """
        if for_write:
            _make_private_dir(self._path.parent)
        fd = self._open_lock_file(for_write=for_write)
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, operation)
            yield
        finally:
            os.close(fd)

    def _open_lock_file(self, *, for_write: bool) -> int | None:
        """None when a reader cannot have the lock file; the read then reports what is wrong."""
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            if not for_write:
                return None
            raise StoreError(f"cannot lock {self.lock_path} ({type(err).__name__}); "
                             "check the directory's permissions") from None

    def _write_atomic(self, data: bytes) -> None:
        directory = self._path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp",
                                       dir=directory)
        except OSError as err:
            raise StoreError(f"cannot write in {directory} ({type(err).__name__}); "
                             "check the directory's permissions") from None
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self._path)
        except OSError as err:
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"cannot write {self._path} ({type(err).__name__}); "
                             "check free space and permissions") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(directory)


def _parse_header(data: bytes, path: Path) -> _Header:
    """The header, checked field by field so each kind of damage gets its own message."""
    if len(data) < len(MAGIC) + 1:
        if MAGIC.startswith(data[:len(MAGIC)]):
            raise _truncated(path, len(data))
        raise _bad_magic(path)
    if data[:len(MAGIC)] != MAGIC:
        raise _bad_magic(path)
    version = data[len(MAGIC)]
    if version not in READABLE_VERSIONS:
        raise StoreError(f"{path} has secrets file format version {version}, "
                         f"this gateway reads versions 1 and {VERSION}; upgrade gateway")
    if len(data) < (MIN_SIZE if version == VERSION else MIN_SIZE_V1):
        raise _truncated(path, len(data))
    _, _, log2_n, r, p, salt, verifier, nonce = HEADER_V1.unpack_from(data)
    size = HEADER_V1.size
    if version == VERSION:
        size = HEADER.size
        if not hmac.compare_digest(_checksum(data[:HEADER_V1.size]),
                                   data[HEADER_V1.size:size]):
            raise StoreError(f"{path} was modified or corrupted: its header does not match "
                             "its checksum; restore it from a backup")
    if log2_n not in LOG2_N_RANGE or r not in R_RANGE or p not in P_RANGE:
        raise StoreError(f"{path} was modified or corrupted: unreasonable scrypt parameters "
                         f"(log2 N={log2_n}, r={r}, p={p}); restore it from a backup")
    return _Header(Params(log2_n, r, p, salt), verifier, nonce, data[:size])


def _checksum(fields: bytes) -> bytes:
    return hashlib.sha256(CHECKSUM_LABEL + fields).digest()[:16]


def _truncated(path: Path, size: int) -> StoreError:
    return StoreError(f"{path} is truncated ({size} bytes); restore it from a backup")


def _bad_magic(path: Path) -> StoreError:
    return StoreError(f"{path} is not a gateway secrets file (bad magic); "
                      "check the --secrets path")


def _parse_table(plain: bytes, path: Path) -> Table:
    """Authenticated data can only be malformed if a buggy writer produced it; say so."""
    try:
        table = json.loads(plain)
    except ValueError:
        table = None
    if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise StoreError(f"{path} decrypted but holds no secrets table; "
                         "restore it from a backup")
    return table


def _checked_name(name: str) -> str:
    if not isinstance(name, str) or not name or not name.isprintable():
        raise StoreError("a secret name must be a non-empty printable string")
    return name


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create {directory} ({type(err).__name__})") from None


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; without this a power cut can bring the old file back."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
