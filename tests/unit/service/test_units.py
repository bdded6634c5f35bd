"""The rendered unit and plist, read back by systemd itself (`systemd-analyze verify`)
and by plistlib.

verify exits 0 even when it ignores a setting it cannot parse (it only prints
a warning), so every check here demands that verify prints nothing at all.
"""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from gateway_cli.service.launchd import PlistSpec, label_for, render_plist
from gateway_cli.service.systemd import (
    Specifier,
    UnitError,
    UnitSpec,
    check_name,
    exec_line,
    quote_word,
    render_unit,
)
from tests.conftest import require_program

PYTHON = str(Path(sys.executable).absolute())


def verify(unit: Path, *, user: bool, runtime: Path) -> str:
    """What systemd-analyze says about the unit; "" when it parses every line."""
    analyze = require_program("systemd-analyze")
    # A per-user manager needs XDG_RUNTIME_DIR; in a container nobody has logged in to set it.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    runtime.mkdir(mode=0o700, exist_ok=True)
    done = subprocess.run([analyze, *(["--user"] if user else []), "verify", str(unit)],
                          capture_output=True, text=True, timeout=60, check=False, env=env,
                          cwd=unit.parent)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 0 or output, "verify failed without saying why"
    return output


def spec(argv: tuple[str | Specifier, ...], *, user: bool, tmp_path: Path,
         **extra: object) -> UnitSpec:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if user:
        return UnitSpec(name="gateway", argv=argv, user_unit=True,
                        writable=(PurePosixPath(home),), **extra)  # type: ignore[arg-type]
    return UnitSpec(name="gateway", argv=argv, user_unit=False, run_as="gateway",
                    state_directory="gateway", **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_the_unit_parses_cleanly(tmp_path: Path, user: bool) -> None:
    secret_file = tmp_path / "pass phrase"
    unit = tmp_path / "gateway.service"
    argv: tuple[str | Specifier, ...] = (PYTHON, "-m", "gateway_cli", "serve", "--config",
                                         str(tmp_path / "gateway.toml"))
    extra: dict[str, object] = {}
    if not user:
        argv += ("--passphrase-file", Specifier("%d/passphrase"))
        extra["credentials"] = (("passphrase", PurePosixPath(secret_file)),)
    unit.write_text(render_unit(spec(argv, user=user, tmp_path=tmp_path, **extra)))
    assert verify(unit, user=user, runtime=tmp_path / "run") == ""
    text = unit.read_text()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text
    assert "MemoryDenyWriteExecute" not in text.replace("# MemoryDenyWriteExecute", "")
    if not user:
        assert "StateDirectory=gateway\n" in text
        assert "Environment=GATEWAY_HOME=%S/gateway\n" in text
        assert f"LoadCredential=passphrase:{secret_file}\n" in text


# Each is a directory name the executable lives under; systemd must find it there exactly.
# (systemd refuses quotes and backslashes in an executable's path whatever the quoting:
# test_quote_word checks that install says so.)
AWKWARD = ["with space", "100%", "%d", "%%", "$HOME", "$$", "semi;colon", ";", "ünïcode"]


@pytest.mark.parametrize("name", AWKWARD)
def test_quoting_round_trips_through_systemd(tmp_path: Path, name: str) -> None:
    """verify checks that ExecStart's program exists, so a path that systemd read back
    differently from what was written is reported. The arguments are quoted by the same
    function, and under the `:` prefix `$` is literal there as it is in the path."""
    where = tmp_path / name
    where.mkdir()
    program = where / "python"
    program.symlink_to(PYTHON)
    unit = tmp_path / "gateway.service"
    unit.write_text(render_unit(spec((str(program), "--config", str(where / "g.toml")),
                                     user=False, tmp_path=tmp_path)))
    assert verify(unit, user=False, runtime=tmp_path / "run") == ""
    # The check is real: the same path written unquoted is not found (or read differently).
    if " " in name or name in ("%d", "%%"):
        unit.write_text(unit.read_text().replace(
            exec_line((str(program),)), ":" + str(program)))
        assert verify(unit, user=False, runtime=tmp_path / "run") != ""


def test_writable_paths_and_credentials_with_spaces_parse(tmp_path: Path) -> None:
    home = tmp_path / "state dir %h"
    home.mkdir()
    unit = tmp_path / "gateway.service"
    unit.write_text(render_unit(UnitSpec(name="gateway", argv=(PYTHON,), user_unit=True,
                                         writable=(PurePosixPath(home),))))
    assert verify(unit, user=True, runtime=tmp_path / "run") == ""
    assert 'ReadWritePaths="' + str(home).replace("%", "%%") + '"' in unit.read_text()


def test_quote_word() -> None:
    assert quote_word("/usr/bin/python") == "/usr/bin/python"
    assert quote_word("a b") == '"a b"'
    assert quote_word("50%") == "50%%"
    assert quote_word('say "hi" \\') == '"say \\"hi\\" \\\\"'
    assert quote_word("") == '""'
    assert quote_word(Specifier("%d/passphrase")) == "%d/passphrase"
    with pytest.raises(UnitError, match="control character"):
        quote_word("line\nbreak")
    with pytest.raises(UnitError, match="quotes or backslashes"):
        quote_word('/opt/"x"/python', executable=True)
    with pytest.raises(UnitError, match="absolute"):
        quote_word("python", executable=True)


@pytest.mark.parametrize("bad", ["", "a/b", "gateway.service", ".hidden", "x" * 65, "a b"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(UnitError):
        check_name(bad)


def test_user_unit_has_no_system_only_settings(tmp_path: Path) -> None:
    text = render_unit(spec((PYTHON,), user=True, tmp_path=tmp_path))
    for setting in ("User=", "StateDirectory=", "CapabilityBoundingSet=", "ProtectClock=",
                    "LoadCredential="):
        assert f"\n{setting}" not in text
    assert "WantedBy=default.target" in text


def test_plist(tmp_path: Path) -> None:
    argv = (PYTHON, "-m", "gateway_cli", "serve", "--config", "/Users/a b/gateway.toml")
    text = render_plist(PlistSpec(label=label_for("gateway"), argv=argv,
                                  log_path=PurePosixPath("/Users/a b/Library/Logs/x.log"),
                                  working_directory=PurePosixPath("/Users/a b/gw")))
    job = plistlib.loads(text.encode())
    assert job["Label"] == "local.gateway"
    assert job["ProgramArguments"] == list(argv)
    assert job["RunAtLoad"] is True
    assert job["KeepAlive"] == {"SuccessfulExit": False}
    assert job["StandardErrorPath"] == job["StandardOutPath"] == "/Users/a b/Library/Logs/x.log"
    assert job["Umask"] == 0o077
    assert "UserName" not in job
    plutil = shutil.which("plutil")
    if plutil is None:
        pytest.skip("plutil is macOS only; the plist was checked with plistlib")
    path = tmp_path / "local.gateway.plist"
    path.write_text(text)
    done = subprocess.run([plutil, "-lint", str(path)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
