"""Anthropic beta features, for an Anthropic client whose model an OpenAI-format provider serves.

The `anthropic-beta` header goes to Anthropic providers as it came
(providers/wire.py). An OpenAI-format provider never sees it, so each beta
the client names is one of:

- "none": it changes nothing a translated call can observe (it identifies
  the client, raises an Anthropic-only ceiling, tunes caching or encoding):
  accepted;
- "reproduced": the translation (anthropic_to_openai) gives the same effect:
  accepted;
- "provider": only Anthropic's platform can do it (server tools, the Files
  API, MCP connectors, context editing). Refused, but only when the request
  actually uses the feature, so Claude Code, which names several betas on
  every call, still works: a beta named but not used costs nothing.

Use is detected from the body, not from the header (the use tables): a request
that uses a platform feature is refused by name whether or not it named the
beta, and a second `anthropic-beta` header cannot hide one. A beta this
table does not know is accepted unless the request also carries top-level
fields the translation does not know (`TRANSLATED`): those are what a new
beta would add, and dropping them would change the request unseen.

Rules are data: `BETAS` (one row per beta, dates stripped, with why) and
`TOOL_TYPES`, `FIELDS`, `BLOCK_TYPES` (how a use shows in the body). `check` is the only code.
Sources: Anthropic's API reference and release notes for each beta's name
and the request fields it adds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from gateway_cli.translate.common import JSON
from gateway_cli.translate.errors import TranslationError

Effect = Literal["none", "reproduced", "provider"]


@dataclass(frozen=True)
class Beta:
    effect: Effect
    why: str


BETAS: dict[str, Beta] = {
    # Names the calling client (Claude Code); no request or answer field changes.
    "claude-code": Beta("none", "identifies the client"),
    # Signs in to Anthropic with a subscription; the gateway signs in to the provider itself.
    "oauth": Beta("none", "authentication to Anthropic, replaced by the gateway's own"),
    # System turns inside `messages`: translated to system messages at the same place.
    "mid-conversation-system": Beta("reproduced", "system turns become system messages"),
    # Thinking between tool calls: thinking is not sent to an OpenAI model (translation drops
    # `thinking`), so the answer has text and tool calls only, as without the beta.
    "interleaved-thinking": Beta("none", "no thinking is requested from the provider"),
    # Tool arguments streamed in fragments: the translation streams OpenAI's argument
    # fragments as input_json_delta events, which is what the beta gives.
    "fine-grained-tool-streaming": Beta("reproduced", "argument fragments stream as they come"),
    # A denser tool encoding inside Anthropic's prompt: tool calls keep their shape.
    "token-efficient-tools": Beta("none", "an Anthropic-side prompt encoding"),
    # Raise Anthropic's ceilings: max_tokens and the context go to the provider as they are,
    # and its own limits apply (an over-long request gets its error).
    "output-128k": Beta("none", "an Anthropic output ceiling"),
    "context-1m": Beta("none", "an Anthropic context-window size"),
    # Prompt caching (cache_control) saves cost and latency, not meaning; dropped in translation.
    "prompt-caching": Beta("none", "caching changes cost, not the answer"),
    "extended-cache-ttl": Beta("none", "caching changes cost, not the answer"),
    # `output_config.effort`: a tuning knob, dropped as reasoning_effort is the other way.
    "effort": Beta("none", "a tuning knob"),
    # Adds the stop reason model_context_window_exceeded; an OpenAI provider reports length.
    "model-context-window-exceeded": Beta("none", "only a stop reason's name"),
    # Batches are another endpoint; naming the beta on /v1/messages changes nothing.
    "message-batches": Beta("none", "another endpoint"),
    # `output_format` / `output_config.format` (JSON schema): becomes OpenAI's response_format.
    "structured-outputs": Beta("reproduced", "a JSON schema becomes response_format"),
    # The rest run on Anthropic's platform: refused when used (see FEATURES).
    "computer-use": Beta("provider", "computer_*, bash_* and text_editor_* tools"),
    "code-execution": Beta("provider", "code_execution_* tools and containers"),
    "web-fetch": Beta("provider", "web_fetch_* server tools"),
    "web-search": Beta("provider", "web_search_* server tools"),
    "files-api": Beta("provider", "file_id sources, container uploads"),
    "mcp-client": Beta("provider", "mcp_servers and mcp_toolset tools"),
    "context-management": Beta("provider", "context edits other than clearing thinking, "
                                           "memory tools"),
    "compact": Beta("provider", "server-side compaction (context_management)"),
    "skills": Beta("provider", "container skills"),
    "search-results": Beta("provider", "search_result content blocks"),
    "advanced-tool-use": Beta("provider", "tool search, deferred tools"),
    "tool-search-tool": Beta("provider", "tool search, deferred tools"),
}

# How a use of a platform feature shows in the body.
TOOL_TYPES: tuple[tuple[str, str, str], ...] = (
    # tool `type` prefix, feature, beta
    ("computer_", "computer use", "computer-use"),
    ("bash_", "the Anthropic-defined bash tool", "computer-use"),
    ("text_editor_", "the Anthropic-defined text editor tool", "computer-use"),
    ("code_execution_", "code execution", "code-execution"),
    ("web_search_", "web search", "web-search"),
    ("web_fetch_", "web fetch", "web-fetch"),
    ("memory_", "the memory tool", "context-management"),
    ("tool_search_tool_", "tool search", "tool-search-tool"),
    ("mcp_toolset", "the MCP connector", "mcp-client"),
)
FIELDS: tuple[tuple[str, str, str], ...] = (
    # top-level field (used when present and not null/empty), feature, beta
    ("mcp_servers", "the MCP connector", "mcp-client"),
    ("container", "code execution containers", "code-execution"),
)
# context_management edits (by type prefix) a translated call already has the effect of:
# thinking is never sent to an OpenAI-format provider, so there is none to clear or keep
# (Claude Code sends `clear_thinking_20251015` with keep "all" on every call). Any other edit
# (clearing tool results, compaction) is Anthropic rewriting the context: refused when used.
REPRODUCED_EDITS = ("clear_thinking_",)
BLOCK_TYPES: dict[str, tuple[str, str]] = {
    # content block type -> feature, beta
    "container_upload": ("container uploads", "files-api"),
    "search_result": ("search result blocks", "search-results"),
}

# The top-level fields the translation reads or deliberately drops (anthropic_to_openai).
TRANSLATED = frozenset({
    "model", "messages", "system", "max_tokens", "tools", "tool_choice", "stop_sequences",
    "temperature", "top_p", "top_k", "metadata", "stream", "thinking", "service_tier",
    "output_format", "output_config", "context_management",
    *(field for field, _, _ in FIELDS),
})

_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{8}$")


def beta_name(value: str) -> str:
    """A beta's name without its date: `files-api-2025-04-14` -> `files-api`."""
    return _DATE.sub("", value.strip().lower())


