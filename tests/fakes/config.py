"""A builder for the gateway.toml that integration tests start a gateway with.

Why: tests used to write the config as f-strings, which buried what a test sets
(one model, a retry count) among boilerplate, doubled every brace of an inline
table and interpolated values unescaped (a path or URL with a quote or
backslash would break the file). The builder takes the values as Python data
and writes TOML that parses back to exactly that data, so a test states only
what it configures:

    cfg = (GatewayConfig()
           .provider("oa", "openai", base_url=f"{fake.url}/v1", secret="env:KEY")
           .model("gpt-4o", deployment("oa", "gpt-4o"), strategy="priority")
           .section("routing", retries=2, backoff_initial=0.05)
           .section("inspection.output", canary=True))
    gateway = start_gateway(tmp, config=cfg.toml())

It only writes what it is given: it knows none of the schema (gateway_cli/config.py
validates, as for any file), so a test of the gateway's defaults stays one.
Deliberately broken or unusual files (the inputs of error tests) are still written
by hand: the exact text is what those tests are about.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Self, TypeAlias

# What a TOML value can be here: no dates or times (the config has none).
Value: TypeAlias = "str | int | float | bool | list[Value] | dict[str, Value]"
Table: TypeAlias = dict[str, Value]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def deployment(provider: str, model: str, **extra: Value) -> Table:
    """One entry of a model's `deployments` (written as an inline table)."""
    return {"provider": provider, "model": model, **extra}


class GatewayConfig:
    """The document being built; each method adds to it and returns the builder."""

    def __init__(self) -> None:
        self._doc: Table = {}

    def provider(self, name: str, kind: str, *, base_url: str | None = None,
                 secret: str | None = None, **extra: Value) -> Self:
        """A `[[providers]]` entry; `extra` holds any other key (api_version, timeout...)."""
        entry: Table = {"name": name, "kind": kind}
        if base_url is not None:
            entry["base_url"] = base_url
        if secret is not None:
            entry["secret"] = secret
        self._array("providers").append({**entry, **extra})
        return self

    def model(self, name: str, *deployments: Table, strategy: str | None = None) -> Self:
        """A `[[models]]` entry served by `deployments` (see `deployment`)."""
        entry: Table = {"name": name}
        if strategy is not None:
            entry["strategy"] = strategy
        entry["deployments"] = list(deployments)
        self._array("models").append(entry)
        return self

    def section(self, name: str, **values: Value) -> Self:
        """Keys of the table `name` ("routing", "inspection.output"), merged with any set
        before. A section given no keys is still written: `[inspection]` alone."""
        table = self._doc
        for part in name.split("."):
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{name}: {part} is already a value, not a table")
            table = child
        table.update(copy.deepcopy(values))
        return self

    def rule(self, **values: Value) -> Self:
        """An `[[inspection.rules]]` entry (models / keys / teams and guard overrides)."""
        self.section("inspection")
        inspection = self._doc["inspection"]
        assert isinstance(inspection, dict)
        rules = inspection.setdefault("rules", [])
        assert isinstance(rules, list)
        rules.append(copy.deepcopy(values))
        return self

    def data(self) -> Table:
        """The document as `tomllib.loads(self.toml())` returns it."""
        return copy.deepcopy(self._doc)

    def toml(self) -> str:
        return dumps(self._doc)

    def _array(self, name: str) -> list[Value]:
        array = self._doc.setdefault(name, [])
        assert isinstance(array, list)
        return array


def dumps(doc: Table) -> str:
    """`doc` as TOML. In a table, a dict becomes a `[sub.table]` and a list of dicts an
    `[[array.of.tables]]`; inside those entries and inside lists, dicts are inline tables."""
    lines: list[str] = []
    _table(lines, [], doc)
    return "\n".join(lines) + "\n"


def _table(lines: list[str], path: list[str], table: Table) -> None:
    def is_tables(value: Value) -> bool:
        return isinstance(value, list) and bool(value) and all(
            isinstance(item, dict) for item in value)

    plain = {k: v for k, v in table.items() if not isinstance(v, dict) and not is_tables(v)}
    if path and (plain or not table):
        lines += ["", f"[{_dotted(path)}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for key, value in table.items():
        if isinstance(value, dict):
            _table(lines, [*path, key], value)
    for key, value in table.items():
        if is_tables(value):
            assert isinstance(value, list)
            for entry in value:
                assert isinstance(entry, dict)
                lines += ["", f"[[{_dotted([*path, key])}]]"]
                lines += [f"{_key(k)} = {_value(v)}" for k, v in entry.items()]


def _dotted(path: list[str]) -> str:
    return ".".join(_key(part) for part in path)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # A JSON string is a TOML basic string (same escapes: \" \\ \n \uXXXX...), except that
    # TOML also forbids a raw DEL. Non-ASCII stays literal: JSON would write a character
    # beyond the BMP as a surrogate pair, which TOML refuses.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Value) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # repr of a float is valid TOML: 0.05, 1e-05, inf
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" \
        if value else "{}"
