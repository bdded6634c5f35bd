"""The release binary, built once per session with scripts/build-binary, used as users will.

The build (a venv from the lock, `gateway verify`, PyInstaller with both the
onefile and the onedir output from one analysis) takes one to two minutes
on a 2-core machine. Set GATEWAY_TEST_BINARY_DIST to the --dist folder of an
earlier `scripts/build-binary --both` to reuse it while working locally
(ignored under CI, which always builds from the checkout it tests).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from gateway_cli import __version__
from tests.conftest import IN_CI, ROOT, free_port
from tests.secret_service import SecretService

pytestmark = pytest.mark.timeout(900)

EXE = ".exe" if sys.platform == "win32" else ""


@dataclass(frozen=True)
class Binaries:
    onefile: Path
    onedir: Path  # the folder holding the executable and _internal/

    @property
    def onedir_exe(self) -> Path:
        return self.onedir / f"gateway{EXE}"


@pytest.fixture(scope="session")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> Binaries:
    given = os.environ.get("GATEWAY_TEST_BINARY_DIST")
    if given and not IN_CI:
        dist = Path(given).resolve()
    else:
        out = tmp_path_factory.mktemp("binary")
        dist = out / "dist"
        started = time.monotonic()
        done = subprocess.run(
            [str(ROOT / "scripts" / "build-binary"), "--both", "--dist", str(dist),
             "--build-dir", str(out / "build")],
            capture_output=True, text=True, timeout=840, check=False, cwd=ROOT)
        assert done.returncode == 0, f"build failed:\n{done.stdout}\n{done.stderr}"
        sys.stderr.write(f"\nrelease binary built in {time.monotonic() - started:.0f} s\n")
    found = Binaries(dist / f"gateway{EXE}", dist / "gateway-onedir")
    assert found.onefile.is_file() and found.onedir_exe.is_file(), f"no build in {dist}"
    return found


def run(exe: Path, *args: str, timeout: float = 60, input: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout,
                          check=False, input=input, env=env)


def test_version(binaries: Binaries) -> None:
    for exe in (binaries.onefile, binaries.onedir_exe):
        done = run(exe, "--version")
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"gateway {__version__}\n"
        assert done.stderr == ""


def test_verify_self_reports_a_clean_binary(binaries: Binaries) -> None:
    done = run(binaries.onefile, "verify", "--self")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("gateway verify --self: OK: 0 error(s)")
    assert "matches its pinned sha256" in done.stdout
    for exe, mode in ((binaries.onefile, "onefile"), (binaries.onedir_exe, "onedir")):
        report = json.loads(run(exe, "verify", "--self", "--format", "json").stdout)
        assert report["ok"] is True and report["errors"] == 0
        assert report["mode"] == mode
        build = report["build"]
        names = {d["name"] for d in build["distributions"]}
        assert {"litestar", "granian", "sigstore", "cryptography"} <= names
        assert not names & {"faker", "polyfactory", "pyinstaller", "setuptools", "pytest"}
        assert build["excluded"] == ["faker", "polyfactory"]
        # Every bundled file, plus the code archive inside the executable.
        assert report["files_checked"] > 100
        assert report["provenance"]["records_checked"] > 50


def test_verify_self_strict_fails_on_unknown_provenance(binaries: Binaries) -> None:
    # The index this lock was made against serves no PEP 740 provenance: every bundled
    # distribution's provenance is unknown, which --strict refuses (SECURITY.md).
    done = run(binaries.onefile, "verify", "--self", "--strict")
    assert done.returncode == 1
    assert "provenance.unknown" in done.stdout


def test_verify_without_self_is_a_usage_error_in_the_binary(binaries: Binaries) -> None:
    done = run(binaries.onefile, "verify")
    assert done.returncode == 2
    assert "--self checks the binary" in done.stderr


@pytest.fixture
def served(binaries: Binaries, tmp_path: Path) -> Iterator[tuple[str, float]]:
    """The onefile binary serving on a free port: (base URL, seconds to the first answer)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "GATEWAY_HOME": str(tmp_path / "home")}
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen([str(binaries.onefile), "serve", "--port", str(port)],
                                   stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        first = None
        while time.monotonic() - started < 30 and process.poll() is None:
            try:
                if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                    first = time.monotonic() - started
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        assert first is not None, f"no answer (exit {process.poll()}):\n{log.read_text()}"
        if sys.platform != "win32":  # uvloop is locked, and must be bundled, elsewhere
            assert "event loop: uvloop" in log.read_text(), log.read_text()
        # The classifier's C scorer is built into the wheel the binary bundles.
        assert "injection classifier: compiled scorer" in log.read_text(), log.read_text()
        yield url, first
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=15) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_serve_answers_the_openai_sdk(served: tuple[str, float]) -> None:
    url, first = served
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused-by-mock", max_retries=0)
    reply = client.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": "hello from the binary"}])
    assert reply.choices[0].message.content == "hello from the binary"
    chunks = client.chat.completions.create(
        model="mock/echo", stream=True,
        messages=[{"role": "user", "content": "streamed through one file"}])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed through one file"
    assert first < 20  # measured in bench/binary (target 1.5 s); here only a sanity bound


