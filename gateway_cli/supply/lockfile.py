"""Consistency of pyproject.toml, uv.lock and the exported lockfiles.

The lock is what actually gets installed, so a dependency added to
pyproject.toml without re-locking silently never ships, and a hand-edited
requirements file can smuggle in a different artifact. These pure checks
compare the declared dependencies with the ones the resolution recorded, and
each exported view (requirements*.txt, pylock.toml) with that resolution,
hash for hash. Each returns a list of problems, empty when all agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

# packaging.requirements (and its marker and specifier parsers) is imported where it is
# used: the release binary's self-check parses its embedded lock at every start with
# `parse_requirements`, which needs none of it.

PROJECT = "gateway"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:(?P<digest>[0-9a-f]{64})\b")
_LOCAL = re.compile(r"file:|(^|\s)(/|\.\./|~)|--find-links|--index-url|--extra-index-url|-f\s")


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: frozenset[str]


def _requirement_key(name: str, specifier: str = "", marker: str | None = None,
                     extras: Iterable[str] = ()) -> str:
    from packaging.requirements import Requirement

    req = Requirement(f"{name}{specifier}" + (f"; {marker}" if marker else ""))
    req.extras = set(extras)
    spec = ",".join(sorted(str(s) for s in req.specifier))
    extra = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    mark = f"; {req.marker}" if req.marker else ""
    return f"{canonicalize_name(req.name)}{extra}{spec}{mark}"


def declared(pyproject: Mapping[str, Any]) -> dict[str, set[str]]:
    """Declared requirements by section: 'runtime' and each dependency group."""
    out = {"runtime": {_requirement_key(**_parse(r)) for r in
                       pyproject.get("project", {}).get("dependencies", [])}}
    for group, reqs in pyproject.get("dependency-groups", {}).items():
        out[group] = {_requirement_key(**_parse(r)) for r in reqs if isinstance(r, str)}
    return out


def _parse(text: str) -> dict[str, Any]:
    from packaging.requirements import Requirement

    req = Requirement(text)
    return {"name": req.name, "specifier": str(req.specifier),
            "marker": str(req.marker) if req.marker else None, "extras": req.extras}


def _project(uv_lock: Mapping[str, Any]) -> Mapping[str, Any]:
    for package in uv_lock.get("package", []):
        if package.get("name") == PROJECT:
            return dict(package)
    return {}


def locked_declarations(uv_lock: Mapping[str, Any]) -> dict[str, set[str]]:
    """The requirements uv.lock was resolved for, by the same sections as `declared`."""
    meta = _project(uv_lock).get("metadata", {})

    def keys(entries: Iterable[Mapping[str, Any]]) -> set[str]:
        return {_requirement_key(e["name"], e.get("specifier", ""), e.get("marker"),
                                 e.get("extras", ())) for e in entries}

    out = {"runtime": keys(meta.get("requires-dist", []))}
    for group, entries in meta.get("requires-dev", {}).items():
        out[group] = keys(entries)
    return out


def drift(pyproject: Mapping[str, Any], uv_lock: Mapping[str, Any]) -> list[str]:
    """Differences between what pyproject.toml declares and what the lock resolved."""
    if not _project(uv_lock):
        return [f"uv.lock has no entry for the project '{PROJECT}'"]
    want, have = declared(pyproject), locked_declarations(uv_lock)
    problems = []
    for section in sorted(set(want) | set(have)):
        for req in sorted(want.get(section, set()) - have.get(section, set())):
            problems.append(f"{section}: '{req}' is declared in pyproject.toml but not locked")
        for req in sorted(have.get(section, set()) - want.get(section, set())):
            problems.append(f"{section}: '{req}' is locked but no longer declared")
    return problems


def resolved_pins(uv_lock: Mapping[str, Any]) -> dict[str, Pin]:
    """Every registry package in uv.lock with the sha256 of each of its artifacts."""
    pins: dict[str, Pin] = {}
    for package in uv_lock.get("package", []):
        if "registry" not in package.get("source", {}):
            continue
        artifacts = [package.get("sdist", {}), *package.get("wheels", [])]
        hashes = frozenset(a["hash"].removeprefix("sha256:") for a in artifacts if "hash" in a)
        name = str(canonicalize_name(package["name"]))
        pins[name] = Pin(name, package["version"], hashes)
    return pins


def parse_requirements(text: str) -> tuple[dict[str, Pin], list[str]]:
    """Pins of a hash-pinned requirements file, and lines that are not allowed in one."""
    pins: dict[str, Pin] = {}
    problems: list[str] = []
    logical = re.sub(r"\\\n", " ", text)
    for number, line in enumerate(logical.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        if _LOCAL.search(stripped.split(";")[0]) or stripped.startswith("-"):
            problems.append(f"line {number}: '{stripped[:60]}' names a source or option; "
                            "a lock lists only pinned, hashed packages")
            continue
        m = _PIN.match(stripped)
        if not m:
            problems.append(f"line {number}: '{stripped[:60]}' is not pinned with ==")
            continue
        hashes = frozenset(h.group("digest") for h in _HASH.finditer(stripped))
        name = canonicalize_name(m.group("name"))
        if not hashes:
            problems.append(f"{name}: no sha256 hash")
        pins[name] = Pin(name, m.group("version"), hashes)
    return pins, problems


def parse_pylock(pylock: Mapping[str, Any]) -> tuple[dict[str, Pin], list[str]]:
    pins: dict[str, Pin] = {}
    problems: list[str] = []
    for package in pylock.get("packages", []):
        name = canonicalize_name(package["name"])
        artifacts = [package.get("sdist", {}), *package.get("wheels", [])]
        hashes = set()
        for artifact in artifacts:
            if not artifact:
                continue
            url = artifact.get("url", "")
            if "path" in artifact or not url.startswith("https://"):
                problems.append(f"{name}: artifact not fetched over https from an index "
                                f"({url or artifact.get('path')})")
            digest = artifact.get("hashes", {}).get("sha256")
            if digest:
                hashes.add(digest)
            else:
                problems.append(f"{name}: an artifact has no sha256 hash")
        pins[name] = Pin(name, package["version"], frozenset(hashes))
    return pins, problems


def compare_pins(label: str, exported: Mapping[str, Pin], resolved: Mapping[str, Pin]) -> list[str]:
    """An exported lockfile must pin exactly the resolved version and artifacts."""
    problems = []
    for name, pin in sorted(exported.items()):
        truth = resolved.get(name)
        if truth is None:
            problems.append(f"{label}: {name} is not in uv.lock")
        elif pin.version != truth.version:
            problems.append(f"{label}: {name}=={pin.version} but uv.lock resolved {truth.version}")
        elif pin.hashes != truth.hashes:
            problems.append(f"{label}: {name} hashes differ from uv.lock")
    return problems


_MARKER = re.compile(r";\s*(?P<marker>.*?)\s*(?=--hash|\\|$)")


def parse_markers(text: str) -> dict[str, str]:
    """Environment markers of the pinned lines of a requirements file, by package name.

    A pin whose marker is false on a machine (colorama on Linux) is not
    installed there, so whoever compares an environment with the lock must
    evaluate the marker instead of reporting the pin missing. Pins without a
    marker are absent from the result.
    """
    markers: dict[str, str] = {}
    for line in re.sub(r"\\\n", " ", text).splitlines():
        stripped = line.split("#", 1)[0].strip()
        pin = _PIN.match(stripped)
        marker = _MARKER.search(stripped)
        if pin and marker and marker.group("marker"):
            markers[canonicalize_name(pin.group("name"))] = marker.group("marker")
    return markers


_INCLUDES = re.compile(r"^(-r|-c|-e|--requirement|--constraint|--editable)(\s|=|$)")
_COMMENT = re.compile(r"(^|\s)#.*$")
_OPTIONS = re.compile(r"\s--?[A-Za-z]")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Requirement lines with continuations joined and comments removed, by first line number."""
    lines: list[tuple[int, str]] = []
    start, parts = 0, list[str]()
    for number, raw in enumerate(text.splitlines(), 1):
        if not parts:
            start = number
        if raw.endswith("\\"):
            parts.append(raw[:-1])
            continue
        parts.append(raw)
        joined = _COMMENT.sub("", " ".join(parts)).strip()
        parts = []
        if joined:
            lines.append((start, joined))
    if parts and (joined := _COMMENT.sub("", " ".join(parts)).strip()):
        lines.append((start, joined))
    return lines


def exact_pins(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Every (name, version) a requirements file pins exactly, and the lines that hide some.

    An advisory audit is only as good as the list it checks: a range, a URL,
    a local path or an included file names packages whose version cannot be
    known from the file, so those lines are reported rather than skipped.
    Index and hash options are harmless here and ignored; environment markers
    are ignored too, so a pin is audited on every platform.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    pins: list[tuple[str, str]] = []
    problems: list[str] = []
    for number, line in _logical_lines(text):
        shown = line[:60]
        if line.startswith("-"):
            if _INCLUDES.match(line):
                problems.append(f"line {number}: '{shown}' pulls in requirements the audit "
                                "cannot see; list them in the file pinned with ==")
            continue
        spec = _OPTIONS.split(" " + line, maxsplit=1)[0].strip()
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            problems.append(f"line {number}: '{shown}' is not a name==version pin")
            continue
        exact = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if req.url or len(exact) != 1 or len(req.specifier) != 1:
            problems.append(f"line {number}: '{shown}' is not pinned to one version with ==; "
                            "audit a lock, where every version is exact")
            continue
        pins.append((canonicalize_name(req.name), exact[0].version))
    return pins, problems
