"""Relay a streamed answer: translate, restore placeholders, judge, send as it flows.

Once the first event has gone to the client there are no more retries: a
broken, stalled or erroring upstream ends the stream with an error event in
the client's format, and the text the output policy still holds back is
dropped rather than flushed (it may be the start of a secret whose end never
came).
"""

from __future__ import annotations

import logging

from litestar.types import Send

from gateway_cli.formats.sse import SSEError
from gateway_cli.guards.mask_stream import MaskingStream
from gateway_cli.keys.refs import Secret
from gateway_cli.limits.usage_tap import UsageTap
from gateway_cli.net.errors import ProtocolError
from gateway_cli.providers.adapt import Adapter, StreamConverter, stream_error
from gateway_cli.providers.operations import Op
from gateway_cli.providers.renumber import Renumbering
from gateway_cli.request.trace import StreamEnd, Trace
from gateway_cli.server import asgi_io
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError
from gateway_cli.upstream.attempt import Stream, without_credentials

log = logging.getLogger("gateway.relay")


class _Withheld(Exception):
    pass


async def relay_stream(send: Send, stream: Stream, converter: StreamConverter | None,
                        adapter: Adapter, headers: list[tuple[bytes, bytes]],
                        restorer: StreamConverter | None = None,
                        policy: MaskingStream | None = None, request_id: str = "-",
                        credentials: tuple[Secret | None, ...] = (),
                        tap: UsageTap | None = None, trace: Trace | None = None) -> None:
    """Relay one stream: translate, restore placeholders, apply the output policy (`policy`).

    The policy judges the text the client gets, after restoration (skipping the
    values the request carried), so it runs last. Under block or mask it holds
    back the end of the text until judged; watching only (flag, observe) it
    passes every piece on as it came.
    """
    await asgi_io.start_sse(send, headers)
    ended: StreamEnd = "upstream"
    report = policy
    # Restoring and judging change the event count; Responses events are numbered after them.
    numbering = Renumbering() if adapter.op is Op.RESPONSES and (
        restorer is not None or policy is not None) else None

    async def send_all(pieces: list[bytes]) -> None:
        if numbering is not None:
            pieces = [out for piece in pieces for out in numbering.feed(piece)]
        for piece in pieces:
            await asgi_io.send_chunk(send, piece)

    async def forward(pieces: list[bytes]) -> None:
        if restorer is not None:
            pieces = [out for piece in pieces for out in restorer.feed(piece)]
        if policy is not None:
            pieces = [out for piece in pieces for out in policy.feed(piece)]
        await send_all(pieces)
        if policy is not None and policy.blocked is not None:
            raise _Withheld  # what it returned came before the finding; nothing more

    try:
        async for chunk in stream.chunks:
            if tap is not None:
                chunk = tap.feed(chunk)  # reads the usage; may drop a chunk the gateway added
                if not chunk:
                    continue
            await forward([chunk] if converter is None else converter.feed(chunk))
        rest = tap.finish() if tap is not None else b""
        if rest:
            await forward([rest] if converter is None else converter.feed(rest))
        await forward(converter.finish() if converter is not None else [])
        if policy is not None:
            await send_all(policy.finish())
            if policy.blocked is not None:
                raise _Withheld
        ended = "complete"
    except _Withheld:
        ended = "policy"
        blocked = policy.blocked if policy is not None else None
        reason = blocked.reason if blocked is not None else "policy"
        log.info("streamed answer to request %s cut by policy: %s", request_id, reason)
        policy = None  # reported: nothing more to say
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, f"the gateway's policy withheld the rest of the answer ({reason}); "
            f"request id {request_id}", "output_blocked_by_policy"))
    # On the errors below, text the policy still holds is dropped, not flushed: it may
    # be the start of a secret whose end never came, which nothing would recognise.
    except TimeoutError:
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, "the upstream stream stalled; the answer is incomplete"))
    except UpstreamStreamError as err:
        message = without_credentials(err.message.encode(), *credentials).decode()
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, f"the upstream reported an error mid-stream: {message}"))
    except (ProtocolError, OSError, SSEError, TranslationError, ValueError) as err:
        log.debug("upstream stream broke: %s", type(err).__name__)
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, "the upstream stream broke off; the answer is incomplete"))
    finally:
        if stream.close is not None:
            stream.close()
        if trace is not None:
            trace.stream = ended  # a client that left shows as an error here: see proxy.py
            decision = report.report if report is not None else None
            if decision is not None:
                trace.answer_verdict(decision)
    _report_stream(request_id, policy)
    await asgi_io.end_stream(send)


def _report_stream(request_id: str, policy: MaskingStream | None) -> None:
    """Log the output policy's verdict on a stream: its headers left before the verdict."""
    decision = policy.report if policy is not None else None
    if policy is None or decision is None:
        return
    prefix = "" if decision.applied == decision.verdict else "observe: "
    masked = f", {policy.masked} masked" if policy.masking else ""
    log.info("streamed answer to request %s: output policy %s%s (%s)%s", request_id, prefix,
             decision.verdict, decision.reason, masked)
