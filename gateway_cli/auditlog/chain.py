"""A tamper-evident, append-only audit log: JSON Lines, hash-chained, HMAC-signed.

Each line is one record, encoded canonically (compact, keys sorted, UTF-8,
newline-terminated)::

    {"data": {...}, "event": "key.added", "kid": "a1b2..." | null,
     "mac": "<hex HMAC-SHA256>" | null, "prev": "<hex SHA-256>", "seq": 0,
     "time": "2025-01-02T03:04:05.678Z"}

- `seq` counts from 0 with no gaps.
- `prev` is the SHA-256 of the previous line's exact bytes, its newline
  included (64 zeros for seq 0), so editing, removing, inserting or
  reordering a line breaks the chain at the line after it.
- `mac` is the HMAC-SHA256, under the key named by `kid`, of the canonical
  encoding of the record without its "mac" member. The chain alone cannot
  protect the last line, nor stop someone from rewriting the whole file; the
  MAC does, for anyone who lacks the key.

Why it is shaped this way:

- Appends hold an exclusive `flock` on the log itself, read only the last
  line (backwards from the end), and write the new line with one `os.write`
  on an O_APPEND descriptor, then fsync: concurrent writers serialise, and a
  crash leaves at most one partial line, which the next append refuses to
  build on rather than hide (`AuditError`).
- Keys are rotated and old ones expire, so a record signed with a key the
  verifier no longer has is counted as unverifiable, not as a problem; the
  chain still ties it to the records around it. Going backwards in strength
  is a problem, though: an unsigned record after a signed one ("signature
  stripped"), or a record under an unknown key after one that verified (a
  forger re-signing the tail under a made-up key id). The writer refuses to
  create the first kind itself.
- Records hold names, fingerprints and counts, never secrets. As a guard the
  writer runs the gateway's own secrets detector over every string and
  refuses the record if it fires; the message names the field, never the
  value.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import math
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from gateway_cli.errors import GatewayError
from gateway_cli.formats import sorted_json
from gateway_cli.guards import secrets as secrets_guard

GENESIS = "0" * 64
# A detector finding at or above this confidence makes a record refused.
SECRET_CONFIDENCE = 0.9
# One record is one line written with one write(2); keep it modest.
MAX_LINE = 1 << 20
MIN_KEY_BYTES = 16
_CHUNK = 8192
_FIELDS = frozenset({"seq", "time", "event", "data", "prev", "kid", "mac"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


class AuditError(GatewayError):
    """The audit log is unsafe, corrupt or unwritable, or a record was refused."""


@dataclass(frozen=True)
class SigningKey:
    """An audit signing key: `kid` goes into every record it signs, `key` never does."""

    kid: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kid, str) or not self.kid:
            raise AuditError("an audit signing key needs a non-empty key id")
        if not isinstance(self.key, bytes) or len(self.key) < MIN_KEY_BYTES:
            raise AuditError(f"audit signing key {self.kid!r} must be at least "
                             f"{MIN_KEY_BYTES} bytes")


@dataclass(frozen=True)
class VerifyReport:
    records: int  # lines read, well-formed or not
    signed: int  # records carrying a kid and a mac
    unverifiable: int  # signed with a kid not among the keys given
    problems: list[str]  # one line each, naming the line number and seq

    @property
    def ok(self) -> bool:
        return not self.problems


# --------------------------------------------------------------------------- encoding

def _canonical(record: Mapping[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _mac(key: bytes, record: Mapping[str, object]) -> str:
    body = {k: v for k, v in record.items() if k != "mac"}
    return hmac.new(key, _canonical(body), hashlib.sha256).hexdigest()


def _timestamp(now: float) -> str:
    moment = datetime.fromtimestamp(now, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def timestamp(now: float) -> str:
    """`now` as records carry it, so times compare as strings (export's --since)."""
    return _timestamp(now)


def _plain(value: object, where: str) -> object:
    """`value` as plain JSON types, refused if it is not JSON or any string looks secret."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError(f"audit record field {where} is not a finite number")
        return value
    if isinstance(value, str):
        _refuse_secret(value, where)
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise AuditError(f"audit record field {where} has a non-string key")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise AuditError(f"audit record field {where} holds a {type(value).__name__}, "
                     "which is not JSON")


def _refuse_secret(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditError(f"audit record field {where} is not valid Unicode") from None
    for finding in secrets_guard.scan(text):
        if finding.confidence >= SECRET_CONFIDENCE:
            raise AuditError(f"audit record field {where} looks like a credential "
                             f"({finding.kind}); audit records must hold names and "
                             "fingerprints, never secrets")


# --------------------------------------------------------------------------- append

@contextlib.contextmanager
def _open_locked(path: Path) -> Iterator[int]:
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    created = True
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            created = False
            fd = os.open(path, flags)
    except OSError as err:
        raise AuditError(f"cannot open the audit log {path} ({err.strerror})") from None
    try:
        if created:
            _fsync_dir(path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise AuditError(f"the audit log {path} is not a regular file")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise AuditError(f"the audit log {path} can be written by other users; "
                             f"run: chmod 600 {path}")
        yield fd
    finally:
        os.close(fd)  # also releases the lock


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform lets a directory be opened
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _last_line(fd: int, size: int, path: Path) -> bytes | None:
    """The last line, newline included, read backwards from the end; None if the file is empty."""
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditError(f"the audit log {path} ends with a partial line (a crash or "
                         "truncation); run verify and repair it before appending")
    end = size - 1  # the final newline
    tail = b""
    pos = end
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        cut = tail.rfind(b"\n")
        if cut >= 0:
            return tail[cut + 1:] + b"\n"
        if len(tail) > MAX_LINE:
            raise AuditError(f"the last line of the audit log {path} is over {MAX_LINE} "
                             "bytes: the log is corrupt")
    return tail + b"\n"


def _tail_state(line: bytes | None, path: Path) -> tuple[int, str, bool]:
    """Next seq, prev hash and whether the last record is signed."""
    tail = tail_after(line, path)
    return tail.seq, tail.prev, tail.signed


def is_signed(path: Path) -> bool:
    """Whether the log's last record is signed (so the next one must be too)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return False
    except OSError as err:
        raise AuditError(f"cannot open the audit log {path} ({err.strerror})") from None
    try:
        return _tail_state(_last_line(fd, os.fstat(fd).st_size, path), path)[2]
    finally:
        os.close(fd)


def append(path: Path, event: str, data: Mapping[str, object], key: SigningKey | None,
           *, now: float | None = None) -> dict[str, object]:
    """Append one record to the log at `path` (created 0600) and return it, `mac` included."""
    if not isinstance(event, str) or not event:
        raise AuditError("an audit record needs a non-empty event name")
    _refuse_secret(event, "event")
    if not isinstance(data, Mapping):
        raise AuditError("audit record data must be a mapping")
    plain = _plain(data, "data")
    with _open_locked(path) as fd:
        size = os.fstat(fd).st_size
        seq, prev, last_signed = _tail_state(_last_line(fd, size, path), path)
        if key is None and last_signed:
            raise AuditError(f"the audit log {path} is signed; an unsigned record would read "
                             "as a stripped signature: pass the audit signing key")
        record: dict[str, object] = {
            "seq": seq,
            "time": _timestamp(time.time() if now is None else now),
            "event": event,
            "data": plain,
            "prev": prev,
            "kid": None if key is None else key.kid,
            "mac": None,
        }
        if key is not None:
            record["mac"] = _mac(key.key, record)
        line = _canonical(record) + b"\n"
        if len(line) > MAX_LINE:
            raise AuditError(f"audit record {event!r} is over {MAX_LINE} bytes; "
                             "log names and counts, not contents")
        try:
            written = os.write(fd, line)
            os.fsync(fd)
        except OSError as err:
            raise AuditError(f"cannot write the audit log {path} ({err.strerror})") from None
        if written != len(line):
            raise AuditError(f"short write to the audit log {path} ({written} of {len(line)} "
                             "bytes); the last line is now partial")
    return record


# --------------------------------------------------------------------------- batches

@dataclass(frozen=True)
class ChainTail:
    """Where a chain stands: what the next record needs to continue it."""

    seq: int  # the next record's seq
    prev: str  # SHA-256 of the last line, newline included (GENESIS for an empty log)
    signed: bool  # the last record is signed, so the next must be too
    time: str = ""  # the last record's time ("" for an empty log)


EMPTY = ChainTail(0, GENESIS, False)

# One encoder for every batch: json.dumps with options builds a new one per call, a few
# µs each. Same options as _canonical, so its output is byte for byte the same.
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False).encode
# msgspec writes the same bytes as _ENCODE for every string, integer, list and (sorted)
# object, several times faster. Floats differ only outside 1e-4 <= |x| < 1e16, where
# json writes Python's exponent form (1e-05, 1e+16) and msgspec does not; it also writes
# NaN as null where json refuses it. Data holding such a float takes json's path, so a
# line is always json's canonical form (tests/unit/auditlog/test_batch.py compares them).
_FAST = sorted_json.ENCODE


