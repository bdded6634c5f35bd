"""Inspect the request: every slot the model reads through the guards, then the policy.

The policy's verdict is applied here: block (HttpError 400 naming the rule,
never the text), redact (the body re-encoded with placeholders the answer
gets back), reroute (the new model is scope-checked again by the caller),
or allow. In observe mode the verdict is reported in a header and nothing
changes. The hashes of the sensitive values found travel with the call, so
the answer's screening does not call the client's own data a leak.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway_cli.config import OutputPolicyConfig
from gateway_cli.formats.errors import HttpError
from gateway_cli.guards.output import new_canary
from gateway_cli.guards.output_policy import value_hash, with_canary
from gateway_cli.guards.pipeline import Inspection, Inspector
from gateway_cli.guards.redact import Redactions
from gateway_cli.keys.principal import Principal
from gateway_cli.providers.operations import Op
from gateway_cli.request.trace import FindingCount, Trace, Verdict

log = logging.getLogger("gateway.proxy")
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Screened:
    """The request as it goes on: possibly redacted, possibly for another model."""

    body: dict[str, Any]
    raw: bytes
    model: str
    headers: tuple[tuple[bytes, bytes], ...] = ()
    redactions: Redactions | None = None
    known: frozenset[str] = frozenset()
    rerouted: bool = False


def _note(trace: Trace, inspection: Inspection) -> None:
    """The verdict and what was found, by guard, kind, field kind and action: no values."""
    decision = inspection.decision
    trace.policy = Verdict(decision.verdict, decision.applied, decision.reason)
    if not inspection.findings:
        return
    actions = {id(a.finding): a.action for a in decision.acted}
    counts = Counter((p.finding.guard, p.finding.kind, p.slot.source,
                      actions.get(id(p.finding), "none")) for p in inspection.findings)
    trace.findings.extend(FindingCount(guard, kind, slot, action, n)
                          for (guard, kind, slot, action), n in counts.items())


def screen(inspector: Inspector, op: Op, body: dict[str, Any], raw: bytes, model: str,
           principal: Principal, request_id: str, trace: Trace | None = None) -> Screened:
    """The policy's decision on this request applied; HttpError 400 when it blocks."""
    inspection = inspector.inspect_request(op, body, model, principal.name, principal.team)
    if trace is not None:
        _note(trace, inspection)
    known = frozenset(value_hash(p.slot.text[p.finding.start:p.finding.end])
                      for p in inspection.findings)
    decision = inspection.decision
    headers: list[tuple[bytes, bytes]] = []
    if decision.verdict != "allow":
        prefix = "" if decision.applied == decision.verdict else "observe: "
        headers.append((b"x-gateway-policy",
                        f"{prefix}{decision.verdict} ({decision.reason})".encode()))
    if decision.applied == "block":
        log.info("request %s blocked by policy: %s", request_id, decision.reason)
        raise HttpError(400, f"the gateway's policy blocked this request ({decision.reason}); "
                        f"request id {request_id}", "blocked_by_policy", headers=headers)
    if decision.applied == "reroute" and decision.reroute_to:
        headers.append((b"x-gateway-rerouted-from", model.encode()))
        return Screened(body, raw, decision.reroute_to, tuple(headers), known=known,
                        rerouted=True)
    if decision.applied == "redact" and inspection.body is not None:
        redacted = {**inspection.body, "model": body["model"]}
        return Screened(redacted, _encode(redacted), model, tuple(headers),
                        inspection.redactions, known)
    return Screened(body, raw, model, tuple(headers), known=known)


def add_canary(output: OutputPolicyConfig, op: Op, body: dict[str, Any],
               raw: bytes) -> tuple[dict[str, Any], bytes, str | None]:
    """A fresh canary in the system prompt, when configured: seeing it in an answer means
    the model leaked its instructions."""
    if not output.canary or op not in (Op.CHAT, Op.MESSAGES):
        return body, raw, None
    canary = new_canary()
    body = with_canary(body, canary, anthropic=op is Op.MESSAGES)
    return body, _encode(body), canary
