"""The encrypted file store: round trips, every kind of damage, permissions and concurrent writers.

Files are created with scrypt cost 2**14 to keep the suite fast; one test
checks that the store's default is the real 2**17.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway_cli.keys.encrypted_file import HEADER, MAGIC, MIN_SIZE, EncryptedFileStore
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError

PASSPHRASE = b"orange-gateway-passphrase"
VALUE = "sk-ant-api03-" + "v" * 40
FAST = 14
# Byte offsets in the header: magic 0..6, version 7, log2 N 8, r 9, p 10, salt 11..26,
# verifier 27..58, nonce 59..70.
VERSION_AT, LOG2_N_AT, R_AT, P_AT, SALT_AT, VERIFIER_AT, NONCE_AT = 7, 8, 9, 10, 11, 27, 59

WRITER = """
import sys
from gateway_cli.keys.encrypted_file import EncryptedFileStore
from gateway_cli.keys.refs import Secret
path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = EncryptedFileStore(path, sys.stdin.buffer.read(), log2_n=14)
for i in range(count):
    store.put(f"{prefix}-{i}", Secret(f"value-{prefix}-{i}"))
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "secrets.enc"


def new_store(path: Path, passphrase: bytes = PASSPHRASE) -> EncryptedFileStore:
    return EncryptedFileStore(path, passphrase, log2_n=FAST)


def saved(path: Path, **secrets: str) -> bytes:
    store = new_store(path)
    for name, value in secrets.items():
        store.put(name, Secret(value))
    return path.read_bytes()


def error_of(path: Path, passphrase: bytes = PASSPHRASE) -> str:
    with pytest.raises(StoreError) as info:
        new_store(path, passphrase).get("anthropic")
    message = str(info.value)
    assert "\n" not in message and VALUE not in message
    assert PASSPHRASE.decode() not in message
    return message


