"""The MCP gateway in front of real MCP servers from npm (pinned in tests/npm/mcp-servers):
@modelcontextprotocol/server-filesystem behind read/list-only scopes, and
@modelcontextprotocol/server-everything for progress, sampling, prompts and resources."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, types
from mcp.shared.exceptions import McpError

from tests.conftest import Gateway, stop_gateway
from tests.integration.mcp_helpers import approve, call, npm_server, run_client, tool_names
from tests.integration.test_client_keys import Home, make_home


def _servers(files: Path) -> str:
    fs, everything = npm_server("mcp-server-filesystem"), npm_server("mcp-server-everything")
    return f"""
[mcp.servers.fs]
command = [{fs!r}, {str(files)!r}]
[mcp.servers.every]
command = [{everything!r}, "stdio"]
client_requests = "relay"
[mcp.servers.every-refuse]
command = [{everything!r}, "stdio"]
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Home, Path,
                                                                       Path]]:
    tmp = tmp_path_factory.mktemp("mcp-npm")
    home = make_home(tmp)
    files = (tmp / "files").resolve()
    files.mkdir()
    (files / "plan.txt").write_text("the plan")
    servers = _servers(files)
    config = tmp / "gateway.toml"
    config.write_text(servers)
    for name in ("fs", "every", "every-refuse"):
        approve(home, config, name)
    text = ('[mcp]\nopen_scopes = ["mcp:fs:read_*", "mcp:fs:list_*", "mcp:every:*", '
            '"mcp:every-refuse:*"]\n' + servers)
    gateway = home.serve(tmp, config=text)
    yield gateway, home, files, tmp
    stop_gateway(gateway)


def _eventually(check: Any, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_filesystem_read_only_scopes(setup: tuple[Gateway, Home, Path, Path]) -> None:
    gateway, _, files, _ = setup
    url = gateway.url + "/mcp/fs"
    names = tool_names(url)
    assert "read_text_file" in names and "list_directory" in names
    assert all(n.startswith(("read_", "list_")) for n in names), names
    assert "write_file" not in names and "edit_file" not in names
    text = call(url, "read_text_file", {"path": str(files / "plan.txt")}).content[0].text
    assert text == "the plan"
    with pytest.raises(McpError, match="not available"):
        call(url, "write_file", {"path": str(files / "plan.txt"), "content": "owned"})
    with pytest.raises(McpError, match="not available"):
        call(gateway.url + "/mcp", "fs__write_file",
             {"path": str(files / "plan.txt"), "content": "owned"})
    assert (files / "plan.txt").read_text() == "the plan"
    assert not (files / "new.txt").exists()


def test_filesystem_write_with_another_scope_set(
        setup: tuple[Gateway, Home, Path, Path], tmp_path: Path) -> None:
    _, home, files, _tmp = setup
    # Its own request log: the first gateway holds the state directory's.
    text = (f'[audit]\npath = {str(tmp_path / "requests.jsonl")!r}\n'
            '[mcp]\nopen_scopes = ["mcp:fs:*"]\n' + _servers(files))
    writer = home.serve(tmp_path, config=text)
    try:
        url = writer.url + "/mcp/fs"
        assert "write_file" in tool_names(url)
        call(url, "write_file", {"path": str(files / "new.txt"), "content": "written"})
        assert (files / "new.txt").read_text() == "written"
    finally:
        stop_gateway(writer)
        (files / "new.txt").unlink(missing_ok=True)


def test_everything_progress(setup: tuple[Gateway, Home, Path, Path]) -> None:
    gateway, _, _, _ = setup
    seen: list[float] = []

    async def body(session: ClientSession) -> types.CallToolResult:
        async def progress(done: float, total: float | None, message: str | None) -> None:
            seen.append(done)

        return await session.call_tool("trigger-long-running-operation",
                                       {"duration": 1, "steps": 3},
                                       progress_callback=progress)

    result = run_client(gateway.url + "/mcp/every", body)
    assert not result.isError
    assert seen == [1, 2, 3]


def test_everything_prompts_and_resources(setup: tuple[Gateway, Home, Path, Path]) -> None:
    gateway, _, _, _ = setup

    async def body(session: ClientSession) -> tuple[list[str], str, str]:
        prompts = [p.name for p in (await session.list_prompts()).prompts]
        got = await session.get_prompt("every__simple-prompt")
        resources = (await session.list_resources()).resources
        first = str(resources[0].uri)
        read = await session.read_resource(resources[0].uri)
        content = read.contents[0]
        return prompts, str(got.messages[0].content.text), \
            first + "|" + str(getattr(content, "text", ""))[:40]  # type: ignore[union-attr]

    prompts, prompt_text, resource = run_client(gateway.url + "/mcp", body)
    assert "every__simple-prompt" in prompts and "every-refuse__args-prompt" in prompts
    assert prompt_text
    assert resource.startswith("mcp-gateway:every") and resource.split("|")[1]


def _sampling_tool(url: str) -> bool:
    return "trigger-sampling-request" in tool_names(url)


def test_sampling_relayed_to_the_client(setup: tuple[Gateway, Home, Path, Path]) -> None:
    gateway, _, _, _ = setup
    url = gateway.url + "/mcp/every"
    assert _eventually(lambda: _sampling_tool(url))
    asked: list[str] = []

    async def sampling(context: Any, params: types.CreateMessageRequestParams
                       ) -> types.CreateMessageResult:
        asked.append(str(params.messages[0].content.text))  # type: ignore[union-attr]
        return types.CreateMessageResult(role="assistant", model="test-model",
                                         content=types.TextContent(type="text",
                                                                   text="sampled answer"))

    async def body(session: ClientSession) -> types.CallToolResult:
        return await session.call_tool("trigger-sampling-request",
                                       {"prompt": "say hi", "maxTokens": 10})

    result = run_client(url, body, sampling_callback=sampling)
    assert asked and "say hi" in asked[0]
    assert "sampled answer" in str(result.content[0].text)  # type: ignore[union-attr]


def test_sampling_refused_by_config(setup: tuple[Gateway, Home, Path, Path]) -> None:
    gateway, _, _, _ = setup
    names = tool_names(gateway.url + "/mcp/every-refuse")
    # The gateway told this server it cannot sample, so the server offers no such tool,
    # and a name guessed anyway is refused.
    assert "trigger-sampling-request" not in names and "echo" in names
    with pytest.raises(McpError, match="not available"):
        call(gateway.url + "/mcp/every-refuse", "trigger-sampling-request",
             {"prompt": "x", "maxTokens": 5})
