"""server/event_loop.py: which loop each setting means, with uvloop installed (Linux, as
locked) and where it cannot be imported (as on Windows)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from gateway_cli.server.event_loop import NoUvloop, chosen, run


def test_auto_takes_uvloop_where_it_is_installed() -> None:
    assert chosen("auto") == "uvloop"
    assert chosen("uvloop") == "uvloop"
    assert chosen("asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_asking_for_it_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert chosen("auto") == "asyncio"
    assert chosen("asyncio") == "asyncio"
    with pytest.raises(NoUvloop, match="event_loop"):
        chosen("uvloop")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_run_runs_on_the_loop_named(loop: str) -> None:
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    run(main(), loop)  # type: ignore[arg-type]
    assert seen[0].startswith("uvloop" if loop == "uvloop" else "asyncio")
