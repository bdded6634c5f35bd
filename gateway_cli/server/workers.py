"""`gateway serve --workers N`: N processes accepting on one listening socket.

One Granian worker's Python thread holds the GIL for every request it
inspects; more cores need more processes. The parent does everything once,
before any thread exists: the dependency check, the secret store (a passphrase
is asked once), provider secrets, the client-key table and the socket. Then it
forks the workers, which inherit all of it, and only supervises: it passes
SIGTERM, SIGINT and SIGHUP on to them, and forks a worker that ended on its own
again, with its index (so it resumes its own request-log chain), after a delay
that doubles with each recent death. More than RestartBudget.limit deaths
within its window means something is wrong that a restart will not mend: the
other workers are stopped and the gateway exits 1 (a supervisor such as systemd
takes over from there).

A restarted worker is forked from the parent, so it starts from what the parent
read at start: it reads the client keys, signing keys and provider secrets
again before serving (a rotation or revocation since then applies to it too),
and serves gateway.toml as the other workers reloaded it, if they did and the
file still holds it (served_config.py; else it says so). Its requests in
flight when it died are lost with their connections; their in-flight counts
in the limits store expire (limits/windows.py, GAUGE_TTL).

What each worker shares with the others, and how:
- client keys, revocations, `gateway run` leases, signing keys and rotated
  provider secrets: the same files and secret store; each worker has its own
  control socket (run/gateway-<pid>.sock), so `gateway reload`, `clients` and
  `rotate-keys` reach every worker and report each one's answer;
- rate limits, budgets and concurrency: the limits store (SQLite in the state
  directory replaces the per-process memory store; Redis as configured);
- the request log: one chain per worker (worker k's file is
  `<log>.worker<k>.jsonl`), so no two processes write one hash chain;
  `gateway log verify` checks them all;
- per worker, on purpose: circuit breakers and deployment health (each worker
  learns a failing deployment from its own attempts), the connection pools, and
  /metrics (each scrape is answered by one worker; `gateway_worker` says which).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway_cli.errors import StartupError

log = logging.getLogger("gateway")

MAX_WORKERS = 64


def parse_count(value: str | int, cpus: int | None = None) -> int:
    """`--workers`: a number from 1 to MAX_WORKERS, or "auto" (the usable cores)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return max(1, min(MAX_WORKERS, cpus if cpus is not None else usable_cpus()))
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise StartupError(f"--workers must be a number from 1 to {MAX_WORKERS} or "
                           f"'auto', not {str(value)[:20]!r}") from None
    if not 1 <= count <= MAX_WORKERS:
        raise StartupError(f"--workers must be from 1 to {MAX_WORKERS} (got {count})")
    return count


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass
class RestartBudget:
    """How often dead workers are forked again: after `first_delay` seconds, doubling with
    each death in the last `window` seconds up to `max_delay`; none after more than
    `limit` deaths in the window (a worker that keeps dying would only spin)."""

    limit: int = 5
    window: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 10.0
    deaths: deque[float] = field(default_factory=deque)

    def death(self, now: float) -> float | None:
        """Record a death at `now`: the delay before the restart, or None to stop."""
        self.deaths.append(now)
        while self.deaths and self.deaths[0] <= now - self.window:
            self.deaths.popleft()
        recent = len(self.deaths)
        if recent > self.limit:
            return None
        return min(self.max_delay, self.first_delay * 2.0 ** (recent - 1))


