"""`gateway verify`: is this environment exactly what the lock says, and nothing more?

The lock's hashes are checked once, by pip, at install time. Afterwards an
environment drifts (a `pip install` of something else, an upgrade pulled by
hand, a file edited in site-packages) or is poisoned (a release that adds a
`.pth`, as LiteLLM 1.82.8 did). This module compares an environment with a
lock, reading files only, and returns a `Report`:

1. (the lock's own consistency is `lockfile.py`'s job, checked by the tests)
2. installed distributions equal the lock: none missing, none extra, no
   other version (pins whose environment marker is false here are not
   expected); the allowed extras policy is `allowed_extra`;
3. every installed file matches its RECORD, and no file sits in site-packages
   that no RECORD lists (`installed.py`);
4. no start-up hook outside the allow-list (`startup_hooks.py`);
5. provenance: when provenance.json gives a `record_sha256` for an installed
   name and version, the installed RECORD must have that digest; and a
   provenance checker, when one is passed in, judges each distribution.

The environment is never imported or run with site enabled: its layout is
read as `environment.py` says, so no `.pth` of it runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker

from gateway_cli.supply import bytecode, installed, startup_hooks
from gateway_cli.supply.environment import Environment, running_environment
from gateway_cli.supply.lockfile import PROJECT, Pin, parse_markers, parse_requirements
from gateway_cli.supply.model import (
    Check,
    Problem,
    Severity,
    Verdict,
    catalogue,
    marker_applies,
    outcome_severity,
    same_version,
    tally_provenance,
)
from gateway_cli.supply.provenance_types import (  # re-exported: part of verify's interface
    InstalledDistribution as InstalledDistribution,
)
from gateway_cli.supply.provenance_types import ProvenanceChecker as ProvenanceChecker
from gateway_cli.supply.provenance_types import ProvenanceOutcome as ProvenanceOutcome
from gateway_cli.supply.provenance_types import ProvenanceStatus as ProvenanceStatus
from gateway_cli.supply.provenance_types import ProvenanceSummary as ProvenanceSummary
from gateway_cli.supply.provenance_types import VerifyUsageError as VerifyUsageError
from gateway_cli.supply.verify_cache import (
    DistPrint,
    VerifyCache,
    dist_fingerprint,
    tree_fingerprint,
)

RUNTIME_LOCK = "requirements.txt"
BUILD_LOCK = "requirements-build.txt"
RELEASE_LOCK = "requirements-release.txt"
TEST_LOCK = "requirements-test.txt"


_RECREATE = ("recreate the environment from the lock (python -m venv --clear ENV, then "
             "pip install --require-hashes --no-deps -r each lockfile) and find out what "
             "changed it before trusting it again")
_REMOVE_HOOK = ("do not start Python in this environment until it is removed: delete the file "
                "or " + _RECREATE + "; if a locked distribution installs it on purpose, review "
                "it and add it to ALLOWED in gateway_cli/supply/startup_hooks.py")

CHECKS: dict[str, Check] = catalogue(
    Check("lock.missing", "A distribution the lock pins is not installed",
          "install it from the lock: pip install --require-hashes --no-deps -r LOCKFILE"),
    Check("lock.extra", "A distribution is installed that the lock does not pin",
          "uninstall it (pip uninstall NAME), or declare it in pyproject.toml and re-lock "
          "(gateway lock)"),
    Check("lock.version", "An installed distribution is not the version the lock pins",
          "reinstall from the lock: pip install --require-hashes --no-deps --force-reinstall "
          "-r LOCKFILE"),
    Check("dist.metadata", "A distribution's metadata is missing, unreadable or inconsistent",
          "remove the broken .dist-info (or legacy .egg-info) and reinstall the distribution "
          "from the lock with pip"),
    Check("dist.duplicate", "A distribution is installed twice",
          "remove the stale .dist-info directory, then reinstall from the lock"),
    Check("files.missing", "A file listed in RECORD is missing", _RECREATE),
    Check("files.modified", "A file's content differs from its RECORD hash", _RECREATE),
    Check("files.size", "A file's size differs from RECORD", _RECREATE),
    Check("files.not-regular", "A file listed in RECORD is now a link, directory or device",
          _RECREATE),
    Check("files.unhashed", "A RECORD entry has no acceptable hash, so it cannot be verified",
          "reinstall the distribution from the lock with pip, which hashes every file"),
    Check("files.outside", "A RECORD entry points outside the environment", _RECREATE),
    Check("files.unlisted", "A file inside a distribution's directory that no RECORD lists",
          "delete the file (or " + _RECREATE + ")"),
    Check("files.unowned", "A file in site-packages that no installed distribution lists",
          "delete it (or " + _RECREATE + ")"),
    Check("files.pyc", "Cached bytecode that Python would run instead of a verified source",
          "delete the __pycache__ directory it is in (Python recompiles from the source), "
          "then find out what wrote it"),
    Check("hooks.pth-import", "A .pth file runs code at every interpreter start", _REMOVE_HOOK),
    Check("hooks.pth-module", "A module imported at every start by an allowed .pth is not "
          "allowed", _REMOVE_HOOK),
    Check("hooks.pth-path", "A .pth file adds a directory to sys.path at every start",
          _REMOVE_HOOK),
    Check("hooks.customize", "A sitecustomize/usercustomize module runs at every start",
          _REMOVE_HOOK),
    Check("hooks.system-site-packages", "The venv also loads the base interpreter's "
          "site-packages", "set include-system-site-packages = false in pyvenv.cfg, or "
          "recreate the venv without --system-site-packages"),
    Check("provenance.record", "The installed RECORD is not the one of the attested wheel",
          _RECREATE),
    Check("provenance.failed", "A distribution's provenance failed verification", _RECREATE),
    Check("provenance.unknown", "A distribution's provenance could not be established",
          "add its attestation to provenance.json, or accept it as unattested in the "
          "provenance policy; fails only with --strict"),
)


@dataclass(frozen=True)
class Violation(Problem):
    """One thing wrong with the environment: a problem (its check a key of CHECKS), the
    distribution it is about, and what to do, spelled out for it."""

    distribution: str | None = None
    fix: str = ""



@dataclass(frozen=True)
class Lock:
    """The union of one or more hash-pinned requirements files."""

    files: tuple[Path, ...]
    pins: Mapping[str, Pin]
    markers: Mapping[str, str]  # name -> environment marker, for pins that have one
    origin: Mapping[str, Path]  # name -> the lockfile that pins it
    # Pins that may be absent: a developer checkout's test and release locks, accepted
    # when installed (checked like any pin) but not required.
    optional: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Allowed:
    """Something present that the policy accepts, listed so it is never silent."""

    kind: Literal["extra", "hook"]
    name: str
    path: str
    why: str


@dataclass(frozen=True)
class Report(Verdict[Violation]):
    """Everything one verify run found, for `report.py` to render."""

    environment: Environment
    locks: tuple[Path, ...]
    strict: bool
    distributions: int
    files_checked: int
    problems: tuple[Violation, ...]
    allowed: tuple[Allowed, ...]
    provenance: ProvenanceSummary
    cache: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


# --- the lock ----------------------------------------------------------------------------------

def lock_directory() -> Path:
    """`lockfiles/` of the checkout the gateway runs from (in the release binary: the lock
    it embeds)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and isinstance(bundle, str):
        return Path(bundle) / "lockfiles"
    return Path(__file__).resolve().parents[2] / "lockfiles"


