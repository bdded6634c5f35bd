"""Run every request guard over every text a request carries, and apply the verdict.

Pure (no IO): the proxy and `gateway inspect` share it. Guards run per text
slot (messages, system prompts, tool definitions, tool calls and results,
Responses input, embedding inputs); a guard that raises is recorded as a
guard error, which the policy turns into a block unless that guard is
`fail_open`. Redaction rewrites only the slots that need it and keeps one
`Redactions` mapping per request, in memory, to restore the answer.

Within one text, findings whose actions differ are redacted in one style:
placeholder if any of them says `redact` (reversible), else hash, else mask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway_cli.config import InspectionConfig
from gateway_cli.guards import extract, pii, redact, secrets
from gateway_cli.guards.base import Finding, scan_all
from gateway_cli.guards.custom import CustomGuard
from gateway_cli.guards.injection import InjectionGuard
from gateway_cli.guards.injection.classifier import shipped as shipped_classifier
from gateway_cli.guards.joined import joined as _joined
from gateway_cli.guards.joined import split_by_slot as _split_by_slot
from gateway_cli.guards.verdict_cache import VerdictCache
from gateway_cli.policy.decide import Decision, decide, policies_for
from gateway_cli.policy.slots import guard_weight, slot_rules_for
from gateway_cli.providers.operations import Op

_STYLE_ORDER = (("redact", "placeholder"), ("hash", "hash"), ("mask", "mask"))


@dataclass(frozen=True)
class SlotFinding:
    slot: extract.TextSlot
    finding: Finding


@dataclass(frozen=True)
class Inspection:
    decision: Decision
    findings: tuple[SlotFinding, ...]
    errors: tuple[str, ...]
    body: dict[str, Any] | None = None  # the rewritten request, when redacted
    redactions: redact.Redactions | None = None


class Inspector:
    def __init__(self, config: InspectionConfig) -> None:
        self.config = config
        self.custom = CustomGuard(config.custom.banned, config.custom.regexes)
        # With no banned word and no regex the custom guard finds nothing and
        # cannot fail: it is not called at all.
        self._custom_empty = not (any(config.custom.banned) or config.custom.regexes)
        self.cache = VerdictCache(config.cache_entries) if config.cache_entries else None
        # One injection guard per threshold a slot's weight gives, made on first use and
        # kept (it holds only its threshold and the shipped model): not one per request.
        self._injection_guards: dict[float, InjectionGuard] = {}
        # The injection classifier's weights are read and checked now, so a changed or
        # missing file stops start-up (WeightsError) instead of failing every request.
        shipped_classifier()

    def _format_guards(self) -> tuple[tuple[str, Callable[[str], list[Finding]]], ...]:
        return (("secrets", secrets.scan), ("pii", pii.scan),
                *(() if self._custom_empty else (("custom", self.custom.scan),)))

    def inspect(self, slots: list[extract.TextSlot], model: str, key: str | None = None,
                team: str | None = None) -> tuple[Decision, list[SlotFinding], set[str]]:
        errors: set[str] = set()
        policies = policies_for(self.config, model, key, team)
        rules = slot_rules_for(self.config, model, key, team)
        # The injection guard applies its threshold to the combined score of its
        # signals; the per-finding confidences are evidence, not separate verdicts.
        # A slot rule's weight on the whole guard scales that score: the threshold
        # is divided by it (weight 0: the guard does not judge that kind of slot).
        threshold = policies["injection"].min_confidence
        guards = self._injection_guards
        policies["injection"] = msgspec.structs.replace(policies["injection"], min_confidence=0.0)
        # The format guards (credentials, personal data, custom patterns) run once over
        # all the texts joined: their cost is mostly per call, and a request has many
        # short texts now that every string is one. Injection is judged per text, with
        # the source it came from.
        per_slot: list[dict[str, list[Finding]]] = [{} for _ in slots]
        joined, starts = _joined([slot.text for slot in slots])
        for name, guard in self._format_guards():
            found = scan_all(((name, guard),), joined, errors)
            for index, finding in _split_by_slot(found, starts, [s.text for s in slots]):
                per_slot[index].setdefault(name, []).append(finding)
        pairs = []
        for index, slot in enumerate(slots):
            mine = per_slot[index]
            source = _injection_source(slot.source)
            weight = guard_weight("injection", slot.source, rules)
            inj: list[Finding] = []
            if weight > 0.0:
                at = min(1.0, threshold / weight)
                injection = guards.get(at)
                if injection is None:
                    injection = guards[at] = InjectionGuard(threshold=at)

                inj = self._injection(injection, source, slot.text, key, errors)
            for finding in (*mine.get("secrets", ()), *mine.get("pii", ()), *inj,
                            *mine.get("custom", ())):
                pairs.append(SlotFinding(slot, finding))
        decision = decide([p.finding for p in pairs], policies,
                          mode=self.config.mode, errors=sorted(errors),
                          sources=[p.slot.source for p in pairs], slot_rules=rules)
        return decision, pairs, errors

    def _injection(self, guard: InjectionGuard, source: str, text: str, key: str | None,
                   errors: set[str]) -> list[Finding]:
        """The injection guard's findings on one text, judged once per client and setting."""
        def judge(text: str) -> list[Finding]:
            return guard.scan(text, source=source)

        cache = self.cache
        if cache is None:
            return scan_all((("injection", judge),), text, errors)
        where = cache.key(key or "", source, guard.threshold, text)
        found = cache.get(where)
        if found is not None:
            return found
        failed: set[str] = set()
        found = scan_all((("injection", judge),), text, failed)
        if failed:
            errors |= failed  # a guard that raised is judged again next time
        else:
            cache.put(where, found)
        return found

    def inspect_request(self, op: Op, body: Mapping[str, Any], model: str,
                        key: str | None = None, team: str | None = None) -> Inspection:
        """Inspect a request body; `body` of the result is set only when it was rewritten."""
        return self.inspect_slots(extract.texts(op, body), body, model, key, team)

    def inspect_slots(self, slots: list[extract.TextSlot], body: Mapping[str, Any],
                      model: str, key: str | None = None,
                      team: str | None = None) -> Inspection:
        decision, pairs, errors = self.inspect(slots, model, key, team)
        if decision.applied != "redact":
            return Inspection(decision, tuple(pairs), tuple(sorted(errors)))
        actions = {id(a.finding): a.action for a in decision.acted}
        redactions = redact.Redactions()
        edits: dict[extract.SlotPath, str] = {}
        by_slot: dict[int, list[Finding]] = {}  # one pass over the findings, not one per slot
        for p in pairs:
            if actions.get(id(p.finding)) in ("redact", "hash", "mask"):
                by_slot.setdefault(id(p.slot), []).append(p.finding)
        for slot in slots:
            mine = by_slot.get(id(slot))
            if mine and not slot.editable:
                # A signed thinking block or an object key cannot be rewritten: the text
                # must not go upstream as it is, so the request is refused instead.
                kind = mine[0]
                blocked = Decision("block", "block" if self.config.mode == "enforce"
                                   else "allow", f"{kind.guard}.{kind.kind}.uneditable",
                                   acted=decision.acted)
                return Inspection(blocked, tuple(pairs), tuple(sorted(errors)))
            if mine:
                edits[slot.path] = _redact(slot.text, mine, actions, redactions)
        return Inspection(decision, tuple(pairs), tuple(sorted(errors)),
                          extract.replace(body, edits), redactions)

    # -- `gateway inspect` --------------------------------------------------------------------

    def inspect_text(self, text: str, *, model: str = "", response: bool = False,
                     key: str | None = None, team: str | None = None,
                     slot: extract.Source = "user") -> dict[str, Any]:
        """`slot`: the kind of slot the text is judged as sitting in (a user turn by default)."""
        if response:
            return self._inspect_answer_text(text)
        where = extract.TextSlot(path=("text",), text=text, source=slot)
        inspection = self.inspect_slots([where], {"text": text}, model, key, team)
        sent = inspection.body["text"] if inspection.body is not None else text
        return {**_report(inspection), "text": sent}

    def _inspect_answer_text(self, text: str) -> dict[str, Any]:
        """A model's answer, judged by the output policy (canary checks need a live request)."""
        from gateway_cli.guards.output_policy import inspect_answer

        answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        decision, sent = inspect_answer(self.config.output, self.config.mode, "openai",
                                        answer, canary=None)
        slot = extract.TextSlot(path=("text",), text=text, source="assistant")
        findings = tuple(SlotFinding(slot, a.finding) for a in decision.acted)
        report = _report(Inspection(decision, findings, ()))
        return {**report, "text": sent["choices"][0]["message"]["content"]}

    def inspect_body(self, body: Mapping[str, Any], *, model: str = "",
                     key: str | None = None, team: str | None = None) -> dict[str, Any]:
        inspection = self.inspect_request(_guess_op(body), body,
                                          model or str(body.get("model", "")), key, team)
        sent = inspection.body if inspection.body is not None else dict(body)
        return {**_report(inspection), "body": sent}


