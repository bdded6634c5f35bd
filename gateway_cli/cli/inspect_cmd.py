"""`gateway inspect`: run the request guards and policy on text, offline.

Users test their policy with it before enforcing it, and CI runs it over a
corpus (`--jsonl`: one JSON object per line in, one result per line out, in
one process). Exit 0 when everything is allowed (or only redacted), 1 when
anything would be blocked, 2 on a usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click
import msgspec

from gateway_cli.errors import GatewayError


class InputError(GatewayError):
    exit_code = 2


def _read(file: Path | None) -> IO[str]:
    if file is None:
        return sys.stdin
    try:
        return file.open(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read {file}: {err.strerror or err}") from None


def _result_text(result: dict[str, Any]) -> str:
    lines = [f"verdict: {result['verdict']}" + (f" ({result['reason']})"
                                               if result.get("reason") else "")]
    for f in result["findings"]:
        lines.append(f"  {f['guard']}.{f['kind']} at {f['start']}..{f['end']} "
                     f"confidence {f['confidence']:.2f} -> {f['action']}  {f['preview']}")
    if "text" in result:
        lines.append("text as it would be sent:")
        lines.append(result["text"])
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
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="PATH", help="gateway.toml whose [inspection] to apply.")
def inspect(file: Path | None, direction: str, body: bool, jsonl: bool, fmt: str, model: str,
            config_path: Path | None) -> None:
    """Show what the guards find in a text and what the policy would do.

    Reads FILE (or stdin), prints each finding (masked, never the value), the
    verdict (allow, redact, block, reroute) and the text as it would be sent.
    """
    from gateway_cli.config import load_config
    from gateway_cli.guards.pipeline import Inspector

    inspector = Inspector(load_config(config_path).inspection)
    encode = msgspec.json.Encoder().encode
    blocked = False
    with _read(file) as stream:
        items = stream if jsonl else [stream.read()]
        for number, item in enumerate(items, 1):
            if jsonl and not item.strip():
                continue
            result = _one(inspector, item, jsonl=jsonl, body=body, direction=direction,
                          model=model, where=f"line {number}" if jsonl else "input")
            blocked = blocked or result["verdict"] == "block"
            if jsonl or fmt == "json":
                click.echo(encode(result).decode())
            else:
                click.echo(_result_text(result), nl=False)
    if blocked:
        sys.exit(1)


def _one(inspector: Any, item: str, *, jsonl: bool, body: bool, direction: str, model: str,
         where: str) -> dict[str, Any]:
    if jsonl or body:
        try:
            value = msgspec.json.decode(item)
        except msgspec.DecodeError as err:
            raise InputError(f"{where}: not valid JSON ({err})") from None
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a JSON object")
    if body:
        result: dict[str, Any] = inspector.inspect_body(value, model=model)
        return result
    text = value.get("text") if jsonl else item
    if not isinstance(text, str):
        raise InputError(f"{where}: expected {{\"text\": \"...\"}}")
    result = inspector.inspect_text(text, model=model, response=direction == "response")
    return result