def default_lock_paths(dev: bool = False) -> list[Path]:
    """The lockfiles of the documented install (runtime + build), or all of them with `dev`.

    The README installs requirements.txt together with requirements-build.txt
    (setuptools builds the project), so a correctly installed gateway has
    setuptools: the runtime lock alone would call it an extra.
    """
    folder = lock_directory()
    names = [RUNTIME_LOCK, BUILD_LOCK] + ([RELEASE_LOCK, TEST_LOCK] if dev else [])
    paths = [folder / name for name in names]
    if not paths[0].is_file():
        raise VerifyUsageError(f"no lockfiles next to the gateway package ({folder}); "
                               "pass --lock FILE")
    return [p for p in paths if p.is_file() or p.name == RUNTIME_LOCK]


def load_lock(paths: Sequence[Path]) -> Lock:
    """The union of requirements files; a file that is not a hash-pinned lock is refused."""
    if not paths:
        raise VerifyUsageError("no lockfile given; pass --lock FILE")
    pins: dict[str, Pin] = {}
    markers: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise VerifyUsageError(f"--lock {path}: cannot read it ({reason})") from err
        found, problems = parse_requirements(text)
        if problems:
            raise VerifyUsageError(f"--lock {path}: {problems[0]} (a lock has only "
                                   "NAME==VERSION lines with --hash=sha256:...)")
        if not found:
            raise VerifyUsageError(f"--lock {path}: no pinned requirement in it; is it a "
                                   "requirements file?")
        for name, marker in parse_markers(text).items():
            try:
                Marker(marker)
            except InvalidMarker as err:
                raise VerifyUsageError(f"--lock {path}: {name}: invalid marker '{marker}'") \
                    from err
            markers[name] = marker
        for name, pin in found.items():
            if name in pins and pins[name].version != pin.version:
                raise VerifyUsageError(
                    f"--lock {path}: {name}=={pin.version} but {origin[name]} pins "
                    f"{pins[name].version}; locks of two resolutions cannot be combined")
            pins.setdefault(name, pin)
            origin.setdefault(name, path)
    return Lock(tuple(paths), pins, markers, origin)


