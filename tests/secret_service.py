"""A real, private Secret Service for the keyring tests: its own D-Bus and gnome-keyring.

The store code is tested against the daemon desktops actually run rather
than a fake of the keyring library, and on a bus of its own so a developer's
login keyring is never read or written. The bus uses a minimal config
instead of `--session`: the stock session config lists the system's D-Bus
service files, and a call that arrived before gnome-keyring had claimed its
name would make dbus-daemon start a second, locked gnome-keyring that
nobody stops. Both daemons run in the foreground as children of the test
process so teardown can wait for them, and nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_program

UNLOCK_PASSWORD = b"gateway-test-login"
READY_TIMEOUT = 15.0
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass(frozen=True)
class SecretService:
    env: dict[str, str]
    home: Path
    root: Path
    pids: tuple[int, ...]


def child_env(home: Path, runtime_dir: Path, bus_address: str) -> dict[str, str]:
    """Only what a child needs, so no keyring setting of the developer's leaks in."""
    return {
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "DBUS_SESSION_BUS_ADDRESS": bus_address,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }


def run_python(code: str, env: Mapping[str, str], *args: str, input: str | None = None,
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`python -c code args...` in a clean process: keyring picks its backend once per process."""
    return subprocess.run([sys.executable, "-c", code, *args], env=dict(env), input=input,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _start_bus(root: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = root / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=root / "bus"))
    with log.open("ab") as err:
        bus = subprocess.Popen(
            [require_program("dbus-daemon"), f"--config-file={config}", "--nofork",
             "--print-address=1", "--print-pid=1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    pid = bus.stdout.readline().decode().strip()
    if not address or pid != str(bus.pid):
        _stop(bus)
        raise RuntimeError(f"dbus-daemon did not start:\n{log.read_text(errors='replace')}")
    return bus, address


def _start_keyring(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """--unlock reads the login password from stdin, which creates and unlocks the keyring."""
    with log.open("ab") as out:
        daemon = subprocess.Popen(
            [require_program("gnome-keyring-daemon"), "--foreground", "--unlock",
             "--components=secrets"],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env)
    assert daemon.stdin is not None
    daemon.stdin.write(UNLOCK_PASSWORD)
    daemon.stdin.close()
    return daemon


def _wait_until_usable(env: dict[str, str], daemon: subprocess.Popen[bytes],
                       log: Path) -> None:
    """Ready means keyring's own Secret Service backend answers a lookup on this bus."""
    from keyring.backends import SecretService as backend

    deadline = time.monotonic() + READY_TIMEOUT
    last: Exception | None = None
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"):
            patch.setenv(name, env[name])
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                break
            try:
                if backend.Keyring.priority > 0:
                    backend.Keyring().get_password("gateway", "__probe__")
                    return
            except Exception as err:  # not up yet: the name is unowned or the bus refuses
                last = err
            time.sleep(0.05)
    raise RuntimeError(f"gnome-keyring-daemon did not become usable ({last!r}):\n"
                       f"{log.read_text(errors='replace')}")


@contextmanager
def running_secret_service() -> Iterator[SecretService]:
    """A bus and an unlocked gnome-keyring in a fresh 0700 directory, all gone on exit."""
    require_program("dbus-daemon")
    require_program("gnome-keyring-daemon")
    root = Path(tempfile.mkdtemp(prefix="gw-secret-service-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        home, runtime_dir = _private_dir(root / "home"), _private_dir(root / "run")
        log = root / "daemons.log"
        bus, address = _start_bus(root, log)
        processes.append(bus)
        env = child_env(home, runtime_dir, address)
        daemon = _start_keyring(env, log)
        processes.append(daemon)
        _wait_until_usable(env, daemon, log)
        yield SecretService(env=env, home=home, root=root, pids=(bus.pid, daemon.pid))
    finally:
        for process in reversed(processes):  # the keyring first, while its bus is still up
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def secret_service() -> Iterator[SecretService]:
    """Shared by a module's tests (start-up costs a fraction of a second); use distinct names."""
    with running_secret_service() as service:
        yield service


@pytest.fixture
def no_secret_service(tmp_path: Path) -> dict[str, str]:
    """A child env like a headless server's: the session bus address leads nowhere."""
    home, runtime_dir = _private_dir(tmp_path / "home"), _private_dir(tmp_path / "run")
    return child_env(home, runtime_dir, f"unix:path={tmp_path / 'no-such-bus'}")
