"""The certificate the listener serves, and its replacement on `gateway reload`.

Granian reads the certificate and key files when it builds a worker, and only
then. A renewal (certbot's live/ links moved to new files, a Kubernetes secret's
..data link swapped, or a file rewritten in place) therefore needs a new worker,
and a file that changed between the gateway's checks and Granian's read would be
a worker that dies. So, at start and at each reload:

1. the configured paths are followed again and both files are checked as at start
   (the key private to this user, PEM, unencrypted; see tls.py);
2. exactly the bytes checked are copied into a fresh private directory (0700,
   files 0600, in the state directory's run/) and the copied pair is loaded once
   with OpenSSL: what was checked is what Granian loads;
3. Granian builds a new worker from the copies on the same listening socket
   (listener.py), then stops the old one, which stops accepting and finishes the
   requests and streams it holds; the copies are removed as soon as the new
   worker has read them.

A bad pair refuses the whole reload with one line and changes nothing: the old
worker keeps serving the old certificate. An unchanged pair (same bytes, same
files) replaces no worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_cli.config import Config
from gateway_cli.errors import GatewayError
from gateway_cli.server import tls

log = logging.getLogger("gateway")

# How long the old worker may take to stop accepting once the new one serves (it then
# finishes what it holds, for as long as that takes, without holding up the reload).
SWAP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Snapshot:
    """A checked certificate and key, copied where only this gateway reads them."""

    directory: Path
    cert: Path
    key: Path
    source: tuple[Path, Path]  # the configured paths, for messages
    fingerprint: str  # of both files' bytes: a reload with the same bytes changes nothing


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def take(cert: Path, key: Path, run_dir: Path) -> Snapshot:
    """Check the pair the configured paths name now and copy it; StartupError if bad.

    Blocking (files, OpenSSL): run it off the event loop once serving.
    """
    cert_data, key_data = tls.read_checked(cert, key)
    directory = Path(tempfile.mkdtemp(prefix="tls-", dir=run_dir))  # 0700, a new name
    try:
        copy_cert, copy_key = directory / "cert.pem", directory / "key.pem"
        _write_private(copy_key, key_data)
        _write_private(copy_cert, cert_data)
        tls.check_pair(copy_cert, copy_key, shown=(cert, key))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    fingerprint = hashlib.sha256(hashlib.sha256(cert_data).digest()
                                 + hashlib.sha256(key_data).digest()).hexdigest()
    return Snapshot(directory, copy_cert, copy_key, (cert, key), fingerprint)


def discard(snapshot: Snapshot | None) -> None:
    if snapshot is not None:
        shutil.rmtree(snapshot.directory, ignore_errors=True)


def source_of(config: Config, fixed: tuple[Path, Path] | None) -> tuple[Path, Path] | None:
    """The files to serve under `config`: the command line's when given there."""
    if fixed is not None:
        return fixed
    server = config.server
    if server.tls_cert and server.tls_key:
        return Path(server.tls_cert).absolute(), Path(server.tls_key).absolute()
    return None


class ServedCertificate:
    """The pair the listener serves now, and the swap to a renewed one."""

    def __init__(self, snapshot: Snapshot, run_dir: Path,
                 fixed: tuple[Path, Path] | None) -> None:
        self.snapshot: Snapshot | None = snapshot  # until the worker has read the copies
        self.fingerprint = snapshot.fingerprint
        self.source = snapshot.source
        self.run_dir = run_dir
        self.fixed = fixed  # --tls-cert/--tls-key: the config's paths do not apply
        self.server: Any = None  # Granian's embedded server, once made
        self._lock = asyncio.Lock()

    def prepare(self, config: Config) -> Snapshot | None:
        """The pair to serve under `config`, checked and copied; None if it is the one
        served. Raises GatewayError (nothing changed) for a pair that cannot be served."""
        source = source_of(config, self.fixed)
        if source is None:  # turning HTTPS off needs a restart; reconfigure says so
            return None
        snapshot = take(*source, self.run_dir)
        if snapshot.fingerprint == self.fingerprint and source == self.source:
            discard(snapshot)
            return None
        expiring = tls.expiry_warning(snapshot.cert, time.time())
        if expiring:
            log.warning("%s", expiring.replace(str(snapshot.cert), str(source[0])))
        return snapshot

    async def started(self) -> None:
        """Once Granian's first worker has read the copies, remove them."""
        server = self.server
        while not server.wrks:
            await asyncio.sleep(0.01)
        # The worker task was scheduled before this sleep: its first step (which builds
        # the Rust worker, reading the files) has run once this returns.
        await asyncio.sleep(0.05)
        discard(self.snapshot)
        self.snapshot = None

    async def replace(self, snapshot: Snapshot) -> None:
        """Serve `snapshot` from a new worker; the old one finishes what it holds."""
        from granian.constants import SSLProtocols

        server = self.server
        async with self._lock:
            try:
                while not server.wrks:  # a reload asked for while Granian was starting
                    await asyncio.sleep(0.01)
                old = list(server.wrks)
                server.build_ssl_context(snapshot.cert, snapshot.key, None,
                                         SSLProtocols.tls13, None, [], False)
                server.reload()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + SWAP_TIMEOUT
                # Granian starts the new worker, waits respawn_interval, then signals the
                # old one, which stops accepting at once: from then on every new
                # connection gets the new certificate.
                while not all(worker.interrupt_by_parent for worker in old):
                    if loop.time() > deadline:
                        raise GatewayError("the new TLS certificate was loaded but the old "
                                           "worker has not stopped accepting yet")
                    await asyncio.sleep(0.01)
            finally:
                discard(snapshot)
            self.fingerprint, self.source = snapshot.fingerprint, snapshot.source
            log.info("TLS certificate reloaded from %s", snapshot.source[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            discard(self.snapshot)
