"""Start Granian's embedded server on the Litestar app, in this process (or in each
worker process with `--workers N`, see workers.py).

The embedded server starts fastest and its Rust I/O threads already use more
than one core. The listening socket is bound here first (listener.py), so a
port in use or an unavailable address becomes one clear error instead of a
Rust panic or a traceback from a worker, and every worker accepts on it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gateway_cli import __version__
from gateway_cli.config import Config
from gateway_cli.errors import GatewayError, StartupError
from gateway_cli.observe import access_log
from gateway_cli.observe.log_format import formatter
from gateway_cli.server import event_loop, startup_check
from gateway_cli.server.startup_check import Mode

if TYPE_CHECKING:
    from gateway_cli.auditlog.writer import AuditWriter
    from gateway_cli.keys.clients import ClientTable
    from gateway_cli.keys.store import SecretStore
    from gateway_cli.server.runtime import Runtime

log = logging.getLogger("gateway")


def _raise_file_limit(connections: int) -> None:
    """Let the process hold `connections` sockets plus upstream ones, as far as allowed.

    A soft limit of 1024 descriptors (a common default) would cap connections
    below `server.max_connections` with accept errors instead of a clear refusal.
    """
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections * 2 + 256
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            log.warning("cannot raise the open-file limit to %d (it is %d); fewer "
                        "connections than server.max_connections may be served", wanted, soft)


def _configure_logging(level: str, kind: Literal["text", "json"] = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(kind))
    access_log.write_to(handler, kind)
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def _mark_worker(kind: Literal["text", "json"], worker: int) -> None:
    """From here on this process's log lines (access lines too) name its worker."""
    for handler in logging.getLogger("gateway").handlers:
        handler.setFormatter(formatter(kind, worker))
        if isinstance(handler, logging.StreamHandler):
            access_log.write_to(handler, kind, worker)


def _start_audit(config: Config, home: Path, store: SecretStore | None,
                 worker: int = 1) -> AuditWriter | None:
    """The request log's writer, holding the log's lock: a second gateway on the same log
    stops here, as does a signed log when the secret store holds no audit key. Each
    worker process writes a chain of its own (auditlog/files.py)."""
    from gateway_cli.auditlog.files import request_log_path, worker_log_path
    from gateway_cli.auditlog.writer import AuditWriter
    from gateway_cli.keys.events import audit_key

    audit = config.audit
    if not audit.enabled:
        log.warning("the request log is off (audit.enabled = false): requests leave no record")
        return None
    key = audit_key(store)
    path = worker_log_path(request_log_path(audit.path, home), worker)
    writer = AuditWriter(path, key, queue=audit.queue, on_full=audit.on_full,
                         rotate_bytes=audit.rotate_bytes, rotate_daily=audit.rotate_daily)
    writer.start()
    if key is None:
        log.warning("no audit signing key in the secret store: the request log at %s is "
                    "hash-chained but not signed (run `gateway rotate-keys --signing`)", path)
    else:
        log.info("request log: %s (signed, key %s)", path, key.kid)
    return writer


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback
                               for info in infos)


def _open_store(config: Config, home: Path, secrets_spec: str | None,
                passphrase: str | None) -> SecretStore | None:
    """The secret store, when a provider needs it or the user chose one; else the keyring
    if it happens to be usable (for `gateway run` tokens), else none."""
    from gateway_cli.keys.store import StoreError, open_store

    spec = secrets_spec or config.secrets.store
    phrase = passphrase or config.secrets.passphrase
    needed = any((p.secret or "").startswith("store:") for p in config.providers)
    if needed or spec != "auto":
        return open_store(spec, home=home, passphrase=phrase)
    try:
        return open_store("keyring", home=home)
    except StoreError:
        log.warning("no secret store: `gateway run` tokens are not accepted, and the "
                    "request log is not signed (set [secrets] store in gateway.toml)")
        return None


def _refuse_open(table: ClientTable, host: str) -> None:
    if not table.enforcing and not is_loopback(host):
        raise StartupError(
            f"refusing to listen on {host} with no client keys: anyone who can reach it "
            "could spend your provider accounts; create one with `gateway clients create "
            "NAME`, or listen on 127.0.0.1")


@dataclass
class _Prepared:
    """What the parent prepared once for every worker (inherited across fork)."""

    config: Config
    runtime: Runtime
    store: SecretStore | None
    state: Path
    host: str
    port: int
    listeners: list[socket.socket]  # one per worker (the same socket when they share it)
    tls: tuple[Path, Path] | None
    tls_fixed: tuple[Path, Path] | None
    log_format: Literal["text", "json"] = "text"
    loop: event_loop.Loop = "asyncio"


