"""An Anthropic-SDK client talking to an OpenAI-format upstream.

`request` turns a Messages request into a Chat Completions request,
`response` turns the `chat.completion` back into a Messages answer, and
`StreamTranslator` does the same for a stream, one OpenAI chunk at a time.

What cannot cross, and why:

- refused with `TranslationError` (sending something else would change what
  the client asked for): content blocks other than text, image, tool_use and
  tool_result (documents, search results, server-tool blocks); image sources
  other than base64 and URL; non-text content inside a tool_result, since an
  OpenAI `tool` message carries text only; server tools (web search, bash,
  code execution...), which run inside Anthropic's platform.
- dropped: `thinking` and `redacted_thinking` blocks replayed in assistant
  history (Anthropic itself ignores earlier turns' thinking), `thinking`,
  `top_k`, `cache_control`, `citations`, `service_tier` and the rest of
  `metadata` (only `user_id` has a place),
  `output_config.effort`;
  `tool_choice` when no tools are sent, since OpenAI rejects it then.
- structured output (`output_format` or `output_config.format`, a JSON
  schema) becomes a strict `response_format`.
- beta features (anthropic_betas): a request that uses one only Anthropic's
  platform runs (MCP servers, containers, context management, file_id
  sources...) is refused by name before translation.
- kept in place: a `system` turn inside `messages` (mid-conversation system
  messages) becomes a system message at the same position.
- approximated: a tool_result with `is_error` becomes a tool message whose
  text starts with "Error: ", so the model still sees that the call failed;
  tool_result blocks become `tool` messages placed before the rest of their
  user turn, the order OpenAI requires after an assistant's tool calls.

A streamed request asks for `stream_options.include_usage`, because an
Anthropic client expects token counts at the end of every stream.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway_cli.formats.stream_index import check_room, index_of
from gateway_cli.translate.common import JSON, compact, obj, objects
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_TOOL_CHOICES = {"auto": "auto", "none": "none", "any": "required"}
_IGNORED_ASSISTANT_BLOCKS = frozenset({"thinking", "redacted_thinking"})
ERROR_PREFIX = "Error: "



# -- request ---------------------------------------------------------------------------------


def request(body: JSON, *, upstream_model: str) -> JSON:
    """The OpenAI chat request equivalent to an Anthropic /v1/messages request."""
    if not isinstance(body, dict):
        raise TranslationError("the request body must be a JSON object")
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise TranslationError("'messages' must be a non-empty array")
    messages = _system(body.get("system"))
    for i, turn in enumerate(turns):
        messages += _turn(turn, f"messages[{i}]")
    out: JSON = {"model": upstream_model, "messages": messages}
    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise TranslationError("'max_tokens' must be a positive integer")
        out["max_tokens"] = max_tokens
    tools = _tools(body.get("tools"))
    if tools:
        # OpenAI rejects an empty tools array, and a tool choice without tools.
        out["tools"] = tools
        if body.get("tool_choice") is not None:
            out.update(_tool_choice(body["tool_choice"]))
    stop = body.get("stop_sequences")
    if stop:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise TranslationError("'stop_sequences' must be an array of strings")
        out["stop"] = list(stop)
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TranslationError(f"'{key}' must be a number")
            out[key] = value
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    response_format = _output_format(body)
    if response_format is not None:
        out["response_format"] = response_format
    stream = body.get("stream")
    if isinstance(stream, bool):
        out["stream"] = stream
        if stream:
            out["stream_options"] = {"include_usage": True}
    return out


def _output_format(body: JSON) -> JSON | None:
    """Structured output (`output_format`, or `output_config.format`) as OpenAI's
    response_format: Anthropic's is always enforced, so the schema is sent strict."""
    config = body.get("output_config")
    fmt, where = body.get("output_format"), "output_format"
    if fmt is None and isinstance(config, dict):
        fmt, where = config.get("format"), "output_config.format"
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" \
            or not isinstance(fmt.get("schema"), dict):
        raise TranslationError(f"{where}: only a json_schema format with a 'schema' object "
                               "can be sent to this model")
    return {"type": "json_schema",
            "json_schema": {"name": "output", "schema": fmt["schema"], "strict": True}}


