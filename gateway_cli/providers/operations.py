"""The API operations the gateway serves, and the wire family of each provider kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Family = Literal["openai", "anthropic"]


class Op(StrEnum):
    CHAT = "chat"                  # POST /v1/chat/completions (OpenAI)
    EMBEDDINGS = "embeddings"      # POST /v1/embeddings (OpenAI)
    RESPONSES = "responses"        # POST /v1/responses (OpenAI)
    MESSAGES = "messages"          # POST /v1/messages (Anthropic)
    COUNT_TOKENS = "count_tokens"  # POST /v1/messages/count_tokens (Anthropic)


CLIENT_FAMILY: dict[Op, Family] = {
    Op.CHAT: "openai",
    Op.EMBEDDINGS: "openai",
    Op.RESPONSES: "openai",
    Op.MESSAGES: "anthropic",
    Op.COUNT_TOKENS: "anthropic",
}

PROVIDER_FAMILY: dict[str, Family] = {
    "openai": "openai",
    "openai-compatible": "openai",
    "azure": "openai",
    "anthropic": "anthropic",
    "mock": "openai",
}

STREAMABLE = frozenset({Op.CHAT, Op.RESPONSES, Op.MESSAGES})
