"""Start Granian's embedded server on the Litestar app, in this process.

The embedded (single-process) server starts fastest and its Rust I/O
threads already use more than one core. The listening socket is bound here
first, so a port in use or an unavailable address becomes one clear error
instead of a Rust panic or a traceback from a worker.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import sys

from gateway_cli import __version__
from gateway_cli.config import Config
from gateway_cli.errors import StartupError
from gateway_cli.server import startup_check
from gateway_cli.server.startup_check import Mode

log = logging.getLogger("gateway")


def check_bindable(host: str, port: int) -> None:
    """Fail with a clear message if (host, port) cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise StartupError(f"cannot listen on {host}:{port}: unknown address ({err.strerror})")\
            from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use; stop the other process "
                    f"or choose another port with --port"
                ) from None
            if err.errno == errno.EACCES:
                raise StartupError(f"permission denied listening on {host}:{port}; "
                                   "ports below 1024 need privileges") from None
            raise StartupError(f"cannot listen on {host}:{port}: {err.strerror}") from None


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("gateway")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def run(config: Config, *, host: str, port: int, verify: Mode = "warn") -> None:
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server.embed import Server

    from gateway_cli.server.app import create_app
    from gateway_cli.server.runtime import build_runtime

    _configure_logging(config.server.log_level)
    check_bindable(host, port)
    startup_check.run(verify)  # before any secret is read
    runtime = build_runtime(config, scrub_env=True)
    app = create_app(runtime=runtime)
    server = Server(
        target=app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        log_level=LogLevels.warning,
        log_access=False,
        http1_settings=HTTP1Settings(max_buffer_size=config.server.max_header_bytes),
    )
    # We chose the embedded server knowingly (fastest start, one process);
    # its "experimental" notice at every start would only alarm users.
    logging.getLogger("_granian").addFilter(
        lambda record: "experimental" not in record.getMessage()
    )
    shown = f"[{host}]" if ":" in host else host
    log.info("gateway %s listening on http://%s:%d (OpenAI base URL http://%s:%d/v1); "
             "models: %s", __version__, shown, port, shown, port,
             ", ".join(runtime.models) or "none")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    asyncio.run(main())
    log.info("gateway stopped")
