"""`gateway service` run as a user runs it: a separate process, real files in tmp_path,
the unit directory redirected with --unit-dir."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_program, run_gateway

PASSPHRASE = "correct horse battery staple 7f3a"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return {**os.environ, "GATEWAY_HOME": str(home)}


def config(tmp_path: Path, name: str = "gateway.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[server]\nport = 4100\n")
    return path


def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(0o600)
    return path


def tree(*roots: Path) -> dict[str, bytes | None]:
    """Every file (with its content) and directory under the roots."""
    found: dict[str, bytes | None] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                found[os.path.join(dirpath, d)] = None
            for f in filenames:
                found[os.path.join(dirpath, f)] = Path(dirpath, f).read_bytes()
    return found


def service(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return run_gateway("service", *args, env=env, **kwargs)


def test_install_then_uninstall_leaves_the_tree_as_it_was(tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    units = tmp_path / "etc" / "systemd" / "system"  # missing: install creates it
    cfg = config(tmp_path)
    before = tree(tmp_path)
    done = service("install", "--config", str(cfg), "--unit-dir", str(units), env=env)
    assert done.returncode == 0, done.stderr
    unit = units / "gateway.service"
    assert unit.is_file() and oct(unit.stat().st_mode & 0o777) == "0o644"
    manifest = Path(env["GATEWAY_HOME"]) / "service.json"
    assert oct(manifest.stat().st_mode & 0o777) == "0o600"
    assert set(tree(tmp_path)) - set(before) == {
        str(tmp_path / "etc"), str(tmp_path / "etc" / "systemd"), str(units), str(unit),
        str(manifest)}
    done = service("uninstall", env=env)
    assert done.returncode == 0, done.stderr
    assert f"removed {unit}" in done.stdout
    assert tree(tmp_path) == before


def test_uninstall_refuses_an_edited_unit_without_force(tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    units = tmp_path / "units"
    service("install", "--config", str(config(tmp_path)), "--unit-dir", str(units), env=env)
    unit = units / "gateway.service"
    unit.write_text(unit.read_text() + "Nice=5\n")
    done = service("uninstall", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("gateway: ") and str(unit) in done.stderr
    assert "--force" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert unit.exists()
    done = service("uninstall", "--force", env=env)
    assert done.returncode == 0, done.stderr
    assert not unit.exists()
    assert not (Path(env["GATEWAY_HOME"]) / "service.json").exists()


def test_install_refuses_a_file_it_did_not_write(tmp_path: Path, env: dict[str, str]) -> None:
    units = tmp_path / "units"
    units.mkdir()
    foreign = units / "gateway.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    args = ("install", "--config", str(config(tmp_path)), "--unit-dir", str(units))
    done = service(*args, env=env)
    assert done.returncode == 1
    assert "not written by `gateway service install`" in done.stderr
    assert foreign.read_text() == "[Service]\nExecStart=/bin/true\n"
    assert not (Path(env["GATEWAY_HOME"]) / "service.json").exists()
    done = service(*args, "--force", env=env)
    assert done.returncode == 0, done.stderr
    assert "replaced" in done.stdout and "ExecStart=:" in foreign.read_text()
    # Installing again over our own unchanged file needs no --force.
    assert service(*args, env=env).returncode == 0


def test_no_secret_in_the_unit(tmp_path: Path, env: dict[str, str]) -> None:
    units = tmp_path / "units"
    secret = passphrase_file(tmp_path)
    done = service("install", "--config", str(config(tmp_path)), "--unit-dir", str(units),
                   "--secrets", "file", "--passphrase-file", str(secret), env=env)
    assert done.returncode == 0, done.stderr
    text = (units / "gateway.service").read_text()
    assert PASSPHRASE not in text and "correct horse" not in text
    assert f"LoadCredential=passphrase:{secret}\n" in text
    assert "--secrets file --passphrase-file %d/passphrase" in text
    # The user unit names the file itself (no credentials in a per-user manager).
    done = service("install", "--user", "--config", str(config(tmp_path)), "--unit-dir",
                   str(tmp_path / "user-units"), "--passphrase-file", str(secret), env=env)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "user-units" / "gateway.service").read_text()
    assert PASSPHRASE not in text and f"--passphrase-file {secret}" in text


@pytest.mark.parametrize("option", ["--passphrase", "--passphrase-fd"])
def test_a_passphrase_value_is_refused_and_not_repeated(tmp_path: Path, env: dict[str, str],
                                                        option: str) -> None:
    units = tmp_path / "units"
    done = service("install", "--config", str(config(tmp_path)), "--unit-dir", str(units),
                   option, PASSPHRASE, env=env)
    assert done.returncode == 2
    assert "--passphrase-file" in done.stderr and PASSPHRASE not in done.stderr + done.stdout
    assert not units.exists()


def test_a_readable_passphrase_file_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    secret = passphrase_file(tmp_path)
    secret.chmod(0o644)
    done = service("install", "--config", str(config(tmp_path)), "--unit-dir",
                   str(tmp_path / "units"), "--passphrase-file", str(secret), env=env)
    assert done.returncode == 1 and "chmod 600" in done.stderr
    assert not (tmp_path / "units").exists()


def test_dry_run_prints_and_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    cfg = config(tmp_path)
    before = tree(tmp_path)
    done = service("install", "--config", str(cfg), "--unit-dir", str(tmp_path / "units"),
                   "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert f"# would write {tmp_path / 'units' / 'gateway.service'}" in done.stdout
    assert "[Service]" in done.stdout and f"serve --config {cfg}" in done.stdout
    assert tree(tmp_path) == before


def test_awkward_config_path_is_quoted_and_verifies(tmp_path: Path,
                                                    env: dict[str, str]) -> None:
    analyze = require_program("systemd-analyze")
    cfg = config(tmp_path / "my configs 100% $HOME")
    units = tmp_path / "units"
    done = service("install", "--config", str(cfg), "--unit-dir", str(units), env=env)
    assert done.returncode == 0, done.stderr
    unit = units / "gateway.service"
    quoted = '"' + str(cfg).replace("%", "%%") + '"'
    assert f"--config {quoted}" in unit.read_text()
    checked = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                             timeout=60, check=False, cwd=units)
    assert (checked.stdout + checked.stderr).strip() == ""


def test_relative_config_is_made_absolute(tmp_path: Path, env: dict[str, str]) -> None:
    config(tmp_path)
    done = service("install", "--config", "gateway.toml", "--unit-dir", "units", "--dry-run",
                   env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    exec_start = next(line for line in done.stdout.splitlines() if line.startswith("ExecStart="))
    assert exec_start.endswith(f"serve --config {tmp_path / 'gateway.toml'}")
    assert f"# would write {tmp_path / 'units' / 'gateway.service'}" in done.stdout


def test_missing_and_invalid_config(tmp_path: Path, env: dict[str, str]) -> None:
    units = tmp_path / "units"
    done = service("install", "--config", str(tmp_path / "nope.toml"), "--unit-dir",
                   str(units), env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"gateway: {tmp_path / 'nope.toml'}: config file not found"]
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 70000\n")
    done = service("install", "--config", str(bad), "--unit-dir", str(units), env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gateway: ") and "server.port" in lines[0]
    assert not units.exists()
    assert not (Path(env["GATEWAY_HOME"]) / "service.json").exists()


@pytest.mark.parametrize("args", [["--manager", "upstart"], ["--name", "a/b"],
                                  ["--secrets", "vault"], ["--bogus"]])
def test_bad_options(tmp_path: Path, env: dict[str, str], args: list[str]) -> None:
    done = service("install", "--config", str(config(tmp_path)), "--unit-dir",
                   str(tmp_path / "units"), *args, env=env)
    assert done.returncode in (1, 2)
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("gateway: ")
    assert not (tmp_path / "units").exists()


def test_keyring_for_a_system_unit_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    done = service("install", "--config", str(config(tmp_path)), "--unit-dir",
                   str(tmp_path / "units"), "--secrets", "keyring", env=env)
    assert done.returncode == 1 and "no keyring" in done.stderr


def test_status_without_systemctl(tmp_path: Path, env: dict[str, str]) -> None:
    units = tmp_path / "units"
    service("install", "--config", str(config(tmp_path)), "--unit-dir", str(units), env=env)
    empty = tmp_path / "bin"
    empty.mkdir()
    done = service("status", env={**env, "PATH": str(empty)})
    assert done.returncode == 1
    assert f"unit file: {units / 'gateway.service'}" in done.stdout
    assert "systemctl not found" in done.stdout and "journalctl not found" in done.stdout
    done = service("status", "--name", "other", "--unit-dir", str(units),
                   env={**env, "PATH": str(empty)})
    assert "missing (not installed)" in done.stdout


def test_now_without_systemctl_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = service("install", "--config", str(config(tmp_path)), "--unit-dir",
                   str(tmp_path / "units"), "--now", env={**env, "PATH": str(empty)})
    assert done.returncode == 1
    assert "systemctl not found" in done.stderr
    assert (tmp_path / "units" / "gateway.service").exists()  # written; only not enabled


def test_launchd_agent(tmp_path: Path, env: dict[str, str]) -> None:
    agents = tmp_path / "LaunchAgents"
    cfg = config(tmp_path)
    done = service("install", "--user", "--manager", "launchd", "--config", str(cfg),
                   "--unit-dir", str(agents), env=env)
    assert done.returncode == 0, done.stderr
    job = plistlib.loads((agents / "local.gateway.plist").read_bytes())
    assert job["Label"] == "local.gateway"
    assert job["ProgramArguments"] == [
        str(Path(sys.executable).absolute()), "-m", "gateway_cli", "serve", "--config",
        str(cfg), "--home", env["GATEWAY_HOME"]]
    assert job["RunAtLoad"] is True and "StandardErrorPath" in job
    done = service("uninstall", "--user", "--manager", "launchd", env=env)
    assert done.returncode == 0, done.stderr
    assert not agents.exists()


@pytest.mark.parametrize(("value", "written"), [("4", "--workers 4"), ("auto", "--workers auto"),
                                                (" AUTO ", "--workers auto"), ("1", None)])
def test_workers_go_into_the_unit_and_it_verifies(tmp_path: Path, env: dict[str, str],
                                                  value: str, written: str | None) -> None:
    analyze = require_program("systemd-analyze")
    cfg = config(tmp_path)
    units = tmp_path / "units"
    done = service("install", "--config", str(cfg), "--unit-dir", str(units), "--workers",
                   value, env=env)
    assert done.returncode == 0, done.stderr
    unit = units / "gateway.service"
    exec_start = next(line for line in unit.read_text().splitlines()
                      if line.startswith("ExecStart="))
    if written is None:
        assert "--workers" not in exec_start and "KillMode" not in unit.read_text()
    else:
        assert exec_start.endswith(written), exec_start
        assert "\nKillMode=mixed\n" in unit.read_text()  # stop signals to the supervisor
    checked = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                             timeout=60, check=False, cwd=units)
    assert (checked.stdout + checked.stderr).strip() == ""


def test_workers_go_into_the_plist(tmp_path: Path, env: dict[str, str]) -> None:
    agents = tmp_path / "LaunchAgents"
    done = service("install", "--user", "--manager", "launchd", "--config",
                   str(config(tmp_path)), "--unit-dir", str(agents), "--workers", "2", env=env)
    assert done.returncode == 0, done.stderr
    job = plistlib.loads((agents / "local.gateway.plist").read_bytes())
    assert job["ProgramArguments"][-2:] == ["--workers", "2"]


@pytest.mark.parametrize("value", ["0", "65", "many", "-1", "2.5"])
def test_a_bad_worker_count_is_refused_before_anything_is_written(
        tmp_path: Path, env: dict[str, str], value: str) -> None:
    cfg = config(tmp_path)
    before = tree(tmp_path)
    done = service("install", "--config", str(cfg), "--unit-dir", str(tmp_path / "units"),
                   "--workers", value, env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("gateway: Invalid value for --workers: ")
    assert len(done.stderr.splitlines()) == 1
    assert tree(tmp_path) == before
