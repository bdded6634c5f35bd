"""Strict JSON decoding: what the guards see is what the bytes mean (formats/strict_json.py)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.formats.strict_json import DuplicateKey, JsonProblem, decode_unique
from gateway_cli.providers.adapt import adapter_for
from gateway_cli.providers.operations import Op

# JSON values as clients send them: unicode text (escapes included), numbers, nesting.
_scalars = st.none() | st.booleans() | st.integers(-2**53, 2**53) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25)
_bodies = st.dictionaries(st.text(max_size=8), _values, max_size=6)


def _spellings(value: Any) -> list[bytes]:
    """The same value as different clients write it."""
    return [json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode(),
            json.dumps(value, indent=2).encode(), msgspec.json.encode(value)]


@settings(max_examples=300, deadline=None)
@given(_bodies)
def test_unique_keys_decode_to_the_same_object_in_every_spelling(body: dict[str, Any]) -> None:
    for raw in _spellings(body):
        assert decode_unique(raw) == json.loads(raw)


@settings(max_examples=300, deadline=None)
@given(_bodies, st.text(max_size=8), _values, _values)
def test_a_repeated_key_anywhere_is_refused(body: dict[str, Any], key: str, first: Any,
                                           second: Any) -> None:
    inner = json.dumps(body)[1:-1]
    pair = f"{json.dumps(key)}: {json.dumps(first)}, {json.dumps(key)}: {json.dumps(second)}"
    for raw in (f"{{{pair}{', ' if inner else ''}{inner}}}",      # at the top
                f'{{"outer": [1, {{{pair}}}]}}',                     # inside an array
                f'{{"a": {{"b": {{{pair}}}}}}}'):                    # nested objects
        with pytest.raises(DuplicateKey) as info:
            decode_unique(raw.encode())
        assert info.value.key == key


@settings(max_examples=200, deadline=None)
@given(_bodies, st.sampled_from(["m-up", "gpt-x"]))
def test_what_goes_upstream_decodes_to_what_the_guards_saw(body: dict[str, Any],
                                                           model: str) -> None:
    """The passthrough adapter forwards the client's bytes or a re-encoding of the object;
    either way they mean exactly the object that was inspected."""
    body = {**body, "model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
    adapter = adapter_for(Op.CHAT, "openai")
    for raw in _spellings(body):
        seen = decode_unique(raw)
        sent = adapter.body(seen, raw, model)
        assert decode_unique(sent) == {**seen, "model": model}


@pytest.mark.parametrize(("raw", "says"), [
    (b'{"messages": [1], "messages": [2]}', "duplicate key 'messages'"),
    (b'{"a": {"content": "x", "content": "y"}}', "duplicate key 'content'"),
    (b'{"a": "\\u00e9", "a": "\xc3\xa9"}', "duplicate key 'a'"),        # two spellings, one key
    (b'{"a\\u0062": 1, "ab": 2}', "duplicate key 'ab'"),
    (b'{"a": "\xff"}', "invalid UTF-8"),
    (b'{"a": "\xed\xa0\x80"}', "invalid UTF-8"),                          # a lone surrogate
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b'{"a": ' * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
    (b'{"a": NaN}', "not valid JSON"),
    (b'{"a": 1,}', "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_problems_are_one_error_type(raw: bytes, says: str) -> None:
    with pytest.raises(JsonProblem) as info:
        decode_unique(raw)
    assert says in str(info.value)


def test_str_input_too() -> None:
    assert decode_unique('{"a": "\\u00e9"}') == {"a": "é"}
    with pytest.raises(DuplicateKey):
        decode_unique('{"a": 1, "a": 2}')
