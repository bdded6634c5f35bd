"""An OpenAI-SDK client talking to an Anthropic upstream.

`request` turns a Chat Completions request into a Messages request,
`response` turns the Messages answer back into a `chat.completion`, and
`StreamTranslator` does the same for a stream, one Anthropic event at a time.

What cannot cross, and why:

- refused with `TranslationError` (the client asked for something Anthropic
  cannot do, so sending a different request would silently change meaning):
  `n` other than 1; content parts other than text and images (audio, files);
  image URLs that are neither `data:...;base64,` nor http(s); tool-call
  arguments that are not a JSON object; tools other than `function`; the
  deprecated `function` role and `function_call` field; malformed messages.
- dropped (no Anthropic equivalent; they tune sampling or the response
  envelope, not the conversation): `logprobs`, `top_logprobs`, `logit_bias`,
  `presence_penalty`, `frequency_penalty`, `seed`, `response_format`,
  `stream_options` (its `include_usage` is the `StreamTranslator` flag),
  `store`, `metadata`, `service_tier`, `reasoning_effort`, `modalities`,
  `audio`, `prediction`, `web_search_options`, and `name` on messages.
  An empty `tools` array is not sent, and `tool_choice` and
  `parallel_tool_calls` are dropped when no tools are sent, because Anthropic
  rejects a tool choice without tools.
- approximated: `temperature` is clamped to Anthropic's 0..1; system and
  developer messages anywhere in the list become the top-level `system`
  (Anthropic has no mid-conversation system turn); consecutive messages of
  the same role, and `tool` messages, are merged into one turn because
  Anthropic requires alternating user/assistant turns; empty text is not sent
  as a block because Anthropic rejects empty text blocks.

From the response, `thinking`, `redacted_thinking` and server-tool blocks are
skipped: a `chat.completion` has no place for them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway_cli.formats.stream_index import check_room, index_of
from gateway_cli.translate.common import JSON, compact, entries, obj
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "any"}
_EMPTY_SCHEMA: JSON = {"type": "object", "properties": {}}



# -- request ---------------------------------------------------------------------------------


def request(body: JSON, *, upstream_model: str, default_max_tokens: int = 4096) -> JSON:
    """The Anthropic /v1/messages request equivalent to an OpenAI chat request."""
    if not isinstance(body, dict):
        raise TranslationError("the request body must be a JSON object")
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError(
            f"'n' = {n!r} is not supported for this model: Anthropic returns exactly one "
            "completion per request; send n = 1 or omit it"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("'messages' must be a non-empty array")
    system, turns = _conversation(messages)
    out: JSON = {
        "model": upstream_model,
        "messages": turns,
        "max_tokens": _max_tokens(body, default_max_tokens),
    }
    if system is not None:
        out["system"] = system
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    return sampling_fields(body, out)


def sampling_fields(body: JSON, out: JSON) -> JSON:
    """`stop`, `temperature` (clamped to Anthropic's 0..1), `top_p`, `user` and `stream`,
    spelt the same in chat and Responses requests, added to `out`."""
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        if not all(isinstance(s, str) for s in stop):
            raise TranslationError("'stop' must be a string or an array of strings")
        out["stop_sequences"] = list(stop)
    elif stop is not None and stop != []:
        raise TranslationError("'stop' must be a string or an array of strings")
    temperature = _number(body, "temperature")
    if temperature is not None:
        out["temperature"] = min(max(temperature, 0), 1)
    top_p = _number(body, "top_p")
    if top_p is not None:
        out["top_p"] = top_p
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    stream = body.get("stream")
    if isinstance(stream, bool):
        out["stream"] = stream
    return out


def _number(body: JSON, key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(f"'{key}' must be a number")
    return value


def _max_tokens(body: JSON, default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TranslationError(f"'{key}' must be a positive integer")
        return value
    return default


def _conversation(messages: list[Any]) -> tuple[str | list[JSON] | None, list[JSON]]:
    """System text and alternating turns.

    The system prompt stays a plain string when the client sent exactly one
    string system message (the common case, and what an Anthropic client
    would send); otherwise it is a list of text blocks.
    """
    system: list[JSON] = []
    system_strings: list[str] = []
    system_count = 0
    turns: list[JSON] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranslationError(f"{where} must be an object")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system_count += 1
            if isinstance(content, str):
                system_strings.append(content)
            system += _text_blocks(content, where)
        elif role == "user":
            _append(turns, "user", _user_content(content, where))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_content(message, where))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message, where)])
        elif role == "function":
            raise TranslationError(
                f"{where}: the deprecated 'function' role cannot be translated; "
                "use 'tools' and 'tool' messages"
            )
        else:
            raise TranslationError(
                f"{where}.role must be one of system, developer, user, assistant, tool"
            )
    if system_count == 0:
        return None, turns
    if system_count == 1 and len(system_strings) == 1:
        return system_strings[0], turns
    return system, turns


def _append(turns: list[JSON], role: str, content: str | list[JSON]) -> None:
    if turns and turns[-1]["role"] == role:
        previous = turns[-1]
        previous["content"] = _as_blocks(previous["content"]) + _as_blocks(content)
    else:
        turns.append({"role": role, "content": content})


def _as_blocks(content: str | list[JSON]) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _text_blocks(content: Any, where: str) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content must be a string or an array of text parts")
    blocks = []
    for j, part in enumerate(content):
        text = _part_text(part, f"{where}.content[{j}]")
        if text is None:
            raise TranslationError(f"{where}.content[{j}] must be a text part")
        if text:
            blocks.append({"type": "text", "text": text})
    return blocks


def _part_text(part: Any, where: str) -> str | None:
    """The text of a text (or refusal) part, None for any other part type."""
    if not isinstance(part, dict):
        raise TranslationError(f"{where} must be an object")
    kind = part.get("type")
    key = "text" if kind == "text" else "refusal" if kind == "refusal" else None
    if key is None:
        return None
    text = part.get(key)
    if not isinstance(text, str):
        raise TranslationError(f"{where}.{key} must be a string")
    return text


def _user_content(content: Any, where: str) -> str | list[JSON]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content must be a string or an array of parts")
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        part_where = f"{where}.content[{j}]"
        text = _part_text(part, part_where)
        if text is not None:
            if text:
                blocks.append({"type": "text", "text": text})
        elif part.get("type") == "image_url":
            blocks.append(_image(part.get("image_url"), part_where))
        else:
            raise TranslationError(
                f"{part_where}: content part type {part.get('type')!r} has no Anthropic "
                "equivalent; only text and image_url parts can be sent to this model"
            )
    return blocks


def _image(image: Any, where: str) -> JSON:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str):
        raise TranslationError(f"{where}.image_url.url must be a string")
    if url.startswith("data:"):
        header, comma, payload = url[len("data:"):].partition(",")
        params = header.split(";")
        if not comma or params[-1] != "base64" or not params[0]:
            raise TranslationError(
                f"{where}: a data: image URL must look like data:<media type>;base64,<data>"
            )
        return {"type": "image",
                "source": {"type": "base64", "media_type": params[0], "data": payload}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise TranslationError(f"{where}: an image URL must be an http(s) URL or a base64 data: URL")


def _assistant_content(message: JSON, where: str) -> str | list[JSON]:
    if message.get("function_call") is not None:
        raise TranslationError(
            f"{where}: the deprecated 'function_call' field cannot be translated; use 'tool_calls'"
        )
    content = message.get("content")
    tool_calls = message.get("tool_calls")
    if not tool_calls:
        if isinstance(content, str):
            return content
        if content is None:
            raise TranslationError(f"{where}: an assistant message needs content or tool_calls")
    if not isinstance(tool_calls, list | None):
        raise TranslationError(f"{where}.tool_calls must be an array")
    blocks = [] if content is None else _text_blocks(content, where)
    for k, call in enumerate(tool_calls or []):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{k}]"))
    return blocks


def _tool_use(call: Any, where: str) -> JSON:
    if not isinstance(call, dict):
        raise TranslationError(f"{where} must be an object")
    if call.get("type", "function") != "function":
        raise TranslationError(f"{where}: tool call type {call.get('type')!r} is not supported")
    function = call.get("function")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.id must be a non-empty string")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TranslationError(f"{where}.function.name must be a string")
    return {"type": "tool_use", "id": call_id, "name": function["name"],
            "input": _arguments(function.get("arguments"), f"{where}.function.arguments")}


def _arguments(arguments: Any, where: str) -> JSON:
    """Tool-call arguments as the object Anthropic's `input` must be.

    An empty string means no arguments (some models emit it for
    parameterless functions); anything else must be a JSON object.
    """
    if not isinstance(arguments, str):
        raise TranslationError(f"{where} must be a string of JSON")
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError as err:
        raise TranslationError(
            f"{where} is not valid JSON ({err}); Anthropic needs tool input as a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise TranslationError(
            f"{where} must encode a JSON object, not {type(value).__name__}; "
            "Anthropic needs tool input as a JSON object"
        )
    return value


def _tool_result(message: JSON, where: str) -> JSON:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.tool_call_id must be a non-empty string")
    block: JSON = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if content is not None:
        block["content"] = _user_content(content, where)
    return block


def _tools(tools: Any) -> list[JSON]:
    out = []
    for where, tool in entries(tools, "tools"):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise TranslationError(
                f"{where}: only tools of type 'function' can be sent to this model"
            )
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError(f"{where}.function.name must be a string")
        out.append(function_tool(function["name"], function, f"{where}.function"))
    return out


def function_tool(name: str, spec: JSON, where: str) -> JSON:
    """An Anthropic tool from a function's name and the object holding its `parameters`,
    `description` and `strict` (chat nests them under `function`, Responses does not)."""
    schema = spec.get("parameters")
    if schema is not None and not isinstance(schema, dict):
        raise TranslationError(f"{where}.parameters must be an object")
    converted: JSON = {"name": name, "input_schema": schema or dict(_EMPTY_SCHEMA)}
    if isinstance(spec.get("description"), str):
        converted["description"] = spec["description"]
    if isinstance(spec.get("strict"), bool):
        converted["strict"] = spec["strict"]
    return converted


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    converted: JSON | None
    if choice is None:
        converted = None
    elif isinstance(choice, str) and choice in TOOL_CHOICES:
        converted = {"type": TOOL_CHOICES[choice]}
    elif (isinstance(choice, dict) and choice.get("type") == "function"
          and isinstance(choice.get("function"), dict)
          and isinstance(choice["function"].get("name"), str)):
        converted = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise TranslationError(
            "'tool_choice' must be 'auto', 'none', 'required' or "
            '{"type": "function", "function": {"name": ...}}'
        )
    return no_parallel(converted) if parallel is False else converted


def no_parallel(choice: JSON | None) -> JSON:
    """`parallel_tool_calls: false` as Anthropic says it, on the tool choice."""
    converted = choice or {"type": "auto"}
    if converted["type"] != "none":
        converted["disable_parallel_tool_use"] = True
    return converted


# -- response --------------------------------------------------------------------------------


def finish_reason(stop_reason: Any) -> str:
    """OpenAI's finish_reason for an Anthropic stop_reason; unknown reasons count as a stop."""
    return _FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage(anthropic_usage: Any) -> JSON:
    """OpenAI usage: prompt tokens include the cached and cache-written ones, as OpenAI's do."""
    u = anthropic_usage if isinstance(anthropic_usage, dict) else {}
    fresh, output, written, read = (_count(u, key) for key in (
        "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    prompt = fresh + written + read
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
    }


def _count(usage: JSON, key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0



def response(message: JSON, *, request_id: str, created: int, model: str) -> JSON:
    """The `chat.completion` for an Anthropic message; text blocks are concatenated."""
    texts: list[str] = []
    tool_calls: list[JSON] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            tool_calls.append({
                "id": block.get("id", ""),
                "type": "function",
                "function": {"name": block.get("name", ""),
                             "arguments": compact(block.get("input") or {})},
            })
    text = "".join(texts)
    reply: JSON = {"role": "assistant", "content": text if text or not tool_calls else None,
                   "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": reply, "logprobs": None,
                     "finish_reason": finish_reason(message.get("stop_reason"))}],
        "usage": usage(message.get("usage")),
    }


# -- stream ----------------------------------------------------------------------------------


class StreamTranslator:
    """Anthropic stream events in, `chat.completion.chunk` objects out, in OpenAI's order.

    OpenAI numbers tool calls 0, 1, ... while Anthropic numbers every
    content block, so the translator keeps the map between the two. Usage
    arrives in pieces (input at message_start, output at message_delta) and
    is reported once, after the finish chunk, when the client asked for it.
    """

    def __init__(self, *, request_id: str, created: int, model: str,
                 include_usage: bool) -> None:
        self._base: JSON = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk",
                            "created": created, "model": model}
        if include_usage:
            self._base["usage"] = None
        self._include_usage = include_usage
        self._started = False
        self._finished = False
        self._stopped = False
        self._tool_index: dict[int, int] = {}
        self._usage: JSON = {}

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {**self._base, "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def _start(self) -> list[JSON]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: str, data: JSON) -> list[JSON]:
        kind = event or data.get("type", "")
        if self._stopped or kind == "ping":
            return []
        if kind == "error":
            error = obj(data.get("error"))
            raise UpstreamStreamError(str(error.get("type") or "api_error"),
                                      str(error.get("message") or "the upstream stream failed"))
        if kind == "message_start":
            message = data.get("message")
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                self._usage.update(message["usage"])
            return self._start()
        if kind == "content_block_start":
            return self._start() + self._block_start(data)
        if kind == "content_block_delta":
            return self._start() + self._block_delta(data)
        if kind == "message_delta":
            return self._start() + self._message_delta(data)
        if kind == "message_stop":
            return self._message_stop()
        return []  # content_block_stop, and event types added after this was written

    def _block_start(self, data: JSON) -> list[JSON]:
        block = data.get("content_block")
        if not isinstance(block, dict):
            return []
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        index = len(self._tool_index)
        check_room(index)
        self._tool_index[index_of(data.get("index"), -1)] = index
        arguments = compact(block["input"]) if block.get("input") else ""
        return [self._chunk({"tool_calls": [{
            "index": index, "id": block.get("id", ""), "type": "function",
            "function": {"name": block.get("name", ""), "arguments": arguments}}]})]

    def _block_delta(self, data: JSON) -> list[JSON]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tool_index.get(index_of(data.get("index"), -1))
            if index is not None:
                return [self._chunk({"tool_calls": [
                    {"index": index, "function": {"arguments": delta["partial_json"]}}]})]
        return []  # thinking, signature and citation deltas have no chat.completion place

    def _message_delta(self, data: JSON) -> list[JSON]:
        if isinstance(data.get("usage"), dict):
            # Counts on message_delta are cumulative; absent ones keep the message_start value.
            self._usage.update({k: v for k, v in data["usage"].items() if v is not None})
        if self._finished:
            return []
        self._finished = True
        delta = obj(data.get("delta"))
        return [self._chunk({}, finish_reason(delta.get("stop_reason")))]

    def _message_stop(self) -> list[JSON]:
        self._stopped = True
        out = self._start()
        if not self._finished:
            self._finished = True
            out.append(self._chunk({}, "stop"))
        if self._include_usage:
            out.append({**self._base, "choices": [], "usage": usage(self._usage)})
        return out
