"""The control socket: private, answers once the reload is done, survives bad callers."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import struct
from pathlib import Path

import pytest

from gateway_cli.errors import GatewayError
from gateway_cli.keys.notify import notify_all, run_dir
from gateway_cli.server import control


def _serve_and_notify(home: Path, reload: control.Reloader,
                      what: tuple[str, ...] = ("clients",)) -> list[object]:
    async def main() -> list[object]:
        path = run_dir(home) / "gateway-test.sock"
        server = await control.start(path, reload)
        try:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
            return list(await asyncio.to_thread(notify_all, home, what))
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_reload_is_applied_before_the_answer(tmp_path: Path) -> None:
    seen: list[tuple[str, ...]] = []

    async def reload(what: tuple[str, ...]) -> list[str]:
        await asyncio.sleep(0.01)
        seen.append(what)
        return list(what)

    [result] = _serve_and_notify(tmp_path, reload, ("clients", "signing"))
    assert seen == [("clients", "signing")]
    assert result.ok and "clients, signing" in result.detail  # type: ignore[attr-defined]


def test_a_failed_reload_is_reported_and_the_channel_lives_on(tmp_path: Path) -> None:
    calls = 0

    async def reload(what: tuple[str, ...]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise GatewayError("clients.json is not valid JSON")
        return list(what)

    async def main() -> tuple[object, object]:
        path = run_dir(tmp_path) / "gateway-test.sock"
        server = await control.start(path, reload)
        try:
            first = (await asyncio.to_thread(notify_all, tmp_path))[0]
            second = (await asyncio.to_thread(notify_all, tmp_path))[0]
            return first, second
        finally:
            server.close()

    first, second = asyncio.run(main())
    assert not first.ok and "stays in force" in first.detail  # type: ignore[attr-defined]
    assert second.ok  # type: ignore[attr-defined]


def test_bad_requests_get_an_error_not_a_reload(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    reloads = 0

    async def reload(what: tuple[str, ...]) -> list[str]:
        nonlocal reloads
        reloads += 1
        return list(what)

    async def main() -> list[bytes]:
        path = run_dir(tmp_path) / "gateway-test.sock"
        server = await control.start(path, reload)
        answers = []
        try:
            for payload in (b"not json\n", b'{"reload": ["everything"]}\n', b'{"reload": []}\n',
                            b"[]\n", b"\n", b'{"reload": [["clients"]]}\n',
                            b'{"reload": [{"a": 1}]}\n', b'{"reload": ' + b"[" * 3000 + b"\n",
                            b'{"reload": "clients"}\n'):
                def ask(data: bytes = payload) -> bytes:
                    with socket.socket(socket.AF_UNIX) as conn:
                        conn.connect(str(path))
                        conn.sendall(data)
                        return conn.recv(4096)
                answers.append(await asyncio.to_thread(ask))
        finally:
            server.close()
        return answers

    with caplog.at_level(logging.DEBUG, logger="gateway.control"):
        answers = asyncio.run(main())
    assert reloads == 0
    assert len(answers) == 9 and all(b'"ok": false' in a for a in answers)
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged


def test_stale_sockets_are_removed(tmp_path: Path) -> None:
    stale = run_dir(tmp_path) / "gateway-999999.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))  # bound, never listening: like a gateway that died
    assert notify_all(tmp_path) == []
    assert not stale.exists()


def test_a_caller_whose_uid_cannot_be_learnt_is_refused(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reloads: list[tuple[str, ...]] = []

    async def reload(what: tuple[str, ...]) -> list[str]:
        reloads.append(what)
        return list(what)

    monkeypatch.setattr(control, "_peer_uid", lambda writer: None)
    [result] = _serve_and_notify(tmp_path, reload)
    assert not result.ok and "permission denied" in result.detail  # type: ignore[attr-defined]
    assert reloads == []


def test_xucred_parsing() -> None:
    """The macOS/BSD peer credential structure (version 0, uid, group count, groups)."""
    data = struct.pack("=IIh", 0, 501, 1) + b"\0\0" + struct.pack("=16I", *range(16))
    assert control.xucred_uid(data) == 501
    assert control.xucred_uid(struct.pack("=IIh", 1, 501, 1)) is None  # unknown version
    assert control.xucred_uid(b"\0" * 4) is None


def test_a_link_in_place_of_the_socket_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever sits at the path after binding must be our private socket."""
    victim = tmp_path / "victim"
    victim.write_text("x")
    victim.chmod(0o644)
    path = run_dir(tmp_path) / "gateway-test.sock"
    real_lstat = os.lstat

    def swapped(target: object) -> os.stat_result:
        if str(target) == str(path):
            return real_lstat(victim)
        return real_lstat(target)  # type: ignore[arg-type]

    async def main() -> None:
        monkeypatch.setattr(os, "lstat", swapped)
        with pytest.raises(GatewayError, match="not this gateway's private socket"):
            await control.start(path, lambda what: asyncio.sleep(0, list(what)))

    asyncio.run(main())
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644  # nothing was chmodded


def test_an_overlong_reply_is_not_read_without_end(tmp_path: Path) -> None:
    import threading

    path = run_dir(tmp_path) / "gateway-test.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)

    def flood() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            try:
                for _ in range(100):
                    conn.sendall(b"x" * 4096)
            except OSError:
                pass

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        [result] = notify_all(tmp_path)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert not result.ok and "ValueError" in result.detail
