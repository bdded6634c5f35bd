"""The control socket: private, answers once the reload is done, survives bad callers."""

from __future__ import annotations

import asyncio
import socket
import stat
from pathlib import Path

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
    assert not first.ok and "previous keys stay in force" in first.detail  # type: ignore[attr-defined]
    assert second.ok  # type: ignore[attr-defined]


def test_bad_requests_get_an_error_not_a_reload(tmp_path: Path) -> None:
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
                            b"[]\n", b"\n"):
                def ask(data: bytes = payload) -> bytes:
                    with socket.socket(socket.AF_UNIX) as conn:
                        conn.connect(str(path))
                        conn.sendall(data)
                        return conn.recv(4096)
                answers.append(await asyncio.to_thread(ask))
        finally:
            server.close()
        return answers

    answers = asyncio.run(main())
    assert reloads == 0
    assert all(b'"ok": false' in a for a in answers)


def test_stale_sockets_are_removed(tmp_path: Path) -> None:
    stale = run_dir(tmp_path) / "gateway-999999.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))  # bound, never listening: like a gateway that died
    assert notify_all(tmp_path) == []
    assert not stale.exists()
