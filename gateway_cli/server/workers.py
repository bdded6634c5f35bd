"""`gateway serve --workers N`: N processes accepting on one listening socket.

One Granian worker's Python thread holds the GIL for every request it
inspects; more cores need more processes. The parent does everything once,
before any thread exists: the dependency check, the secret store (a passphrase
is asked once), provider secrets, the client-key table and the socket. Then it
forks the workers, which inherit all of it, and only supervises: it passes
SIGTERM, SIGINT and SIGHUP on to them, and when one worker ends on its own the
others are stopped and the gateway exits with an error (a supervisor such as
systemd restarts it whole; no half-sized gateway keeps serving).

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
from collections.abc import Callable

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


def supervise(count: int, serve: Callable[[int], None]) -> int:
    """Fork `count` workers running serve(index) (1-based); the exit code of the whole."""
    if not hasattr(os, "fork"):
        raise StartupError("--workers above 1 needs a system with fork(); run one "
                           "gateway per core behind a load balancer instead")
    if threading.active_count() > 1:  # a thread's locks would be copied held
        log.warning("%d threads run before the workers are forked",
                    threading.active_count() - 1)
    children: dict[int, int] = {}
    # Until the handlers below pass them on, a stop signal waits: the parent must never
    # end between two forks and leave workers nobody stops.
    passed_on = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, passed_on)
    for index in range(1, count + 1):
        pid = os.fork()
        if pid == 0:
            # SIGHUP stays held until the worker's reload handler is set (launch.py).
            signal.pthread_sigmask(signal.SIG_UNBLOCK, passed_on - {signal.SIGHUP})
            code = 0
            try:
                serve(index)
            except BaseException:  # a worker never returns into the parent's code
                log.exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = index
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
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid not in children:
            continue
        index = children.pop(pid)
        exit_code = os.waitstatus_to_exitcode(status)
        if not stopping:
            log.error("worker %d (pid %d) ended on its own (exit %d); stopping the other "
                      "workers", index, pid, exit_code)
            code, stopping = 1, True
            forward(signal.SIGTERM, None)
        elif exit_code != 0:
            code = 1
    return code