def test_keys_and_rotation_on_the_encrypted_file_store(binaries: Binaries,
                                                       tmp_path: Path) -> None:
    gateway = binaries.onefile
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("binary-test-passphrase\n")
    passphrase.chmod(stat.S_IRUSR | stat.S_IWUSR)
    env = {**os.environ, "GATEWAY_HOME": str(tmp_path / "home")}
    store = ["--secrets", "file", "--passphrase-file", str(passphrase)]
    key = "sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF" * 2

    added = run(gateway, "keys", "add", "openai", *store, input=key + "\n", env=env)
    assert added.returncode == 0, added.stderr
    listed = run(gateway, "keys", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "openai" in listed.stdout and key[-4:] in listed.stdout
    assert key not in listed.stdout + listed.stderr
    assert (tmp_path / "home" / "secrets.enc").is_file()

    created = run(gateway, "clients", "create", "app", env=env)
    assert created.returncode == 0, created.stderr
    old = created.stdout.strip().split()[-1]
    assert old.startswith("gwk_")
    rotated = run(gateway, "rotate-keys", "--clients", "all", "--signing", "--yes", *store,
                  env=env)
    assert rotated.returncode == 0, rotated.stderr
    name, new = rotated.stdout.split()
    assert name == "app" and new.startswith("gwk_") and new != old
    assert "new signing keys" in rotated.stderr


def test_keys_in_the_os_keyring(binaries: Binaries, secret_service: SecretService,
                                tmp_path: Path) -> None:
    # keyring finds its backends through entry points: the binary must carry their metadata.
    env = {**secret_service.env, "GATEWAY_HOME": str(tmp_path / "home")}
    key = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe" * 2
    added = run(binaries.onefile, "keys", "add", "anthropic", "--secrets", "keyring",
                input=key + "\n", env=env)
    assert added.returncode == 0, added.stderr
    listed = run(binaries.onefile, "keys", "list", env=env)
    assert "anthropic" in listed.stdout and key[-4:] in listed.stdout
    removed = run(binaries.onefile, "keys", "remove", "anthropic", "--secrets", "keyring",
                  env=env)
    assert removed.returncode == 0, removed.stderr


def _copy_onedir(binaries: Binaries, where: Path) -> Path:
    copy = where / "gateway-onedir"
    shutil.copytree(binaries.onedir, copy, symlinks=True)
    return copy


@pytest.mark.parametrize(("change", "named"), [
    ("edit", "lockfiles/provenance.json"),
    ("edit", "gateway_cli/supply/trusted_root.json"),
    ("edit", "gateway_cli/guards/injection/classifier.bin"),
    ("add", "gateway_cli/sitecustomize.py"),
    ("remove", "sbom/gateway.cdx.json"),
])
def test_onedir_with_a_bundled_file_altered_refuses_to_start(
        binaries: Binaries, tmp_path: Path, change: str, named: str) -> None:
    copy = _copy_onedir(binaries, tmp_path)
    target = copy / "_internal" / named
    if change == "edit":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    elif change == "add":
        target.write_text("print('hello from a planted file')\n")
    else:
        target.unlink()
    exe = copy / f"gateway{EXE}"
    for args in (["--version"], ["serve", "--port", str(free_port())]):
        done = run(exe, *args, timeout=30)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout == ""
        assert done.stderr.startswith("gateway: refusing to run: this binary is not as it was "
                                      "built: ")
        assert named in done.stderr
        assert len(done.stderr.splitlines()) == 1
    report = run(exe, "verify", "--self")
    assert report.returncode == 1
    assert report.stdout.startswith("gateway verify --self: FAILED")
    assert named in report.stdout


# Damaged inside the code archive, but in the gateway's own code: a module that
# PyInstaller's runtime hooks load (multiprocessing...) fails in the bootloader before
# any of ours runs, which is a refusal too, just not in our words.
PYZ_MODULE = "gateway_cli.server.app"


def _flip_in_entry(binary: Path, entry: str) -> None:
    from PyInstaller.archive.readers import CArchiveReader, ZlibArchiveReader

    archive = CArchiveReader(str(binary))
    offset, length, *_ = archive.toc[entry]
    where = archive._start_offset + offset + length // 2
    if entry == "PYZ.pyz":
        pyz_start = archive._start_offset + offset
        _, module_offset, module_length = ZlibArchiveReader(str(binary), pyz_start).toc[
            PYZ_MODULE]
        where = pyz_start + module_offset + module_length // 2
    with binary.open("r+b") as handle:
        handle.seek(where)
        byte = handle.read(1)
        handle.seek(where)
        handle.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("entry", ["PYZ.pyz", "lockfiles/provenance.json"])
def test_onefile_with_a_flipped_byte_does_not_serve(binaries: Binaries, tmp_path: Path,
                                                     entry: str) -> None:
    # The code archive is checked by the binary itself; a compressed entry is refused by the
    # bootloader when it unpacks it (zlib's checksum) before any Python runs.
    copy = tmp_path / f"gateway{EXE}"
    shutil.copy2(binaries.onefile, copy)
    _flip_in_entry(copy, entry)
    port = free_port()
    done = run(copy, "serve", "--port", str(port), timeout=60,
               env={**os.environ, "GATEWAY_HOME": str(tmp_path / "home")})
    assert done.returncode != 0
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    if entry == "PYZ.pyz":
        assert done.stderr.startswith("gateway: refusing to run: this binary is ")
        assert "Traceback" not in done.stderr


def test_onefile_with_bytes_appended_is_refused(binaries: Binaries, tmp_path: Path) -> None:
    """The bootloader finds its archive by section header, so appended bytes would ride along
    unnoticed by it; the self-check compares the file's size with the ELF's end."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the ELF stub checks are Linux's")
    copy = tmp_path / f"gateway{EXE}"
    shutil.copy2(binaries.onefile, copy)
    with copy.open("ab") as handle:
        handle.write(b"\0" * 2_000_000)
    done = run(copy, "--version", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2000000 bytes were added after the end of the executable" in done.stderr


def test_onefile_with_changed_loader_code_is_refused(binaries: Binaries, tmp_path: Path) -> None:
    """Six bytes of the bootloader's own data changed (a message it prints): it still runs,
    and the self-check refuses it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the ELF stub checks are Linux's")
    copy = tmp_path / f"gateway{EXE}"
    shutil.copy2(binaries.onefile, copy)
    data = copy.read_bytes()
    where = data.index(b"Failed to extract %s: failed to read data chunk!")
    with copy.open("r+b") as handle:
        handle.seek(where)
        handle.write(b"Faked!")
    done = run(copy, "--version", timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "loader code of the executable" in done.stderr


def test_verify_self_prints_the_whole_files_sha256(binaries: Binaries) -> None:
    import hashlib

    report = run(binaries.onefile, "verify", "--self", timeout=60)
    assert report.returncode == 0, report.stdout + report.stderr
    digest = hashlib.sha256(binaries.onefile.read_bytes()).hexdigest()
    assert f"  sha256:      {digest} (compare with the signed release checksum)" \
        in report.stdout


def test_onefile_refuses_env_secrets_unless_told_then_hands_them_over(
        binaries: Binaries, tmp_path: Path) -> None:
    """The one-file launcher, the gateway's parent, keeps its environment block for as long
    as the gateway runs: by default the binary refuses env: secrets, naming the variable and
    never its value. Told to accept, the gateway process itself re-executes without the
    variable and says at start that its launcher keeps it."""
    key = "sk-binary-env-" + "b" * 24
    config = tmp_path / "gateway.toml"
    config.write_text('[[providers]]\nname = "up"\nkind = "openai-compatible"\n'
                      'base_url = "http://127.0.0.1:9/v1"\nsecret = "env:BINARY_TEST_KEY"\n')
    env = {**os.environ, "GATEWAY_HOME": str(tmp_path / "home"), "BINARY_TEST_KEY": key}
    refused = subprocess.run([str(binaries.onefile), "serve", "--port", str(free_port()),
                              "--config", str(config)], capture_output=True, text=True,
                             env=env, timeout=60)
    assert refused.returncode != 0
    assert "refusing to start" in refused.stderr and "BINARY_TEST_KEY" in refused.stderr
    assert "--allow-launcher-env" in refused.stderr
    assert key not in refused.stdout + refused.stderr
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(binaries.onefile), "serve", "--port", str(port), "--config", str(config),
             "--allow-launcher-env"], stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert "the one-file binary's launcher process keeps the environment" in log.read_text()
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert children, "the launcher has no child"
        for child in children:  # the gateway process: its environment block is clean
            assert key.encode() not in Path(f"/proc/{child}/environ").read_bytes()
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert key not in log.read_text()


def test_onefile_serves_with_two_workers_and_replaces_a_killed_one(
        binaries: Binaries, tmp_path: Path) -> None:
    """The workers are forked inside the one-file binary's unpacked Python process: both
    answer, a worker killed with SIGKILL is replaced, and SIGTERM ends them all cleanly."""
    import re
    import signal

    port = free_port()
    log = tmp_path / "serve.log"
    home = tmp_path / "home"
    env = {**os.environ, "GATEWAY_HOME": str(home)}
    with log.open("wb") as sink:
        process = subprocess.Popen([str(binaries.onefile), "serve", "--port", str(port),
                                    "--workers", "2"],
                                   stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"

    def workers_answering() -> set[str]:
        seen: set[str] = set()
        deadline = time.monotonic() + 30
        while len(seen) < 2:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                with httpx.Client(timeout=5) as client:  # a new connection each time
                    text = client.get(url + "/metrics").text
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            seen |= set(re.findall(r'^gateway_worker\{worker="(\d)"', text, re.M))
        return seen

    def sockets() -> set[int]:
        return {int(p.stem.removeprefix("gateway-")) for p in (home / "run").glob("*.sock")}

    try:
        assert workers_answering() == {"1", "2"}
        deadline = time.monotonic() + 30
        while len(sockets()) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        victim = min(sockets())
        os.kill(victim, signal.SIGKILL)
        while "restarted (pid" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline + 30, \
                log.read_text()
            time.sleep(0.05)
        assert "ended on its own (killed by SIGKILL)" in log.read_text()
        assert workers_answering() == {"1", "2"}
        while victim in sockets() or len(sockets()) < 2:
            assert time.monotonic() < deadline + 60, log.read_text()
            time.sleep(0.05)
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0, log.read_text()