def run(config: Config, *, host: str, port: int, verify: Mode = "integrity",
        home: Path | None = None, secrets_spec: str | None = None,
        passphrase: str | None = None,
        log_format: Literal["text", "json"] = "text", config_path: Path | None = None,
        tls: tuple[Path, Path] | None = None, tls_fixed: bool = False,
        workers: int = 1) -> None:
    """Serve until stopped; `tls` is (certificate, key), for HTTPS on the listener
    (`tls_fixed`: given on the command line, so a reload does not take the config's)."""
    from gateway_cli.keys.clients import load_table
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.server import keystate, listener, shared_keys
    from gateway_cli.server.limits_setup import effective_store
    from gateway_cli.server.runtime import build_runtime

    _configure_logging(config.server.log_level, log_format)
    if hasattr(signal, "pthread_sigmask"):
        # A reload asked for before serving starts must neither end the process nor be
        # lost: SIGHUP waits until its handler is in place (main(), in each worker).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    limits = config.server
    socks = listener.bind_each(host, port, limits.backlog, workers)
    state = gateway_home(home)
    shared = config.limits.store == "redis"  # the client-key table is shared through Redis
    # Client-key hashes are not secrets: refuse an open non-loopback listener first.
    table = load_table(state)
    if not shared:
        _refuse_open(table, host)
    startup_check.run(verify)  # before any secret is read
    loop = event_loop.chosen(config.server.event_loop)  # after the check: it imports uvloop
    if tls is not None:
        # The key is a secret (read after the check above), and a bad file is one clear
        # line here rather than a failure inside Granian's worker once it is listening.
        from gateway_cli.server.tls import check_tls_files, expiry_warning
        check_tls_files(*tls)
        expiring = expiry_warning(tls[0], time.time())
        if expiring:
            log.warning("%s", expiring)
    store = _open_store(config, state, secrets_spec, passphrase)
    runtime = build_runtime(config, scrub_env=True, home=state, store=store)
    runtime.config_path = config_path
    runtime.workers = workers
    if shared:
        table = shared_keys.load_at_start(runtime, table)
        _refuse_open(table, host)
    auth = keystate.load_auth(state, store, table)
    runtime.auth = auth
    # A worker thread inspecting a huge body holds the GIL for up to this long before the
    # event loop gets it back; the default 5 ms made a small request wait ~70 ms then.
    sys.setswitchinterval(0.0005)
    _raise_file_limit(limits.max_connections)
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if tls else "http"
    log.info("gateway %s listening on %s://%s:%d (OpenAI base URL %s://%s:%d/v1); "
             "models: %s", __version__, scheme, shown, port, scheme, shown, port,
             ", ".join(runtime.models) or "none")

    if auth.open:
        log.warning("no client keys exist: every process on this machine can use this "
                    "gateway without a key (create one with `gateway clients create NAME`)")
    else:
        now = time.time()
        live = sum(1 for c in auth.table.by_id.values() if c.active(now))
        log.info("client keys required (%d live, %d revoked or expired)", live,
                 len(auth.table.by_id) - live)
    if store is not None:
        log.info("secret store: %s", store.describe())
    log.info("event loop: %s", loop)
    from gateway_cli.guards.injection.classifier import shipped as shipped_classifier

    log.info("injection classifier: %s scorer", "compiled" if shipped_classifier().compiled
             else "Python (no C compiler where the gateway was built; same scores, slower)")
    if workers > 1:
        from gateway_cli.server import served_config

        served_config.forget(state)  # an earlier run's reloads are not this run's
    if workers > 1 and effective_store(config.limits.store, workers) != config.limits.store:
        log.info("limits: %d workers count in the shared SQLite store %s (the memory store "
                 "is per process)", workers, state / "limits.sqlite")
    prepared = _Prepared(config, runtime, store, state, host, port, socks, tls,
                         tls if tls_fixed else None, log_format, loop)
    code = 0
    if workers == 1:
        _serve(prepared, 1)
    else:
        from gateway_cli.keys.notify import socket_path
        from gateway_cli.server.workers import supervise

        code = supervise(workers, lambda index, restarted: _serve(prepared, index, restarted),
                         after_death=lambda pid: socket_path(state, pid).unlink(
                             missing_ok=True))
    log.info("gateway stopped")
    # Granian's I/O threads may still be winding down; letting the interpreter finalize
    # under them aborts the process now and then (a Rust panic at exit, seen in about
    # one stop in four). Everything is flushed and closed at this point, so leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _when_serving(server: Any, then: Coroutine[Any, Any, None]) -> None:
    """Run `then` once Granian's first worker serves."""
    while not server.wrks:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    await then


