"""Time bounds on the command line (`--since 24h`, `--until 2025-06-01`), as record times.

One rule for `gateway log export` and `gateway stats`: a duration before now
(`90m`, `24h`, `7d`, `2w`) or an ISO date or time, UTC unless it says otherwise,
returned as the request log writes times, so records compare as strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import click

_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def record_time(text: str, now: float, option: str | None = None) -> str:
    match = _DURATION.match(text.strip())
    if match:
        stamp = now - int(match.group(1)) * _UNIT[match.group(2)]
        try:
            moment = datetime.fromtimestamp(stamp, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise click.BadParameter(f"{text} before now is out of range",
                                     param_hint=option) from None
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise click.BadParameter("expected a duration before now such as 24h, 7d, 90m, "
                                     "2w, or an ISO date or time such as 2025-06-01 or "
                                     "2025-06-01T12:00Z", param_hint=option) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise click.BadParameter(f"{text} is out of range", param_hint=option) from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
