"""The supply-chain check `gateway serve` runs before it loads any secret.

Modes (`gateway serve --verify MODE`):
- strict: any violation refuses start-up, including a dependency whose
  provenance is unknown;
- integrity (the default): installed distributions, files and start-up hooks
  must match the lock exactly (refuse otherwise); provenance is reported, not
  required, for indexes that serve none;
- warn: log the violations loudly and serve anyway;
- off: skip, and say so loudly.

The lock is the documented install's (runtime + build). A gateway installed
in place from its own checkout (`pip install -e .`, the venv `scripts/test`
makes) also accepts that checkout's release and test locks, and says so: the
developer's venv holds the test tools by design.

It runs in this process, so a start-up hook that is already installed has
run by the time it is found: what the check guarantees is that the gateway
then refuses to load provider secrets and serve. Run `gateway verify
--python PATH` from a trusted interpreter to check an environment without
running anything in it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import TYPE_CHECKING, Literal

from gateway_cli.errors import StartupError

if TYPE_CHECKING:
    from gateway_cli.supply.verify import Violation

Mode = Literal["strict", "integrity", "warn", "off"]
MODES: tuple[Mode, ...] = ("strict", "integrity", "warn", "off")

log = logging.getLogger("gateway.verify")


def summary(counts: Counter[str]) -> str:
    return ", ".join(f"{check} {n}" for check, n in counts.most_common(4)) + \
        (" ..." if len(counts) > 4 else "")


def _dev_checkout() -> str | None:
    """The checkout this gateway is installed in place from, if it is (an editable install)."""
    import json
    from importlib import metadata

    try:
        data = json.loads(metadata.distribution("gateway").read_text("direct_url.json") or "")
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("dir_info"), dict):
        return None
    url = data.get("url")
    editable = data["dir_info"].get("editable") is True
    return url.removeprefix("file://") if editable and isinstance(url, str) else None


# What a refusal line leads with: code that runs at every start first, then changed files.
_FIRST = ("hooks.", "files.", "provenance.", "lock.", "dist.")


def _severity(violation: Violation) -> int:
    return next((i for i, prefix in enumerate(_FIRST) if violation.check.startswith(prefix)),
                len(_FIRST))


def where(violation: Violation) -> str:
    """What a refusal names first: the file, else the distribution (unless the message
    already begins with it)."""
    name = violation.path or violation.distribution
    if not name or violation.message.startswith(name) or name in violation.message[:200]:
        return ""
    return f"{name}: "


def run(mode: Mode) -> None:
    if mode == "off":
        log.warning("START-UP VERIFICATION IS OFF (--verify off): the installed dependencies "
                    "are not checked against the lock; a poisoned package would go unnoticed")
        return
    from gateway_cli.supply import selfcheck

    if selfcheck.is_frozen():
        _run_frozen(mode)
        return
    from gateway_cli.supply.verify import (
        VerifyUsageError,
        default_lock_paths,
        load_lock,
        verify_running,
    )

    try:
        checkout = _dev_checkout()
        lock = load_lock(default_lock_paths(dev=checkout is not None))
        if checkout is not None:
            # The checkout's test and release locks are allowed, never required: the
            # README's install (runtime and build locks only) must start as well.
            required = load_lock(default_lock_paths(dev=False))
            lock = dataclasses.replace(lock, optional=frozenset(lock.pins) - set(required.pins))
        report = verify_running(strict=mode == "strict", lock=lock)
    except VerifyUsageError as err:
        if mode == "warn":
            log.warning("start-up verification could not run: %s", err)
            return
        raise StartupError(f"start-up verification could not run: {err}") from None
    errors = Counter(v.check for v in report.problems if v.severity == "error")
    warnings = Counter(v.check for v in report.problems if v.severity == "warning")
    blocking = errors + (warnings if mode == "strict" else Counter())
    if blocking and mode in ("strict", "integrity"):
        first = min((v for v in report.problems if v.check in blocking), key=_severity)
        others = sum(blocking.values()) - 1
        more = f" (and {others} more: {summary(blocking)})" if others else ""
        raise StartupError(
            f"refusing to start: {where(first)}{first.message} ({first.check}){more}; run "
            "`gateway verify` for the full report")
    if not errors and set(warnings) <= {"provenance.unknown"}:
        # The usual state with an index that serves no attestations: not worth a warning
        # at every start in integrity mode (strict refuses it above).
        unknown = warnings["provenance.unknown"]
        log.info("start-up verification passed: %d distributions in %.2f s%s%s",
                 report.distributions, report.seconds,
                 f"; provenance unknown for {unknown} (its index serves none)" if unknown
                 else "", _dev_note(checkout))
        return
    parts = [f"{sum(c.values())} {label} ({summary(c)})"
             for label, c in (("error(s)", errors), ("warning(s)", warnings)) if c]
    first = min(report.problems, key=_severity)
    shout = "SERVING DESPITE SUPPLY-CHAIN ERRORS (--verify warn)" if errors \
        else "start-up verification"
    log.warning("%s: %s; first: %s%s; run `gateway verify` for details%s", shout,
                ", ".join(parts), where(first), first.message, _dev_note(checkout))


def _dev_note(checkout: str | None) -> str:
    return "" if checkout is None else \
        f" (developer checkout {checkout}: its release and test locks are accepted too)"


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
