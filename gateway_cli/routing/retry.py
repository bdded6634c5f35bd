"""When to try again and how long to wait first.

Pure: the caller passes the attempt number, the upstream's Retry-After and a
random source for jitter. Retried: connection failures, timeouts, 408, 409,
429 and 5xx. Not retried: other 4xx, which would fail again identically.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 409, 429})


def retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now_epoch
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return seconds


def backoff(attempt: int, *, initial: float, maximum: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff before attempt number `attempt` (1 = first retry)."""
    ceiling = min(maximum, initial * (2 ** (attempt - 1)))
    return rng.uniform(0, ceiling)
