"""`gateway rotate-keys`: replace credentials, and have running gateways obey at once.

What can be made here (client tokens, signing keys) is made here; provider
keys must be created at each provider, so the new value is read from a
prompt or stdin and the emergency mode prints a checklist of where to revoke
the old ones. Every change is written first, then pushed to each running
gateway over its control socket; the command reports when each applied it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway_cli.cli.shared import (
    config_option,
    new_file,
    notify,
    open_cli_store,
    read_secret,
    record_event,
    shared_keys,
    signing_store,
    store_choice,
    store_options,
    write_tokens,
)

if TYPE_CHECKING:
    from gateway_cli.keys.clients import Client


def _hand_out(issued: list[tuple[Client, str]], output: Path | None,
              output_dir: tuple[Path, int] | None) -> None:
    if not issued:
        if output_dir is not None:
            click.echo(f"no client keys were rotated; {output_dir[0]} is left empty", err=True)
        return
    if output_dir is not None:
        from gateway_cli.keys import handout

        where, fd = output_dir
        handout.write(fd, where, issued)
        click.echo(f"{len(issued)} new client token(s) written to {where}, one "
                   f"<name>.token file each; who gets which: {where / handout.MANIFEST}",
                   err=True)
        return
    if output is not None:
        write_tokens(output, [(c.name, token) for c, token in issued])
        click.echo(f"{len(issued)} new client token(s) written to {output}", err=True)
        return
    for client, token in issued:
        click.echo(f"{client.name} {token}")
    click.echo("the new client tokens above are shown only now", err=True)


def _handout_dir(_: click.Context, __: click.Parameter, value: Path | None) -> Path | None:
    """Refuse an unusable --output-dir while the command line is read, before any change."""
    from gateway_cli.keys.handout import HandoutError, check

    if value is not None:
        try:
            check(value)
        except HandoutError as err:
            raise click.BadParameter(str(err)) from None
    return value


def _no_store(state: Path, secrets_spec: str) -> bool:
    """Whether a store that failed to open is absent, rather than present but locked.

    Only an absent one lets `--all` go on without it: going on past a wrong
    passphrase would leave the signing keys, and every `gateway run` token they
    signed, in force while the command reports the rotation done.
    """
    from gateway_cli.keys.store import DEFAULT_FILE_NAME

    kind, _, path = secrets_spec.partition(":")
    if kind == "file" or secrets_spec == "auto":
        return not (Path(path) if path else state / DEFAULT_FILE_NAME).absolute().exists()
    return True  # the keyring: it fails only when there is none to use


@click.command("rotate-keys")
@click.option("--provider", "providers", multiple=True, metavar="NAME",
              help="A stored provider key to replace; the new value comes from a hidden "
                   "prompt or stdin.")
@click.option("--clients", "client_names", multiple=True, metavar="NAME",
              help="Client keys to reissue ('all' for every one).")
@click.option("--signing", is_flag=True,
              help="New signing keys (gateway JWTs: run and scoped tokens; the audit log).")
@click.option("--all", "everything", is_flag=True,
              help="Everything that can be rotated here: every client key and the signing "
                   "keys.")
@click.option("--emergency", is_flag=True,
              help="With --all: no grace period, every outstanding gateway token (run "
                   "tokens too) revoked at once, old provider keys dropped, and a checklist "
                   "of the provider keys to revoke upstream.")
@click.option("--grace", type=click.FloatRange(0, 30 * 86400), default=0.0,
              show_default=True, metavar="SECONDS",
              help="Keep accepting the old credentials this long.")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              callback=new_file,
              help="Write the new client tokens to this new 0600 file, as a JSON object of "
                   "name to token, instead of stdout.")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              callback=_handout_dir, metavar="DIR",
              help="Write each new client token to DIR/<name>.token (0600, the token alone) "
                   "and DIR/manifest.csv (name, owner, contact, file, expires; no token) for "
                   "handing them out; DIR is created 0700 and must not exist or be empty.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@config_option
@store_options
def rotate_keys(providers: tuple[str, ...], client_names: tuple[str, ...], signing: bool,
                everything: bool, emergency: bool, grace: float, output: Path | None,
                output_dir: Path | None, yes: bool, config_path: Path | None,
                home: Path | None, secrets_spec: str | None, passphrase_fd: int | None,
                passphrase_file: Path | None) -> None:
    """Rotate provider keys, client keys and signing keys; running gateways apply it in
    milliseconds, without a restart."""
    if emergency and not everything:
        raise click.UsageError("--emergency goes with --all")
    if emergency and grace:
        raise click.UsageError("--emergency has no grace period")
    if not (providers or client_names or signing or everything):
        raise click.UsageError("say what to rotate: --provider NAME, --clients NAME, "
                               "--signing or --all")
    if output is not None and output_dir is not None:
        raise click.UsageError("give --output or --output-dir, not both")
    if output_dir is not None and not (client_names or everything):
        raise click.UsageError("--output-dir holds client tokens: use it with --clients or "
                               "--all")
    if emergency and not yes:
        click.confirm("Revoke every gateway token now and rotate all local keys?",
                      abort=True, err=True)
    started = time.perf_counter()
    shared = shared_keys(config_path)  # a bad config stops the command before any change
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.store import StoreError

    state = gateway_home(home)
    store = None
    if providers or signing or everything:
        try:
            _, store = open_cli_store(state, secrets_spec, passphrase_fd, passphrase_file,
                                      config_path=config_path)
        except StoreError as err:
            spec, _ = store_choice(config_path, secrets_spec, passphrase_fd, passphrase_file)
            if providers or signing or not _no_store(state, spec):
                raise
            # --all on a machine with no secret store: there are no signing keys to
            # rotate, and the client keys must still be rotatable.
            click.echo(f"gateway: no secret store, so no signing keys to rotate ({err})",
                       err=True)
    if store is None and (everything or client_names):
        store = signing_store(state, secrets_spec, passphrase_fd, passphrase_file,
                              config_path=config_path)
    handout = None
    if output_dir is not None:
        from gateway_cli.keys.handout import open_dir

        handout = (output_dir, open_dir(output_dir))  # made before any token exists
    try:
        _rotate(state, store, shared, providers, client_names, signing, everything, emergency,
                grace, output, handout, started)
    finally:
        if handout is not None:
            os.close(handout[1])


def _rotate(state: Path, store: Any, shared: Any, providers: tuple[str, ...],
            client_names: tuple[str, ...], signing: bool, everything: bool, emergency: bool,
            grace: float, output: Path | None, handout: tuple[Path, int] | None,
            started: float) -> None:
    from gateway_cli.keys import clients as registry
    from gateway_cli.keys import index, shared_sync
    from gateway_cli.keys import issued as scoped_tokens
    from gateway_cli.keys import signing as signing_keys

    now = time.time()
    reload: set[str] = set()

    for name in providers:
        assert store is not None  # opened above, or the command stopped
        record = index.rotate_key(store, state, name, read_secret(f"new key for {name}"),
                                  grace=grace, now=now)
        record_event(state, store, "key.rotated", {"name": name, "fingerprint": record.fingerprint,
                                            "grace": grace})
        click.echo(f"rotated provider key {name} (now {record.fingerprint})"
                   + (f"; the old one serves for {grace:g} s more" if grace else ""), err=True)
        reload.add("secrets")

    wanted = None if everything or "all" in client_names else list(client_names)
    if everything or client_names:
        def reissue() -> list[tuple[registry.Client, str]]:
            issued = registry.reissue(state, wanted, grace=grace, now=now)
            if emergency:  # run keys and anything still in a grace period end now as well
                registry.end_all(state, keep=[c.id for c, _ in issued], now=now)
            return issued

        issued = shared_sync.change(state, shared, reissue)
        record_event(state, store, "clients.rotated", {"ids": [c.id for c, _ in issued],
                                                "grace": grace, "emergency": emergency})
        _hand_out(issued, output, handout)
        reload.add("clients")

    if store is not None and (signing or everything):
        before = signing_keys.load(store)
        keyset = signing_keys.rotate(store, grace=grace, now=now)
        current = [e.kid for p in signing_keys.PURPOSES if (e := keyset.current(p))]
        # Scoped tokens signed by the replaced keys end with them; `tokens list` says so.
        scoped_tokens.key_retired(state, [e.kid for e in before.keys.get("tokens", ())],
                           now + grace, now=now)
        record_event(state, store, "signing.rotated", {"kids": current, "grace": grace})
        click.echo(f"new signing keys {', '.join(current)}"
                   + (f"; old ones verify for {grace:g} s more" if grace else
                      "; tokens signed by the old ones are void"), err=True)
        reload.update({"signing", "clients"})

    checklist = []
    if emergency:
        for record in index.list_keys(state):
            if record.previous_until and store is not None:
                store.delete(record.name + index.PREVIOUS_SUFFIX)
                reload.add("secrets")
            checklist.append(record)
        record_event(state, store, "emergency.rotation", {
            "provider_keys_to_revoke": [r.name for r in checklist]})

    notify(state, tuple(w for w in ("clients", "signing", "secrets") if w in reload),
           shared=shared)
    click.echo(f"done in {time.perf_counter() - started:.2f} s", err=True)
    if checklist:
        from gateway_cli.keys.probe import CONSOLES

        click.echo("\nNow revoke these provider keys at each provider and store new ones "
                   "with `gateway rotate-keys --provider NAME`:", err=True)
        for record in checklist:
            console = CONSOLES.get(record.provider, "the provider's console")
            click.echo(f"  [ ] {record.name} ({record.provider}, key {record.fingerprint}): "
                       f"{console}", err=True)
    elif emergency:
        click.echo("no provider keys are stored here; revoke any you use elsewhere at "
                   "their provider", err=True)