def _injection_source(source: str) -> str:
    """The injection guard's weighting for a kind of slot: tool definitions are written by
    the application, as its system prompt is."""
    if source == "tool_definition":
        return "system"
    return source if source in ("user", "system", "tool_result", "document") else "user"


def _redact(text: str, findings: list[Finding], actions: Mapping[int, str],
            redactions: redact.Redactions) -> str:
    used = {actions.get(id(f)) for f in findings}
    style = next(s for a, s in _STYLE_ORDER if a in used or a == "mask")
    out, _ = redact.redact(text, findings, style=style,  # type: ignore[arg-type]
                           redactions=redactions)
    return out


def _guess_op(body: Mapping[str, Any]) -> Op:
    if "messages" in body:
        return Op.MESSAGES if ("max_tokens" in body and "system" in body) or _anthropic(body) \
            else Op.CHAT
    if "input" in body and isinstance(body.get("input"), str | list) and "model" in body:
        return Op.RESPONSES
    return Op.CHAT


def _anthropic(body: Mapping[str, Any]) -> bool:
    messages = body.get("messages")
    return isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result")
                for b in m["content"]) for m in messages)


def _report(inspection: Inspection) -> dict[str, Any]:
    acted = {id(a.finding): a.action for a in inspection.decision.acted}
    result: dict[str, Any] = {
        "verdict": inspection.decision.applied if inspection.decision.verdict == "allow"
        else inspection.decision.verdict,
        "applied": inspection.decision.applied,
        "reason": inspection.decision.reason,
        "findings": [
            {"guard": p.finding.guard, "kind": p.finding.kind, "start": p.finding.start,
             "end": p.finding.end, "confidence": round(p.finding.confidence, 3),
             "action": acted.get(id(p.finding), "ignore"), "preview": p.finding.preview,
             "where": "/".join(map(str, p.slot.path)), "slot": p.slot.source}
            for p in inspection.findings
        ],
    }
    if inspection.decision.reroute_to:
        result["reroute_to"] = inspection.decision.reroute_to
    if inspection.errors:
        result["guard_errors"] = list(inspection.errors)
    return result
