"""`gateway serve`: run the gateway in the foreground."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, cast

import click

from gateway_cli.cli.shared import passphrase_spec, store_options
from gateway_cli.errors import ConfigError, GatewayError


@click.command()
@click.option("--host", default=None, metavar="ADDRESS",
              help="Address to listen on. Default: server.host from the config, else "
                   "127.0.0.1 (this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="TCP port to listen on. Default: server.port from the config, else 4000.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=True),
              default=None, metavar="PATH",
              help="gateway.toml to load. Without it the gateway runs on safe defaults "
                   "with the built-in mock model.")
@click.option("--verify", "verify_mode", type=click.Choice(["strict", "integrity", "warn", "off"]),
              default="integrity", show_default=True,
              help="Check the installed dependencies against the lock before loading any "
                   "secret. strict: refuse on any violation, unknown provenance included; "
                   "integrity: refuse when installed files, versions or start-up hooks differ "
                   "from the lock; warn: log loudly and serve; off: skip (and say so).")
@click.option("--allow-launcher-env", is_flag=True,
              help="One-file binary only: serve env: secrets although its launcher process "
                   "keeps them in its environment block for as long as the gateway runs.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log lines as text or JSON lines (default: server.log_format).")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="PATH", help="PEM certificate (chain) to serve HTTPS with; needs "
                                   "--tls-key or server.tls_key. Default: server.tls_cert.")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="PATH", help="Its PEM private key, unencrypted, owned by this user, "
                                   "mode 0600 or 0400. Default: server.tls_key.")
@click.option("--workers", default="1", show_default=True, metavar="N|auto",
              help="Worker processes accepting on the one listening socket (auto: one "
                   "per usable core). Keys, revocations and limits are shared between "
                   "them; each writes its own request-log chain.")
@store_options
def serve(host: str | None, port: int | None, config_path: Path | None,
          verify_mode: str, allow_launcher_env: bool, log_format: str | None,
          tls_cert: Path | None, tls_key: Path | None, workers: str,
          home: Path | None, secrets_spec: str | None,
          passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Run the gateway in the foreground until Ctrl-C or SIGTERM.

    With no config file it listens on 127.0.0.1:4000 and serves the built-in
    model `mock/echo`, which echoes the last user message: enough to try any
    OpenAI client against http://127.0.0.1:4000/v1 before adding providers.
    """
    from gateway_cli.config import load_config, secret_references
    from gateway_cli.keys.refs import hand_over
    from gateway_cli.server import env_handover
    from gateway_cli.server.launch import run
    from gateway_cli.server.startup_check import Mode
    from gateway_cli.server.workers import parse_count

    count = parse_count(workers)
    handed = env_handover.receive()
    hand_over(handed)
    config = load_config(config_path)
    cert = tls_cert or (Path(config.server.tls_cert) if config.server.tls_cert else None)
    key = tls_key or (Path(config.server.tls_key) if config.server.tls_key else None)
    if (cert is None) != (key is None):
        raise ConfigError("HTTPS needs both a certificate and its key: give --tls-cert and "
                          "--tls-key (or server.tls_cert and server.tls_key), or neither")
    names = env_handover.env_names(secret_references(config))
    if env_handover.parent_keeps_environment() and (handed or any(n in os.environ
                                                                   for n in names)):
        if not allow_launcher_env:
            raise GatewayError(
                "refusing to start: the one-file binary's launcher process keeps the "
                "environment it was started with, so the provider secrets read from "
                f"{', '.join(sorted(n for n in names if n in os.environ or n in handed))} "
                "would stay readable in its /proc/<pid>/environ; store them with `gateway "
                "keys add` (secret = \"store:NAME\"), use the one-directory build, or pass "
                "--allow-launcher-env to accept this")
        if handed:
            click.echo("gateway: warning: the one-file binary's launcher process keeps the "
                       "environment it was started with, env: secrets included "
                       "(--allow-launcher-env)", err=True)
    # env: secrets must not stay in this process's environment block: start again
    # without them (the values travel through a pipe), before anything else is done.
    env_handover.reexec_without(names)
    run(config, host=host or config.server.host, port=port or config.server.port,
        verify=cast(Mode, verify_mode), home=home,
        log_format=cast(Literal["text", "json"], log_format or config.server.log_format),
        config_path=config_path.absolute() if config_path is not None else None,
        tls=(cert.absolute(), key.absolute()) if cert is not None and key is not None
        else None,
        tls_fixed=tls_cert is not None, workers=count,
        secrets_spec=None if secrets_spec == "auto" else secrets_spec,
        passphrase=passphrase_spec(passphrase_fd, passphrase_file))
