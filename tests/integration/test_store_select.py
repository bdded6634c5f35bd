"""`open_store`: which backend each --secrets value opens, and what it says when none can be used.

Anything that consults the keyring runs in a child process with a chosen
environment (a private Secret Service, or a bus address that leads nowhere),
since the keyring library picks its backend once per process.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway_cli.keys.encrypted_file import LOG2_N_RANGE, EncryptedFileStore
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError, open_store
from tests.secret_service import SecretService, run_python

VALUE = "sk-proj-" + "f" * 40
PASSPHRASE = b"select-test-passphrase"

OPEN = """
import sys
from pathlib import Path
from gateway_cli.keys.store import StoreError, open_store

spec, passphrase = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
try:
    store = open_store(spec, home=Path.home(), passphrase=passphrase)
except StoreError as err:
    print("error:", err)
else:
    secret = store.get("openai")
    print(store.kind, store.describe(), secret.reveal() if secret else None, sep="|")
"""

HEADLESS = ("no usable OS keyring here (no Secret Service on the session bus); on a headless "
            "server use the encrypted file store: --secrets file with --passphrase-fd N or "
            "--passphrase-file PATH")


def open_in_child(env: dict[str, str], spec: str, passphrase: str | None = None) -> str:
    result = run_python(OPEN, env, spec, *([passphrase] if passphrase else []))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def file_store_in(home: Path) -> Path:
    """A fast-to-open store holding one value, and a 0600 key file for its passphrase."""
    EncryptedFileStore(home / "secrets.enc", PASSPHRASE, log2_n=min(LOG2_N_RANGE)).put(
        "openai", Secret(VALUE))
    key = home / "passphrase"
    key.write_bytes(PASSPHRASE + b"\n")
    key.chmod(0o600)
    return key


def test_keyring_without_secret_service(no_secret_service: dict[str, str]) -> None:
    assert open_in_child(no_secret_service, "keyring") == (
        "error: the OS keyring is not usable here (no Secret Service on the session bus); "
        "use the encrypted file store: --secrets file with --passphrase-fd N or "
        "--passphrase-file PATH")


def test_auto_without_keyring_or_file_says_what_to_do(no_secret_service: dict[str, str]) -> None:
    assert open_in_child(no_secret_service, "auto") == f"error: {HEADLESS}"


@pytest.mark.parametrize(("backend", "reason"), [
    ("keyring.backends.null.Keyring", "the keyring is disabled (null backend)"),
    ("keyring.backends.fail.Keyring", "no keyring backend is available (fail backend)"),
])
def test_keyring_backends_that_store_nothing_are_refused(
        secret_service: SecretService, backend: str, reason: str) -> None:
    """Even with a working Secret Service, a configured do-nothing backend is not used."""
    env = {**secret_service.env, "PYTHON_KEYRING_BACKEND": backend}
    assert open_in_child(env, "keyring").startswith(f"error: the OS keyring is not usable here "
                                                    f"({reason}); ")


def test_auto_uses_an_existing_file_without_keyring(no_secret_service: dict[str, str]) -> None:
    key = file_store_in(Path(no_secret_service["HOME"]))
    path = Path(no_secret_service["HOME"]) / "secrets.enc"
    assert open_in_child(no_secret_service, "auto", f"file:{key}") == (
        f"file|encrypted file {path}|{VALUE}")


def test_auto_with_a_file_needs_a_passphrase_source(no_secret_service: dict[str, str]) -> None:
    file_store_in(Path(no_secret_service["HOME"]))
    output = open_in_child(no_secret_service, "auto")
    assert output.startswith("error: cannot prompt for the secrets passphrase without a terminal")
    assert output.endswith("--passphrase-fd N or --passphrase-file PATH")


def test_auto_prefers_a_usable_keyring_over_the_file(secret_service: SecretService) -> None:
    file_store_in(secret_service.home)
    try:
        assert open_in_child(secret_service.env, "auto") == (
            "keyring|OS keyring (SecretService)|None")
    finally:
        (secret_service.home / "secrets.enc").unlink()


def test_explicit_file_spec_ignores_the_keyring(secret_service: SecretService) -> None:
    key = file_store_in(secret_service.home)
    try:
        assert open_in_child(secret_service.env, "file", f"file:{key}").startswith("file|")
    finally:
        (secret_service.home / "secrets.enc").unlink()


def test_file_missing_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        open_store("file", home=tmp_path, passphrase="prompt", interactive=False)
    assert str(info.value) == (f"no secrets file at {tmp_path / 'secrets.enc'}; run `gateway "
                               "keys add` to create one, or pass the right path with "
                               "--secrets file:PATH")


def test_file_create_with_a_relative_path_and_an_fd(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The one store created at the real scrypt cost through `open_store`."""
    monkeypatch.chdir(tmp_path)
    read_end, write_end = os.pipe()
    os.write(write_end, PASSPHRASE + b"\n")
    os.close(write_end)
    try:
        store = open_store("file:conf/my.enc", home=tmp_path / "unused", create=True,
                           passphrase=f"fd:{read_end}", interactive=False)
    finally:
        os.close(read_end)
    path = tmp_path / "conf" / "my.enc"
    assert store.kind == "file" and store.describe() == f"encrypted file {path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store.put("openai", Secret(VALUE))
    assert EncryptedFileStore(path, PASSPHRASE).get("openai") == Secret(VALUE)


def test_wrong_passphrase_fails_at_open(tmp_path: Path) -> None:
    file_store_in(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_bytes(b"not it")
    wrong.chmod(0o600)
    with pytest.raises(StoreError, match=r"^wrong passphrase for "):
        open_store("file", home=tmp_path, passphrase=f"file:{wrong}")


@pytest.mark.parametrize("spec", ["sk-proj-oops", "file:", "keyring:x", "plain"])
def test_bad_specs_are_refused_without_echo(tmp_path: Path, spec: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(spec, home=tmp_path)
    assert "oops" not in str(info.value)
    assert "--secrets" in str(info.value)
