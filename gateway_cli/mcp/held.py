"""Tool calls held for a person: `approval = ["tool", ...]` in a server's config.

The call waits, logged at WARNING with its id, until `gateway mcp approve-call ID`
(or `--deny`) reaches this gateway over its control socket (server/control.py:
0600, peer uid checked), or until the server's `approval_timeout`, which denies
it. An id is 16 random hex digits, one per call, forgotten once decided.
"""

from __future__ import annotations

import asyncio
import re
import secrets

CALL_ID = re.compile(r"^[0-9a-f]{16}$")


class Held:
    def __init__(self) -> None:
        self.pending: dict[str, asyncio.Future[bool]] = {}

    def hold(self) -> tuple[str, asyncio.Future[bool]]:
        call_id = secrets.token_hex(8)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending[call_id] = future
        return call_id, future

    async def wait(self, call_id: str, future: asyncio.Future[bool], timeout: float) -> bool:
        """True when a person approved in time; False when denied or timed out."""
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return False
        finally:
            self.pending.pop(call_id, None)

    def decide(self, call_id: str, allow: bool) -> bool:
        """Settle a held call; False when no call with that id is waiting here."""
        future = self.pending.get(call_id)
        if future is None or future.done():
            return False
        future.set_result(allow)
        return True