def named(header: str | None) -> list[str]:
    """The betas a comma-separated `anthropic-beta` header names, as sent."""
    return [b.strip() for b in (header or "").split(",") if b.strip()]


def _refuse(where: str, feature: str, beta: str) -> TranslationError:
    return TranslationError(
        f"{where}: {feature} (anthropic-beta {beta}) runs on Anthropic's platform, and this "
        "model's provider speaks the OpenAI API; use a model served by an Anthropic provider")


def _blocks(body: JSON) -> Iterator[tuple[str, JSON]]:
    """(path, block) of every content block, tool_result contents included."""
    messages = body.get("messages")
    for i, message in enumerate(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        for j, block in enumerate(content if isinstance(content, list) else []):
            if not isinstance(block, dict):
                continue
            where = f"messages.{i}.content.{j}"
            yield where, block
            inner = block.get("content")
            for k, nested in enumerate(inner if isinstance(inner, list) else []):
                if isinstance(nested, dict):
                    yield f"{where}.content.{k}", nested


def _context_edit(management: Any) -> tuple[str, str, str] | None:
    """(where, feature, beta) of the first context edit the translation does not reproduce."""
    if management in (None, {}):
        return None
    if not isinstance(management, dict) or set(management) - {"edits"} \
            or not isinstance(management.get("edits"), list):
        return "context_management", "context management", "context-management"
    for i, edit in enumerate(management["edits"]):
        kind = edit.get("type") if isinstance(edit, dict) else None
        if not (isinstance(kind, str) and kind.startswith(REPRODUCED_EDITS)):
            return (f"context_management.edits.{i}", f"context management ({kind})",
                    "context-management")
    return None


def _uses(body: JSON) -> tuple[str, str, str] | None:
    """(where, feature, beta) of the first platform feature the request uses."""
    for field, feature, beta in FIELDS:
        if body.get(field) not in (None, [], {}):
            return field, feature, beta
    edit = _context_edit(body.get("context_management"))
    if edit is not None:
        return edit
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        for prefix, feature, beta in TOOL_TYPES:
            if isinstance(kind, str) and kind.startswith(prefix):
                return f"tools.{i}", f"{feature} ({kind})", beta
        if tool.get("defer_loading") is True:
            return f"tools.{i}.defer_loading", "deferred tool loading", "advanced-tool-use"
    for where, block in _blocks(body):
        kind = block.get("type")
        if isinstance(kind, str) and kind in BLOCK_TYPES:
            feature, beta = BLOCK_TYPES[kind]
            return where, feature, beta
        source = block.get("source")
        if isinstance(source, dict) and (source.get("type") == "file"
                                         or "file_id" in source):
            return f"{where}.source", "a file from the Files API (file_id)", "files-api"
    return None


def check(header: str | None, body: JSON) -> None:
    """Raise TranslationError naming the feature when the request needs Anthropic's platform
    (or a beta the gateway does not know, together with fields it cannot translate)."""
    used = _uses(body)
    if used is not None:
        raise _refuse(*used)
    unknown = [b for b in named(header) if beta_name(b) not in BETAS]
    extra = sorted(k for k in body if k not in TRANSLATED and body[k] is not None)
    if unknown and extra:
        raise TranslationError(
            f"{', '.join(extra)}: field(s) of anthropic-beta {', '.join(unknown)}, which the "
            "gateway cannot translate for this model's provider (it speaks the OpenAI API); "
            "use a model served by an Anthropic provider")
