"""Values named by a sibling field: `{"name": "X", "value": "..."}` and its YAML form.

HAR files and Postman exports carry headers as `{"name": "Authorization",
"value": "Bearer ..."}` or `{"key": "token", "value": "..."}`; Kubernetes
manifests carry environment variables as `- name: DB_PASSWORD` with
`value: ...` on the next line. The name says what the value is, as in an
assignment, but it is not next to it, so `assignments.generic` cannot see it.

Each regex starts with its literal (`name` or `key`) and takes in the whole
pair, so text that only mentions a name never reaches Python; the name is
then looked up (an Authorization header is judged as one, see detectors.py;
a credential word as an assignment, see assignments.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway_cli.guards.secrets.assignments import judge_named
from gateway_cli.guards.secrets.detectors import AUTH_VALUE, auth_value
from gateway_cli.guards.secrets.values import Hit

_PAIR_TAIL = (
    r"[\"']?[ \t]{0,3}:[ \t]{0,3}[\"']?([a-z0-9_.-]{1,64})[\"']?[ \t]{0,3}(?:,|\r?\n)"
    r"[ \t-]{0,12}[\"']?value[\"']?[ \t]{0,3}:[ \t]{0,3}([\"']?)"
    # The shortest word a value starts with (`Bot`, a password is 6): shorter fails in `re`.
    r"(?=[^\s\"'`,;)(\]\[{}<>]{3})"
)
_PAIRS = tuple(re.compile(head + _PAIR_TAIL) for head in ("name", "key"))
# Names whose value is a credential, by the word they end in or contain.
_WORDS = (
    ("authorization", "authorization"), ("password", "password"), ("passwd", "password"),
    ("pwd", "password"), ("secret", "secret"), ("token", "token"), ("apikey", "key"),
    ("api_key", "key"), ("api-key", "key"), ("access_key", "key"), ("private_key", "key"),
)
_NOT_SECRET = ("public", "csrf", "xsrf", "_id", "name", "type", "url", "path")
_VALUE = re.compile(r"[^\s\"'`,;)(\]\[{}<>]{1,300}")


def _word(name: str) -> str | None:
    if any(n in name for n in _NOT_SECRET):
        return None
    return next((w for key, w in _WORDS if key in name), None)


_VALUE_FIELD = re.compile(r"value[\"']?[ \t]{0,3}:")


def pairs(text: str, lower: str) -> Iterator[Hit]:
    if _VALUE_FIELD.search(lower) is None:
        return  # "value" only as a word: one literal-led pass, not two pair regexes
    words: dict[str, str | None] = {}
    seen: dict[tuple[str, str, str, bool], tuple[str, float] | None] = {}
    for pattern in _PAIRS:
        for m in pattern.finditer(lower):
            name = m.group(1)
            if name not in words:
                words[name] = _word(name)
            word = words[name]
            if word is None:
                continue
            vs = m.end()
            if word == "authorization":
                v = AUTH_VALUE.match(lower, vs)
                if v is not None:
                    yield from auth_value(text, v)
                continue
            v = _VALUE.match(text, vs)
            if v is None or text.startswith("(", v.end()):
                continue  # nothing, or a call: code that fetches the value
            quote = m.group(2)
            key = (v.group(0), word, quote, text.startswith(quote, v.end()))
            if key not in seen:  # repeated values (templates, crafted input): judged once
                seen[key] = judge_named(*key)
            hit = seen[key]
            if hit is not None:
                yield hit[0], v.start(), v.end(), hit[1]
