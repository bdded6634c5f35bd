"""`gateway run -- CMD`: run a program against the local gateway, with no provider key.

Like `op run` or `aws-vault exec`, for LLM keys: CMD gets the gateway's base
URLs and a short-lived gateway token in the variables the OpenAI and
Anthropic SDKs read, and loses any provider keys it would have inherited. A
program (or a poisoned dependency inside it) that steals its environment
gets a token that works only against this machine's gateway, only for this
run: it is revoked when CMD exits.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import click

from gateway_cli.cli.shared import notify, parse_expiry, store_choice, store_options
from gateway_cli.errors import GatewayError

# Provider-key variables CMD must not inherit: the point is that it holds none.
PROVIDER_KEY_VARS = (
    "OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
    "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_API_KEY", "GEMINI_API_KEY",
    "GOOGLE_API_KEY", "MISTRAL_API_KEY", "GROQ_API_KEY", "COHERE_API_KEY", "CO_API_KEY",
    "TOGETHER_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY", "XAI_API_KEY",
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_API_KEY", "PERPLEXITY_API_KEY",
    "FIREWORKS_API_KEY", "REPLICATE_API_TOKEN",
)


def inherited_keys(parent: dict[str, str], named: Iterable[str] = ()) -> set[str]:
    """The variables CMD must not inherit: the well-known provider-key names, the names
    the gateway's config reads secrets from (`named`), any name that says it holds a
    provider key (`MY_ANTHROPIC_KEY`), and any variable whose value is one."""
    from gateway_cli.keys.scan import provider_for_variable, scan_environment

    drop = {name for name in parent if name in PROVIDER_KEY_VARS or name in set(named)
            or provider_for_variable(name) is not None}
    drop |= {hit.variable for hit in scan_environment(parent) if hit.variable}
    return drop


def child_environment(parent: dict[str, str], base_url: str, token: str,
                      named: Iterable[str] = ()) -> dict[str, str]:
    """CMD's environment: the parent's minus provider keys, plus the gateway's."""
    drop = inherited_keys(parent, named)
    env = {k: v for k, v in parent.items() if k not in drop}
    env.update({
        "OPENAI_BASE_URL": f"{base_url}/v1", "OPENAI_API_BASE": f"{base_url}/v1",
        "OPENAI_API_KEY": token,
        "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": token,
    })
    return env


def run_setup(parent: dict[str, str], base_url: str, token: str, command: Sequence[str],
              named: Iterable[str] = ()) -> tuple[dict[str, str], tuple[str, ...]]:
    """CMD's environment and argv: the SDK variables, plus what a known agent needs."""
    from gateway_cli.cli.agents import setup_for

    env = child_environment(parent, base_url, token, named)
    agent = setup_for(command, base_url, token)
    for name in agent.unset:
        env.pop(name, None)
    env.update(agent.env)
    return env, agent.argv


MASK = "<run token: made when CMD starts, revoked when it ends>"


def _print_env(parent: dict[str, str], base_url: str, command: Sequence[str]) -> None:
    """What `gateway run` would set for `command`: variables, removals, argv; no token made."""
    import shlex

    env, argv = run_setup(parent, base_url, MASK, command or ("CMD",))
    for name in sorted(env):
        if parent.get(name) != env[name]:
            click.echo(f"{name}={shlex.quote(env[name]) if env[name] != MASK else MASK}")
    for name in sorted(set(parent) - set(env)):
        click.echo(f"unset {name}")
    if command and tuple(argv) != tuple(command):
        click.echo("command: " + shlex.join(argv))


def _reachable(base_url: str) -> bool:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    # An HTTPS gateway (server.tls_cert) is checked against the default trust store:
    # the system CAs, or the file SSL_CERT_FILE names for a private CA.
    connection = http.client.HTTPSConnection(parts.netloc, timeout=2) \
        if parts.scheme == "https" else http.client.HTTPConnection(parts.netloc, timeout=2)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


# Signals `gateway run` passes on to CMD (then waits for it and revokes its token): those a
# user or a supervisor sends to stop, reload or resize a foreground program.
FORWARDED = tuple(getattr(signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGWINCH",
    "SIGCONT") if hasattr(signal, name))


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """A pre-exec hook: CMD gets SIGTERM when `gateway run` dies, however it dies (Linux).

    Without it, a `gateway run` killed with SIGKILL leaves CMD running with a
    token nobody will revoke; its lease then ends it within `--lease`, but
    the program itself would live on.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    except (OSError, AttributeError):
        return None  # no prctl here: the lease alone ends the token
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the hook was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


class _Lease:
    """Renews the run token's lease every third of its length while CMD runs."""

    def __init__(self, home: Path, jti: str, length: float) -> None:
        self.home, self.jti, self.length = home, jti, length
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-run-lease",
                                        daemon=True)
        self._warned = False

    def renew(self) -> None:
        from gateway_cli.keys import leases
        from gateway_cli.keys.notify import notify_all

        leases.renew(self.home, self.jti, time.time() + self.length)
        notify_all(self.home, ("runs",))

    def _loop(self) -> None:
        while not self._stop.wait(self.length / 3):
            try:
                self.renew()
            except (GatewayError, OSError) as err:
                if not self._warned:
                    click.echo(f"gateway: cannot renew the run token's lease ({err}); it "
                               f"ends within {self.length:g} s", err=True)
                    self._warned = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