# --- the checks --------------------------------------------------------------------------------

def _violation(check: str, distribution: str | None, path: Path | str | None, message: str,
               severity: Severity = "error", lockfile: Path | None = None) -> Violation:
    fix = CHECKS[check].fix
    if distribution:
        fix = fix.replace("NAME", distribution)
    if lockfile is not None:
        fix = fix.replace("LOCKFILE", str(lockfile))
    return Violation(check, str(path) if path is not None else None, message, severity,
                     distribution, fix)


def _expected_here(name: str, lock: Lock, env: Environment) -> bool:
    return marker_applies(lock.markers.get(name), env.markers)


def _installed_from_local_source(dist: installed.Distribution) -> str | None:
    """The file:// URL direct_url.json records, if the distribution came from a local path."""
    try:
        data = json.loads((dist.dist_info / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url.startswith("file://") else None


def bundled_pip_digest(version: str, interpreter_path: Sequence[Path]) -> str | None:
    """The RECORD digest of the interpreter's own pip wheel (ensurepip) of `version`, if any.

    That wheel ships with the interpreter, outside site-packages, so it is a
    reference a change inside the environment cannot rewrite.
    """
    for folder in interpreter_path:
        wheel = folder / "ensurepip" / "_bundled" / f"pip-{version}-py3-none-any.whl"
        if wheel.is_file():
            try:
                return installed.record_digest_from_wheel(wheel)
            except (OSError, ValueError):
                return None
    return None


def allowed_extra(dist: installed.Distribution, lock: Lock,
                  interpreter_path: Sequence[Path] = ()) -> str | None:
    """Why an installed distribution that the lock does not pin is acceptable, or None.

    Policy: the project itself (`gateway`) when pip recorded that it was
    installed from a local checkout or wheel (direct_url.json with a file://
    URL), since it is never on an index and never in its own lock (a
    `gateway` from an index would be someone else's project); and `pip`,
    the venv's own installer, when the locks in use do not pin it (the
    runtime lock does, and then its version must match).
    """
    if dist.name in lock.pins and dist.name not in lock.optional:
        return None
    if dist.name == PROJECT:
        url = _installed_from_local_source(dist)
        return f"the project itself, installed from {url}" if url else None
    if dist.name == "pip":
        # Vouched for by the interpreter's bundled wheel, never by its own RECORD alone
        # (a RECORD rewritten along with the files it lists would pass that).
        bundled = bundled_pip_digest(dist.version, interpreter_path)
        if bundled is not None and installed.installed_record_digest(dist) == bundled:
            return ("the environment's own installer, identical to the interpreter's bundled "
                    "pip wheel (ensurepip); the locks in use do not pin pip")
        return None
    return None


def environment_roots(env: Environment) -> list[Path]:
    """Where RECORD entries may point: the prefix, and the base of a site outside it.

    A user site (~/.local/lib/python3.11/site-packages) installs scripts in
    ~/.local/bin, three levels up, exactly as a venv's site does in its prefix.
    """
    roots = [env.prefix]
    for site in env.sites:
        if not site.is_relative_to(env.prefix) and len(site.parents) > 3:
            roots.append(site.parents[2])
    return roots


def _lock_checks(dists: Sequence[installed.Distribution], lock: Lock, env: Environment
                 ) -> tuple[list[Violation], list[Allowed]]:
    violations: list[Violation] = []
    allowed: list[Allowed] = []
    present = {d.name: d for d in dists}
    for name, pin in sorted(lock.pins.items()):
        if name not in present and name not in lock.optional and _expected_here(name, lock, env):
            violations.append(_violation(
                "lock.missing", name, lock.origin[name],
                f"{name}=={pin.version} is pinned by {lock.origin[name].name} but not installed",
                lockfile=lock.origin[name]))
    for dist in sorted(dists, key=lambda d: d.name):
        locked = lock.pins.get(dist.name)
        if locked is not None and dist.name in lock.optional \
                and not same_version(dist.version, locked.version):
            locked = None  # an allowed pin at another version: judged as any extra is
        if locked is None:
            why = allowed_extra(dist, lock, env.interpreter_path)
            if why:
                allowed.append(Allowed("extra", f"{dist.name}=={dist.version}",
                                       str(dist.dist_info), why))
            else:
                extra = (" (a package named 'gateway' that was not installed from a local "
                         "checkout is not this project)" if dist.name == PROJECT else
                         " and it is not the interpreter's bundled pip (ensurepip): another "
                         "version, or its files or RECORD changed" if dist.name == "pip"
                         else "")
                violations.append(_violation(
                    "lock.extra", dist.name, dist.dist_info,
                    f"{dist.name} {dist.version} is installed but no lockfile in use pins it"
                    + extra))
        elif not _expected_here(dist.name, lock, env):
            violations.append(_violation(
                "lock.extra", dist.name, dist.dist_info,
                f"{dist.name} {dist.version} is installed, but the lock pins it only where "
                f"{lock.markers[dist.name]}"))
        elif not same_version(dist.version, locked.version):
            violations.append(_violation(
                "lock.version", dist.name, dist.dist_info,
                f"{dist.name} {dist.version} is installed, but {lock.origin[dist.name].name} "
                f"pins {locked.version}", lockfile=lock.origin[dist.name]))
    return violations, allowed


def _file_violation(problem: installed.FileProblem) -> Violation:
    check = {"metadata": "dist.metadata", "duplicate": "dist.duplicate"}.get(
        problem.kind, f"files.{problem.kind}")
    return _violation(check, problem.distribution, problem.path, problem.detail)


def _file_checks(dists: Sequence[installed.Distribution], env: Environment,
                 cache: VerifyCache | None, workers: int
                 ) -> tuple[list[installed.FileProblem], int, dict[str, DistPrint]]:
    """RECORD integrity of every distribution, skipping those the cache knows clean; and
    what each one's checks depend on (one stat of each file, the bytecode's included)."""
    prints = {dist.name: dist_fingerprint(dist) for dist in dists}
    todo = [dist for dist in dists
            if cache is None or not cache.is_clean(prints[dist.name].files)]
    problems, count = installed.check_files(todo, environment_roots(env), workers=workers)
    if cache is not None:
        dirty = {p.distribution for p in problems}
        for dist in todo:
            if dist.name not in dirty:
                cache.mark_clean(prints[dist.name].files)
    return problems, count, prints


def _unlisted_checks(dists: Sequence[installed.Distribution], env: Environment,
                     listed: dict[str, str], hook_paths: list[str], cache: VerifyCache | None,
                     prints: Mapping[str, DistPrint]) -> list[installed.FileProblem]:
    location = "\0".join(str(s) for s in env.sites)
    fp_dists = [prints[d.name].files for d in dists]
    if cache is not None:
        folders = cache.tree_folders(location)
        if folders and cache.tree_is_clean(location,
                                           tree_fingerprint(folders, fp_dists, hook_paths)):
            return []
    problems, folders = installed.unlisted_files(env.sites, dists, listed,
                                                 [Path(p) for p in hook_paths])
    if cache is not None and not problems and all(fp_dists):
        cache.mark_tree_clean(location, tree_fingerprint(folders, fp_dists, hook_paths),
                              folders)
    return problems


def _hook_checks(verdicts: Sequence[startup_hooks.Verdict]
                 ) -> tuple[list[Violation], list[Allowed]]:
    violations: list[Violation] = []
    allowed: list[Allowed] = []
    for verdict in verdicts:
        hook = verdict.hook
        if verdict.rule is not None:
            name = os.path.relpath(hook.path, hook.site) if hook.site else hook.path.name
            allowed.append(Allowed("hook", name, str(hook.path), verdict.rule.why))
            continue
        violations.append(_violation(
            f"hooks.{hook.kind}", None, hook.path,
            f"{hook.detail}; not allowed: {verdict.reason}"))
    return violations, allowed


def _record_digest(dist: installed.Distribution, cache: VerifyCache | None,
                   key: str | None) -> str:
    """The canonical RECORD digest (a sort of every row), remembered by RECORD's stat."""
    digest = cache.value(key) if cache is not None else None
    if digest is None:
        digest = installed.installed_record_digest(dist)
        if cache is not None:
            cache.remember(key, digest)
    return digest


def _provenance_checks(dists: Sequence[installed.Distribution],
                       record_digests: Mapping[tuple[str, str], frozenset[str]],
                       checker: ProvenanceChecker | None, cache: VerifyCache | None,
                       prints: Mapping[str, DistPrint]
                       ) -> tuple[list[Violation], ProvenanceSummary]:
    violations: list[Violation] = []
    records = 0
    infos = []
    for dist in dists:
        expected = record_digests.get((dist.name, dist.version))
        if not expected and checker is None:
            continue  # the digest costs a canonical sort of RECORD: only when someone needs it
        digest = _record_digest(dist, cache, prints[dist.name].record)
        infos.append(InstalledDistribution(dist.name, dist.version, dist.dist_info, digest))
        if expected:
            records += 1
            if digest not in expected:
                violations.append(_violation(
                    "provenance.record", dist.name, dist.dist_info / "RECORD",
                    f"RECORD digest {digest[:16]}... matches no record_sha256 in provenance.json "
                    f"for {dist.name} {dist.version}: the installed files are not those of the "
                    "attested wheel"))
    if checker is None:
        return violations, ProvenanceSummary(records_checked=records)
    summary, flagged = tally_provenance(checker(infos), records)
    violations += [_violation(f"provenance.{outcome.status}", outcome.distribution,
                              outcome.path, outcome.message, outcome_severity(outcome))
                   for outcome in flagged]
    return violations, summary


def verify(env: Environment, lock: Lock, *, strict: bool = False,
           record_digests: Mapping[tuple[str, str], frozenset[str]] | None = None,
           provenance: ProvenanceChecker | None = None, cache: VerifyCache | None = None,
           workers: int = 4) -> Report:
    """Every check of the module docstring, against one environment and one lock."""
    started = time.perf_counter()
    dists, dist_problems = installed.find_distributions(env.sites)
    violations = [_file_violation(p) for p in dist_problems]
    lock_violations, allowed = _lock_checks(dists, lock, env)
    violations += lock_violations

    file_problems, files_checked, prints = _file_checks(dists, env, cache, workers)
    violations += [_file_violation(p) for p in file_problems]
    pyc_problems, _ = bytecode.check_bytecode(dists, cache, prints)
    violations += [_file_violation(p) for p in pyc_problems]

    listed = installed.listed_paths(dists)
    hooks = startup_hooks.find_hooks(env.sites, env.interpreter_path, env.pyvenv_cfg)
    hook_violations, hook_allowed = _hook_checks(startup_hooks.judge(hooks, listed, env.sites))
    violations += hook_violations
    allowed += hook_allowed
    hook_paths = sorted(os.path.normpath(str(h.path)) for h in hooks)
    stray = _unlisted_checks(dists, env, listed, hook_paths, cache, prints)
    violations += [_file_violation(p) for p in stray]

    provenance_violations, summary = _provenance_checks(dists, record_digests or {}, provenance,
                                                        cache, prints)
    violations += provenance_violations
    if cache is not None:
        cache.save()
    cache_info: dict[str, Any] = ({"used": cache.usable, "hits": cache.hits,
                                   "misses": cache.misses, "note": cache.note,
                                   "directory": str(cache.directory)}
                                  if cache is not None else {"used": False})
    return Report(env, lock.files, strict, len(dists), files_checked, tuple(violations),
                  tuple(allowed), summary, cache_info, time.perf_counter() - started)


def verify_running(strict: bool = False, locks: Sequence[Path] = (),
                   provenance: ProvenanceChecker | None = None,
                   lock: Lock | None = None) -> Report:
    """The start-up check: the running interpreter against the lock, with the cache."""
    if lock is None:
        lock = load_lock(list(locks) or default_lock_paths())
    digests: Mapping[tuple[str, str], frozenset[str]] = {}
    if provenance is None:
        from gateway_cli.supply import provenance_check

        path = provenance_check.default_path()
        if path.is_file():
            provenance, digests = provenance_check.for_file(path)
    return verify(running_environment(), lock, strict=strict, record_digests=digests,
                  provenance=provenance, cache=VerifyCache.load())
