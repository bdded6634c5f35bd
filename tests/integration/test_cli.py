"""The CLI as a person meets it: --version, --help, and every error as one line."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gateway_cli import __version__
from gateway_cli.cli.main import cli
from tests.conftest import (
    Gateway,
    free_port,
    gateway_cmd,
    run_gateway,
    start_gateway,
    stop_gateway,
)


def _one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("gateway: ")
    return lines[0]


def test_version() -> None:
    result = run_gateway("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gateway {__version__}"


def _all_commands() -> list[list[str]]:
    import click

    paths: list[list[str]] = [[]]

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            paths.append([*prefix, name])
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])

    walk(cli, [])
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "gateway")
def test_every_command_has_help(path: list[str]) -> None:
    result = run_gateway(*path, "--help")
    assert result.returncode == 0
    assert "Usage: gateway" in result.stdout
    # written for a person: a sentence of description, not just the option table
    description = result.stdout.split("Options:")[0].split("\n", 2)[-1].strip()
    assert len(description) > 30, result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["serve", "--bogus"], "No such option"),
        (["serve", "--port", "notaport"], "'notaport' is not a valid integer"),
        (["serve", "--port", "70000"], "70000 is not in the range"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_usage_is_one_line_exit_2(args: list[str], fragment: str) -> None:
    result = run_gateway(*args)
    assert result.returncode == 2
    assert fragment in _one_clear_line(result.stderr)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "config file not found"),
        ("[server\nport = 1", "not valid TOML"),
        ("[server]\nport = 'x'", "server.port = 'x': expected int"),
        ("[server]\nport = 0", "server.port = 0: expected int >= 1"),
        ("[server]\nprot = 4000", "unknown key 'server.prot'"),
        ("[server]\nlog_level = 'loud'", "expected one of 'debug', 'info'"),
        ("server = 3", "server = 3: expected object"),
        (b"\xff\xfe not utf8", "not UTF-8"),
    ],
)
def test_bad_config_is_one_line_exit_1(tmp_path: Path, content: str | bytes | None,
                                       fragment: str) -> None:
    path = tmp_path / "gateway.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = run_gateway("serve", "--port", str(free_port()), "--config", str(path))
    assert result.returncode == 1
    line = _one_clear_line(result.stderr)
    assert fragment in line
    assert str(path) in line


def test_config_directory_is_refused(tmp_path: Path) -> None:
    result = run_gateway("serve", "--config", str(tmp_path))
    assert result.returncode == 1
    assert "is a directory" in _one_clear_line(result.stderr)


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_gateway("serve", "--port", str(port))
    assert result.returncode == 1
    line = _one_clear_line(result.stderr)
    assert f"port {port}" in line and "already in use" in line


def test_unknown_host(tmp_path: Path) -> None:
    result = run_gateway("serve", "--host", "no-such-host.invalid", "--port", str(free_port()))
    assert result.returncode == 1
    assert "cannot listen on no-such-host.invalid" in _one_clear_line(result.stderr)


def test_config_file_sets_port(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"[server]\nport = {port}\nhost = '127.0.0.1'\n")
    process = subprocess.Popen(gateway_cmd("serve", "--config", str(config)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("gateway did not listen on the port from its config")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_port_overrides_config(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        gw = start_gateway(tmp_path, config=f"[server]\nport = {taken.getsockname()[1]}\n")
    finally:
        taken.close()
    stop_gateway(gw)
    assert f"127.0.0.1:{gw.port}" in gw.log()


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    gw: Gateway = start_gateway(tmp_path)
    stop_gateway(gw)
    assert gw.process.returncode == 0
    log = gw.log()
    assert "listening on http://127.0.0.1" in log
    assert "gateway stopped" in log
    assert "Traceback" not in log
    assert "experimental" not in log
