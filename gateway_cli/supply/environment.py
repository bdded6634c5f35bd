"""Where an interpreter keeps its distributions and start-up hooks, read without running it.

`gateway verify` compares an environment with a lock, and the release build
records which locked distributions it bundles; both first need the
interpreter's layout (site-packages, the stdlib, the venv's pyvenv.cfg) and
its environment-marker values. Asking the interpreter normally would run its
`.pth` files and sitecustomize, the very hooks under suspicion, so the
running interpreter's layout is read from sysconfig, and another interpreter
is asked only with `-I -S`, so none of its hooks run.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_cli.supply.provenance_types import VerifyUsageError


@dataclass(frozen=True)
class Environment:
    """Where an interpreter's distributions and start-up hooks live."""

    python: str
    prefix: Path
    is_venv: bool
    sites: tuple[Path, ...]
    interpreter_path: tuple[Path, ...]  # sys.path before site.py: stdlib, lib-dynload
    pyvenv_cfg: Path | None
    markers: Mapping[str, str]


# Run by the interpreter under test with -I -S (no site, no .pth, no user site,
# no environment variables), and in-process for the running interpreter, so both
# read the layout the same way. site.py is what turns a venv's pyvenv.cfg into
# sys.prefix; without it we do the same lookup here.
_PROBE = r'''
import json, os, platform, sys, sysconfig

def probe():
    exe = os.path.abspath(sys.executable)
    cfg = None
    for folder in (os.path.dirname(exe), os.path.dirname(os.path.dirname(exe))):
        if os.path.isfile(os.path.join(folder, "pyvenv.cfg")):
            cfg = os.path.join(folder, "pyvenv.cfg")
            break
    base = sysconfig.get_paths()
    if cfg:
        prefix = os.path.dirname(cfg)
        paths = sysconfig.get_paths(scheme="posix_prefix" if os.name == "posix" else "nt",
                                    vars={"base": prefix, "platbase": prefix})
        sites = [paths["purelib"], paths["platlib"]]
    else:
        prefix = sys.prefix
        sites = [base["purelib"], base["platlib"]]
        scheme = getattr(sysconfig, "get_preferred_scheme", lambda _: os.name + "_user")
        user = sysconfig.get_path("purelib", scheme("user"))
        if os.path.isdir(user):
            sites.insert(0, user)
    inner = [base["stdlib"], base["platstdlib"], os.path.join(base["platstdlib"], "lib-dynload")]
    impl = sys.implementation.version
    version = "%d.%d.%d" % (impl.major, impl.minor, impl.micro)
    if impl.releaselevel != "final":
        version += impl.releaselevel[0] + str(impl.serial)
    markers = {
        "implementation_name": sys.implementation.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }
    return {"executable": exe, "prefix": prefix, "pyvenv_cfg": cfg, "sites": sites,
            "interpreter_path": inner, "markers": markers}
'''


def _environment(found: Mapping[str, Any]) -> Environment:
    sites = tuple(Path(os.path.normpath(s)) for s in dict.fromkeys(found["sites"]))
    cfg = found.get("pyvenv_cfg")
    return Environment(
        python=str(found["executable"]), prefix=Path(os.path.normpath(found["prefix"])),
        is_venv=cfg is not None, sites=sites,
        interpreter_path=tuple(Path(p) for p in found["interpreter_path"]),
        pyvenv_cfg=Path(cfg) if cfg else None,
        markers={str(k): str(v) for k, v in found["markers"].items()})


def running_environment() -> Environment:
    """The environment of the interpreter running the gateway."""
    namespace: dict[str, Any] = {}
    exec(compile(_PROBE, "<gateway probe>", "exec"), namespace)  # noqa: S102 - our own constant
    return _environment(namespace["probe"]())


def _probe_env() -> dict[str, str]:
    """A minimal environment for the probe: nothing of ours (keys included) leaks into it."""
    keep = {"PATH": os.defpath}
    if "LD_LIBRARY_PATH" in os.environ:  # a Python built with a shared libpython may need it
        keep["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return keep


def probe_environment(python: Path) -> Environment:
    """The environment of another interpreter, asked with -I -S so that none of its hooks run."""
    if not python.exists():
        raise VerifyUsageError(f"--python {python}: no such file")
    if python.is_dir() or not os.access(python, os.X_OK):
        raise VerifyUsageError(f"--python {python}: not an executable interpreter")
    code = _PROBE + "\nprint(json.dumps(probe()))\n"
    try:
        done = subprocess.run([str(python), "-I", "-S", "-c", code], capture_output=True,  # noqa: S603
                              text=True, timeout=30, check=False, env=_probe_env())
    except (OSError, subprocess.TimeoutExpired) as err:
        raise VerifyUsageError(f"--python {python}: cannot run it ({err})") from err
    try:
        found = json.loads(done.stdout)
        return _environment(found)
    except (ValueError, KeyError, TypeError, AttributeError):
        first = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise VerifyUsageError(f"--python {python}: not a Python interpreter this can read "
                               f"(exit {done.returncode}: {first})") from None


def environment_for(python: Path | None) -> Environment:
    """`--python PATH` probed from outside, else the running interpreter."""
    return probe_environment(python) if python is not None else running_environment()