def _system(system: Any, where: str = "system") -> list[JSON]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise TranslationError(f"'{where}' must be a string or an array of text blocks")
    parts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise TranslationError(f"{where}[{j}] must be a text block")
        parts.append({"type": "text", "text": _text(block, f"{where}[{j}]")})
    return [{"role": "system", "content": parts}]


def _text(block: JSON, where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise TranslationError(f"{where}.text must be a string")
    return text


def _turn(turn: Any, where: str) -> list[JSON]:
    if not isinstance(turn, dict):
        raise TranslationError(f"{where} must be an object")
    role = turn.get("role")
    content = turn.get("content")
    if role not in ("user", "assistant", "system"):
        raise TranslationError(f"{where}.role must be 'user', 'assistant' or 'system'")
    if role == "system":
        # A system turn inside the conversation (Anthropic's mid-conversation system
        # messages) is a system message at the same place in OpenAI's list.
        return _system(content, where)
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content must be a string or an array of blocks")
    if role == "user":
        return _user_turn(content, where)
    return [_assistant_turn(content, where)]


def _user_turn(blocks: list[Any], where: str) -> list[JSON]:
    tool_messages: list[JSON] = []
    parts: list[JSON] = []
    for block_where, block in objects(blocks, f"{where}.content"):
        if block.get("type") == "tool_result":
            tool_messages.append(_tool_message(block, block_where))
        else:
            parts.append(_part(block, block_where))
    if parts or not tool_messages:
        return [*tool_messages, {"role": "user", "content": parts}]
    return tool_messages


def _part(block: JSON, where: str) -> JSON:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": _text(block, where)}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _image_url(block, where)}}
    raise TranslationError(
        f"{where}: content block type {kind!r} has no OpenAI equivalent; only text, image, "
        "tool_use and tool_result blocks can be sent to this model"
    )


def _image_url(block: JSON, where: str) -> str:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64" and isinstance(source, dict):
        media_type, data = source.get("media_type"), source.get("data")
        if isinstance(media_type, str) and isinstance(data, str):
            return f"data:{media_type};base64,{data}"
    elif kind == "url" and isinstance(source, dict) and isinstance(source.get("url"), str):
        return str(source["url"])
    raise TranslationError(
        f"{where}.source: only base64 and url image sources can be sent to this model"
    )


def _tool_message(block: JSON, where: str) -> JSON:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.tool_use_id must be a non-empty string")
    content = block.get("content")
    converted: str | list[JSON]
    if content is None:
        converted = ""
    elif isinstance(content, str):
        converted = content
    elif isinstance(content, list):
        converted = []
        for k, inner in enumerate(content):
            inner_where = f"{where}.content[{k}]"
            if not isinstance(inner, dict) or inner.get("type") != "text":
                raise TranslationError(
                    f"{inner_where}: an OpenAI tool message carries text only, so a "
                    "tool_result can hold only text blocks for this model"
                )
            converted.append({"type": "text", "text": _text(inner, inner_where)})
    else:
        raise TranslationError(f"{where}.content must be a string or an array of blocks")
    if block.get("is_error") is True:
        if isinstance(converted, str):
            converted = ERROR_PREFIX + converted if converted else ERROR_PREFIX.rstrip(": ")
        else:
            converted = [{"type": "text", "text": ERROR_PREFIX.rstrip()}, *converted]
    return {"role": "tool", "tool_call_id": call_id, "content": converted}


def _assistant_turn(blocks: list[Any], where: str) -> JSON:
    parts: list[JSON] = []
    tool_calls: list[JSON] = []
    for block_where, block in objects(blocks, f"{where}.content"):
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, block_where)})
        elif kind == "tool_use":
            tool_calls.append(_tool_call(block, block_where))
        elif kind not in _IGNORED_ASSISTANT_BLOCKS:
            raise TranslationError(
                f"{block_where}: assistant content block type {kind!r} has no OpenAI "
                "equivalent; only text and tool_use blocks can be sent to this model"
            )
    message: JSON = {"role": "assistant", "content": parts or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _tool_call(block: JSON, where: str) -> JSON:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.id must be a non-empty string")
    if not isinstance(name, str):
        raise TranslationError(f"{where}.name must be a string")
    if not isinstance(arguments, dict):
        raise TranslationError(f"{where}.input must be an object")
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": compact(arguments)}}



def _tools(tools: Any) -> list[JSON]:
    out = []
    for where, tool in objects(tools, "tools"):
        if tool.get("type") not in (None, "custom"):
            raise TranslationError(
                f"{where}: server tool {tool.get('type')!r} runs inside Anthropic's platform "
                "and cannot be offered to this model"
            )
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str):
            raise TranslationError(f"{where}.name must be a string")
        if not isinstance(schema, dict):
            raise TranslationError(f"{where}.input_schema must be an object")
        function: JSON = {"name": name}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        function["parameters"] = schema
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> JSON:
    kind = choice.get("type") if isinstance(choice, dict) else None
    out: JSON
    if kind in _TOOL_CHOICES:
        out = {"tool_choice": _TOOL_CHOICES[kind]}
    elif kind == "tool" and isinstance(choice, dict) and isinstance(choice.get("name"), str):
        out = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise TranslationError(
            "'tool_choice' must be an object with type auto, any, tool (with a name) or none"
        )
    if isinstance(choice, dict) and choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