@click.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.option("--url", default="http://127.0.0.1:4000", show_default=True,
              help="The running gateway's address.")
@click.option("--models", default=None, metavar="A,B",
              help="Limit the run's token to these public model names.")
@click.option("--ttl", default="12h", show_default=True, metavar="DURATION",
              help="The token's lifetime if CMD outlives it (e.g. 30m, 8h).")
@click.option("--lease", type=click.FloatRange(3, 3600), default=60.0, show_default=True,
              metavar="SECONDS", help="If `gateway run` itself is killed, its token stops "
              "working within this many seconds (it is renewed while it runs).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="PATH", help="The gateway's gateway.toml: the variables "
              "its env: secrets name are removed from CMD's environment too, and its [secrets] "
              "store (unless --secrets/--passphrase-* say otherwise) signs the run's token.")
@store_options
@click.option("--print-env", "print_env", is_flag=True,
              help="Show what COMMAND would get (variables set and removed, the command "
              "line for a known agent), with the token masked, and run nothing.")
@click.argument("command", nargs=-1, required=False, type=click.UNPROCESSED)
def run(url: str, models: str | None, ttl: str, lease: float, config_path: Path | None,
        home: Path | None,
        secrets_spec: str | None, passphrase_fd: int | None, passphrase_file: Path | None,
        print_env: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND with the gateway's URLs and a token scoped to this run.

    Options go before COMMAND; everything from COMMAND on is COMMAND's own.
    Example: gateway run -- python my_agent.py --url x

    Coding agents are configured too: `gateway run -- claude` (ANTHROPIC_BASE_URL and
    ANTHROPIC_AUTH_TOKEN), `gateway run -- codex exec ...` (Codex's own `-c` flags name
    the gateway as its Responses provider; no file of yours is changed).
    """
    from gateway_cli.keys import jwt, leases, revoked, signing
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.notify import notify_all
    from gateway_cli.keys.store import open_store

    if print_env:
        _print_env(dict(os.environ), url.rstrip("/"), command)
        return
    if not command:
        raise click.UsageError("give the COMMAND to run (after --), or --print-env")
    named: list[str] = []
    if config_path is not None:
        from gateway_cli.config import load_config, secret_references
        from gateway_cli.server.env_handover import env_names

        named = env_names(secret_references(load_config(config_path)))
    base_url = url.rstrip("/")
    if not _reachable(base_url):
        raise GatewayError(f"no gateway answers at {base_url}; start one with `gateway serve` "
                           "(or pass --url)")
    state = gateway_home(home)
    spec, passphrase = store_choice(config_path, secrets_spec, passphrase_fd, passphrase_file)
    store = open_store(spec, home=state, passphrase=passphrase, create=True)
    before = signing.load(store).current("tokens")
    keyset = signing.ensure(store)
    key = keyset.current("tokens")
    assert key is not None
    if before is None:  # a fresh signing key: running gateways must learn it first
        notify(state, ("signing",))
    now = time.time()
    expires = parse_expiry(ttl, now)
    jti = secrets.token_hex(12)
    claims: dict[str, object] = {
        "iss": "gateway", "aud": "gateway", "sub": f"run:{Path(command[0]).name}",
        "iat": int(now), "exp": int(expires), "jti": jti, "lease": True}
    if models:
        claims["models"] = [m.strip() for m in models.split(",") if m.strip()]
    token = jwt.issue(key.kid, key.key, claims)
    keeper = _Lease(state, jti, lease)
    keeper.renew()  # running gateways know the lease before CMD's first request

    def finish() -> None:
        keeper.stop()
        revoked.revoke(state, jti, expires)
        leases.end(state, jti)
        notify_all(state, ("clients", "runs"))

    env, argv = run_setup(dict(os.environ), base_url, token, command, named)
    try:
        # Running the user's own command is the point of `gateway run`.
        child = subprocess.Popen(list(argv), env=env,  # noqa: S603
                                 preexec_fn=_die_with_parent(os.getpid()))
    except (OSError, subprocess.SubprocessError) as err:
        finish()
        reason = err.strerror if isinstance(err, OSError) else str(err)
        raise GatewayError(f"cannot run {command[0]!r}: {reason}") from None

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    keeper.start()
    try:
        code = child.wait()
    finally:
        finish()
    sys.exit(code if code >= 0 else 128 - code)
