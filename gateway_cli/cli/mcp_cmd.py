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


async def _fetch(name: str, server: Any, home: Path, store: Any) -> list[dict[str, Any]]:
    from gateway_cli.mcp.connection import Connection
    from gateway_cli.mcp.pinned import live_tools

    connection = Connection(name, server, home=home, store=store)
    try:
        # Some servers register tools just after the handshake (announcing each with
        # list_changed): approve the list once it has settled, not a half-made one.
        tools = await live_tools(connection)
        for _ in range(SETTLE_TRIES):
            await asyncio.sleep(SETTLE_PAUSE)
            again = await live_tools(connection)
            if again == tools:
                break
            tools = again
        return tools
    finally:
        await connection.close()


def fetch(name: str, server: Any, home: Path, store: Any) -> list[dict[str, Any]]:
    from gateway_cli.mcp.transport import UpstreamError

    try:
        return asyncio.run(_fetch(name, server, home, store))
    except UpstreamError as err:
        raise GatewayError(str(err)) from None


def _state(name: str, home: Path, store: Any, tools: list[dict[str, Any]] | None
           ) -> tuple[Any, str | None, Any]:
    """(pins or None, why they cannot be trusted or None, drift or None)."""
    from gateway_cli.mcp import pins

    try:
        trusted = pins.load(home, name, pins.pin_key(store))
    except pins.PinError as err:
        return None, str(err), None
    drift = pins.compare(trusted, tools) if tools is not None and trusted is not None else None
    return trusted, None, drift


def description_findings(tool: dict[str, Any]) -> list[str]:
    """What the injection guard finds in a tool's texts (description, titles, schema text)."""
    from gateway_cli.guards.injection import InjectionGuard
    from gateway_cli.mcp import pins
    from gateway_cli.mcp.screen import strings

    guard = InjectionGuard(threshold=0.5, source="tool_result")
    out = []
    for at, text in strings(pins.definition(tool), skip=frozenset({"type"})):
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
    tools = fetch(server, settings, state, store)
    trusted, error, drift = _state(server, state, store, tools)
    flagged = 0
    for tool in sorted(tools, key=lambda t: str(t.get("name"))):
        name = str(tool.get("name"))
        mark = ""
        if trusted is not None and drift is not None:
            mark = " (changed)" if name in drift.changed else \
                " (new)" if name in drift.added else ""
        click.echo(f"{name}{mark}  sha256:{pins.digest(tool)[:16]}")
        for line in description_findings(tool):
            flagged += 1
            click.echo(f"  injection guard: {line}")
    if error is not None:
        click.echo(f"gateway: note: {error}", err=True)
    if drift is not None and drift.removed:
        click.echo(f"removed since the last approval: {', '.join(drift.removed)}")
    if flagged:
        click.echo(f"{flagged} finding(s) in these definitions: read them before approving",
                   err=True)
    if not yes:
        if not sys.stdin.isatty():
            raise GatewayError("not approved: pass --yes to approve without a terminal")
        if not click.confirm(f"approve these {len(tools)} tool(s) of {server!r}?"):
            raise GatewayError("not approved; nothing was changed")
    key = pins.pin_key(store, create=True)
    assert key is not None
    pinned = pins.make(server, tools, timestamp(time.time()))
    path = pins.save(state, pinned, key)
    record_event(state, store, "mcp.approve", {"server": server, "tools": sorted(pinned.tools),
                                               "findings": flagged})
    click.echo(f"approved {len(tools)} tool(s) of {server!r} ({path}); a running gateway "
               "reads them at its next start or `gateway reload`", err=True)


