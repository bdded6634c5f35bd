"""`gateway service install|uninstall|status`: run the gateway under systemd or launchd.

The unit never holds a secret: no passphrase option is accepted (a unit is
world-readable and its command line shows in `ps` and `systemctl show`), only
the path of a 0600 passphrase file, which a system unit hands over with
LoadCredential= so that the service user needs no read access to the original.
Nothing but the unit file is written, and systemctl is run only with --now.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import click

from gateway_cli.cli.shared import home_option
from gateway_cli.errors import GatewayError
from gateway_cli.service.files import Manager

_TIMEOUT = 30
_NO_SYSTEMD = ("has not been booted with systemd", "Failed to connect to bus",
               "System has not been booted")


def _common(func: Any) -> Any:
    func = click.option("--manager", type=click.Choice(["auto", "systemd", "launchd"]),
                        default="auto", show_default=True,
                        help="Service manager: auto is launchd on macOS, systemd elsewhere.")(func)
    func = click.option("--unit-dir", type=click.Path(path_type=Path, file_okay=False),
                        default=None, envvar="GATEWAY_SERVICE_DIR",
                        help="Directory of the unit file instead of the manager's own "
                             "(/etc/systemd/system, ~/.config/systemd/user, "
                             "~/Library/LaunchAgents, /Library/LaunchDaemons). "
                             "Env: GATEWAY_SERVICE_DIR.")(func)
    func = click.option("--name", default="gateway", show_default=True,
                        help="Unit name (NAME.service; launchd label local.NAME).")(func)
    func = click.option("--user", "user_scope", is_flag=True,
                        help="A per-user service (systemctl --user, a LaunchAgent) instead "
                             "of a system one.")(func)
    return home_option(func)


def _refuse_secret(_: click.Context, param: click.Parameter, value: object) -> None:
    """Refused without repeating the value: it may be the passphrase itself."""
    if value is not None:
        raise click.BadParameter(
            "a service unit is readable by every user and its command line shows in `ps`, "
            "so no passphrase goes in it; write it to a 0600 file and pass "
            "--passphrase-file PATH", param=param)


@click.group()
def service() -> None:
    """Run the gateway as a long-lived service (systemd unit or launchd plist)."""


@service.command()
@_common
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              metavar="PATH", help="gateway.toml the service serves (checked now; made absolute).")
@click.option("--secrets", "secrets_spec", default="auto", show_default=True,
              metavar="auto|keyring|file[:PATH]",
              help="Where provider secrets live. A system service has no keyring: use "
                   "file with --passphrase-file.")
@click.option("--passphrase-file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="0600 file holding the encrypted store's passphrase "
                                 "(a system unit loads it with LoadCredential=).")
@click.option("--passphrase", expose_value=False, hidden=True, callback=_refuse_secret)
@click.option("--passphrase-fd", expose_value=False, hidden=True, callback=_refuse_secret)
@click.option("--run-as", default=None, metavar="USER",
              help="systemd system unit: User= (default: gateway; create it with useradd "
                   "--system). launchd daemon: UserName=.")
@click.option("--workers", default=None, metavar="N|auto",
              help="Run `gateway serve --workers N`: worker processes on the one socket "
                   "(auto: one per core of the machine it runs on). Default: 1.")
@click.option("--force", is_flag=True, help="Replace a unit file install did not write "
                                             "or that was changed since.")
@click.option("--now", is_flag=True, help="Then run systemctl daemon-reload and enable --now "
                                           "(launchctl bootstrap on macOS).")
@click.option("--dry-run", is_flag=True, help="Print the unit and where it would go; write "
                                               "nothing.")
def install(home: Path | None, user_scope: bool, name: str, unit_dir: Path | None,
            manager: str, config_path: Path, secrets_spec: str, passphrase_file: Path | None,
            run_as: str | None, workers: str | None, force: bool, now: bool,
            dry_run: bool) -> None:
    """Write a unit (systemd) or plist (launchd) that runs `gateway serve --config PATH`.

    Restarted after a failure, reloaded with SIGHUP (`systemctl reload`), sandboxed
    with systemd's hardening settings; a system unit keeps its state in
    /var/lib/NAME and reads the passphrase of the encrypted store from a
    credential.
    """
    from gateway_cli.config import load_config
    from gateway_cli.keys.home import default_home, gateway_home
    from gateway_cli.service import files
    from gateway_cli.service.command import gateway_prefix
    from gateway_cli.service.launchd import PlistSpec, label_for, render_plist
    from gateway_cli.service.systemd import Specifier, UnitSpec, Word, check_name, render_unit

    check_name(name)
    kind = _manager(manager)
    worker_args = _worker_args(workers)
    config_file = config_path.expanduser().absolute()
    config = load_config(config_file)
    secrets_spec = _absolute_secrets(secrets_spec)
    if passphrase_file is not None:
        passphrase_file = passphrase_file.expanduser().absolute()
        _check_passphrase_file(passphrase_file)
    state_home = (home or default_home()).expanduser().absolute()
    if not dry_run:
        state_home = gateway_home(home)
    system_systemd = kind == "systemd" and not user_scope
    if system_systemd and secrets_spec == "keyring":
        raise GatewayError("a system service has no keyring (no login session unlocks one); "
                           "use --secrets file with --passphrase-file PATH")
    effective = secrets_spec if secrets_spec != "auto" else config.secrets.store
    warnings: list[str] = []
    if passphrase_file is None and config.secrets.passphrase in (None, "prompt") and (
            system_systemd or effective.startswith("file")):
        warnings.append("a service has no terminal to ask for a passphrase: secrets kept "
                        "in the encrypted file store need --passphrase-file PATH")
    if config.secrets.passphrase and config.secrets.passphrase.startswith("fd:") \
            and passphrase_file is None:
        warnings.append(f"the config's secrets.passphrase = {config.secrets.passphrase!r} "
                        "names a descriptor a service manager does not open; pass "
                        "--passphrase-file PATH")

    argv: list[Word] = [*gateway_prefix(), "serve", "--config", str(config_file)]
    service_home: Path | None = None if system_systemd else state_home
    if service_home is not None:
        argv += ["--home", str(service_home)]
    if secrets_spec != "auto":
        argv += ["--secrets", secrets_spec]
    elif system_systemd and passphrase_file is not None:
        argv += ["--secrets", "file"]  # auto would look for a keyring first
    credentials: tuple[tuple[str, PurePosixPath], ...] = ()
    if passphrase_file is not None:
        if system_systemd:
            credentials = (("passphrase", PurePosixPath(passphrase_file)),)
            argv += ["--passphrase-file", Specifier("%d/passphrase")]
        else:
            argv += ["--passphrase-file", str(passphrase_file)]
    argv += worker_args
    writable = _writable(service_home, effective, config.audit.path, warnings)

    label = label_for(name) if kind == "launchd" else name
    if kind == "launchd":
        logs = Path("/Library/Logs") if not user_scope else Path.home() / "Library" / "Logs"
        text = render_plist(PlistSpec(label=label, argv=tuple(str(w) for w in argv),
                                      log_path=PurePosixPath(logs / f"{label}.log"),
                                      working_directory=PurePosixPath(state_home),
                                      run_as=None if user_scope else run_as))
    else:
        if system_systemd:
            user = run_as or "gateway"
            try:
                pwd.getpwnam(user)
            except KeyError:
                warnings.append(f"there is no user {user!r} yet; create it before starting "
                                f"the service: useradd --system --no-create-home "
                                f"--shell /usr/sbin/nologin {user}")
        elif run_as:
            raise click.BadParameter("a --user unit runs as you", param_hint="--run-as")
        text = render_unit(UnitSpec(
            name=name, argv=tuple(argv), user_unit=user_scope,
            description=f"gateway: AI gateway ({config_file.name})",
            run_as=(run_as or "gateway") if system_systemd else None,
            state_directory=name if system_systemd else None,
            writable=tuple(PurePosixPath(p) for p in writable),
            credentials=credentials,
            supervises=bool(worker_args),
            header="Written by `gateway service install`; `gateway service uninstall` "
                   "removes it.\nInstall again with --force rather than editing it: "
                   "uninstall refuses a changed file."))
    target_dir = (unit_dir.expanduser().absolute() if unit_dir is not None
                  else files.default_unit_dir(kind, user_scope))
    target = target_dir / files.file_name(kind, name, label)
    key = files.manifest_key(kind, user_scope, name)
    for line in warnings:
        click.echo(f"gateway: warning: {line}", err=True)
    if dry_run:
        problem = files.check_target(target, files.find(state_home, key)
                                     if (state_home / files.MANIFEST).exists() else None,
                                     force=force)
        click.echo(f"# would write {target}" + (f" (refused now: {problem})" if problem else ""))
        click.echo(text, nl=False)
        return
    replaced = files.install(state_home, key, target, text, label, force=force)
    click.echo(f"{'replaced' if replaced else 'wrote'} {target} "
               f"(recorded in {state_home / files.MANIFEST})")
    if now:
        _activate(kind, user_scope, name, label, target)
    else:
        click.echo(_next_step(kind, user_scope, name, target))


@service.command()
@_common
@click.option("--force", is_flag=True, help="Remove the unit even if it was changed since.")
@click.option("--now", is_flag=True, help="First stop and disable it (systemctl disable --now "
                                           "/ launchctl bootout).")
def uninstall(home: Path | None, user_scope: bool, name: str, unit_dir: Path | None,
              manager: str, force: bool, now: bool) -> None:
    """Remove the unit file `gateway service install` wrote, and nothing else."""
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.service import files
    from gateway_cli.service.systemd import check_name

    del unit_dir  # the manifest says where the file is
    check_name(name)
    kind = _manager(manager)
    state_home = gateway_home(home, create=False)
    key = files.manifest_key(kind, user_scope, name)
    entry = files.find(state_home, key)
    if now and entry is not None:
        _deactivate(kind, user_scope, name, entry.label)
    entry, existed = files.uninstall(state_home, key, force=force)
    click.echo(f"removed {entry.path}" if existed else f"{entry.path} was already gone")
    if kind == "systemd":
        if now:
            _systemctl(user_scope, "daemon-reload")
        else:
            flag = " --user" if user_scope else ""
            click.echo(f"if it was running or enabled: systemctl{flag} disable --now "
                       f"{name}.service; systemctl{flag} daemon-reload")


@service.command()
@_common
def status(home: Path | None, user_scope: bool, name: str, unit_dir: Path | None,
           manager: str) -> None:
    """Whether the unit exists and runs, and its last log lines. Exit 0 running, 3 not
    running, 1 when that cannot be told."""
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.service import files
    from gateway_cli.service.launchd import label_for
    from gateway_cli.service.systemd import check_name

    check_name(name)
    kind = _manager(manager)
    state_home = gateway_home(home, create=False)
    entry = files.find(state_home, files.manifest_key(kind, user_scope, name)) \
        if (state_home / files.MANIFEST).exists() else None
    label = entry.label if entry is not None else (label_for(name) if kind == "launchd"
                                                   else name)
    if entry is not None:
        path = entry.path
    else:
        target_dir = (unit_dir.expanduser().absolute() if unit_dir is not None
                      else files.default_unit_dir(kind, user_scope))
        path = target_dir / files.file_name(kind, name, label)
    found = files.current_digest(path)
    if found is None:
        click.echo(f"unit file: {path}: missing (not installed)")
    elif entry is None:
        click.echo(f"unit file: {path} (not written by `gateway service install`)")
    elif found != entry.sha256:
        click.echo(f"unit file: {path} (changed since `gateway service install` wrote it)")
    else:
        click.echo(f"unit file: {path}")
    code = (_systemd_status(user_scope, name) if kind == "systemd"
            else _launchd_status(user_scope, label))
    sys.exit(code)


def _worker_args(value: str | None) -> list[str]:
    """`--workers` for the unit's command line, checked now as `gateway serve` would;
    none for 1 (the default), "auto" kept so it counts the cores where it runs."""
    from gateway_cli.errors import StartupError
    from gateway_cli.server.workers import parse_count

    if value is None:
        return []
    try:
        count = parse_count(value, cpus=1)
    except StartupError as err:
        raise click.BadParameter(str(err).removeprefix("--workers "),
                                 param_hint="--workers") from None
    if value.strip().lower() == "auto":
        return ["--workers", "auto"]
    return [] if count == 1 else ["--workers", str(count)]


def _manager(choice: str) -> Manager:
    if choice == "systemd":
        return "systemd"
    if choice == "launchd" or (choice == "auto" and sys.platform == "darwin"):
        return "launchd"
    if choice == "auto" and not sys.platform.startswith("linux"):
        raise GatewayError(f"no service manager support on {sys.platform}; on Linux the "
                           "gateway writes a systemd unit, on macOS a launchd plist")
    return "systemd"


def _absolute_secrets(spec: str) -> str:
    """The service runs elsewhere than here: a relative store path would be read from /."""
    kind, _, rest = spec.partition(":")
    if spec in ("auto", "keyring", "file"):
        return spec
    if kind == "file" and rest:
        return f"file:{Path(rest).expanduser().absolute()}"
    # Not echoed: it may be a secret pasted into the wrong flag.
    raise click.BadParameter("use auto, keyring, file or file:PATH", param_hint="--secrets")


def _check_passphrase_file(path: Path) -> None:
    """Checked by its metadata only: the passphrase is never read by install."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise GatewayError(f"passphrase file {path} does not exist; nothing was written") \
            from None
    except OSError as err:
        raise GatewayError(f"passphrase file {path} cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise GatewayError(f"passphrase file {path} is not a regular file; nothing was written")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise GatewayError(f"passphrase file {path} is readable by other users; run: "
                           f"chmod 600 {path}; nothing was written")


