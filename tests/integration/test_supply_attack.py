"""The March 2026 attack, end to end: a new release of a locked package with a `.pth` payload.

The LiteLLM 1.82.8 release shipped `litellm_init.pth`, which Python runs at
every interpreter start. Here a locked dependency (sniffio) gets the same
treatment: a wheel of a "newer" version adding `sniffio_init.pth`, installed
with pip into a copy of the developer's venv. Then plain `gateway serve`,
with no flags, must refuse before it reads any secret, naming the file.

The payload itself runs when the interpreter starts, before any check can
(the test shows that too): what stops the attack is installing only from the
hash-pinned lock, the release binary, and `gateway verify` in CI before
deployment; the start-up refusal limits the damage to what the payload did in
that instant (SECURITY.md says so).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
    / "site-packages"
PAYLOAD = ('import os; p = os.environ.get("ATTACK_MARKER"); '
           'p and open(p, "a").write("payload ran\\n")\n')


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_poisoned_wheel(out: Path) -> Path:
    """sniffio 1.3.1's files as "1.3.2", plus a .pth that runs at every start."""
    version = "1.3.2"
    info = f"sniffio-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((SITE / "sniffio").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(SITE).as_posix()] = path.read_bytes()
    metadata = (SITE / "sniffio-1.3.1.dist-info" / "METADATA").read_text()
    files[f"{info}/METADATA"] = metadata.replace("Version: 1.3.1", f"Version: {version}").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: attacker\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n")
    files[f"{info}/top_level.txt"] = b"sniffio\n"
    files["sniffio_init.pth"] = PAYLOAD.encode()
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"sniffio-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@dataclass
class Poisoned:
    python: Path
    site: Path
    root: Path


def hard_linked_copy(venv: Path) -> None:
    """A copy of the developer's venv: hard links, so it is quick; pip replaces files
    (new inodes) rather than writing into them, so the original is never touched. The
    venv's real path is copied: `cp -a` of a symlinked .venv (a worktree sharing one)
    would copy the link, and pip would then change the developer's own venv."""
    subprocess.run(["cp", "-al", os.path.realpath(sys.prefix), str(venv)], check=True)
    assert not venv.is_symlink() and (venv / "bin" / "python").exists()


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Poisoned]:
    root = tmp_path_factory.mktemp("attack")
    venv = root / "venv"
    hard_linked_copy(venv)
    wheel = build_poisoned_wheel(root)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    assert installed.returncode == 0, installed.stderr
    site = venv / SITE.relative_to(sys.prefix)
    assert (site / "sniffio_init.pth").is_file()
    assert (SITE / "sniffio-1.3.1.dist-info").is_dir()  # the original venv is untouched
    assert not (SITE / "sniffio_init.pth").exists()
    yield Poisoned(python, site, root)
    shutil.rmtree(venv, ignore_errors=True)


def _serve(poisoned: Poisoned, *args: str, timeout: float = 60,
           ) -> tuple[subprocess.CompletedProcess[str], Path]:
    marker = poisoned.root / f"marker-{free_port()}"
    config = poisoned.root / "gateway.toml"
    config.write_text('[[providers]]\nname = "oa"\nkind = "openai"\n'
                      'secret = "env:ATTACK_TEST_PROVIDER_KEY"\n')
    env = {k: v for k, v in os.environ.items() if k != "ATTACK_TEST_PROVIDER_KEY"}
    env.update(ATTACK_MARKER=str(marker), GATEWAY_HOME=str(poisoned.root / "home"))
    result = subprocess.run(
        [str(poisoned.python), "-m", "gateway_cli", "serve", "--port", str(free_port()),
         "--config", str(config), *args], capture_output=True, text=True, timeout=timeout,
        check=False, env=env, stdin=subprocess.DEVNULL)
    return result, marker


def test_plain_serve_refuses_naming_the_payload_before_reading_any_secret(
        poisoned: Poisoned) -> None:
    result, marker = _serve(poisoned)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    refusal = lines[-1]
    assert refusal.startswith("gateway: refusing to start: ")
    assert f"{poisoned.site / 'sniffio_init.pth'}" in refusal
    assert "(hooks.pth-import)" in refusal and "run `gateway verify`" in refusal
    # It stopped before the secrets: the unset provider key was never looked for.
    assert "ATTACK_TEST_PROVIDER_KEY" not in result.stderr
    # The payload ran at interpreter start all the same: no check inside the process can
    # come first. The lock, the binary and `gateway verify` in CI are what prevent it.
    assert "payload ran" in marker.read_text()


def test_verify_names_the_payload_and_the_version_change(poisoned: Poisoned) -> None:
    result = subprocess.run(
        [str(poisoned.python), "-m", "gateway_cli", "verify", "--dev", "--no-cache"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    out = result.stdout
    assert "sniffio_init.pth" in out and "hooks.pth-import" in out
    assert "lock.version" in out and "sniffio" in out


def _serve_until_listening(python: Path, log: Path, home: Path, *args: str) -> str:
    """`gateway serve` in that environment until it listens, then stopped: its log."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(python), "-m", "gateway_cli", "serve", "--port", str(free_port()), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "GATEWAY_HOME": str(home)})
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return log.read_text()


def test_warn_mode_serves_but_says_so_loudly(poisoned: Poisoned) -> None:
    text = _serve_until_listening(poisoned.python, poisoned.root / "warn.log",
                                  poisoned.root / "home-warn", "--verify", "warn")
    assert "SERVING DESPITE SUPPLY-CHAIN ERRORS (--verify warn)" in text
    assert "sniffio_init.pth" in text


def test_a_checkout_install_without_the_test_tools_still_starts(tmp_path: Path) -> None:
    """The README's install (runtime and build locks only, the project in place): the
    checkout's test and release locks are allowed, never required."""
    venv = tmp_path / "venv"
    hard_linked_copy(venv)
    python = venv / "bin" / "python"
    removed = subprocess.run(
        [str(python), "-m", "pip", "uninstall", "-y", "-q", "hypothesis", "anthropic",
         "pyinstaller"], capture_output=True, text=True, timeout=120, check=False)
    assert removed.returncode == 0, removed.stderr
    # And the interpreter's own pip, as `python -m venv` leaves it (the test lock pins
    # another version: an allowed pin at another version is judged as an extra).
    import ensurepip

    [bundled] = (Path(ensurepip.__file__).parent / "_bundled").glob("pip-*.whl")
    downgraded = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--force-reinstall", "--disable-pip-version-check", str(bundled)],
        capture_output=True, text=True, timeout=120, check=False)
    assert downgraded.returncode == 0, downgraded.stderr
    assert (SITE / "hypothesis").is_dir()  # the original venv is untouched
    text = _serve_until_listening(python, tmp_path / "serve.log", tmp_path / "home")
    assert "start-up verification passed" in text
