"""`gateway inspect`: run the request guards and policy on text, offline.

Users test their policy with it before enforcing it, and CI runs it over a
corpus (`--jsonl`: one JSON object per line in, one result per line out, in
one process). Exit 0 when everything is allowed, redacted or rerouted, 1 when
the policy would block anything, 2 on a usage error (bad option, unreadable
input, malformed JSON line, invalid config).

Exit 1 follows the policy's *verdict*, not what is applied: under
`[inspection] mode = "observe"` the gateway would let a blocked request
through ("applied": "allow"), but `inspect` still exits 1, because whoever
runs it is testing what the policy says, and a CI check over a corpus must
fail on a blocking line before the policy is switched to `enforce`.

Input is read as bytes and decoded as UTF-8 per line, so a bad byte is
reported with its line number; nothing a guard finds is ever echoed to
stderr, only masked previews to stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click
import msgspec

from gateway_cli.errors import ConfigError, GatewayError


class InputError(GatewayError):
    exit_code = 2


def _open(file: Path | None) -> IO[bytes]:
    if file is None:
        return sys.stdin.buffer
    try:
        return file.open("rb")
    except OSError as err:
        raise InputError(f"cannot read {file}: {err.strerror or err}") from None


def _decode(raw: bytes, where: str, first: bool) -> str:
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{where}: not UTF-8 text (bad byte at offset {err.start})") from None


def _items(stream: IO[bytes], name: str, jsonl: bool) -> Iterator[tuple[str, str]]:
    """(where, text) for the whole input, or for each non-blank line with --jsonl."""
    try:
        if not jsonl:
            yield "input", _decode(stream.read(), name, True)
            return
        for number, raw in enumerate(stream, 1):
            where = f"line {number}"
            line = _decode(raw, where, number == 1)
            if line.strip():
                yield where, line
    except OSError as err:
        raise InputError(f"cannot read {name}: {err.strerror or err}") from None


def _result_text(result: dict[str, Any]) -> str:
    head = f"verdict: {result['verdict']}"
    if result.get("reason"):
        head += f" ({result['reason']})"
    if result["applied"] != result["verdict"]:
        head += f"; applied: {result['applied']} (observe mode)"
    lines = [head]
    if result.get("reroute_to"):
        lines.append(f"reroute to: {result['reroute_to']}")
    if result.get("guard_errors"):
        lines.append(f"guard errors: {', '.join(result['guard_errors'])}")
    for f in result["findings"]:
        slot = f.get("slot", "user")
        if f["where"] == "text":
            where = "" if slot == "user" else f" as {slot}"
        else:
            where = f" in {f['where']} ({slot})"
        lines.append(f"  {f['guard']}.{f['kind']}{where} at {f['start']}..{f['end']} "
                     f"confidence {f['confidence']:.2f} -> {f['action']}  {f['preview']}")
    if "text" in result:
        lines.append("text as it would be sent:")
        lines.append(result["text"])
    if "body" in result:
        lines.append("body as it would be sent:")
        lines.append(msgspec.json.format(msgspec.json.encode(result["body"]), indent=2).decode())
    return "\n".join(lines) + "\n"


@click.command("inspect")
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--direction", type=click.Choice(["request", "response"]), default="request",
              show_default=True, help="Inspect as a request (secrets, PII, injection, custom "
                                      "rules) or as a model's answer (plus output guards).")
@click.option("--body", is_flag=True,
              help="The input is a JSON request body of any supported API, not plain text.")
@click.option("--jsonl", is_flag=True,
              help="Each input line is a JSON object ({\"text\": ...}, or a request body with "
                   "--body); each output line is its result, in order.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text",
              show_default=True, help="Output format (--jsonl always writes JSON lines).")
@click.option("--model", default="", metavar="NAME",
              help="Apply the policy rules for this public model name.")
@click.option("--key", default=None, metavar="NAME",
              help="Apply the policy rules for requests made with this client key name.")
@click.option("--team", default=None, metavar="TEAM",
              help="Apply the policy rules for this client team.")
@click.option("--slot", default="user", show_default=True,
              type=click.Choice(["user", "system", "assistant", "tool_definition", "tool_call",
                                 "tool_result", "document", "metadata", "reasoning"]),
              help="Judge plain text as if it sat in this kind of slot of a request (the "
                   "slot rules weigh findings by it); a --body is judged slot by slot.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="PATH", help="gateway.toml whose [inspection] to apply.")
def inspect(file: Path | None, direction: str, body: bool, jsonl: bool, fmt: str, model: str,
            key: str | None, team: str | None, slot: str, config_path: Path | None) -> None:
    """Show what the guards find in a text and what the policy would do.

    Reads FILE (or stdin), prints each finding (masked, never the value), the
    verdict (allow, redact, block, reroute) and the text as it would be sent.

    Exit status: 0 if nothing would be blocked, 1 if the policy's verdict is
    block for any input (also in observe mode, where "applied" stays allow),
    2 on a usage error (unreadable input, bad JSON line, invalid config),
    3 when the shipped injection-classifier weights fail their integrity check.
    """
    from gateway_cli.config import load_config
    from gateway_cli.guards.pipeline import Inspector

    try:
        config = load_config(config_path)
    except ConfigError as err:
        raise InputError(str(err)) from None
    inspector = Inspector(config.inspection)
    encode = msgspec.json.Encoder().encode
    blocked = False
    stream = _open(file)
    try:
        for where, item in _items(stream, str(file) if file else "stdin", jsonl):
            result = _one(inspector, item, jsonl=jsonl, body=body, direction=direction,
                          model=model, where=where, who=(key, team), slot=slot)
            blocked = blocked or result["verdict"] == "block"
            if jsonl or fmt == "json":
                click.echo(encode(result).decode())
            else:
                click.echo(_result_text(result), nl=False)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, without a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    finally:
        if file is not None:
            stream.close()
    if blocked:
        sys.exit(1)


def _one(inspector: Any, item: str, *, jsonl: bool, body: bool, direction: str, model: str,
         where: str, who: tuple[str | None, str | None] = (None, None),
         slot: str = "user") -> dict[str, Any]:
    key, team = who
    if not (jsonl or body):
        text: object = item
    else:
        try:
            value = msgspec.json.decode(item)
        except msgspec.DecodeError as err:
            raise InputError(f"{where}: not valid JSON ({err})") from None
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a JSON object, got {_kind(value)}")
        if body:
            result: dict[str, Any] = inspector.inspect_body(value, model=model, key=key,
                                                            team=team)
            return result
        if "text" not in value:
            raise InputError(f"{where}: expected {{\"text\": \"...\"}}, the object has no "
                             f"\"text\"")
        text = value["text"]
        if not isinstance(text, str):
            raise InputError(f"{where}: \"text\" must be a string, got {_kind(text)}")
    result = inspector.inspect_text(text, model=model, response=direction == "response",
                                    key=key, team=team, slot=slot)
    return result


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return "an object"
