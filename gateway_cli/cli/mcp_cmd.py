"""`gateway mcp`: the MCP servers behind the gateway, and which tool definitions are approved.

`approve` fetches each tool's definition from the server itself (the same
way the gateway does), runs every description and schema text through the
injection guard and shows what it finds, then signs the pins
(gateway_cli/mcp/pins.py). `diff`, `list` and `check` compare the live
definitions with the pins; `check` exits 1 on any drift, for CI.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from gateway_cli.cli.shared import open_cli_store, record_event, store_options
from gateway_cli.errors import GatewayError

SETTLE_TRIES = 5
SETTLE_PAUSE = 0.3


def _config(config_path: Path | None) -> Any:
    from gateway_cli.config import load_config

    if config_path is None:
        raise click.UsageError("give --config (the gateway.toml that lists [mcp.servers])")
    return load_config(config_path)


def _server(config: Any, name: str) -> Any:
    servers = config.mcp.servers
    if name not in servers:
        known = ", ".join(sorted(servers)) or "none configured"
        raise GatewayError(f"no MCP server {name!r} in the config (known: {known})")
    return servers[name]


Lists = dict[str, list[dict[str, Any]]]  # section (tools, prompts, ...) -> live items
_SINGULAR = {"tools": "tool", "prompts": "prompt", "resources": "resource",
             "resourceTemplates": "resource template"}


async def _fetch(name: str, server: Any, home: Path, store: Any,
                 child_home: Path | None, stderr: list[str]) -> Lists:
    from gateway_cli.mcp.connection import Connection
    from gateway_cli.mcp.pinned import live_all

    connection = Connection(name, server, home=home, store=store, child_home=child_home)
    try:
        # Some servers register tools just after the handshake (announcing each with
        # list_changed): approve the lists once they have settled, not half-made ones.
        lists: Lists = dict(await live_all(connection))
        for _ in range(SETTLE_TRIES):
            await asyncio.sleep(SETTLE_PAUSE)
            again: Lists = dict(await live_all(connection))
            if again == lists:
                break
            lists = again
        return lists
    finally:
        stderr += connection.stderr_tail()
        await connection.close()


def fetch(name: str, server: Any, home: Path, store: Any, *, read_only: bool = False,
          stderr: list[str] | None = None) -> Lists:
    """Every list of the server as it is now. `read_only`: the child's HOME is a temporary
    directory, so nothing is written under the state directory. `stderr` receives the
    last lines a stdio child wrote there (redacted)."""
    stderr = [] if stderr is None else stderr
    import tempfile

    from gateway_cli.mcp.transport import UpstreamError

    try:
        if not read_only:
            return asyncio.run(_fetch(name, server, home, store, None, stderr))
        with tempfile.TemporaryDirectory(prefix="gateway-mcp-") as scratch:
            return asyncio.run(_fetch(name, server, home, store, Path(scratch), stderr))
    except UpstreamError as err:
        raise GatewayError(str(err)) from None


NO_KEY = ("no pin key in the secret store of {home}: nothing was approved with this store, "
          "so nothing can be verified (`gateway mcp approve SERVER` makes the key; or give "
          "the store the gateway uses with --secrets)")


def _key(state: Path, store: Any) -> Any:
    """The pin key, read only (never created here); GatewayError for a malformed one."""
    from gateway_cli.mcp import pins

    try:
        return pins.pin_key(store)
    except pins.PinError as err:
        raise GatewayError(str(err)) from None


def _state(name: str, home: Path, key: Any, lists: Lists | None
           ) -> tuple[Any, str | None, dict[str, Any] | None]:
    """(pins or None, why they cannot be trusted or None, drift per section or None)."""
    from gateway_cli.mcp import pins

    try:
        trusted = pins.load(home, name, key)
    except pins.PinError as err:
        return None, str(err), None
    if lists is None or trusted is None:
        return trusted, None, None
    return trusted, None, {s: pins.compare(trusted, lists.get(s, []), s)
                           for s in pins.SECTIONS}


def description_findings(item: dict[str, Any], section: str = "tools") -> list[str]:
    """What the injection guard finds in an item's texts (description, titles, schema text,
    prompt arguments)."""
    from gateway_cli.guards.injection import InjectionGuard
    from gateway_cli.mcp import pins
    from gateway_cli.mcp.screen import strings

    guard = InjectionGuard(threshold=0.5, source="tool_result")
    out = []
    skip = frozenset({"type", "uri", "uriTemplate", "mimeType"})
    for at, text in strings(pins.definition(item, section), skip=skip):  # type: ignore[arg-type]
        for finding in guard.scan(text):
            where = "/".join(map(str, at))
            out.append(f"{where}: {finding.kind} (confidence {finding.confidence:.2f})")
    return out


@click.group("mcp")
def mcp() -> None:
    """MCP servers behind the gateway: list them, approve their tools, check for drift."""


@mcp.command("approve")
@click.argument("server")
@click.option("--yes", is_flag=True, help="Approve without asking, even with findings.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH", help="gateway.toml listing the server.")
@store_options
def approve(server: str, yes: bool, config_path: Path | None, home: Path | None,
            secrets_spec: str | None, passphrase_fd: int | None,
            passphrase_file: Path | None) -> None:
    """Pin SERVER's tool definitions as they are now, after showing what the injection
    guard finds in them. Calls to its tools are served only while they stay the same."""
    from gateway_cli.auditlog.chain import timestamp
    from gateway_cli.mcp import pins

    config = _config(config_path)
    settings = _server(config, server)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  create=True, config_path=config_path)
    lists = fetch(server, settings, state, store)
    trusted, error, drift = _state(server, state, _key(state, store), lists)
    flagged = 0
    for section in pins.SECTIONS:
        prefix = "" if section == "tools" else f"{_SINGULAR[section]} "
        for item in sorted(lists.get(section, []), key=lambda t: pins.key_of(t, section)):
            name = pins.key_of(item, section)
            mark = ""
            if trusted is not None and drift is not None:
                mark = " (changed)" if name in drift[section].changed else \
                    " (new)" if name in drift[section].added else ""
            click.echo(f"{prefix}{name}{mark}  sha256:{pins.digest(item, section)[:16]}")
            for line in description_findings(item, section):
                flagged += 1
                click.echo(f"  injection guard: {line}")
    if error is not None:
        click.echo(f"gateway: note: {error}", err=True)
    for listed, found in (drift or {}).items():
        if found.removed:
            click.echo(f"removed since the last approval ({listed}): "
                       f"{', '.join(found.removed)}")
    if flagged:
        click.echo(f"{flagged} finding(s) in these definitions: read them before approving",
                   err=True)
    count = sum(len(v) for v in lists.values())
    if not yes:
        if not sys.stdin.isatty():
            raise GatewayError("not approved: pass --yes to approve without a terminal")
        if not click.confirm(f"approve these {count} definition(s) of {server!r}?"):
            raise GatewayError("not approved; nothing was changed")
    key = pins.pin_key(store, create=True)
    assert key is not None
    pinned = pins.make(server, lists.get("tools", []), timestamp(time.time()),
                       {s: lists.get(s, []) for s in pins.SECTIONS[1:]})
    path = pins.save(state, pinned, key)
    record_event(state, store, "mcp.approve", {
        "server": server, "tools": sorted(pinned.tools), "prompts": sorted(pinned.prompts),
        "resources": len(pinned.resources) + len(pinned.resourceTemplates),
        "findings": flagged})
    click.echo(f"approved {len(lists.get('tools', []))} tool(s) of {server!r}"
               + (f" and {count - len(lists.get('tools', []))} prompt(s) and resource(s)"
                  if count > len(lists.get("tools", [])) else "")
               + f" ({path}); a running gateway applies it at once", err=True)


@mcp.command("diff")
@click.argument("server")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH", help="gateway.toml listing the server.")
@store_options
def diff(server: str, config_path: Path | None, home: Path | None, secrets_spec: str | None,
         passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Show exactly how SERVER's live tool, prompt and resource definitions differ from
    the approved ones. Exit status 1 when they differ. Only reads: nothing is written."""
    from gateway_cli.mcp import pins

    config = _config(config_path)
    settings = _server(config, server)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path, read_only=True)
    key = _key(state, store)
    if key is None:
        raise GatewayError(NO_KEY.format(home=state))
    lists = fetch(server, settings, state, store, read_only=True)
    trusted, error, _drift = _state(server, state, key, lists)
    if error is not None:
        raise GatewayError(error)
    if trusted is None:
        raise GatewayError(f"{server!r} was never approved: `gateway mcp approve {server}`")
    lines = [line for s in pins.SECTIONS
             for line in pins.diff_text(trusted, lists.get(s, []), s)]
    for line in lines:
        click.echo(line)
    if lines:
        sys.exit(1)
    click.echo(f"{server}: the live definitions are the approved ones", err=True)


