"""Screening of what crosses the MCP path, with the prompt path's policy machinery.

- Tool arguments (what an agent sends out) go through the secret and PII
  guards (and the custom patterns): a credential or personal data leaving
  through a tool is the exfiltration this catches. The policy (block,
  redact, mask, hash, flag) is the one for prompts, with inspection rules
  matched on the model name `mcp/<server>`.
- Results (tool results, prompt messages, resource contents: what a model
  will read next) and an upstream's own JSON-RPC error message and data go
  through the injection guard weighted as `tool_result` (indirect injection)
  and the secret guard, after the server's own credentials (which the gateway
  knows, whatever their format) are replaced.
- Results larger than the server's `max_result_bytes` are truncated with a
  marker, or blocked, before any guard reads them, so what is inspected is
  exactly what is sent.

Pure: values in, a Screening out; nothing is logged and no text is kept
beyond the rewritten value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from gateway_cli.config import InspectionConfig
from gateway_cli.guards import pii, redact, secrets
from gateway_cli.guards.base import Finding, scan_all
from gateway_cli.guards.custom import CustomGuard
from gateway_cli.guards.injection import InjectionGuard
from gateway_cli.policy.decide import Decision, decide, policies_for
from gateway_cli.request.trace import FindingCount

Path_ = tuple[str | int, ...]
# Strings in results that are not text a model reads as instructions: identifiers,
# media types and base64 payloads.
_NOT_TEXT = frozenset({"type", "mimeType", "uri", "blob", "data", "progressToken", "cursor"})
# Long object keys MCP itself defines: names, not data a server chose.
_PROTOCOL_KEYS = frozenset({"structuredContent", "resourceTemplates", "outputSchema",
                            "destructiveHint", "idempotentHint", "openWorldHint"})
_STYLE = {"redact": "mask", "mask": "mask", "hash": "hash"}
TRUNCATED = "\n[gateway: result truncated from {size} to {limit} bytes]"
CLEAN = Decision("allow", "allow")  # nothing found, no guard failed


@dataclass(frozen=True)
class Screening:
    decision: Decision
    findings: tuple[FindingCount, ...]
    value: Any  # the value to send on: rewritten when redacted


def strings(value: Any, *, skip: frozenset[str] = frozenset()) -> list[tuple[Path_, str]]:
    """Every string leaf under `value` with its path; object keys too (they can carry data,
    and are not rewritable, so a finding in one blocks). Iterative: depth is not ours.

    The order is the findings' order (the decision's reason is the first top-ranked
    finding's), so it is fixed: depth first, values in document order, and an object's
    long keys, last to first, as the object is entered. A string is taken as it is met
    rather than pushed and popped: this walk runs on every call's arguments and result."""
    if isinstance(value, str):
        return [((), value)] if value else []
    out: list[tuple[Path_, str]] = []
    if not isinstance(value, _CONTAINERS):
        return out
    append = out.append
    children = _enter(value, (), out)
    at: Path_ = ()
    stack: list[tuple[Iterator[tuple[Any, Any]], Path_]] = []
    while True:
        for key, item in children:
            if isinstance(item, str):
                if item and key not in skip:
                    append(((*at, key), item))
            elif isinstance(item, _CONTAINERS):
                stack.append((children, at))
                at = (*at, key)
                children = _enter(item, at, out)
                break
        else:
            if not stack:
                return out
            children, at = stack.pop()


_CONTAINERS = (dict, list)


def _enter(node: dict[Any, Any] | list[Any], at: Path_, out: list[tuple[Path_, str]]
           ) -> Iterator[tuple[Any, Any]]:
    """A container's (key, value) pairs; a dict's long keys are noted on the way in."""
    if isinstance(node, list):
        return enumerate(node)
    for key in reversed(node):
        if isinstance(key, str) and len(key) > 16 and key not in _PROTOCOL_KEYS:
            out.append(((*at, key, ""), key))
    return iter(node.items())