def _json_text(value: object) -> str:
    """json's canonical text of `value`, by msgspec when that gives the same bytes."""
    if sorted_json.fast_safe(value):
        try:
            return _FAST(value).decode()
        except (TypeError, ValueError, UnicodeError, msgspec.EncodeError):
            pass
    return _ENCODE(value)  # json's own rules and errors


class _Stamps:
    """`_timestamp` with the date and time of day reused within a second (~0.3 µs, not 1.8).

    Rounds like datetime.fromtimestamp (to the microsecond, half to even), then
    truncates to the millisecond like isoformat, so the text is the same.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, when: float) -> str:
        second = math.floor(when)
        micros = round((when - second) * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._prefix = _timestamp(second)[:-5]  # "YYYY-MM-DDTHH:MM:SS"
            self._second = second
        return f"{self._prefix}.{micros // 1000:03d}Z"


def tail_after(line: bytes | None, path: Path) -> ChainTail:
    """The tail a log is at when `line` (newline included) is its last; None: empty."""
    if line is None:
        return EMPTY
    parsed = _parse(line)
    last = parsed if isinstance(parsed, str) else _fields(parsed)
    if isinstance(last, str) or isinstance(parsed, str):
        raise AuditError(f"the last line of the audit log {path} is not a valid record "
                         f"({last}); run verify and repair it before appending")
    return ChainTail(last.seq + 1, hashlib.sha256(line).hexdigest(), last.kid is not None,
                     str(parsed["time"]))


def read_tail(fd: int, path: Path) -> ChainTail:
    """The tail of the log open at `fd` (refused if it ends with a partial line)."""
    return tail_after(_last_line(fd, os.fstat(fd).st_size, path), path)


def encode_batch(tail: ChainTail, records: Iterable[tuple[str, Mapping[str, object], float]],
                 key: SigningKey | None, *, trusted: bool = False) -> tuple[bytes, ChainTail]:
    """Canonical signed lines for `records` (event, data, time) continuing `tail`.

    This is `append`'s encoding without its per-record file work, for a writer
    that owns the file and writes many records with one write and one fsync.
    The line is assembled from the separately encoded data, so the record dict
    is never built nor sorted, and the HMAC state keyed once per batch is
    copied per record. `trusted=True` skips the secrets scan of every string
    (the costliest step by far) for data the caller built from values it
    chose itself, such as the request record; the JSON rules still apply.
    Raises AuditError, writing nothing, if any record is refused.
    """
    if key is None and tail.signed:
        raise AuditError("the audit log is signed; an unsigned record would read as a "
                         "stripped signature: pass the audit signing key")
    kid = "null" if key is None else _ENCODE(key.kid)
    keyed = None if key is None else hmac.new(key.key, digestmod=hashlib.sha256)
    seq, prev, stamp = tail.seq, tail.prev, tail.time
    stamps = _Stamps()
    lines: list[bytes] = []
    for event, data, when in records:
        if not isinstance(event, str) or not event:
            raise AuditError("an audit record needs a non-empty event name")
        if not isinstance(data, Mapping):
            raise AuditError("audit record data must be a mapping")
        if not trusted:
            _refuse_secret(event, "event")
            data = _plain(data, "data")  # type: ignore[assignment]
        stamp = stamps(when)
        try:
            if trusted:
                head = f'{{"data":{_json_text(data)},"event":{_json_text(event)},"kid":{kid},'
            else:
                head = f'{{"data":{_ENCODE(data)},"event":{_ENCODE(event)},"kid":{kid},'
        except (TypeError, ValueError):  # the message may quote the value: never shown
            raise AuditError(f"audit record {seq} is not JSON (a non-finite number, a "
                             "non-string key or a value of another type)") from None
        rest = f'"prev":"{prev}","seq":{seq},"time":"{stamp}"}}'
        try:
            if keyed is None:
                line = f'{head}"mac":null,{rest}\n'.encode()
            else:
                mac = keyed.copy()
                mac.update((head + rest).encode())
                line = f'{head}"mac":"{mac.hexdigest()}",{rest}\n'.encode()
        except UnicodeEncodeError:
            raise AuditError(f"audit record {seq} is not valid Unicode") from None
        if len(line) > MAX_LINE:
            raise AuditError(f"audit record {seq} ({event!r}) is over {MAX_LINE} bytes; "
                             "log names and counts, not contents")
        lines.append(line)
        prev = hashlib.sha256(line).hexdigest()
        seq += 1
    if not lines:
        return b"", tail
    return b"".join(lines), ChainTail(seq, prev, key is not None, stamp)


# --------------------------------------------------------------------------- verify

def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _parse(line: bytes) -> dict[str, object] | str:
    """The record on a line, or why it is not one (JSON-wise)."""
    try:
        parsed = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return "malformed JSON"
    if not isinstance(parsed, dict):
        return "malformed record (not a JSON object)"
    return parsed


def _is_canonical(record: dict[str, object], line: bytes) -> bool:
    try:
        return _canonical(record) + b"\n" == line
    except (ValueError, RecursionError):  # e.g. 1e999 parsed as inf
        return False


@dataclass(frozen=True)
class _Fields:
    seq: int
    prev: str
    kid: str | None
    mac: str | None


def _fields(record: dict[str, object]) -> _Fields | str:
    """The fields verify relies on, or why a parsed line is not a record."""
    if set(record) != _FIELDS:
        return "fields are not " + ", ".join(sorted(_FIELDS))
    seq, prev, kid, mac = record["seq"], record["prev"], record["kid"], record["mac"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return "seq is not a non-negative integer"
    if not isinstance(record["time"], str) or not _TIME.fullmatch(record["time"]):
        return "time is not an RFC 3339 UTC time with milliseconds"
    if not isinstance(record["event"], str) or not record["event"]:
        return "event is not a non-empty string"
    if not isinstance(record["data"], dict):
        return "data is not an object"
    if not isinstance(prev, str) or not _HEX64.fullmatch(prev):
        return "prev is not a lowercase hex SHA-256"
    if kid is not None and (not isinstance(kid, str) or not kid):
        return "kid is neither null nor a non-empty string"
    if mac is not None and (not isinstance(mac, str) or not _HEX64.fullmatch(mac)):
        return "mac is neither null nor a lowercase hex HMAC-SHA256"
    return _Fields(seq, prev, kid, mac)


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as handle:
            yield from handle
    except FileNotFoundError:
        raise AuditError(f"the audit log {path} does not exist") from None
    except OSError as err:
        raise AuditError(f"cannot read the audit log {path} ({err.strerror})") from None


class Checker:
    """The chain rules applied line by line, so one chain can span several files.

    `verify` feeds it one file; `verify_log` feeds it every file of a rotated
    log in order, with `where` naming the file too. `start_anywhere` accepts a
    first record that does not start at seq 0 (older files deleted by
    retention): its prev cannot be checked, the rest of the chain can.
    """

    def __init__(self, keys: Mapping[str, bytes], *, start_anywhere: bool = False) -> None:
        self.keys = keys
        self.problems: list[str] = []
        self.records = self.signed = self.unverifiable = 0
        self.first_seq: int | None = None  # of the first well-formed record
        self._start_anywhere = start_anywhere
        self._prev_hash = GENESIS
        self._prev_where = ""
        self._expected_seq = 0
        self._seen_signed = self._seen_verified = False

    def line(self, line: bytes, where: str) -> dict[str, object] | None:
        """Check one line (newline included); the record when it is well-formed."""
        self.records += 1
        this_hash = hashlib.sha256(line).hexdigest()
        chain_hash, chain_where = self._prev_hash, self._prev_where
        self._prev_hash, self._prev_where = this_hash, where
        if not line.endswith(b"\n"):
            self.problems.append(f"{where}: truncated last line (no newline at the end)")
            return None
        parsed = _parse(line)
        if isinstance(parsed, str):
            self.problems.append(f"{where}: {parsed}")
            return None
        fields = _fields(parsed)
        if isinstance(fields, str):
            self.problems.append(f"{where}: malformed record ({fields})")
            return None
        seq = fields.seq
        where = self._prev_where = f"{where} (seq {seq})"
        first = self.first_seq is None
        if first:
            self.first_seq = seq
        if not _is_canonical(parsed, line):
            self.problems.append(f"{where}: not in canonical form (the line was edited)")
            self._expected_seq = seq + 1
            return None
        if first and self._start_anywhere and seq > 0:
            chain_hash = fields.prev  # the records before it are gone; nothing to tie to
            self._expected_seq = seq
        if seq != self._expected_seq:
            self.problems.append(f"{where}: seq {seq} where {self._expected_seq} was expected "
                                 "(a line removed, inserted or reordered)")
        self._expected_seq = seq + 1
        if fields.prev != chain_hash:
            if chain_where:
                self.problems.append(f"{where}: prev is not the hash of {chain_where} (that "
                                     "line was edited, or lines removed, inserted or "
                                     "reordered)")
            else:
                self.problems.append(f"{where}: prev is not all zeros on the first line "
                                     "(lines removed from the start, or the line was edited)")
        self._signature(parsed, fields, where)
        return parsed

    def _signature(self, parsed: dict[str, object], fields: _Fields, where: str) -> None:
        kid, mac = fields.kid, fields.mac
        if kid is None:
            if mac is not None:
                self.problems.append(f"{where}: mac present without a kid")
            elif self._seen_signed:
                self.problems.append(f"{where}: signature stripped (unsigned record after a "
                                     "signed one)")
            return
        if mac is None:
            self.problems.append(f"{where}: kid {kid!r} without a mac (signature stripped)")
            return
        self.signed += 1
        self._seen_signed = True
        secret = self.keys.get(kid)
        if secret is None:
            self.unverifiable += 1
            if self._seen_verified:
                self.problems.append(f"{where}: signed with unknown kid {kid!r} after a "
                                     "verified record (re-signed, or pass the newer audit key)")
            return
        if not hmac.compare_digest(_mac(secret, parsed), mac):
            self.problems.append(f"{where}: MAC mismatch for kid {kid!r} (the record was "
                                 "edited)")
        else:
            self._seen_verified = True


def verify(path: Path, keys: Mapping[str, bytes]) -> VerifyReport:
    """Check every line of the log: format, sequence, chain and, for known kids, the MAC."""
    checker = Checker(keys)
    for number, line in enumerate(_lines(path), start=1):
        checker.line(line, f"line {number}")
        if not line.endswith(b"\n"):
            break
    return VerifyReport(records=checker.records, signed=checker.signed,
                        unverifiable=checker.unverifiable, problems=checker.problems)
