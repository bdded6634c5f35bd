"""Usage and spend from request records: per-hour buckets that add up across files.

`gateway stats` must stay fast over a month of records, so the numbers are
kept in a form that merges by addition: counts, sums and a latency histogram
with fixed bounds (a percentile cannot be merged, a histogram can). A rotated
file is summarised once into buckets per UTC hour and (key, team, model,
provider, deployment); the active file is summed exactly on every run.

Only names chosen by the gateway and numbers are read from a record: the
dimensions above, status, error code, policy outcome, tokens, cost, latency
and the guard of each finding. Nothing else in `data` is kept, so nothing
else can reach the output.

A line is decoded straight into a typed struct that declares only those
fields (msgspec skips the rest without building them). A line that does not
fit, such as a negative token count or a cost that is a string, is decoded
again leniently: a value that makes no sense is treated as not known and the
record is still counted, and counted as odd.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import msgspec

from gateway_cli.auditlog.records import REQUEST_EVENTS

# Upper bounds (ms, inclusive) of the latency histogram's buckets; one more bucket above.
# Fixed, so histograms from different files and hours add up bucket by bucket.
LATENCY_BOUNDS: Final[tuple[float, ...]] = (
    5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000,
    5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000)
BUCKETS: Final = len(LATENCY_BOUNDS) + 1
DIMENSIONS: Final = ("key", "team", "model", "provider", "deployment")
# Values beyond these are not believed (a corrupt or hostile line), so not summed.
_MAX_TOKENS: Final = 10**12
_MAX_COST: Final = 1e9
_MAX_MS: Final = 1e9
_BLOCK_ERRORS: Final = frozenset({"blocked_by_policy", "output_blocked_by_policy"})
TIME_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")

Tokens = Annotated[int, msgspec.Meta(ge=0, le=_MAX_TOKENS)]
Millis = Annotated[float, msgspec.Meta(ge=0, le=_MAX_MS)]
Dollars = Annotated[float, msgspec.Meta(ge=0, le=_MAX_COST)]
Dims = tuple[str | None, str | None, str | None, str | None, str | None]


class _Finding(msgspec.Struct, gc=False):
    guard: str = "?"
    count: Tokens = 1


class _Data(msgspec.Struct, gc=False):
    principal: str | None = None
    principal_kind: str | None = None
    team: str | None = None
    model: str | None = None
    provider: str | None = None
    deployment: str | None = None
    applied: str | None = None
    output_applied: str | None = None
    status: Annotated[int, msgspec.Meta(ge=0, le=999)] | None = None
    error: str | None = None
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None
    cost: Dollars | None = None
    latency_ms: Millis | None = None
    findings: list[_Finding] | None = None
    dropped: Tokens | None = None


class _Line(msgspec.Struct, gc=False):
    event: str
    time: str
    data: _Data


_DECODE = msgspec.json.Decoder(_Line).decode
_STRINGS = ("principal", "principal_kind", "team", "model", "provider", "deployment",
            "applied", "output_applied", "error")
_NUMBERS: Final[dict[str, tuple[float, bool]]] = {
    "status": (999, True), "input_tokens": (_MAX_TOKENS, True),
    "output_tokens": (_MAX_TOKENS, True), "cost": (_MAX_COST, False),
    "latency_ms": (_MAX_MS, False), "dropped": (_MAX_TOKENS, True)}


class Row(msgspec.Struct, array_like=True):
    """One bucket: the sums for one hour ("" when summed over every hour) and dimension tuple."""

    hour: str
    dim: int  # index into the file's list of dimension tuples
    requests: int = 0
    errors: int = 0
    blocked: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    cost_records: int = 0  # records with a cost; none means the cost is not known
    latency_sum: float = 0.0
    latency_records: int = 0
    latency_max: float = 0.0
    histogram: list[int] = msgspec.field(default_factory=lambda: [0] * BUCKETS)
    findings: dict[str, int] = msgspec.field(default_factory=dict)
    dropped: int = 0  # records the writer dropped (queue full) before these, by their count


@dataclass
class Tally:
    """Sums over some records: what a table row shows, before formatting."""

    requests: int = 0
    errors: int = 0
    blocked: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    cost_records: int = 0
    latency_sum: float = 0.0
    latency_records: int = 0
    latency_max: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    findings: dict[str, int] = field(default_factory=dict)
    dropped: int = 0

    def add(self, row: Row | Tally) -> None:
        self.requests += row.requests
        self.errors += row.errors
        self.blocked += row.blocked
        self.input_tokens += row.input_tokens
        self.output_tokens += row.output_tokens
        self.cost += row.cost
        self.cost_records += row.cost_records
        self.latency_sum += row.latency_sum
        self.latency_records += row.latency_records
        self.latency_max = max(self.latency_max, row.latency_max)
        self.histogram = [a + b for a, b in zip(self.histogram, row.histogram, strict=True)]
        for guard, count in row.findings.items():
            self.findings[guard] = self.findings.get(guard, 0) + count
        self.dropped += row.dropped

    def row(self, hour: str, dim: int) -> Row:
        return Row(hour, dim, self.requests, self.errors, self.blocked, self.input_tokens,
                   self.output_tokens, self.cost, self.cost_records, self.latency_sum,
                   self.latency_records, self.latency_max, list(self.histogram),
                   dict(self.findings), self.dropped)

    def percentile(self, p: float) -> float | None:
        """An estimate from the histogram: linear within the bucket, never above the max."""
        total = sum(self.histogram)
        if total == 0:
            return None
        target = p / 100 * total
        seen = 0
        for i, count in enumerate(self.histogram):
            if count and seen + count >= target:
                low = LATENCY_BOUNDS[i - 1] if i else 0.0
                high = LATENCY_BOUNDS[i] if i < len(LATENCY_BOUNDS) else self.latency_max
                value = low + (max(high, low) - low) * (target - seen) / count
                return min(value, self.latency_max)
            seen += count
        return self.latency_max

    @property
    def latency_mean(self) -> float | None:
        return self.latency_sum / self.latency_records if self.latency_records else None


@dataclass
class Partial:
    """What one pass over some lines found: buckets and the lines it could not use."""

    buckets: dict[tuple[str, Dims], list[Any]] = field(default_factory=dict)
    records: int = 0  # request records counted
    other_events: int = 0  # records of events stats does not count
    unreadable: int = 0  # not JSON, or not a record
    odd: int = 0  # counted, with a value not believed (treated as not known)
    first_time: str | None = None
    last_time: str | None = None

    def merge(self, other: Partial) -> None:
        """Add what another pass found (over other lines), as if this pass had read them."""
        for key, theirs in other.buckets.items():
            mine = self.buckets.get(key)
            if mine is None:
                self.buckets[key] = theirs
                continue
            for i in range(9):
                mine[i] += theirs[i]
            mine[9] = max(mine[9], theirs[9])
            mine[10] = [a + b for a, b in zip(mine[10], theirs[10], strict=True)]
            for guard, count in theirs[11].items():
                mine[11][guard] = mine[11].get(guard, 0) + count
            mine[12] += theirs[12]
        self.records += other.records
        self.other_events += other.other_events
        self.unreadable += other.unreadable
        self.odd += other.odd
        times = [t for t in (self.first_time, other.first_time) if t is not None]
        self.first_time = min(times, default=None)
        times = [t for t in (self.last_time, other.last_time) if t is not None]
        self.last_time = max(times, default=None)

    def rows(self) -> tuple[list[Dims], list[Row]]:
        """The buckets as rows over a table of distinct dimension tuples."""
        index: dict[Dims, int] = {}
        rows: list[Row] = []
        for (hour, dims), acc in self.buckets.items():
            dim = index.setdefault(dims, len(index))
            rows.append(Row(hour, dim, *acc))
        return list(index), rows


def _lenient(line: bytes) -> tuple[_Line, bool] | None:
    """The line as a record with every unbelievable value dropped, and whether any was;
    None when it is not a record at all."""
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    event, time, data = raw.get("event"), raw.get("time"), raw.get("data")
    if not isinstance(event, str) or not isinstance(time, str) or not isinstance(data, dict):
        return None
    if event not in REQUEST_EVENTS:
        return _Line(event, time, _Data()), False
    odd = False
    values: dict[str, Any] = {}
    for name in _STRINGS:
        value = data.get(name)
        if isinstance(value, str):
            values[name] = value
        elif value is not None:
            odd = True
    for name, (limit, integral) in _NUMBERS.items():
        value = data.get(name)
        if value is None:
            continue
        if (isinstance(value, int | float) and not isinstance(value, bool)
                and 0 <= value <= limit and (not integral or value == int(value))):
            values[name] = int(value) if integral else float(value)
        else:
            odd = True
    findings = data.get("findings")
    if isinstance(findings, list):
        kept = []
        for item in findings:
            count = item.get("count", 1) if isinstance(item, dict) else None
            guard = item.get("guard") if isinstance(item, dict) else None
            if (isinstance(guard, str) and isinstance(count, int)
                    and not isinstance(count, bool) and 0 <= count <= _MAX_TOKENS):
                kept.append(_Finding(guard, count))
            else:
                odd = True
        values["findings"] = kept
    elif findings is not None:
        odd = True
    return _Line(event, time, _Data(**values)), odd


def who(data: _Data) -> str | None:
    """The key's name; for a request without one, its kind in brackets (e.g. "(open)")."""
    if data.principal is not None:
        return data.principal
    return f"({data.principal_kind})" if data.principal_kind is not None else None