# -- response --------------------------------------------------------------------------------


def stop_reason(finish_reason: Any) -> str:
    """Anthropic's stop_reason for an OpenAI finish_reason; a missing one counts as end_turn."""
    if isinstance(finish_reason, str):
        return _STOP_REASONS.get(finish_reason, "end_turn")
    return "end_turn"


def usage(openai_usage: Any) -> JSON:
    """Anthropic usage, where input_tokens excludes cache reads and writes, unlike OpenAI's."""
    u = openai_usage if isinstance(openai_usage, dict) else {}
    details = u.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    read, written = _count(details, "cached_tokens"), _count(details, "cache_write_tokens")
    return {
        "input_tokens": max(0, _count(u, "prompt_tokens") - read - written),
        "output_tokens": _count(u, "completion_tokens"),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def _count(usage: JSON, key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def tool_input(arguments: Any) -> JSON:
    """Tool-call arguments from an OpenAI upstream as Anthropic's `input` object.

    The model wrote these, not the client, so a bad value is not a reason to
    fail the whole response. Empty arguments mean no arguments. Anything that
    is not a JSON object is kept verbatim under `_raw_arguments`: the client
    sees exactly what the model produced, and a tool that validates its input
    rejects the call instead of running with silently empty arguments.
    """
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {"_raw_arguments": arguments}
    return value if isinstance(value, dict) else {"_raw_arguments": arguments}


def response(completion: JSON, *, message_id: str, model: str | None = None) -> JSON:
    """The Anthropic message for an OpenAI `chat.completion` (its first choice).

    `model` overrides the upstream's model name, for a gateway that answers
    with the alias the client asked for.
    """
    choices = completion.get("choices")
    choice = obj(choices[0] if isinstance(choices, list) and choices else None)
    message = obj(choice.get("message"))
    content: list[JSON] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    elif isinstance(text, list):
        content += [{"type": "text", "text": part["text"]} for part in text
                    if isinstance(part, dict) and isinstance(part.get("text"), str)
                    and part["text"]]
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
    for k, call in enumerate(message.get("tool_calls") or []):
        if isinstance(call, dict):
            content.append(_tool_use(call, f"toolu_{message_id}_{k}"))
    legacy = message.get("function_call")
    if isinstance(legacy, dict) and not message.get("tool_calls"):
        content.append(_tool_use({"function": legacy}, f"toolu_{message_id}_0"))
    reason = stop_reason(choice.get("finish_reason"))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model if model is not None else str(completion.get("model", "")),
        "content": content,
        "stop_reason": "refusal" if refusal else reason,
        "stop_sequence": None,
        "usage": usage(completion.get("usage")),
    }


def _tool_use(call: JSON, fallback_id: str) -> JSON:
    function = obj(call.get("function"))
    call_id = call.get("id")
    return {"type": "tool_use",
            "id": call_id if isinstance(call_id, str) and call_id else fallback_id,
            "name": str(function.get("name") or ""),
            "input": tool_input(function.get("arguments"))}


# -- stream ----------------------------------------------------------------------------------


class StreamTranslator:
    """OpenAI chunks in, Anthropic (event, data) pairs out, in Anthropic's order.

    Anthropic streams numbered content blocks that open and close one at a
    time, while OpenAI streams flat deltas; the translator opens a text
    block at the first text, a tool_use block at each new tool call, and
    closes the previous block whenever the kind changes. OpenAI sends usage
    after the finish reason, so `message_delta` (which carries both) waits
    for `finish()`, called at `[DONE]`.
    """

    def __init__(self, *, message_id: str, model: str) -> None:
        self._message_id = message_id
        self._model = model
        self._started = False
        self._done = False
        self._next_block = 0
        self._open: tuple[str, int | None] | None = None  # ("text" | "tool", openai index)
        self._tools: dict[int, int] = {}  # OpenAI tool-call index -> Anthropic block index
        self._stop_reason: str | None = None
        self._usage: JSON | None = None

    def feed(self, chunk: JSON) -> list[tuple[str, JSON]]:
        if self._done:
            return []
        error = chunk.get("error")
        if isinstance(error, dict):
            raise UpstreamStreamError(str(error.get("type") or error.get("code") or "api_error"),
                                      str(error.get("message") or "the upstream stream failed"))
        out = self._start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            return out
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
            if isinstance(text, str) and text:
                out += self._text(text)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._stop_reason = "refusal"
                out += self._text(refusal)
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    out += self._tool(call)
        finish = choice.get("finish_reason")
        if finish is not None:
            out += self._close()
            if self._stop_reason is None:
                self._stop_reason = stop_reason(finish)
        return out

    def finish(self) -> list[tuple[str, JSON]]:
        """Close whatever is open; safe to call once the upstream ends, however it ended."""
        if self._done:
            return []
        self._done = True
        out = self._start() + self._close()
        totals = usage(self._usage) if self._usage is not None else {"output_tokens": 0}
        out.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason or "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": totals["output_tokens"],
                      **{k: v for k, v in totals.items() if k != "output_tokens"}},
        }))
        out.append(("message_stop", {"type": "message_stop"}))
        return out

    def _start(self) -> list[tuple[str, JSON]]:
        if self._started:
            return []
        self._started = True
        return [("message_start", {"type": "message_start", "message": {
            "id": self._message_id, "type": "message", "role": "assistant",
            "model": self._model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})]

    def _open_block(self, kind: str, key: int | None, block: JSON) -> list[tuple[str, JSON]]:
        out = self._close()
        index = self._next_block
        self._next_block += 1
        self._open = (kind, key)
        if key is not None:
            self._tools[key] = index
        out.append(("content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block}))
        return out

    def _close(self) -> list[tuple[str, JSON]]:
        if self._open is None:
            return []
        self._open = None
        return [("content_block_stop",
                 {"type": "content_block_stop", "index": self._next_block - 1})]

    def _delta(self, delta: JSON) -> tuple[str, JSON]:
        return ("content_block_delta",
                {"type": "content_block_delta", "index": self._next_block - 1, "delta": delta})

    def _text(self, text: str) -> list[tuple[str, JSON]]:
        out = [] if self._open == ("text", None) else self._open_block(
            "text", None, {"type": "text", "text": ""})
        out.append(self._delta({"type": "text_delta", "text": text}))
        return out

    def _tool(self, call: JSON) -> list[tuple[str, JSON]]:
        key = index_of(call.get("index"), None)
        if key is None:
            # Some OpenAI-compatible servers omit the index: a call with an id is a new one.
            current = self._open[1] if self._open else None
            key = len(self._tools) if call.get("id") or current is None else current
        function = obj(call.get("function"))
        out: list[tuple[str, JSON]] = []
        if key not in self._tools:
            check_room(len(self._tools))
            call_id = call.get("id")
            out += self._open_block("tool", key, {
                "type": "tool_use",
                "id": call_id if isinstance(call_id, str) and call_id
                else f"toolu_{self._message_id}_{len(self._tools)}",
                "name": str(function.get("name") or ""), "input": {}})
        elif self._open != ("tool", key):
            raise UpstreamStreamError(
                "api_error",
                f"the upstream interleaved the arguments of tool call {key} with another "
                "block; an Anthropic stream cannot reopen a closed block",
            )
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        return out
