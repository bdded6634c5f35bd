import pytest

from gateway_cli.mcp.scopes import ScopeError, allows, parse_scope, parse_scopes


def test_a_tool_pattern_grants_only_matching_tools_on_its_server() -> None:
    scopes = parse_scopes(["mcp:fs:read_*", "mcp:fs:list_*"])
    assert allows(scopes, "fs", "tool", "read_text_file")
    assert allows(scopes, "fs", "tool", "list_directory")
    assert not allows(scopes, "fs", "tool", "write_file")
    assert not allows(scopes, "github", "tool", "read_issue")
    # a tool pattern never reaches a prompt or a resource that happens to match
    assert not allows(scopes, "fs", "prompt", "read_me")
    assert not allows(scopes, "fs", "resource", "read_x")


def test_server_wildcards_and_kinds() -> None:
    assert allows(parse_scopes(["mcp:fs:*"]), "fs", "resource", "file:///a")
    assert allows(parse_scopes(["mcp:*:*"]), "any", "prompt", "p")
    assert allows(parse_scopes(["mcp:docs:prompt/sum*"]), "docs", "prompt", "summarise")
    assert not allows(parse_scopes(["mcp:docs:prompt/sum*"]), "docs", "tool", "summarise")
    assert allows(parse_scopes(["mcp:fs:resource/file:///srv/*"]), "fs", "resource",
                  "file:///srv/a.txt")


def test_nothing_granted_by_default() -> None:
    assert not allows((), "fs", "tool", "read_file")


@pytest.mark.parametrize("bad", ["", "fs:read", "mcp:fs", "mcp::x", "mcp:fs:", "llm:fs:x",
                                 "mcp:f s:x", "mcp:fs:a b", "mcp:fs:\x00",
                                 "mcp:fs:read_\x85", "mcp:fs:read_\u202e*", "mcp:fs:r\u0435ad",
                                 "mcp:f/s:x",
                                 "mcp:" + "a" * 600 + ":x"])
def test_malformed_scopes_are_refused(bad: str) -> None:
    with pytest.raises(ScopeError):
        parse_scope(bad)


def test_matching_stays_linear_on_hostile_names() -> None:
    scope = parse_scopes(["mcp:fs:" + "*a" * 40 + "*b"])
    assert not allows(scope, "fs", "tool", "a" * 100_000)
