"""Every string a request carries is inspected: a token planted in each position is found.

A corpus of valid requests in both APIs, with the fields the model reads
that are easy to forget (names, ids, legacy functions, schema enums and
defaults, unexpected part types, URLs, predictions, stop sequences, metadata,
reasoning items, server and MCP tool blocks, documents, thinking). A GitHub
token is planted in each string position in turn; the secrets guard must
find it there, except in the positions on extract.py's explicit allow-list
(the API's own vocabulary, provider-format ids, binary payloads).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway_cli.config import InspectionConfig
from gateway_cli.guards import extract
from gateway_cli.guards.pipeline import Inspector
from gateway_cli.providers.operations import Op
from tests.unit.guards.test_guard_secrets import with_crc

PNG = "data:image/png;base64," + "iVBORw0KGgo" * 8
CHAT: dict[str, Any] = {
    "model": "gpt", "user": "user-42", "metadata": {"ticket": "T-1", "free form": "note"},
    "stop": ["END", "STOP"], "prediction": {"type": "content", "content": "draft answer"},
    "response_format": {"type": "json_schema", "json_schema": {
        "name": "out", "schema": {"type": "object", "properties": {
            "mood": {"type": "string", "enum": ["glad", "sad"], "default": "glad"}}}}},
    "tool_choice": {"type": "function", "function": {"name": "lookup"}},
    "functions": [{"name": "legacy", "description": "old style", "parameters": {}}],
    "function_call": {"name": "legacy"},
    "messages": [
        {"role": "system", "name": "sysname", "content": "be brief"},
        {"role": "user", "name": "alice", "content": [
            {"type": "text", "text": "look"},
            {"type": "Text", "text": "odd part"},
            {"text": "no type at all"},
            {"type": "image_url", "image_url": {"url": "https://img.example/a.png?k=v"}},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        ]},
        {"role": "assistant", "content": None, "refusal": "no",
         "tool_calls": [{"id": "call_abc123", "type": "function", "function": {
             "name": "lookup", "arguments": json.dumps({"q": "weather", "opts": ["x"]})}}],
         "function_call": {"name": "legacy", "arguments": json.dumps({"a": "b"})}},
        {"role": "tool", "tool_call_id": "call_abc123", "content": "sunny"},
        {"role": "function", "name": "legacy", "content": "old result"},
    ],
    "tools": [{"type": "function", "function": {
        "name": "lookup", "description": "find things", "parameters": {
            "type": "object", "properties": {
                "q": {"type": "string", "description": "query", "enum": ["weather", "news"],
                      "default": "news", "examples": ["rain"]}}}}}],
}
RESPONSES: dict[str, Any] = {
    "model": "gpt", "instructions": "be kind",
    "reasoning": {"effort": "low", "summary": "auto"},
    "prompt": {"id": "pmpt_1", "variables": {"city": "Paris"}},
    "text": {"format": {"type": "json_schema", "name": "fmt", "schema": {"type": "object"}}},
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                     {"type": "input_image", "image_url": PNG}]},
        {"type": "Message", "role": "user", "content": "capital M type"},
        {"type": "reasoning", "id": "rs_123456", "summary": [
            {"type": "summary_text", "text": "thought about it"}],
         "encrypted_content": "gAAAAB" + "x" * 64},
        {"type": "function_call", "call_id": "call_9z9z9z", "name": "f",
         "arguments": json.dumps({"a": "b"})},
        {"type": "function_call_output", "call_id": "call_9z9z9z", "output": "result"},
        {"type": "custom_tool_call", "call_id": "call_c1c1c1", "name": "grep",
         "input": "raw custom input"},
        {"type": "custom_tool_call_output", "call_id": "call_c1c1c1", "output": "custom out"},
    ],
    "tools": [{"type": "function", "name": "f", "description": "d",
               "parameters": {"type": "object"}},
              {"type": "custom", "name": "grep", "description": "custom tool"}],
}
EMBEDDINGS: dict[str, Any] = {"model": "e", "input": [["nested", "list"], "flat"],
                              "encoding_format": "float"}
MESSAGES: dict[str, Any] = {
    "model": "claude", "max_tokens": 10,
    "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
    "metadata": {"user_id": "u-123"}, "stop_sequences": ["Human:"],
    "messages": [
        {"role": "user", "content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "source": {"type": "url", "url": "https://img.example/x.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo" * 8}},
            {"type": "document", "title": "T", "context": "ctx",
             "source": {"type": "url", "url": "https://docs.example/d.pdf?token=q"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                            "data": "doc body"}},
        ]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "EqQBCkYIBRgC" * 4},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy" * 4},
            {"type": "text", "text": "using tools"},
            {"type": "tool_use", "id": "toolu_01abc", "name": "f", "input": {"city": "Paris"}},
            {"type": "server_tool_use", "id": "srvtoolu_01x", "name": "web_search",
             "input": {"query": "news"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01x", "content": [
                {"type": "web_search_result", "title": "A", "url": "https://n.example/a",
                 "encrypted_content": "Eo8B" * 8}]},
            {"type": "mcp_tool_use", "id": "mcptoolu_01y", "name": "fetch",
             "server_name": "srv", "input": {"url": "https://x.example"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01abc", "content": "rainy"},
            {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_01y",
             "content": [{"type": "text", "text": "fetched"}]},
        ]},
    ],
    "tools": [{"name": "f", "description": "tool", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string", "enum": ["Paris"]}}}}],
}
CORPUS = [(Op.CHAT, CHAT), (Op.RESPONSES, RESPONSES), (Op.EMBEDDINGS, EMBEDDINGS),
          (Op.MESSAGES, MESSAGES)]

# Positions on the allow-list: the API's vocabulary and ids in a provider's format are
# skipped only while they look like that (a planted token does not); opaque payloads
# (signatures, encrypted reasoning, base64 media) always are.
OPAQUE_KEYS = {"signature", "encrypted_content"}


def _opaque(body: dict[str, Any], path: tuple[Any, ...]) -> bool:
    if path == ("model",) or path[-1] in OPAQUE_KEYS:
        return True
    parent: Any = body
    for key in path[:-1]:
        parent = json.loads(parent) if isinstance(parent, str) else parent
        parent = parent[key]
    return path[-1] == "data" and isinstance(parent, dict) and parent.get("type") in (
        "base64", "redacted_thinking")


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every string position, walking into JSON-text `arguments` as extract.py does."""
    if isinstance(value, str):
        if path and path[-1] == "arguments":
            yield from _leaves(json.loads(value), path)
        else:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))


