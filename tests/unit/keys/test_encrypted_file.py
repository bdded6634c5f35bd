"""The encrypted file store: round trips, every kind of damage, permissions and concurrent writers.

Files are created with scrypt cost 2**14 to keep the suite fast; one test
checks that the store's default is the real 2**17.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway_cli.keys.encrypted_file import HEADER, MAGIC, MIN_SIZE, EncryptedFileStore
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError

PASSPHRASE = b"orange-gateway-passphrase"
VALUE = "sk-ant-api03-" + "v" * 40
FAST = 14
# Byte offsets in the header: magic 0..6, version 7, log2 N 8, r 9, p 10, salt 11..26,
# verifier 27..58, nonce 59..70, checksum 71..86.
VERSION_AT, LOG2_N_AT, R_AT, P_AT, SALT_AT, VERIFIER_AT, NONCE_AT = 7, 8, 9, 10, 11, 27, 59
CHECKSUM_AT = 71

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
    (VERSION_AT, 3, "has secrets file format version 3, this gateway reads versions 1 and 2"),
    (VERSION_AT, 0, "has secrets file format version 0"),
    # Every other header byte is covered by the header checksum: damage anywhere in it,
    # the salt and the verifier included, reads as a modified file, not a wrong passphrase.
    (LOG2_N_AT, 30, "was modified or corrupted: its header does not match its checksum"),
    (LOG2_N_AT, 15, "was modified or corrupted: its header does not match its checksum"),
    (R_AT, 0, "was modified or corrupted"),
    (P_AT, 5, "was modified or corrupted"),
    (SALT_AT, None, "was modified or corrupted"),
    (SALT_AT + 15, None, "was modified or corrupted"),
    (VERIFIER_AT + 5, None, "was modified or corrupted"),
    (NONCE_AT, None, "was modified or corrupted"),
    (CHECKSUM_AT, None, "was modified or corrupted"),
    (HEADER.size - 1, None, "was modified or corrupted"),
    (HEADER.size, None, "was modified or corrupted: authentication failed"),
])
def test_damaged_header_is_refused_clearly(path: Path, at: int, value: int | None,
                                           expected: str) -> None:
    saved(path, anthropic=VALUE)
    damaged(path, at, value)
    assert expected in error_of(path)


def rewritten_header(path: Path, **fields: int) -> None:
    """Change header fields and recompute the checksum, as a deliberate attacker would."""
    data = bytearray(path.read_bytes())
    for name, value in fields.items():
        data[{"log2_n": LOG2_N_AT, "r": R_AT, "p": P_AT, "salt": SALT_AT}[name]] = value
    data[CHECKSUM_AT:HEADER.size] = hashlib.sha256(
        b"gateway secrets header" + bytes(data[:CHECKSUM_AT])).digest()[:16]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("fields", [{"log2_n": 22}, {"r": 16}, {"p": 4},
                                    {"log2_n": 22, "r": 16, "p": 4}, {"log2_n": 13}])
def test_a_costly_header_is_refused_before_any_key_derivation(
        path: Path, fields: dict[str, int]) -> None:
    saved(path, anthropic=VALUE)
    rewritten_header(path, **fields)
    started = time.monotonic()
    assert "unreasonable scrypt parameters" in error_of(path)
    assert time.monotonic() - started < 1.0


def test_a_rewritten_cost_or_salt_still_fails_as_the_key_changes(path: Path) -> None:
    """With the checksum recomputed, a valid other cost or salt reads as a wrong passphrase:
    an attacker can make the file unusable, never make it decrypt to something else."""
    saved(path, anthropic=VALUE)
    rewritten_header(path, log2_n=15)
    assert "wrong passphrase" in error_of(path)


def test_scrypt_memory_is_capped() -> None:
    from gateway_cli.keys.encrypted_file import MAX_SCRYPT_MEMORY, Params, derive_keys

    with pytest.raises(ValueError, match="memory limit"):
        derive_keys(b"x", Params(log2_n=20, r=8, p=1, salt=b"s" * 16))
    assert MAX_SCRYPT_MEMORY > 128 * 8 * 2**18


def test_a_version_1_file_is_read_and_rewritten_as_version_2(path: Path) -> None:
    from gateway_cli.keys.encrypted_file import HEADER_V1, Params, derive_keys

    params = Params(FAST, 8, 1, b"\x07" * 16)
    keys = derive_keys(PASSPHRASE, params)
    nonce = b"\x01" * 12
    header = HEADER_V1.pack(MAGIC, 1, FAST, 8, 1, params.salt, keys.verifier, nonce)
    plain = json.dumps({"anthropic": VALUE}).encode()
    path.parent.mkdir(mode=0o700)
    path.write_bytes(header + AESGCM(keys.aes).encrypt(nonce, plain, header))
    path.chmod(0o600)
    store = new_store(path)
    assert store.get("anthropic").reveal() == VALUE  # type: ignore[union-attr]
    store.put("openai", Secret("sk-" + "o" * 40))
    data = path.read_bytes()
    assert data[VERSION_AT] == 2 and data[SALT_AT:VERIFIER_AT] == params.salt
    assert new_store(path).get("anthropic").reveal() == VALUE  # type: ignore[union-attr]


def test_a_fifo_or_a_link_at_the_store_path_is_refused_without_blocking(path: Path) -> None:
    path.parent.mkdir(mode=0o700)
    os.mkfifo(path, 0o600)
    started = time.monotonic()
    for action in (lambda s: s.get("anthropic"), lambda s: s.put("a", Secret("v"))):
        with pytest.raises(StoreError, match="not a regular file"):
            action(new_store(path))
    assert time.monotonic() - started < 2
    path.unlink()
    target = path.with_name("real.enc")
    saved(target, anthropic=VALUE)
    path.symlink_to(target)
    before = target.read_bytes()
    for action in (lambda s: s.get("anthropic"), lambda s: s.put("a", Secret("v"))):
        with pytest.raises(StoreError, match="symbolic link"):
            action(new_store(path))
    assert path.is_symlink() and target.read_bytes() == before


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
    assert data[:len(MAGIC) + 1] == MAGIC + b"\x02"
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
