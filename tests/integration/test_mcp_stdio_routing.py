"""Server-to-client requests from a stdio server with two calls in flight: routed to the
calling client when the server names its call (by the progress token the gateway gave
it), refused with a clear error when nothing says which call it belongs to (stdio
carries no related request id), never sent to the wrong client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.context import RequestContext

from tests.conftest import Gateway, stop_gateway
from tests.integration.mcp_helpers import approve, notes_stdio
from tests.integration.test_client_keys import make_home


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("routing")
    home = make_home(tmp)
    notes = tmp / "notes"
    notes.mkdir()
    config = '[mcp]\nopen_scopes = ["mcp:notes:*"]\n' + notes_stdio(
        "notes", notes, extra='client_requests = "relay"')
    path = tmp / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    served = home.serve(tmp, config=config)
    yield served
    stop_gateway(served)


async def _ask(url: str, client: str, tagged: bool, progress_wanted: bool = True) -> str:
    """One client (its own session) asking through the tool; its sampling callback answers
    with its own name, so an answer that reached the wrong client shows."""
    async def sampling(context: RequestContext[ClientSession, object],
                       params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked = params.messages[0].content
        text = asked.text if isinstance(asked, types.TextContent) else "?"
        return types.CreateMessageResult(role="assistant", model="client-model",
                                         content=types.TextContent(type="text",
                                                                   text=f"{client}:{text}"))

    async def progress(done: float, total: float | None, message: str | None) -> None:
        return None

    async with streamablehttp_client(url, timeout=30) as (read, write, _), \
            ClientSession(read, write, read_timeout_seconds=timedelta(seconds=60),
                          sampling_callback=sampling) as session:  # type: ignore[arg-type]
        await session.initialize()
        result = await session.call_tool("ask", {"question": f"q-{client}", "tagged": tagged,
                                                   "together": 2},
                                         progress_callback=progress if progress_wanted
                                         else None)
        content = result.content[0]
        assert isinstance(content, types.TextContent)
        return content.text


def _both(url: str, tagged: bool, progress_wanted: bool = True) -> list[str]:
    async def main() -> list[str]:
        return list(await asyncio.gather(_ask(url, "alice", tagged, progress_wanted),
                                         _ask(url, "bob", tagged, progress_wanted)))

    return asyncio.run(main())


def test_requests_naming_their_call_reach_the_calling_client(gateway: Gateway) -> None:
    assert _both(gateway.url + "/mcp/notes", tagged=True) == ["alice:q-alice", "bob:q-bob"]


def test_calls_that_asked_for_no_progress_can_be_named_too(gateway: Gateway) -> None:
    """The server names its call by the token the gateway gave it, which every stdio call
    gets (the clients here asked for no progress, so there is no token of theirs)."""
    assert _both(gateway.url + "/mcp/notes", tagged=True, progress_wanted=False) == [
        "alice:q-alice", "bob:q-bob"]


def test_requests_that_cannot_be_routed_are_refused_not_guessed(gateway: Gateway) -> None:
    answers = _both(gateway.url + "/mcp/notes", tagged=False)
    for answer in answers:
        assert answer.startswith("sampling refused: sampling/createMessage cannot be routed: "
                                 "2 calls are in flight"), answer
        assert "alice:" not in answer and "bob:" not in answer
    assert "stdio does not say which one" in gateway.log()