def _plant(body: dict[str, Any], path: tuple[Any, ...], token: str) -> dict[str, Any]:
    planted = copy.deepcopy(body)
    node: Any = planted
    for i, key in enumerate(path[:-1]):
        if isinstance(node[key], str):  # JSON-text arguments
            inner = json.loads(node[key])
            node[key] = json.dumps(_plant_value(inner, path[i + 1:], token))
            return planted
        node = node[key]
    node[path[-1]] = token
    return planted


def _plant_value(value: Any, path: tuple[Any, ...], token: str) -> Any:
    node = value
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = token
    return value


def _cases() -> Iterator[Any]:
    for op, body in CORPUS:
        for path in _leaves(body):
            yield pytest.param(op, body, path, id=f"{op.value}:{'/'.join(map(str, path))}")


INSPECTOR = Inspector(InspectionConfig())


@pytest.mark.parametrize(("op", "body", "path"), list(_cases()))
def test_a_token_planted_anywhere_is_found(op: Op, body: dict[str, Any],
                                          path: tuple[Any, ...]) -> None:
    token = with_crc("ghp_")
    planted = _plant(body, path, token)
    found = [s for s in extract.texts(op, planted) if token in s.text]
    if _opaque(body, path):
        assert not found  # on the allow-list, and tested to be skipped
        return
    assert found, f"{'/'.join(map(str, path))} is not inspected"
    inspection = INSPECTOR.inspect_request(op, planted, "m")
    assert any(p.finding.guard == "secrets" and token in p.slot.text
               for p in inspection.findings), "planted token not found by the secrets guard"


def test_the_corpus_covers_the_fields_that_were_missed() -> None:
    """The positions the review found uninspected are all in the corpus."""
    paths = {"/".join(map(str, p)) for _, body in CORPUS for p in _leaves(body)}
    for wanted in ("messages/1/name", "messages/2/tool_calls/0/function/name",
                   "messages/3/tool_call_id", "functions/0/description",
                   "messages/2/function_call/arguments/a", "prediction/content", "stop/0",
                   "user", "metadata/ticket", "tool_choice/function/name",
                   "messages/1/content/1/text", "messages/1/content/2/text",
                   "messages/1/content/3/image_url/url",
                   "response_format/json_schema/schema/properties/mood/enum/0"):
        assert wanted in paths, wanted


def test_what_is_skipped_is_only_the_allow_list() -> None:
    """Binary payloads, signatures and vocabulary in the corpus are not offered as text."""
    offered = {s.path for op, body in CORPUS for s in extract.texts(op, body)}
    skipped = {p for _, body in CORPUS for p in _leaves(body)} - offered
    for path in skipped:
        key = next(k for k in reversed(path) if isinstance(k, str))
        assert key in {"model", "type", "role", "detail", "media_type", "encoding_format",
                       "effort", "summary", "signature", "encrypted_content", "data", "url",
                       "image_url", "id", "call_id", "tool_use_id", "tool_call_id"}, path


def test_keys_of_free_form_json_are_read_but_never_edited() -> None:
    token = with_crc("ghp_")
    body = {"model": "gpt", "messages": [{"role": "assistant", "tool_calls": [
        {"function": {"name": "f", "arguments": json.dumps({token: 1})}}]}]}
    [slot] = [s for s in extract.texts(Op.CHAT, body) if s.text == token]
    assert slot.editable is False
    inspection = INSPECTOR.inspect_request(Op.CHAT, body, "m")
    assert inspection.decision.applied == "block"
    assert inspection.decision.reason is not None and "uneditable" in inspection.decision.reason


def test_a_secret_in_a_thinking_block_blocks_rather_than_breaking_its_signature() -> None:
    token = with_crc("ghp_")
    body = copy.deepcopy(MESSAGES)
    body["messages"][1]["content"][0]["thinking"] = f"the key is {token}"
    inspection = INSPECTOR.inspect_request(Op.MESSAGES, body, "m")
    assert inspection.decision.applied == "block"
    assert inspection.body is None  # nothing rewritten