def _replace(value: Any, edits: dict[Path_, str]) -> Any:
    if not edits:
        return value
    if isinstance(value, dict):
        return {k: _replace_at(v, (k,), edits) for k, v in value.items()}
    return _replace_at(value, (), edits)


def _replace_at(value: Any, at: Path_, edits: dict[Path_, str]) -> Any:
    if at in edits:
        return edits[at]
    if isinstance(value, dict):
        return {k: _replace_at(v, (*at, k), edits) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_at(v, (*at, i), edits) for i, v in enumerate(value)]
    return value


def _screen(config: InspectionConfig, value: Any, texts: list[tuple[Path_, str]],
            guards: tuple[tuple[str, Callable[[str], list[Finding]]], ...], model: str,
            key: str | None, team: str | None, slot: str) -> Screening:
    errors: set[str] = set()
    # A text that appears twice (FastMCP, for one, sends a tool's return value both as
    # text content and as structuredContent) is scanned once: the guards are pure, so the
    # same text gives the same findings; each place it appears still counts and is
    # redacted.
    scanned: dict[str, list[Finding]] = {}
    per_text = []
    for at, text in texts:
        found = scanned.get(text)
        if found is None:
            found = scanned[text] = scan_all(guards, text, errors)
        per_text.append((at, text, found))
    findings = [f for _, _, found in per_text for f in found]
    if not findings and not errors:  # most calls: what decide() says then, in any mode
        return Screening(CLEAN, (), value)
    policies = policies_for(config, model, key, team)
    decision = decide(findings, policies, mode=config.mode, errors=sorted(errors))
    actions = {id(a.finding): a.action for a in decision.acted}
    counts: dict[tuple[str, str, str], int] = {}
    for f in findings:
        counted = (f.guard, f.kind, actions.get(id(f), "none"))
        counts[counted] = counts.get(counted, 0) + 1
    noted = tuple(FindingCount(g, k, slot, a, n) for (g, k, a), n in counts.items())
    if decision.applied != "redact":
        return Screening(decision, noted, value)
    edits: dict[Path_, str] = {}
    for at, text, found in per_text:
        mine = [f for f in found if actions.get(id(f)) in _STYLE]
        if not mine:
            continue
        if at and at[-1] == "":  # an object key: cannot be rewritten, so not sent
            return Screening(Decision("block", "block", f"{mine[0].guard}.{mine[0].kind}"
                                      ".uneditable", acted=decision.acted), noted, value)
        style = "hash" if all(actions.get(id(f)) == "hash" for f in mine) else "mask"
        edits[at], _ = redact.redact(text, mine, style=style)  # type: ignore[arg-type]
    return Screening(decision, noted, _replace(value, edits))


def _custom(config: InspectionConfig) -> tuple[tuple[str, Callable[[str], list[Finding]]], ...]:
    if not (any(config.custom.banned) or config.custom.regexes):
        return ()
    return (("custom", CustomGuard(config.custom.banned, config.custom.regexes).scan),)


def arguments(config: InspectionConfig, value: dict[str, Any], server: str,
              key: str | None = None, team: str | None = None) -> Screening:
    """A tool call's arguments through the secret, PII and custom guards."""
    guards = (("secrets", secrets.scan), ("pii", pii.scan), *_custom(config))
    return _screen(config, value, strings(value), guards, f"mcp/{server}", key, team,
                   "tool_call")


def result(config: InspectionConfig, value: dict[str, Any], server: str,
           key: str | None = None, team: str | None = None) -> Screening:
    """A result a model will read through the injection guard (as a tool result) and the
    secret guard."""
    policy = policies_for(config, f"mcp/{server}", key, team)["injection"]
    guards = (("injection", _injection_scan(policy.min_confidence)), ("secrets", secrets.scan))
    # The injection threshold is applied to the combined score inside the guard.
    relaxed = msgspec.structs.replace(config, injection=msgspec.structs.replace(
        policy, min_confidence=0.0))
    return _screen(relaxed, value, strings(value, skip=_NOT_TEXT), guards, f"mcp/{server}",
                   key, team, "tool_result")


_INJECTION: dict[float, Callable[[str], list[Finding]]] = {}


