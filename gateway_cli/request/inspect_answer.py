"""Inspect a whole answer and the upstream's error bodies before the client sees them.

The answer is judged as the upstream wrote it (placeholders still in, so a
redacted value is not mistaken for a leak), then placeholders are restored.
It is re-encoded only when masking or restoring changed it, so an unchanged
answer reaches the client byte for byte as the upstream sent it.
"""

from __future__ import annotations

import logging

import msgspec

from gateway_cli.formats.errors import HttpError
from gateway_cli.formats.strict_json import decode_unique
from gateway_cli.guards.output_policy import inspect_answer, mask_error_body
from gateway_cli.guards.restore_stream import restore_json
from gateway_cli.providers.adapt import client_error
from gateway_cli.providers.operations import CLIENT_FAMILY, Family
from gateway_cli.request.call import Call
from gateway_cli.request.give_up import Passthrough

log = logging.getLogger("gateway.relay")
_encode = msgspec.json.Encoder().encode

MAX_ERROR_BODY = 256 * 1024


def judge_and_restore(answer: bytes, family: Family, call: Call,
                      headers: list[tuple[bytes, bytes]]) -> bytes:
    """The answer the client gets; HttpError 502 when the policy withholds it.

    Raises ValueError for an answer that is not strict JSON (a duplicated key:
    the client would read one copy and the guards another).
    """
    original = decode_unique(answer)
    value = original
    if call.output is not None:
        decision, value = inspect_answer(call.output, call.mode, family, value, call.canary,
                                         call.known)
        if call.trace is not None:
            call.trace.answer_verdict(decision)
        if decision.verdict != "allow":
            prefix = "" if decision.applied == decision.verdict else "observe: "
            headers.append((b"x-gateway-output-policy",
                            f"{prefix}{decision.verdict} ({decision.reason})".encode()))
        if decision.applied == "block":
            log.info("answer to request %s withheld by policy: %s", call.ids.request_id,
                     decision.reason)
            raise HttpError(502, f"the gateway's policy withheld the model's answer "
                            f"({decision.reason}); request id {call.ids.request_id}",
                            "output_blocked_by_policy")
    if call.redactions and any(p.encode() in answer for p in call.redactions):
        value = restore_json(value, call.redactions)
    return answer if value is original else _encode(value)


def screen_error(error: HttpError, call: Call) -> HttpError:
    """An upstream error body, as relayed, with secrets and personal data masked.

    Masked rather than withheld whatever the output action: the client still
    needs the provider's reason for the error.
    """
    if not isinstance(error, Passthrough):
        return error
    if len(error.body) > MAX_ERROR_BODY:
        # A provider's reason fits in a few hundred bytes; screening megabytes here would
        # hold the event loop, so a hostile upstream's giant error is replaced, not relayed.
        error.body = client_error(CLIENT_FAMILY[call.op], error.status,
                                  f"the upstream's error body was over {MAX_ERROR_BODY} "
                                  "bytes; not relayed")
    elif call.output is not None:
        error.body = mask_error_body(call.output, error.body)
    return error
