"""`gateway serve` checks its own dependencies before it loads any secret.

The default is `--verify integrity`. The dev venv (`scripts/test`) holds the
test and release tools on top of the runtime and build lock; as the gateway
is installed in place from this checkout, the checkout's own test and release
locks are accepted too, and the log says so. An environment that really
differs from the lock is in test_supply_attack.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port, run_gateway, start_gateway, stop_gateway


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_the_dev_venv_passes_the_default_check_and_says_why(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path)
    stop_gateway(gw)
    log = gw.log()
    assert "start-up verification passed" in log
    assert "developer checkout " in log and "release and test locks are accepted too" in log
    assert "SERVING DESPITE" not in log and "refusing" not in log


def test_strict_mode_also_refuses_unknown_provenance() -> None:
    result = run_gateway("serve", "--verify", "strict", "--port", str(free_port()))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith("gateway: refusing to start: ")
    assert "(provenance.unknown)" in line and "run `gateway verify`" in line


def test_off_says_so_loudly(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, "--verify", "off")
    stop_gateway(gw)
    assert "START-UP VERIFICATION IS OFF (--verify off)" in gw.log()
