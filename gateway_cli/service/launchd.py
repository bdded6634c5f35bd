"""The text of a launchd property list that runs `gateway serve`, from parameters alone.

launchd starts the program from an argument array, so nothing is quoted or
expanded: paths go in as they are. It has no credential mechanism and no
sandbox settings comparable to systemd's, so the plist keeps to what launchd
does offer: a private umask, restart only after a failure, and logs to files.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class PlistSpec:
    label: str
    argv: tuple[str, ...]
    log_path: PurePosixPath
    working_directory: PurePosixPath
    run_as: str | None = None  # UserName= (LaunchDaemons only)
    throttle_seconds: int = 5


def label_for(name: str) -> str:
    """launchd labels are reverse-DNS by convention; `local.` names a job made on this Mac."""
    return f"local.{name}"


def render_plist(spec: PlistSpec) -> str:
    job: dict[str, object] = {
        "Label": spec.label,
        "ProgramArguments": list(spec.argv),
        "RunAtLoad": True,
        # Started again only when it exits with an error, like systemd's Restart=on-failure:
        # a clean stop (launchctl bootout, SIGTERM) stays stopped.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": spec.throttle_seconds,
        "ProcessType": "Standard",
        "Umask": 0o077,
        "WorkingDirectory": str(spec.working_directory),
        "StandardOutPath": str(spec.log_path),
        "StandardErrorPath": str(spec.log_path),
    }
    if spec.run_as:
        job["UserName"] = spec.run_as
    return plistlib.dumps(job, fmt=plistlib.FMT_XML, sort_keys=False).decode()