def _report(config: Any, state: Path, store: Any, only: str | None) -> list[dict[str, Any]]:
    """Per server: its state and, per section (tools, prompts, resources, resource
    templates), each item's state against its pin. Only reads."""
    from gateway_cli.mcp import pins

    key = _key(state, store)
    report = []
    for name, settings in config.mcp.servers.items():
        if only is not None and name != only:
            continue
        entry: dict[str, Any] = {"server": name, "state": "approved", "stderr": []}
        try:
            lists: Lists | None = fetch(name, settings, state, store, read_only=True,
                                        stderr=entry["stderr"])
        except GatewayError as err:
            lists, entry["error"] = None, str(err)
        trusted, error, drift = _state(name, state, key, lists)
        if key is None:
            entry["state"], entry["error"] = "unverifiable", NO_KEY.format(home=state)
        elif error is not None:
            entry["state"], entry["error"] = "untrusted", error
        elif trusted is None:
            entry["state"] = "unapproved"
        elif lists is None:
            entry["state"] = "unreachable"
        elif drift is not None and not all(d.clean for d in drift.values()):
            entry["state"] = "drift"
        for section in pins.SECTIONS:
            entry[section] = _items(section, lists, trusted, drift)
        report.append(entry)
    return report


def _items(section: Any, lists: Lists | None, trusted: Any, drift: dict[str, Any] | None
           ) -> list[dict[str, str]]:
    from gateway_cli.mcp import pins

    live = {pins.key_of(t, section) for t in (lists or {}).get(section, [])}
    names = sorted(live | set(trusted.section(section) if trusted is not None else ()))
    out = []
    for item in names:
        status = "approved"
        if trusted is None:
            status = "unapproved"
        elif drift is not None:
            found = drift[section]
            status = ("changed" if item in found.changed else "added"
                      if item in found.added else "removed" if item in found.removed
                      else "approved")
        elif lists is None:
            status = "unknown"
        out.append({"name": item, "state": status})
    return out


