"""Provider keys: what the index records (never values) and how rotation keeps the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway_cli.keys import index
from gateway_cli.keys.encrypted_file import EncryptedFileStore
from gateway_cli.keys.index import KeyIndexError
from gateway_cli.keys.refs import Secret

OLD = "sk-test-" + "a1B2" * 10 + "WXYZ"
NEW = "sk-test-" + "c3D4" * 10 + "QRST"


@pytest.fixture
def store(tmp_path: Path) -> EncryptedFileStore:
    s = EncryptedFileStore(tmp_path / "secrets.enc", b"passphrase", log2_n=14)
    s.create()
    return s


def test_add_records_a_fingerprint_never_the_value(tmp_path: Path,
                                                   store: EncryptedFileStore) -> None:
    record = index.add_key(store, tmp_path, "openai", "work", Secret(OLD), now=5.0)
    assert record.fingerprint == "…WXYZ" and record.reference == "store:work"
    assert store.get("work") == Secret(OLD)
    raw = (tmp_path / "keys.json").read_text()
    assert OLD not in raw and OLD[:12] not in raw
    assert json.loads(raw)["keys"]["work"]["provider"] == "openai"
    assert [r.name for r in index.list_keys(tmp_path)] == ["work"]


def test_add_refuses_duplicates_bad_names_and_empty_secrets(
        tmp_path: Path, store: EncryptedFileStore) -> None:
    index.add_key(store, tmp_path, "openai", "work", Secret(OLD))
    with pytest.raises(KeyIndexError, match="already exists"):
        index.add_key(store, tmp_path, "openai", "work", Secret(NEW))
    assert store.get("work") == Secret(OLD)  # nothing overwritten
    index.add_key(store, tmp_path, "openai", "work", Secret(NEW), replace=True)
    assert store.get("work") == Secret(NEW)
    for bad in ("", "-x", "a b", "x" * 65, "../etc"):
        with pytest.raises(KeyIndexError, match="key name"):
            index.add_key(store, tmp_path, "openai", bad, Secret(OLD))
    with pytest.raises(KeyIndexError, match="empty"):
        index.add_key(store, tmp_path, "openai", "blank", Secret("   "))
    assert index.get_key(tmp_path, "blank") is None


def test_rotate_keeps_the_old_value_only_with_grace(tmp_path: Path,
                                                    store: EncryptedFileStore) -> None:
    index.add_key(store, tmp_path, "openai", "work", Secret(OLD), now=0.0)
    record = index.rotate_key(store, tmp_path, "work", Secret(NEW), grace=30.0, now=10.0)
    assert record.previous_until == 40.0 and record.rotated == 10.0
    assert store.get("work") == Secret(NEW)
    assert store.get("work" + index.PREVIOUS_SUFFIX) == Secret(OLD)
    third = "sk-test-" + "e5F6" * 10 + "MNOP"
    record = index.rotate_key(store, tmp_path, "work", Secret(third), grace=0.0, now=20.0)
    assert record.previous_until is None
    assert store.get("work" + index.PREVIOUS_SUFFIX) is None


def test_rotate_refuses_unknown_same_and_empty(tmp_path: Path,
                                               store: EncryptedFileStore) -> None:
    with pytest.raises(KeyIndexError, match="no stored key"):
        index.rotate_key(store, tmp_path, "work", Secret(NEW))
    index.add_key(store, tmp_path, "openai", "work", Secret(OLD))
    with pytest.raises(KeyIndexError, match="same as the current"):
        index.rotate_key(store, tmp_path, "work", Secret(OLD))
    with pytest.raises(KeyIndexError, match="empty"):
        index.rotate_key(store, tmp_path, "work", Secret(""))
    assert store.get("work") == Secret(OLD)


def test_remove_deletes_value_and_record(tmp_path: Path, store: EncryptedFileStore) -> None:
    index.add_key(store, tmp_path, "openai", "work", Secret(OLD))
    index.rotate_key(store, tmp_path, "work", Secret(NEW), grace=30.0)
    assert index.remove_key(store, tmp_path, "work")
    assert store.get("work") is None and store.get("work" + index.PREVIOUS_SUFFIX) is None
    assert index.list_keys(tmp_path) == []
    assert not index.remove_key(store, tmp_path, "work")