def scan(lines: Iterable[bytes], *, since: str | None = None, until: str | None = None,
         hourly: bool = True, into: Partial | None = None) -> Partial:
    """Sum the request records among `lines` with since <= time < until (record time
    strings compare in time order), per hour when `hourly`, else over all hours."""
    out = into if into is not None else Partial()
    buckets = out.buckets
    decode = _DECODE
    bounds = LATENCY_BOUNDS
    events = REQUEST_EVENTS
    block_errors = _BLOCK_ERRORS
    is_time = TIME_RE.fullmatch
    first, last = out.first_time, out.last_time
    for line in lines:
        try:
            rec = decode(line)
        except msgspec.DecodeError:
            lenient = _lenient(line)
            if lenient is None:
                out.unreadable += 1
                continue
            rec, odd = lenient
            out.odd += odd
        if rec.event not in events:
            out.other_events += 1
            continue
        t = rec.time
        if not is_time(t):
            out.unreadable += 1
            continue
        if first is None or t < first:
            first = t
        if last is None or t > last:
            last = t
        if (since is not None and t < since) or (until is not None and t >= until):
            continue
        d = rec.data
        principal = d.principal
        if principal is None:
            principal = who(d)
        key = (t[:13] if hourly else "", (principal, d.team, d.model, d.provider, d.deployment))
        acc = buckets.get(key)
        if acc is None:
            acc = buckets[key] = [0, 0, 0, 0, 0, 0.0, 0, 0.0, 0, 0.0, [0] * BUCKETS, {}, 0]
        acc[0] += 1
        status = d.status
        if status is not None and status >= 400:
            acc[1] += 1
        if (d.applied == "block" or d.output_applied == "block"
                or (d.error is not None and d.error in block_errors)):
            acc[2] += 1
        if d.input_tokens is not None:
            acc[3] += d.input_tokens
        if d.output_tokens is not None:
            acc[4] += d.output_tokens
        if d.cost is not None:
            acc[5] += d.cost
            acc[6] += 1
        ms = d.latency_ms
        if ms is not None:
            acc[7] += ms
            acc[8] += 1
            if ms > acc[9]:
                acc[9] = ms
            acc[10][bisect.bisect_left(bounds, ms)] += 1
        if d.findings:
            found = acc[11]
            for f in d.findings:
                found[f.guard] = found.get(f.guard, 0) + f.count
        if d.dropped:
            acc[12] += d.dropped
        out.records += 1
    out.first_time, out.last_time = first, last
    return out
