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
import time
from pathlib import Path

import click

from gateway_cli.cli.clients_cmd import parse_expiry
from gateway_cli.cli.keys_cmd import notify
from gateway_cli.cli.store_options import passphrase_spec, store_options
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


def child_environment(parent: dict[str, str], base_url: str, token: str) -> dict[str, str]:
    """CMD's environment: the parent's minus provider keys, plus the gateway's."""
    env = {k: v for k, v in parent.items() if k not in PROVIDER_KEY_VARS}
    env.update({
        "OPENAI_BASE_URL": f"{base_url}/v1", "OPENAI_API_BASE": f"{base_url}/v1",
        "OPENAI_API_KEY": token,
        "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": token,
    })
    return env


def _reachable(base_url: str) -> bool:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=2)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--url", default="http://127.0.0.1:4000", show_default=True,
              help="The running gateway's address.")
@click.option("--models", default=None, metavar="A,B",
              help="Limit the run's token to these public model names.")
@click.option("--ttl", default="12h", show_default=True, metavar="DURATION",
              help="The token's lifetime if CMD outlives it (e.g. 30m, 8h).")
@store_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(url: str, models: str | None, ttl: str, home: Path | None, secrets_spec: str,
        passphrase_fd: int | None, passphrase_file: Path | None,
        command: tuple[str, ...]) -> None:
    """Run COMMAND with the gateway's URLs and a token scoped to this run.

    Example: gateway run -- python my_agent.py
    """
    from gateway_cli.keys import jwt, revoked, signing
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.store import open_store

    base_url = url.rstrip("/")
    if not _reachable(base_url):
        raise GatewayError(f"no gateway answers at {base_url}; start one with `gateway serve` "
                           "(or pass --url)")
    state = gateway_home(home)
    store = open_store(secrets_spec, home=state,
                       passphrase=passphrase_spec(passphrase_fd, passphrase_file), create=True)
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
        "iat": int(now), "exp": int(expires), "jti": jti}
    if models:
        claims["models"] = [m.strip() for m in models.split(",") if m.strip()]
    token = jwt.issue(key.kid, key.key, claims)
    env = child_environment(dict(os.environ), base_url, token)
    try:
        # Running the user's own command is the point of `gateway run`.
        child = subprocess.Popen(list(command), env=env)  # noqa: S603
    except OSError as err:
        revoked.revoke(state, jti, expires)
        raise GatewayError(f"cannot run {command[0]!r}: {err.strerror}") from None

    def forward(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    code = child.wait()
    revoked.revoke(state, jti, expires)
    from gateway_cli.keys.notify import notify_all

    notify_all(state, ("clients",))
    sys.exit(code if code >= 0 else 128 - code)
