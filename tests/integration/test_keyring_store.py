"""The keyring store against a real Secret Service: gnome-keyring on a private D-Bus.

`open_store` runs in child processes with the service's environment, because
the keyring library chooses its backend once per process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway_cli.keys.keyring_store import KeyringStore
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError
from tests.secret_service import SecretService, run_python, running_secret_service

VALUE = "sk-ant-api03-" + "s" * 40

ROUND_TRIP = """
import sys
from pathlib import Path
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import open_store

store = open_store("keyring", home=Path.home())
value = Secret(sys.stdin.read())
print(store.kind, store.describe(), repr(store), sep="|")
assert store.get("round-trip") is None
store.put("round-trip", value)
assert store.get("round-trip") == value
store.put("round-trip", Secret("replaced"))
assert store.get("round-trip") == Secret("replaced")
assert store.delete("round-trip") is True
assert store.delete("round-trip") is False
assert store.get("round-trip") is None
print("ok")
"""

PUT = """
import sys
from pathlib import Path
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import open_store

open_store("keyring", home=Path.home()).put("persisted", Secret(sys.stdin.read()))
"""

# Read back with the Secret Service backend itself and check the item's attributes, so
# the value is known to live in gnome-keyring under this state directory's service.
READ_BACK = """
import sys
from pathlib import Path
import secretstorage
from keyring.backends.SecretService import Keyring
from gateway_cli.keys.keyring_store import service_for

service = service_for(Path.home())
assert service.startswith("gateway@"), service
expected = sys.stdin.read()
print(Keyring().get_password(service, "persisted") == expected)
connection = secretstorage.dbus_init()
items = list(secretstorage.get_default_collection(connection).search_items(
    {"service": service, "username": "persisted"}))
print(len(items), items[0].get_secret().decode() == expected)
"""


def test_put_get_delete_round_trip(secret_service: SecretService) -> None:
    result = run_python(ROUND_TRIP, secret_service.env, input=VALUE)
    assert result.returncode == 0, result.stderr
    header, status = result.stdout.splitlines()
    assert header == "keyring|OS keyring (SecretService)|KeyringStore(SecretService)"
    assert status == "ok"
    assert VALUE not in result.stdout + result.stderr


def test_value_persists_in_the_secret_service(secret_service: SecretService) -> None:
    put = run_python(PUT, secret_service.env, input=VALUE)
    assert put.returncode == 0, put.stderr
    read = run_python(READ_BACK, secret_service.env, input=VALUE)
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["True", "1", "True"]


def test_service_gone_is_a_store_error_and_nothing_is_left_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A service of its own: stopped mid-use, it must fail cleanly and leave no process."""
    from keyring.backends.SecretService import Keyring

    with running_secret_service() as service:
        for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"):
            monkeypatch.setenv(name, service.env[name])
        store = KeyringStore(Keyring())
        store.put("short-lived", Secret(VALUE))
        assert store.get("short-lived") == Secret(VALUE)
    with pytest.raises(StoreError) as info:
        store.get("short-lived")
    message = str(info.value)
    assert message.startswith("the OS keyring (SecretService) could not read 'short-lived' (")
    assert message.endswith("); unlock the keyring or use --secrets file")
    assert VALUE not in message and "\n" not in message
    assert_nothing_left(service)


def assert_nothing_left(service: SecretService) -> None:
    for pid in service.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not service.root.exists()
    marker = str(service.root).encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                environ = (proc / "environ").read_bytes()
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            assert marker not in environ + cmdline, f"process {proc.name} outlived the service"


TWO_HOMES = """
import sys
from pathlib import Path
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import open_store

one = open_store("keyring", home=Path.home() / "one")
two = open_store("keyring", home=Path.home() / "two")
one.put("shared-name", Secret("first"))
print(two.get("shared-name") is None, one.get("shared-name") == Secret("first"))
"""


def test_each_state_directory_has_its_own_keyring_items(secret_service: SecretService) -> None:
    """Rotating a test's (or a second gateway's) keys never touches the user's own."""
    result = run_python(TWO_HOMES, secret_service.env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