@mcp.command("diff")
@click.argument("server")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH", help="gateway.toml listing the server.")
@store_options
def diff(server: str, config_path: Path | None, home: Path | None, secrets_spec: str | None,
         passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Show exactly how SERVER's live tool definitions differ from the approved ones.
    Exit status 1 when they differ."""
    from gateway_cli.mcp import pins

    config = _config(config_path)
    settings = _server(config, server)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path)
    tools = fetch(server, settings, state, store)
    trusted, error, _drift = _state(server, state, store, tools)
    if error is not None:
        raise GatewayError(error)
    if trusted is None:
        raise GatewayError(f"{server!r} was never approved: `gateway mcp approve {server}`")
    lines = pins.diff_text(trusted, tools)
    for line in lines:
        click.echo(line)
    if lines:
        sys.exit(1)
    click.echo(f"{server}: the live tools are the approved ones", err=True)


def _report(config: Any, state: Path, store: Any, only: str | None) -> list[dict[str, Any]]:
    report = []
    for name, settings in config.mcp.servers.items():
        if only is not None and name != only:
            continue
        entry: dict[str, Any] = {"server": name, "state": "approved", "tools": []}
        try:
            tools: list[dict[str, Any]] | None = fetch(name, settings, state, store)
        except GatewayError as err:
            tools, entry["error"] = None, str(err)
        trusted, error, drift = _state(name, state, store, tools)
        if error is not None:
            entry["state"], entry["error"] = "untrusted", error
        elif trusted is None:
            entry["state"] = "unapproved"
        elif tools is None:
            entry["state"] = "unreachable"
        elif drift is not None and not drift.clean:
            entry["state"] = "drift"
        names = sorted({str(t.get("name")) for t in tools or ()} |
                       set(trusted.tools if trusted is not None else ()))
        for tool in names:
            status = "approved"
            if trusted is None:
                status = "unapproved"
            elif drift is not None:
                status = ("changed" if tool in drift.changed else "added"
                          if tool in drift.added else "removed" if tool in drift.removed
                          else "approved")
            elif tools is None:
                status = "unknown"
            entry["tools"].append({"name": tool, "state": status})
        report.append(entry)
    return report


@mcp.command("list")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH", help="gateway.toml listing the servers.")
@store_options
def list_servers(config_path: Path | None, home: Path | None, secrets_spec: str | None,
                 passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Servers, their tools, and whether each tool is approved as it is now."""
    config = _config(config_path)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path)
    for entry in _report(config, state, store, None):
        click.echo(f"{entry['server']}: {entry['state']}"
                   + (f" ({entry['error']})" if entry.get("error") else ""))
        for tool in entry["tools"]:
            click.echo(f"  {tool['name']}: {tool['state']}")


def _sarif(report: list[dict[str, Any]]) -> dict[str, Any]:
    results = []
    for entry in report:
        for tool in entry["tools"]:
            if tool["state"] != "approved":
                results.append({
                    "ruleId": f"mcp-tool-{tool['state']}", "level": "error",
                    "message": {"text": f"MCP server {entry['server']}: tool {tool['name']} "
                                        f"is {tool['state']} against its approved pin"},
                    "locations": [{"logicalLocations": [
                        {"name": tool["name"], "fullyQualifiedName":
                         f"{entry['server']}__{tool['name']}", "kind": "function"}]}]})
        if entry["state"] in ("untrusted", "unreachable") or (
                entry["state"] == "unapproved" and not entry["tools"]):
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
    """Exit 1 when any server's live tools differ from their approved pins, its pins
    cannot be trusted, it was never approved, or it cannot be reached (for CI)."""
    config = _config(config_path)
    if server is not None:
        _server(config, server)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path)
    report = _report(config, state, store, server)
    failed = any(e["state"] != "approved" for e in report)
    if fmt == "json":
        click.echo(json.dumps({"ok": not failed, "servers": report}, indent=2))
    elif fmt == "sarif":
        click.echo(json.dumps(_sarif(report), indent=2))
    else:
        for entry in report:
            bad = [t for t in entry["tools"] if t["state"] != "approved"]
            click.echo(f"{entry['server']}: {entry['state']}"
                       + "".join(f"\n  {t['name']}: {t['state']}" for t in bad)
                       + (f"\n  {entry['error']}" if entry.get("error") else ""))
    if failed:
        sys.exit(1)


def _send_decision(home: Path, call_id: str, allow: bool) -> list[tuple[str, bool, str]]:
    """Ask every gateway running from this state directory; (socket, ok, detail) each."""
    import socket as sock

    from gateway_cli.keys.notify import RUN_DIR

    out = []
    directory = home / RUN_DIR
    for path in sorted(directory.glob("*.sock")) if directory.is_dir() else ():
        try:
            with sock.socket(sock.AF_UNIX, sock.SOCK_STREAM) as conn:
                conn.settimeout(5)
                conn.connect(str(path))
                conn.sendall(json.dumps({"mcp_call": call_id, "allow": allow}).encode()
                             + b"\n")
                reply = b""
                while not reply.endswith(b"\n") and len(reply) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            answer = json.loads(reply or b"{}")
            out.append((path.name, bool(answer.get("ok")), str(answer.get("error", ""))))
        except (OSError, ValueError) as err:
            out.append((path.name, False, f"no usable answer ({type(err).__name__})"))
    return out


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
