"""The supply-chain check `gateway serve` runs before it loads any secret.

Modes (`gateway serve --verify MODE`):
- strict: any violation refuses start-up, including a dependency whose
  provenance is unknown;
- integrity: installed distributions, files and start-up hooks must match the
  lock exactly (refuse otherwise); provenance is reported, not required, for
  indexes that serve none;
- warn (default for a source checkout): log a one-line summary and serve;
- off: skip, and say so.

It runs in this process, so a start-up hook that is already installed has
run by the time it is found: what the check guarantees is that the gateway
then refuses to load provider secrets and serve. Run `gateway verify
--python PATH` from a trusted interpreter to check an environment without
running anything in it.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Literal

from gateway_cli.errors import StartupError

Mode = Literal["strict", "integrity", "warn", "off"]
MODES: tuple[Mode, ...] = ("strict", "integrity", "warn", "off")

log = logging.getLogger("gateway.verify")


def summary(counts: Counter[str]) -> str:
    return ", ".join(f"{check} {n}" for check, n in counts.most_common(4)) + \
        (" ..." if len(counts) > 4 else "")


def run(mode: Mode) -> None:
    if mode == "off":
        log.warning("start-up verification is off (--verify off): dependencies are not checked")
        return
    from gateway_cli.supply import selfcheck

    if selfcheck.is_frozen():
        _run_frozen(mode)
        return
    from gateway_cli.supply.verify import VerifyUsageError, verify_running

    try:
        report = verify_running(strict=mode == "strict")
    except VerifyUsageError as err:
        if mode == "warn":
            log.warning("start-up verification could not run: %s", err)
            return
        raise StartupError(f"start-up verification could not run: {err}") from None
    errors = Counter(v.check for v in report.violations if v.severity == "error")
    warnings = Counter(v.check for v in report.violations if v.severity == "warning")
    blocking = errors + (warnings if mode == "strict" else Counter())
    if blocking and mode in ("strict", "integrity"):
        first = next(v for v in report.violations if v.check in blocking)
        raise StartupError(
            f"refusing to start: {sum(blocking.values())} supply-chain violation(s) "
            f"({summary(blocking)}); first: {first.message}; run `gateway verify` for the "
            "full report")
    if errors or warnings:
        parts = [f"{sum(c.values())} {label} ({summary(c)})"
                 for label, c in (("error(s)", errors), ("warning(s)", warnings)) if c]
        log.warning("start-up verification: %s; run `gateway verify` for details",
                    ", ".join(parts))
    else:
        log.info("start-up verification passed: %d distributions in %.2f s",
                 report.distributions, report.seconds)


def _run_frozen(mode: Mode) -> None:
    """In the release binary there is no environment to compare with the lock: the binary
    checked itself against its embedded manifest, lock and provenance before the command
    ran (and refused to run on any error); here the mode decides about warnings."""
    from gateway_cli.supply import selfcheck

    report = selfcheck.last_report() or selfcheck.check()
    if report.errors:  # only when the check found something since the start; never silent
        raise StartupError(selfcheck.refusal(report).removeprefix("gateway: "))
    warnings = Counter(p.check for p in report.problems if p.severity == "warning")
    if warnings and mode == "strict":
        first = next(p for p in report.problems if p.severity == "warning")
        raise StartupError(
            f"refusing to start: {sum(warnings.values())} supply-chain warning(s) in strict "
            f"mode ({summary(warnings)}); first: {first.message}; run `gateway verify --self` "
            "for the full report")
    if warnings:
        log.warning("binary self-check: %d file(s) match the build; %d warning(s) (%s); run "
                    "`gateway verify --self` for details", report.files_checked,
                    sum(warnings.values()), summary(warnings))
    else:
        log.info("binary self-check passed: %d files in %.2f s", report.files_checked,
                 report.seconds)
