"""Secret references: resolution, refusal of unsafe files, and no value ever printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway_cli.errors import ConfigError
from gateway_cli.keys.refs import Secret, resolve, scrub_environment

VALUE = "sk-ant-api03-" + "k" * 40


def test_secret_never_prints_itself() -> None:
    secret = Secret(VALUE)
    assert VALUE not in repr(secret) and VALUE not in str(secret)
    assert VALUE not in f"{secret} {[secret]} {({'k': secret})}"
    assert secret.reveal() == VALUE
    assert secret == Secret(VALUE) and secret != Secret("other")


def test_env_reference_and_scrub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_SECRET", VALUE)
    assert resolve("env:GW_TEST_SECRET", "provider 'x'").reveal() == VALUE
    scrub_environment(["env:GW_TEST_SECRET", "file:/nowhere"])
    assert "GW_TEST_SECRET" not in os.environ


def test_missing_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_TEST_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"^provider 'x': secret env:GW_TEST_MISSING is not set"):
        resolve("env:GW_TEST_MISSING", "provider 'x'")


def test_file_reference(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(VALUE + "\n")
    path.chmod(0o600)
    assert resolve(f"file:{path}", "p").reveal() == VALUE


def test_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(VALUE)
    path.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        resolve(f"file:{path}", "p")
    assert "chmod 600" in str(info.value) and VALUE not in str(info.value)


@pytest.mark.parametrize("content", ["", "   \n"])
def test_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="is empty"):
        resolve(f"file:{path}", "p")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(f"file:{tmp_path}/none", "p")


def test_keyring_without_backend_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends.fail import Keyring as FailKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    try:
        with pytest.raises(ConfigError) as info:
            resolve("keyring:openai", "provider 'oa'")
    finally:
        keyring.set_keyring(previous)
    assert "OS keyring is not usable" in str(info.value)
    assert "env: or file:" in str(info.value)


def test_store_reference(tmp_path: Path) -> None:
    from gateway_cli.keys.encrypted_file import EncryptedFileStore

    store = EncryptedFileStore(tmp_path / "s.enc", b"pw", log2_n=14)
    store.create()
    store.put("openai", Secret(VALUE))
    assert resolve("store:openai", "provider 'oa'", store).reveal() == VALUE
    with pytest.raises(ConfigError, match="gateway keys add") as missing:
        resolve("store:other", "provider 'oa'", store)
    with pytest.raises(ConfigError, match="not open"):
        resolve("store:openai", "provider 'oa'")
    assert VALUE not in str(missing.value)
