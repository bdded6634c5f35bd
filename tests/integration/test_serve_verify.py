"""`gateway serve` checks its own dependencies before it loads any secret.

The dev venv holds the test tools on top of the runtime and build lock, so
against the lock `serve` uses they are extra distributions: a real
environment that differs from the lock, which the strict modes must refuse.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port, run_gateway, start_gateway, stop_gateway

SECRET_CONFIG = ('[[providers]]\nname = "oa"\nkind = "openai"\n'
                 'secret = "env:GATEWAY_TEST_UNSET_KEY"\n')


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_integrity_mode_refuses_an_environment_unlike_the_lock(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(SECRET_CONFIG)
    result = run_gateway("serve", "--verify", "integrity", "--port", str(free_port()),
                         "--config", str(config))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith("gateway: refusing to start: ")
    assert "lock.extra" in line and "run `gateway verify`" in line
    # it stopped before the secrets: the missing env var was never reported
    assert "GATEWAY_TEST_UNSET_KEY" not in result.stderr


def test_strict_mode_also_refuses_unknown_provenance() -> None:
    result = run_gateway("serve", "--verify", "strict", "--port", str(free_port()))
    assert result.returncode == 1
    assert "provenance.unknown" in _one_line(result.stderr)


def test_warn_mode_logs_and_serves(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    stop_gateway(gw)
    log = gw.log()
    assert "start-up verification: 0 error(s)" not in log
    assert "lock.extra" in log and "run `gateway verify` for details" in log


def test_off_says_so(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, "--verify", "off")
    stop_gateway(gw)
    assert "start-up verification is off" in gw.log()
