"""Edges of the encrypted secrets file found by mutation testing (bench/mutation/README.md).

The store and its helpers are those of tests/unit/keys/test_encrypted_file.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway_cli.keys.encrypted_file import MAGIC, MIN_SIZE, EncryptedFileStore
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError
from tests.unit.keys.test_encrypted_file import (
    FAST,
    PASSPHRASE,
    VALUE,
    error_of,
    new_store,
    path,
    saved,
)

__all__ = ["path"]  # the fixture, shared with test_encrypted_file.py


# A store written by this version of the format (passphrase PASSPHRASE, log2 N 14, one
# secret `demo`): every later version must still open it, so no change to the key
# derivation, the verifier or the layout goes unnoticed.
KNOWN_FILE = bytes.fromhex(
    "47575345435254020e0801853f1a6e367a0d279c532db02fd28c868231711d2b3784c62bda579043"
    "b37efe0bee20ddfbc28f952d101b8eb2beec475fd17042e1abd81fe82a275e9ff3c3906b9abd6a2f"
    "2d93c3075f3858c63565d333dc75c04e910b4112576eb7ef25a1b78710f85f85b36b3fab42a4f0c5"
    "b81a8ce33d834b04909a48")


def test_a_file_written_earlier_still_opens(path: Path) -> None:
    path.parent.mkdir(mode=0o700)
    path.write_bytes(KNOWN_FILE)
    path.chmod(0o600)
    assert new_store(path).get("demo").reveal() == "not-a-real-secret"  # type: ignore[union-attr]
    assert "wrong passphrase" in error_of(path, b"another-passphrase")


@pytest.mark.parametrize("log2_n", [13, 19])
def test_a_cost_outside_the_range_is_refused_when_the_store_is_made(path: Path,
                                                                     log2_n: int) -> None:
    with pytest.raises(ValueError, match=r"log2_n must be in 14\.\.18"):
        EncryptedFileStore(path, PASSPHRASE, log2_n=log2_n)
    assert not path.parent.exists()


def test_a_file_of_exactly_the_minimum_size_is_not_truncated_but_unauthentic(
        path: Path) -> None:
    data = saved(path, anthropic=VALUE)
    path.write_bytes(data[:MIN_SIZE])
    assert "was modified or corrupted: authentication failed" in error_of(path)


def test_a_reader_that_cannot_have_the_lock_file_reads_unlocked(path: Path) -> None:
    store = new_store(path)
    store.put("anthropic", Secret(VALUE))
    store.lock_path.unlink()
    store.lock_path.mkdir()  # opening it for writing fails, whoever runs the test
    assert new_store(path).get("anthropic").reveal() == VALUE  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="cannot lock"):
        new_store(path).put("openai", Secret("sk-" + "o" * 40))


@pytest.mark.parametrize("table", [{"anthropic": 1}, {"anthropic": None}, ["anthropic"]])
def test_an_authentic_file_without_a_table_of_strings_is_refused(path: Path,
                                                                  table: object) -> None:
    from gateway_cli.keys.encrypted_file import HEADER_V1, Params, derive_keys

    params = Params(FAST, 8, 1, b"\x07" * 16)
    keys = derive_keys(PASSPHRASE, params)
    nonce = b"\x01" * 12
    header = HEADER_V1.pack(MAGIC, 1, FAST, 8, 1, params.salt, keys.verifier, nonce)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(header + AESGCM(keys.aes).encrypt(nonce, json.dumps(table).encode(),
                                                        header))
    path.chmod(0o600)
    assert "decrypted but holds no secrets table" in error_of(path)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_writes_leave_no_file_descriptor_open(path: Path) -> None:
    store = new_store(path)
    store.put("anthropic", Secret(VALUE))
    before = len(os.listdir("/proc/self/fd"))
    for i in range(20):
        store.put(f"k{i}", Secret(VALUE))
        store.get("anthropic")
    assert len(os.listdir("/proc/self/fd")) == before