def describe_status(status: int) -> str:
    """A wait status as a person reads it: "exit 3" or "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def _passed_on() -> set[signal.Signals]:
    """The signals the parent passes on to its workers (a function: Windows, which has no
    SIGHUP, imports this module for parse_count)."""
    return {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _fork(index: int, serve: Callable[[int, bool], None], restarted: bool) -> int:
    """Fork worker `index`; called with the stop signals blocked (see supervise)."""
    pid = os.fork()
    if pid:
        return pid
    # The child: the parent's handlers (set before a restart) are not the worker's; it
    # starts with Python's defaults, as the first workers did.
    passed_on = _passed_on()
    for signum in passed_on:
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)
    # SIGHUP stays held until the worker's reload handler is set (launch.py).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, passed_on - {signal.SIGHUP})
    code = 0
    try:
        serve(index, restarted)
    except BaseException:  # a worker never returns into the parent's code
        log.exception("worker %d failed", index)
        code = 1
    finally:
        os._exit(code)


def _reap(timeout: float | None) -> tuple[int, int]:
    """(pid, status) of a child that ended, waiting up to `timeout` seconds (None: until
    one does); (0, 0) if none did in time. ChildProcessError when there are none."""
    if timeout is None:
        return os.wait()
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        left = deadline - time.monotonic()
        if pid or left <= 0:
            return pid, status
        time.sleep(min(0.05, left))


def supervise(count: int, serve: Callable[[int, bool], None], *,
              budget: RestartBudget | None = None,
              after_death: Callable[[int], None] | None = None) -> int:
    """Fork `count` workers running serve(index, restarted) (index 1-based), fork again
    those that die, within `budget`; the exit code of the whole. `after_death(pid)`
    cleans up what a dead worker left (its control socket)."""
    if not hasattr(os, "fork"):
        raise StartupError("--workers above 1 needs a system with fork(); run one "
                           "gateway per core behind a load balancer instead")
    if threading.active_count() > 1:  # a thread's locks would be copied held
        log.warning("%d threads run before the workers are forked",
                    threading.active_count() - 1)
    budget = budget if budget is not None else RestartBudget()
    passed_on = _passed_on()
    children: dict[int, int] = {}
    # Until the handlers below pass them on, a stop signal waits: the parent must never
    # end between two forks and leave workers nobody stops. Each later fork blocks them
    # again, so a signal never reaches a child that still has the parent's handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, passed_on)
    for index in range(1, count + 1):
        children[_fork(index, serve, False)] = index
    log.info("%d workers serving (pids %s)", count, ", ".join(map(str, children)))
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in passed_on:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, passed_on)
    code = 0
    due: dict[int, float] = {}  # index -> when (monotonic) it is forked again
    while children or (due and not stopping):
        if due and not stopping:
            now = time.monotonic()
            ready = [index for index, when in due.items() if when <= now]
            if ready:
                signal.pthread_sigmask(signal.SIG_BLOCK, passed_on)
                try:
                    for index in ready:
                        del due[index]
                        pid = _fork(index, serve, True)
                        children[pid] = index
                        log.warning("worker %d restarted (pid %d)", index, pid)
                finally:
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, passed_on)
                continue
            timeout: float | None = min(due.values()) - now
        else:
            timeout = None
        try:
            pid, status = _reap(timeout)
        except ChildProcessError:
            if due and not stopping:
                time.sleep(max(0.0, min(due.values()) - time.monotonic()))
                continue
            break
        if pid == 0 or pid not in children:
            continue
        index = children.pop(pid)
        if after_death is not None:
            try:
                after_death(pid)
            except Exception:  # a cleanup must never end the supervision of the others
                log.exception("cleaning up after worker %d (pid %d) failed", index, pid)
        if stopping:
            if os.waitstatus_to_exitcode(status) != 0:
                code = 1
            continue
        delay = budget.death(time.monotonic())
        if delay is None:
            log.error("worker %d (pid %d) ended on its own (%s), the %s death in %g s; "
                      "stopping the gateway", index, pid, describe_status(status),
                      _ordinal(len(budget.deaths)), budget.window)
            code, stopping = 1, True
            forward(signal.SIGTERM, None)
            continue
        log.warning("worker %d (pid %d) ended on its own (%s); restarting it in %.1f s",
                    index, pid, describe_status(status), delay)
        due[index] = time.monotonic() + delay
    return code


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
