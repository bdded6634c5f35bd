"""A stdio MCP server's stderr through the real gateway: drained all the time (a child
writing megabytes there does not stall), logged under the server's name after
redaction, bounded in the log, and its last lines shown by `gateway mcp list` (the
command's own child) and `gateway mcp status` (the running gateway's)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import stop_gateway
from tests.integration.mcp_helpers import approve, call, notes_stdio
from tests.integration.test_client_keys import make_home
from tests.unit.guards.test_guard_secrets import with_crc

LEAK = with_crc("ghp_")


def test_stderr_is_drained_redacted_and_shown(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    config = '[mcp]\nopen_scopes = ["mcp:notes:*"]\n' + notes_stdio(
        "notes", notes, env=f", NOTES_LEAK = {LEAK!r}, "
                            f"NOTES_STDERR_BANNER = 'notes starting; key {LEAK} loaded'")
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    listed = home.run("mcp", "list", "--config", str(path), store=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "  stderr (its last " in listed.stdout and " line(s), redacted):" in listed.stdout
    assert "    notes starting; key ghp_" in listed.stdout and LEAK not in listed.stdout

    gateway = home.serve(tmp_path, config=config)
    try:
        url = gateway.url + "/mcp/notes"
        started = time.monotonic()
        # About 4 MB on stderr, far over a pipe's buffer: answered only if it is drained.
        assert call(url, "noisy", {"lines": 20000}).content[0].text == "wrote 20000 lines"
        assert time.monotonic() - started < 60
        assert call(url, "echo", {"text": "still here"}).content[0].text == "still here"
        text = gateway.log()
        assert "MCP server 'notes' stderr: notes starting; key ghp_" in text
        assert LEAK not in text
        assert "writes a lot on stderr: its lines are counted, not logged" in text
        logged = text.count("MCP server 'notes' stderr: line ")
        assert 0 < logged <= 40, logged  # bounded: not 20000 lines in the log
        # The running gateway's view: the child's last lines, redacted, over the control
        # socket.
        status = home.run("mcp", "status", timeout=30)
        assert status.returncode == 0, status.stderr
        assert "  notes: running, pins approved, failures 0" in status.stdout
        assert "    stderr: done, with token ghp_" in status.stdout
        assert LEAK not in status.stdout
        assert status.stdout.count("    stderr: ") <= 64
    finally:
        stop_gateway(gateway)
