"""Secret references: resolution, refusal of unsafe files, and no value ever printed."""

from __future__ import annotations

import os
import time
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


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("where", ["/dev/zero", "/dev/null", "/proc/self/environ",
                                   "/sys/kernel/mm"])
def test_file_secrets_never_come_from_system_files(where: str) -> None:
    with pytest.raises(ConfigError, match="system or device file"):
        resolve(f"file:{where}", "provider 'p'")


def test_a_link_into_proc_is_refused_too(tmp_path: Path) -> None:
    link = tmp_path / "key"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(ConfigError, match="system or device file"):
        resolve(f"file:{link}", "provider 'p'")


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "key"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a regular file"):
        resolve(f"file:{fifo}", "provider 'p'")
    assert time.monotonic() - started < 1


def test_a_directory_and_an_oversized_file_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        resolve(f"file:{folder}", "provider 'p'")
    big = _private(tmp_path / "big", "k" * (64 * 1024 + 1))
    with pytest.raises(ConfigError, match="larger than 64 KiB"):
        resolve(f"file:{big}", "provider 'p'")


def test_permissions_are_checked_before_reading(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.write_text("sk-" + "s" * 30)
    shared.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users") as info:
        resolve(f"file:{shared}", "provider 'p'")
    assert "sk-" not in str(info.value)


def test_a_linked_private_file_is_read(tmp_path: Path) -> None:
    """Mounted container secrets are links into a ..data directory."""
    real = _private(tmp_path / "real", "sk-" + "r" * 30 + "\n")
    link = tmp_path / "key"
    link.symlink_to(real)
    assert resolve(f"file:{link}", "provider 'p'").reveal() == "sk-" + "r" * 30


def test_a_stuck_reload_fails_with_a_message_and_leaves_the_default_executor_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import threading

    from gateway_cli.errors import GatewayError
    from gateway_cli.server import keystate

    monkeypatch.setattr(keystate, "RELOAD_TIMEOUT", 0.2)
    release = threading.Event()

    async def scenario() -> None:
        stuck = [asyncio.ensure_future(keystate._off_loop(release.wait, 10))
                 for _ in range(6)]
        # The default executor (DNS, to_thread) still answers while every reload hangs.
        assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), 1) == 42
        for task in stuck:
            with pytest.raises(GatewayError, match="previous keys stay in force"):
                await task

    try:
        asyncio.run(scenario())
    finally:
        release.set()
