"""The text of a systemd unit that runs `gateway serve`, from parameters alone.

Quoting follows systemd.syntax(7) and systemd.service(5): the unit loader
expands `%` specifiers in every setting, so a literal `%` is written `%%`;
ExecStart= words are unquoted C-style inside double quotes; `$` is never
substituted in the executable's path and, with the `:` prefix used here, not
in its arguments either, so a `$` in a path stays a `$` without doubling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from gateway_cli.errors import GatewayError


class UnitError(GatewayError):
    """A value cannot be written into a unit file so that systemd reads it back unchanged."""


@dataclass(frozen=True)
class Specifier:
    """A word that systemd must expand (`%d/passphrase`), written without escaping."""

    text: str


Word = str | Specifier

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# systemd refuses an executable path with these even when quoted ("special characters").
_EXEC_UNSAFE = re.compile(r"[\"'\\]")
_NEEDS_QUOTES = re.compile(r"[\s\"'\\;]")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    """A unit name that is also a valid StateDirectory= and launchd label part."""
    if name.endswith(".service"):
        raise UnitError(f"--name {name!r}: give the name without .service")
    if not _NAME.match(name):
        raise UnitError(f"--name {name!r}: use letters, digits, '.', '_' and '-' "
                        "(at most 64, starting with a letter or digit)")
    return name


def quote_word(word: Word, *, executable: bool = False) -> str:
    """One ExecStart= word; a path with a space, `%`, `$` or quote comes back unchanged."""
    if isinstance(word, Specifier):
        return word.text
    if _CONTROL.search(word):
        raise UnitError(f"{word!r} contains a control character (a newline?); systemd "
                        "cannot be given it in a unit")
    if executable:
        if not word.startswith("/"):
            raise UnitError(f"the executable {word!r} is not an absolute path")
        if _EXEC_UNSAFE.search(word):
            raise UnitError(f"systemd refuses an executable path containing quotes or "
                            f"backslashes: {word}; install the gateway under another path")
    text = word.replace("%", "%%")
    if word and not _NEEDS_QUOTES.search(word):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv: Sequence[Word]) -> str:
    """ExecStart='s value. The `:` prefix turns off $VAR substitution, so no argument is
    ever rewritten from the environment."""
    if not argv or not isinstance(argv[0], str):
        raise UnitError("the command needs an executable path")
    return ":" + " ".join([quote_word(argv[0], executable=True),
                           *(quote_word(w) for w in argv[1:])])


def path_value(path: PurePosixPath) -> str:
    """A path in a setting that takes a list of quoted paths (ReadWritePaths=)."""
    if not path.is_absolute():
        raise UnitError(f"{path} is not an absolute path")
    return quote_word(str(path))


def credential_path(path: PurePosixPath) -> str:
    """The path part of LoadCredential=: the rest of the line, specifiers expanded, never
    unquoted, so only `%` is escaped and edge whitespace (which systemd strips) refused."""
    text = str(path)
    if not path.is_absolute():
        raise UnitError(f"{path} is not an absolute path")
    if _CONTROL.search(text) or text != text.strip():
        raise UnitError(f"{path!r}: systemd cannot read a credential path with control "
                        "characters or leading/trailing spaces")
    return text.replace("%", "%%")


@dataclass(frozen=True)
class UnitSpec:
    """What the unit says; the caller has resolved every path to an absolute one."""

    name: str
    argv: tuple[Word, ...]
    user_unit: bool
    description: str = "gateway: AI gateway"
    run_as: str | None = None  # User= (system units)
    state_directory: str | None = None  # StateDirectory= (system units); GATEWAY_HOME under it
    writable: tuple[PurePosixPath, ...] = ()  # ReadWritePaths=: the home, the secrets file's dir
    credentials: tuple[tuple[str, PurePosixPath], ...] = field(default=())  # LoadCredential=
    restart_sec: int = 5
    header: str = ""
    # `serve --workers N`: the main process supervises worker processes.
    supervises: bool = False


# Left out on purpose:
# - MemoryDenyWriteExecute=yes: CPython without a JIT does not need W+X memory, but
#   ctypes/cffi callbacks go through libffi closures, which on some builds map
#   writable-and-executable trampolines; the failure would be a crash on a rare path
#   long after install, so the gateway does not risk it.
# - CapabilityBoundingSet=/ProtectClock= etc. in user units: a per-user manager
#   cannot drop capabilities or add device policies, and the unit would fail to start.
_HARDENING_COMMON = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    # A call outside the filter fails with EPERM rather than killing the gateway mid-request.
    "SystemCallErrorNumber=EPERM",
    "UMask=0077",
)
_HARDENING_SYSTEM = (
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "ProtectKernelLogs=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "RemoveIPC=yes",
)


def render_unit(spec: UnitSpec) -> str:
    check_name(spec.name)
    if spec.user_unit and (spec.run_as or spec.state_directory or spec.credentials):
        raise UnitError("a user unit runs as its user: no User=, StateDirectory= or "
                        "LoadCredential=")
    lines: list[str] = []
    if spec.header:
        lines += [f"# {line}" if line else "#" for line in spec.header.splitlines()]
    lines += ["[Unit]", f"Description={_plain(spec.description)}"]
    if not spec.user_unit:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={exec_line(spec.argv)}",
        # The gateway reads its config again on SIGHUP (`gateway reload` does the same).
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        f"RestartSec={spec.restart_sec}s",
    ]
    if spec.supervises:
        # Stop signals go to the supervising process, which passes them on to its workers
        # (a worker stopped by systemd directly could look like one that died and be
        # restarted); whatever remains at the end is killed.
        lines.append("KillMode=mixed")
    if spec.run_as:
        lines.append(f"User={_plain(spec.run_as)}")
    if spec.state_directory:
        check_name(spec.state_directory)
        lines += [f"StateDirectory={spec.state_directory}",
                  "StateDirectoryMode=0700",
                  f"Environment=GATEWAY_HOME=%S/{spec.state_directory}"]
    for ident, path in spec.credentials:
        lines.append(f"LoadCredential={ident}:{credential_path(path)}")
    if spec.writable:
        lines.append("ReadWritePaths=" + " ".join(path_value(p) for p in spec.writable))
    lines += _HARDENING_COMMON
    if not spec.user_unit:
        lines += _HARDENING_SYSTEM
    lines += ["", "[Install]",
              f"WantedBy={'default.target' if spec.user_unit else 'multi-user.target'}"]
    return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """A free-text or name value: specifiers escaped, one line."""
    if _CONTROL.search(text):
        raise UnitError(f"{text!r} contains a control character")
    return text.replace("%", "%%")
