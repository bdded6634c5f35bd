"""An OpenAI-SDK client on the Responses API talking to an Anthropic upstream.

`request` turns a Responses request into a Messages request, `response`
turns the Messages answer into a `response` object, and `StreamTranslator`
turns an Anthropic stream into the Responses event sequence the openai SDK
accumulates (`responses.stream()`), numbered 0, 1, 2, ... by `sequence_number`.

The Responses API is partly a stateful service (stored responses,
conversations, background runs) with tools that run on OpenAI's side.
Anthropic's Messages API is a stateless call. Only the stateless part
crosses; everything else is refused by name, because answering without it
would silently mean something else (a follow-up without its history, a
"search the web" with no search).

What crosses:

- `instructions` -> `system`; `input` (a string, or items): messages with
  `input_text` / `output_text` / `refusal` / `input_image` parts;
  `function_call` items -> `tool_use` blocks in an assistant turn;
  `function_call_output` items -> `tool_result` blocks in a user turn;
  `function` tools -> Anthropic tools; `tool_choice` (auto, none, required,
  a named function) and `parallel_tool_calls: false`; `max_output_tokens` ->
  `max_tokens`; `temperature` (clamped to Anthropic's 0..1, as the chat
  translation does), `top_p`, `stop`; `user` -> `metadata.user_id`.
- approximated as in the chat translation (openai_to_anthropic): system and
  developer items anywhere become the top-level `system`; consecutive turns
  of one role are merged, since Anthropic requires alternating turns.
- dropped: `reasoning` items replayed in the input (another model's
  reasoning, which Anthropic could not read: it ignores earlier turns'
  thinking anyway), `reasoning.effort`, `text.verbosity`, `metadata`,
  `service_tier`, `prompt_cache_key`, `safety_identifier`, `stream_options`,
  `store: false`, `truncation: "disabled"`, `background: false`, and
  `include: ["reasoning.encrypted_content"]` (no reasoning item is ever
  produced, so there is nothing to include).

What is refused (`TranslationError`, a 400 naming the feature): see
`_STATEFUL`, `_REFUSED_VALUES`, `_BUILT_IN_TOOLS` and the item and part
checks below.

From the answer, `thinking`, `redacted_thinking` and server-tool blocks are
skipped: no reasoning was asked for, and no built-in tool was offered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway_cli.formats.stream_index import check_room, index_of
from gateway_cli.translate import openai_to_anthropic as chat
from gateway_cli.translate.common import JSON, compact, obj
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError

DEFAULT_MAX_TOKENS = 4096

# Fields that need state kept by OpenAI (or a run that outlives the request): refused when
# set to anything but their stateless value.
_STATEFUL: dict[str, str] = {
    "previous_response_id": "previous_response_id (a stored earlier response): send the "
                            "whole conversation in 'input' instead",
    "conversation": "conversation (a conversation stored by the provider): send the whole "
                    "conversation in 'input' instead",
    "prompt": "prompt (a reusable prompt stored by the provider)",
}
# field -> (values that change nothing here, what the refusal says).
_REFUSED_VALUES: dict[str, tuple[tuple[Any, ...], str]] = {
    "store": ((False,), "store = true (a stored response); send store = false"),
    "background": ((False,), "background = true (a background run)"),
    "truncation": (("disabled",), "truncation = 'auto' (the provider dropping input to fit)"),
    "top_logprobs": ((0,), "top_logprobs (Anthropic returns no log probabilities)"),
    "max_tool_calls": ((), "max_tool_calls (a cap on built-in tool calls)"),
}
# Tool types that run on OpenAI's side: the model would be offered a tool nobody runs.
_BUILT_IN_TOOLS = frozenset({
    "web_search", "web_search_preview", "web_search_2025_08_26",
    "web_search_preview_2025_03_11", "file_search", "computer_use_preview", "computer_use",
    "code_interpreter", "image_generation", "mcp", "local_shell", "shell", "apply_patch",
})
# include[] entries that change nothing for an answer with no reasoning items.
_VACUOUS_INCLUDES = frozenset({"reasoning.encrypted_content"})


# -- request ---------------------------------------------------------------------------------


def request(body: JSON, *, upstream_model: str,
            default_max_tokens: int = DEFAULT_MAX_TOKENS) -> JSON:
    """The Anthropic /v1/messages request equivalent to a Responses request."""
    if not isinstance(body, dict):
        raise TranslationError("the request body must be a JSON object")
    _refuse_service_features(body)
    system: list[JSON] = []
    instructions = body.get("instructions")
    turns: list[JSON] = []
    if isinstance(instructions, str):
        if instructions:
            system.append({"type": "text", "text": instructions})
    elif isinstance(instructions, list):
        system += _items(instructions, "instructions", turns)
        if turns:
            raise TranslationError("'instructions' items must be system or developer messages")
    elif instructions is not None:
        raise TranslationError("'instructions' must be a string or an array of messages")
    given = body.get("input")
    if isinstance(given, str):
        chat._append(turns, "user", given)
    elif isinstance(given, list):
        system += _items(given, "input", turns)
    else:
        raise TranslationError("'input' must be a string or a non-empty array of items")
    if not turns:
        raise TranslationError("'input' must hold at least one user or assistant message")
    out: JSON = {"model": upstream_model, "messages": turns,
                 "max_tokens": _max_tokens(body.get("max_output_tokens"), default_max_tokens)}
    if system:
        out["system"] = system[0]["text"] if len(system) == 1 else system
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    else:
        _tool_choice(body.get("tool_choice"), None)  # still checked: a bad one is refused
    return chat.sampling_fields(body, out)


def _unsupported(feature: str) -> TranslationError:
    return TranslationError(
        f"{feature} is not supported for this model: its provider speaks the Anthropic "
        "Messages API, which has no such feature")


def _refuse_service_features(body: JSON) -> None:
    for field, feature in _STATEFUL.items():
        if body.get(field) not in (None, ""):
            raise _unsupported(f"'{feature}'" if "(" not in feature else feature)
    for field, (harmless, feature) in _REFUSED_VALUES.items():
        if body.get(field) is not None and body[field] not in harmless:
            raise _unsupported(feature)
    for where, entry in _entries(body.get("include"), "include"):
        if entry not in _VACUOUS_INCLUDES:
            raise _unsupported(f"{where} = {entry!r} (extra output from the provider)")
    reasoning = body.get("reasoning")
    # "auto" leaves it to the model whether a summary comes back, and a model that gives
    # none answers it faithfully (Codex asks for "auto" on every call); a summary asked
    # for by name ("concise", "detailed") cannot be produced, so it is refused.
    if isinstance(reasoning, dict) and reasoning.get("summary") not in (None, "none", "auto"):
        raise _unsupported("reasoning.summary (summaries of the model's reasoning)")
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise _unsupported(f"text.format of type {fmt.get('type')!r} (structured output)")


def _entries(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if value is None:
        return
    if not isinstance(value, list):
        raise TranslationError(f"'{where}' must be an array")
    for i, item in enumerate(value):
        yield f"{where}[{i}]", item


def _max_tokens(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TranslationError("'max_output_tokens' must be a positive integer")
    return value


def _items(items: list[Any], where: str, turns: list[JSON]) -> list[JSON]:
    """Append the conversation `items` hold to `turns`; the system text blocks they hold."""
    system: list[JSON] = []
    for path, item in _entries(items, where):
        if not isinstance(item, dict):
            raise TranslationError(f"{path} must be an object")
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role in ("system", "developer"):
                system += _parts(item.get("content"), path, "system")
            elif role in ("user", "assistant"):
                content = item.get("content")
                chat._append(turns, role, content if isinstance(content, str) and content
                             else _parts(content, path, role))
            else:
                raise TranslationError(
                    f"{path}.role must be one of user, assistant, system, developer")
        elif kind == "function_call":
            chat._append(turns, "assistant", [_tool_use(item, path)])
        elif kind == "function_call_output":
            chat._append(turns, "user", [_tool_result(item, path)])
        elif kind == "reasoning":
            continue  # another model's reasoning: see the module docstring
        else:
            raise _unsupported(
                f"{path}: input item type {kind!r} (only messages, function_call and "
                "function_call_output items can be sent to this model)")
    return system


def _parts(content: Any, where: str, role: str, field: str = "content") -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}.{field} must be a string or an array of parts")
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        path = f"{where}.{field}[{j}]"
        if not isinstance(part, dict):
            raise TranslationError(f"{path} must be an object")
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "refusal"):
            key = "refusal" if kind == "refusal" else "text"
            text = part.get(key)
            if not isinstance(text, str):
                raise TranslationError(f"{path}.{key} must be a string")
            if text:
                blocks.append({"type": "text", "text": text})
        elif kind == "input_image" and role == "user":
            blocks.append(_image(part, path))
        else:
            raise _unsupported(
                f"{path}: content part type {kind!r} in a {role} message (only text"
                f"{' and input_image' if role == 'user' else ''} parts can be sent to "
                "this model)")
    return blocks


def _image(part: JSON, where: str) -> JSON:
    if part.get("file_id") is not None:
        raise _unsupported(f"{where}.file_id (an image stored in the provider's file store)")
    url = part.get("image_url")
    if not isinstance(url, str):
        raise TranslationError(f"{where}.image_url must be a string")
    return chat._image({"url": url}, where)


def _tool_use(item: JSON, where: str) -> JSON:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.call_id must be a non-empty string")
    if not isinstance(name, str) or not name:
        raise TranslationError(f"{where}.name must be a non-empty string")
    return {"type": "tool_use", "id": call_id, "name": name,
            "input": chat._arguments(item.get("arguments"), f"{where}.arguments")}


def _tool_result(item: JSON, where: str) -> JSON:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError(f"{where}.call_id must be a non-empty string")
    output = item.get("output")
    block: JSON = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(output, str):
        block["content"] = output
    elif isinstance(output, list):
        block["content"] = _parts(output, where, "user", "output")
    else:
        raise TranslationError(f"{where}.output must be a string or an array of parts")
    return block


def _tools(tools: Any) -> list[JSON]:
    out: list[JSON] = []
    for where, tool in _entries(tools, "tools"):
        if not isinstance(tool, dict):
            raise TranslationError(f"{where} must be an object")
        kind = tool.get("type")
        if kind != "function":
            what = "built-in tool" if kind in _BUILT_IN_TOOLS else "tool type"
            raise _unsupported(f"{where}: {what} {kind!r} (only function tools can be "
                               "offered to this model)")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError(f"{where}.name must be a non-empty string")
        out.append(chat.function_tool(name, tool, where))
    return out


def _tool_choice(choice: Any, parallel: Any) -> JSON | None:
    converted: JSON | None
    if choice is None:
        converted = None
    elif isinstance(choice, str) and choice in chat.TOOL_CHOICES:
        converted = {"type": chat.TOOL_CHOICES[choice]}
    elif isinstance(choice, dict) and choice.get("type") == "function" \
            and isinstance(choice.get("name"), str):
        converted = {"type": "tool", "name": choice["name"]}
    elif isinstance(choice, dict) and isinstance(choice.get("type"), str):
        raise _unsupported(f"tool_choice of type {choice['type']!r}")
    else:
        raise TranslationError("'tool_choice' must be 'auto', 'none', 'required' or "
                               '{"type": "function", "name": ...}')
    return chat.no_parallel(converted) if parallel is False else converted


# -- response --------------------------------------------------------------------------------

# Anthropic stop_reason -> the Responses `incomplete_details.reason` (absent: completed).
_INCOMPLETE = {"max_tokens": "max_output_tokens",
               "model_context_window_exceeded": "max_output_tokens",
               "refusal": "content_filter"}


def usage(anthropic_usage: Any) -> JSON:
    """Responses usage: input tokens include the cached and cache-written ones, as OpenAI's."""
    counted = chat.usage(anthropic_usage)
    cached = counted["prompt_tokens_details"]["cached_tokens"]
    return {"input_tokens": counted["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": counted["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": counted["total_tokens"]}


def envelope(body: JSON, *, response_id: str, created: int, model: str, status: str,
             output: list[JSON], usage: JSON | None,
             incomplete: str | None = None) -> JSON:
    """A `response` object; the request's settings echoed as the API echoes them."""
    instructions = body.get("instructions")
    text = body.get("text")
    return {
        "id": response_id, "object": "response", "created_at": created, "status": status,
        "background": False, "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": instructions if isinstance(instructions, str | list) else None,
        "max_output_tokens": body.get("max_output_tokens"), "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
        "store": False, "temperature": body.get("temperature", 1.0),
        "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [], "top_p": body.get("top_p", 1.0),
        "truncation": "disabled", "usage": usage, "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, texts: list[str], status: str) -> JSON:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [_text_part(t) for t in texts]}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> JSON:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments}


def _status(stop_reason: Any) -> tuple[str, str | None]:
    reason = _INCOMPLETE.get(stop_reason) if isinstance(stop_reason, str) else None
    return ("incomplete", reason) if reason else ("completed", None)


def response(message: JSON, body: JSON, *, request_id: str, created: int, model: str) -> JSON:
    """The `response` for an Anthropic message: each text block a message item, each
    tool_use a function_call item, in the order the model wrote them."""
    output: list[JSON] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        n = len(output)
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            output.append(_message_item(f"msg_{request_id}_{n}", [block["text"]], "completed"))
        elif block.get("type") == "tool_use":
            call_id = block.get("id")
            output.append(_call_item(
                f"fc_{request_id}_{n}", call_id if isinstance(call_id, str) and call_id
                else f"call_{request_id}_{n}", str(block.get("name") or ""),
                compact(block.get("input") or {}), "completed"))
    status, incomplete = _status(message.get("stop_reason"))
    return envelope(body, response_id=f"resp_{request_id}", created=created, model=model,
                    status=status, output=output, usage=usage(message.get("usage")),
                    incomplete=incomplete)


# -- stream ----------------------------------------------------------------------------------


class StreamTranslator:
    """Anthropic stream events in, Responses (event name, data) pairs out, in the API's order.

    Each Anthropic content block becomes one output item: a text block a
    message item (added, content part added, text deltas, text done, part
    done, item done), a tool_use block a function_call item (added,
    argument deltas, arguments done, item done). Blocks with no Responses
    place (thinking, server tools) take no output index. Every event gets
    the next `sequence_number`, from 0.
    """

    def __init__(self, body: JSON, *, request_id: str, created: int, model: str) -> None:
        self._body = body
        self._request_id = request_id
        self._created = created
        self._model = model
        self._sequence = 0
        self._started = False
        self._stopped = False
        self._blocks: dict[int, int] = {}  # Anthropic block index -> output index
        self._output: list[JSON] = []  # the items as they stand
        self._parts: dict[int, list[str]] = {}  # output index -> text / arguments so far
        self._stop_reason: Any = None
        self._usage: JSON = {}

    def _event(self, kind: str, **data: Any) -> tuple[str, JSON]:
        event = (kind, {"type": kind, "sequence_number": self._sequence, **data})
        self._sequence += 1
        return event

    def _response(self, status: str, usage_: JSON | None,
                  incomplete: str | None = None) -> JSON:
        return envelope(self._body, response_id=f"resp_{self._request_id}",
                        created=self._created, model=self._model, status=status,
                        output=[dict(item) for item in self._output], usage=usage_,
                        incomplete=incomplete)

    def _start(self) -> list[tuple[str, JSON]]:
        if self._started:
            return []
        self._started = True
        return [self._event("response.created", response=self._response("in_progress", None)),
                self._event("response.in_progress",
                            response=self._response("in_progress", None))]

    def feed(self, event: str, data: JSON) -> list[tuple[str, JSON]]:
        kind = event or data.get("type", "")
        if self._stopped or kind == "ping":
            return []
        if kind == "error":
            error = obj(data.get("error"))
            raise UpstreamStreamError(str(error.get("type") or "api_error"),
                                      str(error.get("message") or "the upstream stream failed"))
        if kind == "message_start":
            message = obj(data.get("message"))
            if isinstance(message.get("usage"), dict):
                self._usage.update(message["usage"])
            return self._start()
        out = self._start()
        if kind == "content_block_start":
            out += self._block_start(data)
        elif kind == "content_block_delta":
            out += self._block_delta(data)
        elif kind == "content_block_stop":
            out += self._block_stop(index_of(data.get("index"), -1))
        elif kind == "message_delta":
            delta = obj(data.get("delta"))
            if delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            if isinstance(data.get("usage"), dict):
                # Counts on message_delta are cumulative; absent ones keep the start's value.
                self._usage.update({k: v for k, v in data["usage"].items() if v is not None})
        elif kind == "message_stop":
            out += self.finish()
        return out  # event types added after this was written carry nothing to translate

    def finish(self) -> list[tuple[str, JSON]]:
        """Close what is open and complete the response; safe to call once the upstream ends."""
        if self._stopped:
            return []
        out = self._start()
        for block in list(self._blocks):
            out += self._block_stop(block)
        self._stopped = True
        status, incomplete = _status(self._stop_reason)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=self._response(status, usage(self._usage),
                                                             incomplete)))
        return out

    def _block_start(self, data: JSON) -> list[tuple[str, JSON]]:
        block = data.get("content_block")
        index = index_of(data.get("index"), -1)
        if not isinstance(block, dict) or block.get("type") not in ("text", "tool_use") \
                or index in self._blocks:
            return []
        check_room(len(self._output))
        n = len(self._output)
        self._blocks[index] = n
        if block["type"] == "text":
            item = _message_item(f"msg_{self._request_id}_{n}", [], "in_progress")
            self._output.append(item)
            self._parts[n] = []
            at = {"item_id": item["id"], "output_index": n, "content_index": 0}
            out = [self._event("response.output_item.added", output_index=n, item=dict(item)),
                   self._event("response.content_part.added", **at, part=_text_part(""))]
            text = block.get("text")
            return out + (self._text(n, text) if isinstance(text, str) and text else [])
        call_id = block.get("id")
        item = _call_item(f"fc_{self._request_id}_{n}",
                          call_id if isinstance(call_id, str) and call_id
                          else f"call_{self._request_id}_{n}",
                          str(block.get("name") or ""), "", "in_progress")
        self._output.append(item)
        self._parts[n] = []
        out = [self._event("response.output_item.added", output_index=n, item=dict(item))]
        given = block.get("input")
        return out + (self._arguments(n, compact(given)) if given else [])

    def _text(self, n: int, text: str) -> list[tuple[str, JSON]]:
        self._parts[n].append(text)
        return [self._event("response.output_text.delta", item_id=self._output[n]["id"],
                            output_index=n, content_index=0, delta=text, logprobs=[])]

    def _arguments(self, n: int, fragment: str) -> list[tuple[str, JSON]]:
        self._parts[n].append(fragment)
        return [self._event("response.function_call_arguments.delta",
                            item_id=self._output[n]["id"], output_index=n, delta=fragment)]

    def _block_delta(self, data: JSON) -> list[tuple[str, JSON]]:
        n = self._blocks.get(index_of(data.get("index"), -1))
        delta = data.get("delta")
        if n is None or n not in self._parts or not isinstance(delta, dict):
            return []  # a block with no Responses place, or one already closed
        item = self._output[n]
        if item["type"] == "message" and delta.get("type") == "text_delta" \
                and isinstance(delta.get("text"), str) and delta["text"]:
            return self._text(n, delta["text"])
        if item["type"] == "function_call" and delta.get("type") == "input_json_delta" \
                and isinstance(delta.get("partial_json"), str) and delta["partial_json"]:
            return self._arguments(n, delta["partial_json"])
        return []  # citations, signatures: no Responses place

    def _block_stop(self, index: int) -> list[tuple[str, JSON]]:
        n = self._blocks.get(index)
        if n is None or n not in self._parts:
            return []
        whole = "".join(self._parts.pop(n))
        item = self._output[n]
        if item["type"] == "message":
            done = _message_item(item["id"], [whole], "completed")
            self._output[n] = done
            at = {"item_id": item["id"], "output_index": n, "content_index": 0}
            return [self._event("response.output_text.done", **at, text=whole, logprobs=[]),
                    self._event("response.content_part.done", **at, part=_text_part(whole)),
                    self._event("response.output_item.done", output_index=n, item=done)]
        done = {**item, "arguments": whole, "status": "completed"}
        self._output[n] = done
        return [self._event("response.function_call_arguments.done", item_id=item["id"],
                            output_index=n, name=item["name"], arguments=whole),
                self._event("response.output_item.done", output_index=n, item=done)]