def _serve(prepared: _Prepared, worker: int, restarted: bool = False) -> None:
    """One worker: its request log, control socket and Granian server, until stopped
    (`restarted`: forked again after the worker of this index died)."""
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    from gateway_cli.keys.notify import run_dir, socket_path
    from gateway_cli.server import collector, control, keystate, reconfigure, shared_keys
    from gateway_cli.server.app import create_app
    from gateway_cli.server.listener import SharedSocketServer
    from gateway_cli.server.rsgi_bridge import RsgiBridge
    from gateway_cli.server.tls_reload import ServedCertificate, take

    runtime, config, state = prepared.runtime, prepared.config, prepared.state
    runtime.worker = worker
    listening = prepared.listeners[worker - 1]
    if runtime.workers > 1:
        _mark_worker(prepared.log_format, worker)
        for other in prepared.listeners:
            if other is not listening:
                other.close()  # this process's copies of the siblings' sockets
    runtime.audit = _start_audit(config, state, prepared.store, worker)
    app = create_app(runtime=runtime, listen_host=prepared.host)
    limits = config.server
    certificate = None
    if prepared.tls is not None:
        # Exactly the bytes checked are what Granian loads (see tls_reload.py).
        certificate = ServedCertificate(take(*prepared.tls, run_dir(state)), run_dir(state),
                                        prepared.tls_fixed)
    snapshot = certificate.snapshot if certificate is not None else None
    server = SharedSocketServer(
        # Served over RSGI: the app is ASGI, the bridge hands responses over in one call
        # (see rsgi_bridge.py for why, and what differs).
        target=RsgiBridge(app),
        listener=listening,
        address=prepared.host,
        port=prepared.port,
        # No lifespan (RSGI has none; the app's ASGI lifespan is not run): a worker
        # Granian replaces (a certificate reload) would run it again and close the pool
        # and limits store the new worker uses. They are opened and closed below,
        # around the server, once.
        interface=Interfaces.RSGI,
        log_level=LogLevels.warning,
        log_access=False,
        # Nothing here speaks WebSocket; the front door refuses any upgrade as well.
        websockets=False,
        # HTTP/1.1 only unless asked: in auto mode the protocol sniffing waits on a silent
        # connection with no timeout, so idle sockets would hold their slots for ever.
        http=HTTPModes.auto if limits.http2 else HTTPModes.http1,
        # Granian's defaults (128 for both) let 130 idle sockets lock everyone out.
        backlog=limits.backlog,
        backpressure=limits.max_connections,
        http1_settings=HTTP1Settings(
            max_buffer_size=limits.max_header_bytes,
            # Also how long an idle keep-alive connection is kept waiting for its next
            # request: a connection that sends no complete head is closed after this.
            header_read_timeout=int(limits.header_timeout * 1000)),
        # Checked; Granian's default minimum protocol (TLS 1.3) is kept.
        ssl_cert=snapshot.cert if snapshot else None,
        ssl_key=snapshot.key if snapshot else None,
        ssl_protocol_min=SSLProtocols.tls13,
    )
    # A replaced worker's successor accepts at once; the old one then stops accepting.
    server.respawn_interval = 0.1
    if certificate is not None:
        certificate.server = server
    # We chose the embedded server knowingly (fastest start, one process);
    # its "experimental" notice at every start would only alarm users.
    logging.getLogger("_granian").addFilter(
        lambda record: "experimental" not in record.getMessage()
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        pool = app.pool
        assert pool is not None and app.start is not None and app.stop is not None
        await app.start()
        # SIGHUP reads gateway.toml again (it used to end the process without a word).
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(
            reconfigure.reload_logged(runtime, pool, certificate)))
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # one that waited runs now

        async def on_control(what: tuple[str, ...]) -> list[str]:
            done = await reconfigure.reload_config(runtime, pool, certificate) \
                if "config" in what else []
            keys = tuple(w for w in what if w != "config")
            return done + (await keystate.reload(runtime, keys) if keys else [])

        following = shared_keys.start(runtime) if config.limits.store == "redis" else None
        sock = socket_path(state)
        relay = app.mcp_relay
        channel = await control.start(sock, on_control,
                                      relay.held.decide if relay is not None else None,
                                      relay.status if relay is not None else None,
                                      relay.from_peer if relay is not None else None)
        if runtime.workers > 1:
            # Keys were read before the fork; a revocation sent before this worker's
            # control socket existed would not have reached it: read them again now. A
            # restarted worker may have missed rotations too (signing keys, secrets).
            again = ("clients", "signing", "secrets") if restarted else ("clients",)
            try:
                await keystate.reload(runtime, again)
            except GatewayError as err:
                log.warning("worker %d kept the %s read at start: %s", worker,
                            ", ".join(again), err)
        caught_up = None
        if restarted:
            # gateway.toml as the other workers serve it, if they reloaded it since the
            # start; with TLS once serving (a new certificate is swapped on a live server).
            if certificate is None:
                await reconfigure.catch_up(runtime, pool, None, worker)
            else:
                caught_up = loop.create_task(_when_serving(server, reconfigure.catch_up(
                    runtime, pool, certificate, worker)))
        started = loop.create_task(certificate.started()) if certificate else None
        collector.settle()
        try:
            await server.serve()
        finally:
            for task in (started, caught_up):
                if task is not None:
                    task.cancel()
            if certificate is not None:
                certificate.close()
            if runtime.audit is not None:
                # Every request answered is recorded before the process ends.
                await loop.run_in_executor(None, runtime.audit.close)
            channel.close()
            sock.unlink(missing_ok=True)
            if following is not None:
                await shared_keys.stop(*following)
            await app.stop()

    event_loop.run(main(), prepared.loop)
