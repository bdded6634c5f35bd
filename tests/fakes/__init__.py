"""Fake LLM provider servers for tests (standard library only, loopback only)."""

from tests.fakes.upstream import (
    Behaviour,
    Drop,
    DropMidStream,
    FakeUpstream,
    Ok,
    Recorded,
    SlowStream,
    Stall,
    Status,
    drop,
    drop_mid_stream,
    ok,
    slow_stream,
    stall,
    status,
)

__all__ = [
    "Behaviour",
    "Drop",
    "DropMidStream",
    "FakeUpstream",
    "Ok",
    "Recorded",
    "SlowStream",
    "Stall",
    "Status",
    "drop",
    "drop_mid_stream",
    "ok",
    "slow_stream",
    "stall",
    "status",
]
