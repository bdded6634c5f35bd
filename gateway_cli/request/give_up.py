"""What the client hears when the failover planner stops.

`cooling`: 503 with Retry-After, when every deployment left is resting
after repeated failures (the client should wait, not give up); `capacity`:
429 with Retry-After, when every deployment is at its configured rate. Otherwise the
last failure: 504 for a timeout, 502 for an unreachable or redirecting
upstream or a rejected gateway credential (the client cannot fix those), the
upstream's own error body for an HTTP error (translated to the client's
format; 5xx become 502, 429 keeps its Retry-After), and 400 when no
deployment serves the operation at all.
"""

from __future__ import annotations

from gateway_cli.formats.errors import HttpError
from gateway_cli.providers.adapt import Adapter
from gateway_cli.routing.failover import GiveUp
from gateway_cli.routing.table import ModelRoute
from gateway_cli.upstream.attempt import Failure


class Passthrough(HttpError):
    """An upstream error already rendered in the client's format."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(status, "upstream error", headers=headers)
        self.body = body


def _seconds(value: float) -> bytes:
    return str(max(1, round(value))).encode()


def failure_error(adapter: Adapter, failure: Failure) -> HttpError:
    """The client's error for one failed attempt."""
    if failure.kind == "timeout":
        return HttpError(504, f"upstream timed out: {failure.message}", "upstream_timeout")
    if failure.kind in ("connect", "credentials"):
        return HttpError(502, failure.message, "upstream_unavailable")
    if failure.kind == "redirect":
        return HttpError(502, failure.message, "upstream_redirect")
    status = failure.status or 502
    headers = []
    if status == 429 and failure.retry_after is not None:
        headers.append((b"retry-after", _seconds(failure.retry_after)))
    return Passthrough(502 if status >= 500 else status, adapter.error(
        502 if status >= 500 else status, failure.body), headers)


def give_up_error(stop: GiveUp, route: ModelRoute, op_name: str,
                  last: tuple[Adapter, Failure] | None, unsupported: str | None) -> HttpError:
    """The client's error when the planner stops with `stop`."""
    if stop.reason == "cooling":
        after = f" (the last attempt: {last[1].message})" if last is not None else ""
        return HttpError(503, f"every deployment of model {route.name!r} is cooling down "
                         f"after repeated failures{after}; retry shortly",
                         "no_healthy_deployment",
                         headers=[(b"retry-after", _seconds(stop.reopens_in))])
    if stop.reason == "capacity":
        return HttpError(429, f"every deployment of model {route.name!r} is at its configured "
                         "rate limit; retry shortly", "deployment_capacity",
                         headers=[(b"retry-after", _seconds(stop.reopens_in))])
    if last is not None:
        return failure_error(*last)
    return HttpError(400, unsupported or f"model {route.name!r} does not serve {op_name}",
                     "unsupported_operation")