def damaged(path: Path, at: int, value: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[at] = data[at] ^ 0x01 if value is None else value
    path.write_bytes(bytes(data))


def test_round_trip_across_store_objects(path: Path) -> None:
    new_store(path).put("anthropic", Secret(VALUE))
    reopened = new_store(path)
    assert reopened.get("anthropic") == Secret(VALUE)
    assert reopened.get("missing") is None
    reopened.put("openai", Secret("sk-other"))
    assert reopened.delete("anthropic") is True
    assert reopened.delete("anthropic") is False
    third = new_store(path)
    assert third.get("anthropic") is None and third.get("openai") == Secret("sk-other")
    assert third.kind == "file" and third.describe() == f"encrypted file {path}"


def test_rewrite_keeps_salt_and_cost_and_uses_a_fresh_nonce(path: Path) -> None:
    first = saved(path, anthropic=VALUE)
    new_store(path).put("anthropic", Secret(VALUE))
    second = path.read_bytes()
    assert first[:NONCE_AT] == second[:NONCE_AT]
    assert first[NONCE_AT:HEADER.size] != second[NONCE_AT:HEADER.size]


def test_delete_of_a_missing_name_does_not_rewrite(path: Path) -> None:
    before = saved(path, anthropic=VALUE)
    assert new_store(path).delete("nothing") is False
    assert path.read_bytes() == before


def test_wrong_passphrase_is_told_apart_and_changes_nothing(path: Path) -> None:
    before = saved(path, anthropic=VALUE)
    assert error_of(path, b"not the passphrase") == f"wrong passphrase for {path}"
    with pytest.raises(StoreError, match="wrong passphrase"):
        new_store(path, b"not the passphrase").put("other", Secret("x"))
    assert path.read_bytes() == before


@pytest.mark.parametrize("from_end", [1, 17, 30])
def test_modified_ciphertext_fails_authentication(path: Path, from_end: int) -> None:
    saved(path, anthropic=VALUE)
    damaged(path, len(path.read_bytes()) - from_end)
    assert error_of(path) == (f"{path} was modified or corrupted: authentication failed; "
                              "restore it from a backup")


@pytest.mark.parametrize(("at", "value", "expected"), [
    (0, None, "is not a gateway secrets file (bad magic)"),
    (VERSION_AT, 2, "has secrets file format version 2, this gateway reads version 1"),
    (VERSION_AT, 0, "has secrets file format version 0"),
    (LOG2_N_AT, 30, "unreasonable scrypt parameters (log2 N=30, r=8, p=1)"),
    (LOG2_N_AT, 13, "unreasonable scrypt parameters (log2 N=13"),
    (R_AT, 0, "unreasonable scrypt parameters (log2 N=14, r=0, p=1)"),
    (R_AT, 17, "r=17"),
    (P_AT, 5, "p=5"),
    (NONCE_AT, None, "was modified or corrupted: authentication failed"),
    (HEADER.size - 1, None, "was modified or corrupted: authentication failed"),
    # The salt and the verifier can only be checked with the key they feed, so damage
    # there reads as a wrong passphrase: the file is still refused, not misread.
    (SALT_AT, None, "wrong passphrase for"),
    (VERIFIER_AT + 5, None, "wrong passphrase for"),
])
def test_damaged_header_is_refused_clearly(path: Path, at: int, value: int | None,
                                           expected: str) -> None:
    saved(path, anthropic=VALUE)
    damaged(path, at, value)
    assert expected in error_of(path)


def test_a_valid_other_cost_in_the_header_is_used(path: Path) -> None:
    """The header's cost is authenticated too, so changing it to a valid value still fails."""
    saved(path, anthropic=VALUE)
    damaged(path, LOG2_N_AT, 15)
    assert "wrong passphrase" in error_of(path)


@pytest.mark.parametrize("length", [0, 3, len(MAGIC), len(MAGIC) + 1, 40, HEADER.size,
                                    MIN_SIZE - 1])
def test_truncated_file(path: Path, length: int) -> None:
    data = saved(path, anthropic=VALUE)
    path.write_bytes(data[:length])
    assert error_of(path) == f"{path} is truncated ({length} bytes); restore it from a backup"


def test_truncated_ciphertext_fails_authentication(path: Path) -> None:
    data = saved(path, anthropic=VALUE)
    path.write_bytes(data[:-1])
    assert "modified or corrupted" in error_of(path)


@pytest.mark.parametrize("content", [b"hello", b'{"anthropic": "sk-..."}' * 10, b"GWSECRX1" * 20])
def test_not_a_secrets_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(mode=0o700)
    path.write_bytes(content)
    path.chmod(0o600)
    assert "is not a gateway secrets file (bad magic)" in error_of(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_file_others_can_read_is_refused(path: Path, mode: int) -> None:
    saved(path, anthropic=VALUE)
    path.chmod(mode)
    assert error_of(path) == f"{path} is readable by other users; run: chmod 600 {path}"
    with pytest.raises(StoreError, match="chmod 600"):
        new_store(path).put("x", Secret("y"))


def test_missing_file_says_how_to_create_one(path: Path) -> None:
    assert "run `gateway keys add` to create one" in error_of(path)
    assert not path.parent.exists()  # a read creates nothing: no directory
    path.parent.mkdir(mode=0o700)
    assert "run `gateway keys add` to create one" in error_of(path)
    with pytest.raises(StoreError, match="no secrets file"):
        new_store(path).delete("anthropic")
    assert list(path.parent.iterdir()) == []  # and no lock file, nor a new store


def test_permissions_of_file_lock_and_directory(path: Path) -> None:
    saved(path, anthropic=VALUE)
    lock = path.with_name("secrets.enc.lock")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["secrets.enc", "secrets.enc.lock"]


def test_nothing_readable_on_disk_or_in_messages(path: Path) -> None:
    store = new_store(path)
    store.put("anthropic", Secret(VALUE))
    for name in ("secrets.enc", "secrets.enc.lock"):
        raw = path.with_name(name).read_bytes()
        assert VALUE.encode() not in raw and PASSPHRASE not in raw and b"anthropic" not in raw
    shown = f"{store!r} {store} {store.describe()} {store.get('anthropic')!r}"
    assert VALUE not in shown and PASSPHRASE.decode() not in shown
    with pytest.raises(StoreError) as info:
        store.put("", Secret(VALUE))
    assert VALUE not in str(info.value)


def test_empty_values_and_passphrases_are_refused(path: Path) -> None:
    with pytest.raises(StoreError, match="empty secret"):
        new_store(path).put("anthropic", Secret(""))
    with pytest.raises(StoreError, match="empty passphrase"):
        EncryptedFileStore(path, b"")


def test_create_writes_an_empty_store_once(path: Path) -> None:
    store = new_store(path)
    store.create()
    created = path.read_bytes()
    store.create()
    assert path.read_bytes() == created
    assert new_store(path).get("anything") is None


def test_default_scrypt_cost_is_2_pow_17(path: Path) -> None:
    EncryptedFileStore(path, PASSPHRASE).create()
    data = path.read_bytes()
    assert data[:len(MAGIC) + 1] == MAGIC + b"\x01"
    assert (data[LOG2_N_AT], data[R_AT], data[P_AT]) == (17, 8, 1)


def test_concurrent_writers_lose_nothing(path: Path) -> None:
    """8 threads (each its own store object) and 2 processes, each adding 20 names at once."""
    new_store(path).create()
    processes = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"proc{n}", "20"],
                                  stdin=subprocess.PIPE, stderr=subprocess.PIPE)
                 for n in range(2)]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(PASSPHRASE)
        process.stdin.close()
    errors: list[BaseException] = []

    def write(prefix: str) -> None:
        try:
            store = new_store(path)
            for i in range(20):
                store.put(f"{prefix}-{i}", Secret(f"value-{prefix}-{i}"))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write, args=(f"thread{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
        if process.stderr:
            process.stderr.close()
    assert errors == []
    store = new_store(path)
    prefixes = [f"thread{n}" for n in range(8)] + ["proc0", "proc1"]
    for prefix in prefixes:
        for i in range(20):
            assert store.get(f"{prefix}-{i}") == Secret(f"value-{prefix}-{i}"), (prefix, i)


def test_a_killed_writer_leaves_a_readable_file(path: Path) -> None:
    """SIGKILL in the middle of a stream of writes: the file is the old one or the new one."""
    new_store(path).create()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "killed", "100000"],
                              stdin=subprocess.PIPE)
    assert writer.stdin is not None
    writer.stdin.write(PASSPHRASE)
    writer.stdin.close()
    deadline = time.monotonic() + 20
    store = new_store(path)
    while store.get("killed-5") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert store.get("killed-0") == Secret("value-killed-0")
    new_store(path).put("after", Secret("still writable"))
    assert new_store(path).get("after") == Secret("still writable")