def _every(entry: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(label, item) of every item of a report entry, tools first; a label is the item's
    name, with its kind before it for prompts and resources."""
    from gateway_cli.mcp import pins

    return [("" if s == "tools" else f"{_SINGULAR[s]} ", item)
            for s in pins.SECTIONS for item in entry.get(s, [])]


@mcp.command("list")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH", help="gateway.toml listing the servers.")
@store_options
def list_servers(config_path: Path | None, home: Path | None, secrets_spec: str | None,
                 passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Servers, their tools, prompts and resources, and whether each is approved as it is
    now. Only reads: nothing is written."""
    config = _config(config_path)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path, read_only=True)
    for entry in _report(config, state, store, None):
        click.echo(f"{entry['server']}: {entry['state']}"
                   + (f" ({entry['error']})" if entry.get("error") else ""))
        for label, item in _every(entry):
            click.echo(f"  {label}{item['name']}: {item['state']}")
        if entry["stderr"]:
            click.echo(f"  stderr (its last {len(entry['stderr'])} line(s), redacted):")
            for line in entry["stderr"]:
                click.echo(f"    {line}")


def _sarif(report: list[dict[str, Any]]) -> dict[str, Any]:
    results = []
    for entry in report:
        for label, tool in _every(entry):
            if tool["state"] != "approved":
                what = label.strip() or "tool"
                results.append({
                    "ruleId": f"mcp-{what.replace(' ', '-')}-{tool['state']}",
                    "level": "error",
                    "message": {"text": f"MCP server {entry['server']}: {what} "
                                        f"{tool['name']} is {tool['state']} against its "
                                        "approved pin"},
                    "locations": [{"logicalLocations": [
                        {"name": tool["name"], "fullyQualifiedName":
                         f"{entry['server']}__{tool['name']}",
                         "kind": "function" if what == "tool" else "resource"}]}]})
        if entry["state"] in ("untrusted", "unreachable", "unverifiable") or (
                entry["state"] == "unapproved" and not _every(entry)):
            results.append({"ruleId": f"mcp-server-{entry['state']}", "level": "error",
                            "message": {"text": f"MCP server {entry['server']}: "
                                                f"{entry.get('error') or entry['state']}"}})
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "gateway mcp check",
                                          "informationUri": "https://example.invalid/gateway",
                                          "rules": []}},
                      "results": results}]}