def _injection_scan(threshold: float) -> Callable[[str], list[Finding]]:
    """The injection guard's scan for results at `threshold`, one guard per threshold:
    a guard holds nothing but its threshold, source and classifier, and making one per
    call (and finding its classifier again) cost ~1 us of every tools/call."""
    scan = _INJECTION.get(threshold)
    if scan is None:
        if len(_INJECTION) >= 64:  # thresholds come from the config: a handful
            _INJECTION.clear()
        scan = _INJECTION[threshold] = InjectionGuard(threshold=threshold,
                                                      source="tool_result").scan
    return scan


OWN_CREDENTIAL = "[redacted: the server's own credential]"
MIN_LITERAL = 8  # shorter values would redact ordinary words


def literal(value: Any, known: tuple[str, ...]) -> Any:
    """`value` with every occurrence of a known credential (what the gateway gave this
    server: its bearer secret, its env values from the store) replaced: an upstream that
    echoes its own credential must not hand it to a client, whatever its format."""
    known = tuple(k for k in known if len(k) >= MIN_LITERAL)
    if not known:
        return value
    edits: dict[Path_, str] = {}
    for at, text in strings(value):
        if at and at[-1] == "":
            continue  # object keys cannot be rewritten; the guards still read them
        cleaned = text
        for secret in known:
            cleaned = cleaned.replace(secret, OWN_CREDENTIAL)
        if cleaned != text:
            edits[at] = cleaned
    return _replace(value, edits)


def upstream_error(config: InspectionConfig | None, error: dict[str, Any], server: str,
                   known: tuple[str, ...], key: str | None = None, team: str | None = None
                   ) -> tuple[Screening | None, str, Any]:
    """An upstream's JSON-RPC error message and data as a client may see them: cut to
    size, the server's own credentials replaced, then through the injection guard (as a
    tool result: a model reads it) and the secret guard. (screening, message, data)."""
    message = str(error.get("message", ""))[:ERROR_CHARS]
    data = error.get("data")
    if data is not None and len(msgspec.json.encode(data)) > ERROR_DATA_BYTES:
        data = f"[gateway: error data of over {ERROR_DATA_BYTES} bytes left out]"
    value = literal({"message": message, "detail": data}, known)
    if config is None:
        return None, value["message"], value["detail"]
    screened = result(config, value, server, key, team)
    return screened, screened.value["message"], screened.value["detail"]


ERROR_CHARS = 500
ERROR_DATA_BYTES = 4096


@dataclass(frozen=True)
class Capped:
    value: dict[str, Any] | None  # None: blocked
    size: int  # the encoded size before any cut
    truncated: bool = False


def cap(value: dict[str, Any], size: int, limit: int,
        oversize: Literal["truncate", "block"]) -> Capped:
    """A result within `limit` encoded bytes: as is, cut with a marker, or blocked (always
    blocked when it carries structured content, which cannot be cut).

    Cutting keeps the text items in order up to the budget and drops what
    cannot be cut (images, audio, structured content), then says so in a
    marker the model reads.
    """
    if size <= limit:
        return Capped(value, size)
    if oversize == "block" or value.get("structuredContent") is not None:
        # Structured content cannot be cut and stay valid against its schema.
        return Capped(None, size)
    marker = TRUNCATED.format(size=size, limit=limit)
    budget = max(0, limit - len(marker.encode()) - 256)
    content: list[dict[str, Any]] = []
    for item in value.get("content", []) if isinstance(value.get("content"), list) else []:
        if budget <= 0:
            break
        if isinstance(item, dict) and item.get("type") == "text" \
                and isinstance(item.get("text"), str):
            data = item["text"].encode("utf-8", "surrogatepass")
            cut = data[:budget].decode("utf-8", "ignore")
            budget -= len(data[:budget]) + 64
            content.append({"type": "text", "text": cut})
    content.append({"type": "text", "text": marker.lstrip("\n")})
    out: dict[str, Any] = {"content": content}
    if value.get("isError") is True:
        out["isError"] = True
    return Capped(out, size, truncated=True)