def _writable(home: Path | None, secrets: str, audit_path: str | None,
              warnings: list[str]) -> list[Path]:
    """The paths the sandbox leaves writable: the state directory, and a secrets file or
    audit log kept outside it (the store writes the signing keys on first start)."""
    paths: list[Path] = [home] if home is not None else []
    extra: list[Path] = []
    kind, _, rest = secrets.partition(":")
    if kind == "file" and rest:
        extra.append(Path(rest).parent)
    if audit_path:
        audit = Path(audit_path).expanduser()
        if audit.is_absolute():
            extra.append(audit.parent)
        else:
            warnings.append(f"audit.path = {audit_path!r} is relative; a service starts in "
                            "/ (systemd) so give an absolute path")
    for directory in extra:
        if home is not None and directory.is_relative_to(home):
            continue
        if not directory.is_dir():
            warnings.append(f"{directory} does not exist; systemd refuses to start a unit "
                            "whose ReadWritePaths= is missing")
        if directory not in paths:
            paths.append(directory)
    return paths


def _next_step(kind: Manager, user_scope: bool, name: str, target: Path) -> str:
    if kind == "launchd":
        domain = f"gui/{os.getuid()}" if user_scope else "system"
        return f"start it: launchctl bootstrap {domain} {target}"
    flag = " --user" if user_scope else ""
    return (f"start it: systemctl{flag} daemon-reload && systemctl{flag} enable --now "
            f"{name}.service (or run install again with --now)")


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        # systemctl/journalctl/launchctl found on PATH, fixed arguments, no shell
        return subprocess.run(argv, capture_output=True, text=True,  # noqa: S603
                              timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise GatewayError(f"`{' '.join(argv)}` did not finish in {_TIMEOUT} s") from None


def _systemctl(user_scope: bool, *args: str) -> None:
    program = shutil.which("systemctl")
    command = ["systemctl", *(["--user"] if user_scope else []), *args]
    if program is None:
        raise GatewayError(f"systemctl not found (no systemd here?); the unit file is as "
                           f"reported, but `{' '.join(command)}` was not run")
    done = _run([program, *command[1:]])
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise GatewayError(f"`{' '.join(command)}` failed: {reason}")
    click.echo(f"ran: {' '.join(command)}")


def _activate(kind: Manager, user_scope: bool, name: str, label: str, target: Path) -> None:
    if kind == "systemd":
        _systemctl(user_scope, "daemon-reload")
        _systemctl(user_scope, "enable", "--now", f"{name}.service")
        return
    _launchctl("bootstrap", f"gui/{os.getuid()}" if user_scope else "system", str(target))


def _deactivate(kind: Manager, user_scope: bool, name: str, label: str) -> None:
    if kind == "systemd":
        _systemctl(user_scope, "disable", "--now", f"{name}.service")
        return
    domain = f"gui/{os.getuid()}" if user_scope else "system"
    _launchctl("bootout", f"{domain}/{label}")


def _launchctl(*args: str) -> None:
    program = shutil.which("launchctl")
    if program is None:
        raise GatewayError(f"launchctl not found (not macOS?); `launchctl {' '.join(args)}` "
                           "was not run")
    done = _run([program, *args])
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise GatewayError(f"`launchctl {' '.join(args)}` failed: {reason}")
    click.echo(f"ran: launchctl {' '.join(args)}")


def _systemd_status(user_scope: bool, name: str) -> int:
    flag = ["--user"] if user_scope else []
    unit = f"{name}.service"
    code = 3
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        click.echo("state: unknown: systemctl not found (a container without systemd?); "
                   "cannot tell whether it runs")
        code = 1
    else:
        done = _run([systemctl, *flag, "is-active", unit])
        state = done.stdout.strip()
        if any(marker in done.stderr for marker in _NO_SYSTEMD) or not state:
            reason = (done.stderr.strip().splitlines() or ["no answer"])[0]
            click.echo(f"state: unknown: systemd is not running here ({reason})")
            code = 1
        else:
            click.echo(f"state: {state}")
            code = 0 if done.returncode == 0 and state == "active" else 3
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        click.echo("log: journalctl not found; no log to show")
        return code
    done = _run([journalctl, *flag, "-u", unit, "-n", "20", "--no-pager"])
    lines = (done.stdout + done.stderr).strip()
    click.echo("log (last 20 lines):" if lines else "log: no entries")
    if lines:
        click.echo(lines)
    return code


def _launchd_status(user_scope: bool, label: str) -> int:
    launchctl = shutil.which("launchctl")
    if launchctl is None:
        click.echo("state: unknown: launchctl not found (not macOS?)")
        return 1
    domain = f"gui/{os.getuid()}" if user_scope else "system"
    done = _run([launchctl, "print", f"{domain}/{label}"])
    if done.returncode != 0:
        click.echo("state: not loaded")
        return 3
    running = any(line.strip() == "state = running" for line in done.stdout.splitlines())
    click.echo(f"state: {'running' if running else 'loaded, not running'}")
    logs = Path("/Library/Logs") if not user_scope else Path.home() / "Library" / "Logs"
    log = logs / f"{label}.log"
    try:
        tail = log.read_text(errors="replace").splitlines()[-20:]
    except OSError:
        click.echo(f"log: {log} cannot be read")
    else:
        click.echo(f"log ({log}, last 20 lines):")
        click.echo("\n".join(tail))
    return 0 if running else 3