@mcp.command("check")
@click.argument("server", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH", help="gateway.toml listing the servers.")
@store_options
def check(server: str | None, fmt: str, config_path: Path | None, home: Path | None,
          secrets_spec: str | None, passphrase_fd: int | None,
          passphrase_file: Path | None) -> None:
    """Exit 1 when any server's live tools, prompts or resources differ from their
    approved pins, its pins cannot be trusted or verified (no pin key), it was never
    approved, or it cannot be reached (for CI). Only reads: nothing is written."""
    config = _config(config_path)
    if server is not None:
        _server(config, server)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path, read_only=True)
    report = _report(config, state, store, server)
    failed = any(e["state"] != "approved" for e in report)
    if fmt == "json":
        click.echo(json.dumps({"ok": not failed, "servers": report}, indent=2))
    elif fmt == "sarif":
        click.echo(json.dumps(_sarif(report), indent=2))
    else:
        for entry in report:
            bad = [(label, t) for label, t in _every(entry) if t["state"] != "approved"]
            click.echo(f"{entry['server']}: {entry['state']}"
                       + "".join(f"\n  {label}{t['name']}: {t['state']}" for label, t in bad)
                       + (f"\n  {entry['error']}" if entry.get("error") else ""))
    if failed:
        sys.exit(1)


def _ask_all(home: Path, request: dict[str, object]) -> list[tuple[str, dict[str, Any]]]:
    """Ask every gateway running from this state directory; (socket, answer) each (an
    answer with ok false and an error when there was none usable)."""
    import socket as sock

    from gateway_cli.keys.notify import RUN_DIR

    out: list[tuple[str, dict[str, Any]]] = []
    directory = home / RUN_DIR
    for path in sorted(directory.glob("*.sock")) if directory.is_dir() else ():
        try:
            with sock.socket(sock.AF_UNIX, sock.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(str(path))
                conn.sendall(json.dumps(request).encode() + b"\n")
                reply = b""
                while not reply.endswith(b"\n") and len(reply) < 1024 * 1024:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            answer = json.loads(reply or b"{}")
            out.append((path.name, answer if isinstance(answer, dict) else {}))
        except (OSError, ValueError) as err:
            out.append((path.name, {"ok": False,
                                    "error": f"no usable answer ({type(err).__name__})"}))
    return out


def _send_decision(home: Path, call_id: str, allow: bool) -> list[tuple[str, bool, str]]:
    """Ask every gateway running from this state directory; (socket, ok, detail) each."""
    return [(name, bool(a.get("ok")), str(a.get("error", "")))
            for name, a in _ask_all(home, {"mcp_call": call_id, "allow": allow})]


@mcp.command("status")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The gateway's state directory.")
def status(home: Path | None) -> None:
    """What each running gateway (each worker) of this state directory holds: per MCP
    server whether it runs, its failures in a row, its pin state and a stdio server's
    last stderr lines (redacted). Only reads."""
    from gateway_cli.keys.home import gateway_home

    answers = _ask_all(gateway_home(home, create=False), {"mcp_status": True})
    if not answers:
        raise GatewayError("no gateway is running from this state directory")
    for name, answer in answers:
        if not answer.get("ok"):
            click.echo(f"{name}: {answer.get('error', 'no answer')}")
            continue
        servers = answer.get("servers")
        click.echo(f"gateway pid {answer.get('pid')}:"
                   + ("" if servers else " no MCP servers"))
        for server, state in (servers or {}).items() if isinstance(servers, dict) else ():
            if not isinstance(state, dict):
                continue
            click.echo(f"  {server}: {'running' if state.get('running') else 'stopped'}, "
                       f"pins {state.get('pins')}, failures {state.get('failures')}")
            lines = state.get("stderr") if isinstance(state.get("stderr"), list) else []
            for line in lines or ():
                click.echo(f"    stderr: {line}")


@mcp.command("approve-call")
@click.argument("call_id")
@click.option("--deny", is_flag=True, help="Refuse the call instead.")
@click.option("--home", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The gateway's state directory.")
def approve_call(call_id: str, deny: bool, home: Path | None) -> None:
    """Let a held tool call (one of a server's `approval` tools) go on, or --deny it.
    The gateway logs each held call's ID at WARNING."""
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.mcp.held import CALL_ID

    if not CALL_ID.match(call_id):
        raise GatewayError("a call ID is the 16 hex digits the gateway logged")
    state = gateway_home(home)
    results = _send_decision(state, call_id, not deny)
    if not any(ok for _, ok, _ in results):
        raise GatewayError(f"no running gateway holds call {call_id} (decided already, "
                           "timed out, or another state directory)")
    record_event(state, None, "mcp.call_decided", {"call": call_id,
                                                   "allowed": not deny})
    click.echo(f"call {call_id} {'denied' if deny else 'approved'}", err=True)
