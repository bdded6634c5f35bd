"""The classifier's weights file: a small binary with a header, a digest and five tables.

Why a format of our own and not pickle, numpy or JSON: reading it must execute
nothing and trust nothing (pickle runs code; numpy is not a runtime
dependency), and it must be compact and byte-for-byte reproducible from the
training data, so the test suite can rebuild it and compare. Every length is
checked before it is used, and a file that is truncated, padded, corrupted or
of another version is refused with `WeightsError`, never half-loaded.

Layout (little-endian):

    magic b"GWINJCLF"  version u16  reserved u16 (0)  payload length u32  sha256(payload) 32 bytes
    payload:
      bias f64, window u32, stride u32, floor u32 (the fewest features a window is scaled as)
      then five tables in this order: unigrams, bigrams, stems, character bigrams, markers;
      each: count u32, key lengths (count x u16), the keys concatenated, weights (count x f32)

Keys are UTF-8 bytes sorted ascending; a bigram's key is its two words joined
by a NUL byte (a word never holds one).
"""

from __future__ import annotations

import hashlib
import math
import operator
import struct
import sys
from array import array
from dataclasses import dataclass
from typing import Final

from gateway_cli.errors import GatewayError

MAGIC: Final = b"GWINJCLF"
VERSION: Final = 1
_HEAD: Final = struct.Struct("<8sHHI32s")
_META: Final = struct.Struct("<dIII")
_COUNT: Final = struct.Struct("<I")
TABLES: Final = ("unigrams", "bigrams", "stems", "char_bigrams", "markers")
MAX_FILE: Final = 16 * 1024 * 1024  # the shipped file is well under 1 MB
MAX_ENTRIES: Final = 1_000_000


class WeightsError(GatewayError, ValueError):
    """The weights file cannot be used; the message says why and what to do.

    A `GatewayError`: at start-up the CLI prints it as one line and exits 3, a
    status of its own, so `gateway inspect` in CI (1 = blocked, 2 = usage) never
    reads a damaged install as a verdict.
    """

    exit_code = 3


@dataclass(frozen=True)
class Weights:
    """A decoded weights file: bias, window geometry, one sorted table per feature kind."""

    bias: float
    window: int  # characters per scored window
    stride: int  # characters between window starts
    floor: int  # a window with fewer features is scaled as if it had this many
    tables: dict[str, tuple[tuple[bytes, ...], tuple[float, ...]]]


def _f32(values: list[float]) -> bytes:
    data = array("f", values)
    if sys.byteorder == "big":
        data.byteswap()
    return data.tobytes()


def encode(weights: Weights) -> bytes:
    """The file's bytes; the same `Weights` always gives the same bytes."""
    if set(weights.tables) != set(TABLES):
        raise WeightsError(f"tables must be exactly {TABLES}")
    body = bytearray(_META.pack(weights.bias, weights.window, weights.stride, weights.floor))
    for name in TABLES:
        keys, values = weights.tables[name]
        if len(keys) != len(values) or list(keys) != sorted(set(keys)):
            raise WeightsError(f"table {name}: keys must be unique and sorted, one weight each")
        lengths = array("H", [len(k) for k in keys])
        if sys.byteorder == "big":
            lengths.byteswap()
        body += _COUNT.pack(len(keys)) + lengths.tobytes() + b"".join(keys) + _f32(list(values))
    payload = bytes(body)
    return _HEAD.pack(MAGIC, VERSION, 0, len(payload), hashlib.sha256(payload).digest()) + payload


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise WeightsError(f"truncated: {what} runs past the end of the payload")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out


def decode(data: bytes) -> Weights:
    """Parse and check a weights file; raises `WeightsError` on anything unexpected."""
    if len(data) > MAX_FILE:
        raise WeightsError(f"{len(data)} bytes is larger than any weights file ({MAX_FILE})")
    if len(data) < _HEAD.size:
        raise WeightsError(f"truncated: {len(data)} bytes, shorter than the "
                           f"{_HEAD.size}-byte header")
    magic, version, reserved, length, digest = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise WeightsError("not an injection-classifier weights file (bad magic)")
    if version != VERSION or reserved != 0:
        raise WeightsError(f"weights format version {version}, this gateway reads {VERSION}")
    payload = data[_HEAD.size :]
    if len(payload) != length:
        raise WeightsError(f"truncated or padded: payload is {len(payload)} bytes, header says "
                           f"{length}")
    if hashlib.sha256(payload).digest() != digest:
        raise WeightsError("corrupt: the payload's sha256 does not match the header")
    r = _Reader(payload)
    bias, window, stride, floor = _META.unpack(r.take(_META.size, "the model header"))
    if not (0 < stride <= window) or not 0 < floor < MAX_ENTRIES or not math.isfinite(bias):
        raise WeightsError(f"bad window {window} / stride {stride} / floor {floor} / bias {bias}")
    tables: dict[str, tuple[tuple[bytes, ...], tuple[float, ...]]] = {}
    for name in TABLES:
        (count,) = _COUNT.unpack(r.take(_COUNT.size, f"the {name} count"))
        if count > MAX_ENTRIES:
            raise WeightsError(f"table {name}: {count} entries is more than {MAX_ENTRIES}")
        lengths = array("H")
        lengths.frombytes(r.take(2 * count, f"the {name} key lengths"))
        values = array("f")
        if sys.byteorder == "big":
            lengths.byteswap()
        blob = r.take(sum(lengths), f"the {name} keys")
        values.frombytes(r.take(4 * count, f"the {name} weights"))
        if sys.byteorder == "big":
            values.byteswap()
        keys: list[bytes] = []
        at = 0
        for n in lengths:
            keys.append(blob[at : at + n])
            at += n
        if not all(map(operator.lt, keys, keys[1:])):
            raise WeightsError(f"table {name}: keys are not unique and sorted")
        floats = tuple(values.tolist())
        if not all(map(math.isfinite, floats)):
            raise WeightsError(f"table {name}: a weight is not a finite number")
        tables[name] = (tuple(keys), floats)
    if r.at != len(payload):
        raise WeightsError(f"{len(payload) - r.at} unexpected bytes after the last table")
    return Weights(bias, window, stride, floor, tables)
