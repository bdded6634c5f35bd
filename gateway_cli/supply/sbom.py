"""A CycloneDX 1.6 SBOM of the runtime lock, byte-for-byte reproducible.

Why written with msgspec rather than cyclonedx-python-lib: the library's `Bom`
stamps every document with the current time (`metadata.timestamp`, which it
always emits) and a random `serialNumber`, so two runs over the same lock
never agree and `gateway sbom --check` could only work by feeding it invented
values; its model (py-serializable, sortedcontainers, license-expression and
its schema files) would also have to travel inside the single-file binary.
The part of CycloneDX we emit is small, so typed msgspec structs write it
with a fixed key order and no clock: the serial number is a UUIDv5 of the
document's own SHA-256, so it changes exactly when the content does. The
tests validate the output against the official 1.6 JSON schema that ships
with cyclonedx-python-lib.

What goes in: one component per package of lockfiles/requirements.txt (purl,
declared licence when the installed metadata of that exact version says, and
every artifact of pylock.toml as a `distribution` reference carrying its own
SHA-256, since a package's wheels and sdist are different files with different
hashes), the dependency graph from uv.lock, and provenance properties from
lockfiles/provenance.json when it exists.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import msgspec
from packaging.utils import canonicalize_name

from gateway_cli.errors import GatewayError
from gateway_cli.supply import licences
from gateway_cli.supply.lockfile import PROJECT, Pin, parse_pylock, parse_requirements

REQUIREMENTS = "lockfiles/requirements.txt"
PYLOCK = "lockfiles/pylock.toml"
UV_LOCK = "uv.lock"
PYPROJECT = "pyproject.toml"
PROVENANCE = "lockfiles/provenance.json"
DEFAULT_OUTPUT = "sbom/gateway.cdx.json"


class SbomError(GatewayError):
    """The lock cannot be described (inconsistent files) or the SBOM is out of date."""


class SbomInputMissing(SbomError):
    """A lock file is missing: most likely the command ran in the wrong directory."""

    exit_code = 2


# ------------------------------------------------------------------ CycloneDX model


class Hash(msgspec.Struct, frozen=True):
    alg: str
    content: str


class ExternalReference(msgspec.Struct, frozen=True):
    type: str
    url: str
    comment: str
    hashes: tuple[Hash, ...]


class License(msgspec.Struct, frozen=True, omit_defaults=True):
    acknowledgement: str
    id: str | None = None
    name: str | None = None


class LicenseEntry(msgspec.Struct, frozen=True):
    license: License


class ExpressionEntry(msgspec.Struct, frozen=True):
    expression: str
    acknowledgement: str


class Property(msgspec.Struct, frozen=True):
    name: str
    value: str


class Component(msgspec.Struct, frozen=True, omit_defaults=True,
                rename={"bom_ref": "bom-ref", "external_references": "externalReferences"}):
    type: str
    bom_ref: str
    name: str
    version: str
    purl: str | None = None
    licenses: tuple[LicenseEntry | ExpressionEntry, ...] = ()
    external_references: tuple[ExternalReference, ...] = ()
    properties: tuple[Property, ...] = ()


class Dependency(msgspec.Struct, frozen=True, rename={"depends_on": "dependsOn"}):
    ref: str
    depends_on: tuple[str, ...]


class Metadata(msgspec.Struct, frozen=True):
    component: Component
    properties: tuple[Property, ...]


class Bom(msgspec.Struct, frozen=True, omit_defaults=True,
          rename={"schema": "$schema", "bom_format": "bomFormat",
                  "spec_version": "specVersion", "serial_number": "serialNumber"}):
    schema: str
    bom_format: str
    spec_version: str
    metadata: Metadata
    components: tuple[Component, ...]
    dependencies: tuple[Dependency, ...]
    version: int = 1
    serial_number: str | None = None


# ------------------------------------------------------------------ provenance.json


class _Publisher(msgspec.Struct, frozen=True):
    kind: str | None = None
    repository: str | None = None
    workflow: str | None = None
    environment: str | None = None


class _Artifact(msgspec.Struct, frozen=True):
    name: str
    version: str
    filename: str
    sha256: str
    status: str
    reason: str | None = None


class Provenance(msgspec.Struct, frozen=True):
    publishers: dict[str, _Publisher] = {}
    artifacts: tuple[_Artifact, ...] = ()


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class Artifact:
    filename: str
    url: str
    sha256: str
    kind: str  # "sdist" | "wheel"


@dataclass(frozen=True)
class Locked:
    """One runtime package as the lock files describe it."""

    name: str
    version: str
    marker: str | None
    artifacts: tuple[Artifact, ...]


@dataclass(frozen=True)
class Inputs:
    packages: tuple[Locked, ...]
    graph: Mapping[str, tuple[str, ...]]  # package -> runtime packages it needs
    project: tuple[str, str, str | None]  # name, version, licence expression
    provenance: Provenance | None
    lock_sha256: str


def _read(root: Path, relative: str) -> bytes:
    try:
        return (root / relative).read_bytes()
    except FileNotFoundError:
        raise SbomInputMissing(f"{relative} not found under {root}; run from the project "
                               "directory or pass --root") from None
    except OSError as err:
        raise SbomInputMissing(f"cannot read {root / relative}: {err.strerror}") from None


def _toml(root: Path, relative: str) -> dict[str, Any]:
    try:
        return tomllib.loads(_read(root, relative).decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SbomError(f"{relative} is not valid TOML ({err}); regenerate it with "
                        "`gateway lock`") from None


def _artifacts(package: Mapping[str, Any]) -> tuple[Artifact, ...]:
    found = []
    for kind, entry in [("sdist", package.get("sdist")),
                        *(("wheel", w) for w in package.get("wheels", []))]:
        if not entry:
            continue
        url = entry.get("url", "")
        filename = unquote(PurePosixPath(urlsplit(url).path).name)
        found.append(Artifact(filename, url, entry.get("hashes", {}).get("sha256", ""), kind))
    return tuple(sorted(found, key=lambda a: (a.kind != "sdist", a.filename)))


def _locked(requirements: str, pylock: Mapping[str, Any]) -> tuple[Locked, ...]:
    pins, problems = parse_requirements(requirements)
    exported, more = parse_pylock(pylock)
    problems += more
    by_name: dict[str, Any] = {canonicalize_name(p["name"]): p
                             for p in pylock.get("packages", [])}
    for name, pin in sorted(pins.items()):
        other: Pin | None = exported.get(name)
        if other is None or other.version != pin.version or other.hashes != pin.hashes:
            problems.append(f"{name}: {REQUIREMENTS} and {PYLOCK} disagree")
    for name in sorted(set(exported) - set(pins)):
        problems.append(f"{name}: in {PYLOCK} but not in {REQUIREMENTS}")
    if problems:
        raise SbomError(f"the lock is inconsistent ({problems[0]}); run "
                        "`gateway lock`")
    return tuple(Locked(name, pin.version, by_name[name].get("marker"),
                        _artifacts(by_name[name])) for name, pin in sorted(pins.items()))


def _graph(uv_lock: Mapping[str, Any], packages: Sequence[Locked],
           ) -> tuple[dict[str, tuple[str, ...]], tuple[str, str]]:
    """Runtime package -> the runtime packages it depends on; and the project's own pin.

    A dependency requested with extras (`cachecontrol[filecache]`) also
    brings that package's optional dependencies for those extras, which are
    recorded as the package's own edges.
    """
    runtime = {p.name: p.version for p in packages}
    entries: dict[str, Mapping[str, Any]] = {}
    project: tuple[str, str] | None = None
    for entry in uv_lock.get("package", []):
        name: str = canonicalize_name(entry.get("name", ""))
        if name == PROJECT:
            project = (name, str(entry.get("version", "")))
            entries[name] = entry
        elif runtime.get(name) == entry.get("version"):
            entries[name] = entry
    if project is None:
        raise SbomError(f"{UV_LOCK} has no entry for the project '{PROJECT}'; run "
                        "`gateway lock`")
    missing = sorted(set(runtime) - set(entries))
    if missing:
        raise SbomError(f"{UV_LOCK} does not resolve {missing[0]}=={runtime[missing[0]]} "
                        f"that {REQUIREMENTS} pins; run `gateway lock`")
    edges: dict[str, set[str]] = {name: set() for name in entries}
    for name, entry in entries.items():
        for dep in entry.get("dependencies", []):
            target = canonicalize_name(dep["name"])
            if target not in runtime:
                continue
            edges[name].add(target)
            optional = entries[target].get("optional-dependencies", {})
            for extra in dep.get("extra", []):
                edges[target].update(canonicalize_name(d["name"]) for d in
                                     optional.get(extra, [])
                                     if canonicalize_name(d["name"]) in runtime)
    return {k: tuple(sorted(v)) for k, v in edges.items()}, project


def _provenance(root: Path) -> Provenance | None:
    if not (root / PROVENANCE).exists():
        return None
    try:
        return msgspec.json.decode(_read(root, PROVENANCE), type=Provenance)
    except msgspec.DecodeError as err:
        raise SbomError(f"{PROVENANCE} is not in the expected form ({err}); regenerate "
                        "it, or delete it to record provenance as unknown") from None


def _project_licence(pyproject: Mapping[str, Any]) -> str | None:
    value = pyproject.get("project", {}).get("license")
    return value if isinstance(value, str) and value else None


def load(root: Path) -> Inputs:
    """Everything the SBOM is made of, read and cross-checked; raises SbomError."""
    raw = {name: _read(root, name) for name in (REQUIREMENTS, PYLOCK, UV_LOCK)}
    packages = _locked(raw[REQUIREMENTS].decode(errors="replace"), _toml(root, PYLOCK))
    graph, (name, version) = _graph(_toml(root, UV_LOCK), packages)
    digest = hashlib.sha256()
    for relative, data in raw.items():
        digest.update(f"{relative}\0{len(data)}\0".encode() + data)
    return Inputs(packages, graph, (name, version, _project_licence(_toml(root, PYPROJECT))),
                  _provenance(root), digest.hexdigest())


# ------------------------------------------------------------------ document


def purl(name: str, version: str) -> str:
    return f"pkg:pypi/{canonicalize_name(name)}@{quote(version, safe='')}"


def _licence_entries(declared: licences.Declared | None,
                     ) -> tuple[LicenseEntry | ExpressionEntry, ...]:
    if declared is None:
        return ()
    if declared.expression:
        return (ExpressionEntry(declared.expression, "declared"),)
    return (*(LicenseEntry(License("declared", id=i)) for i in declared.ids),
            *(LicenseEntry(License("declared", name=n)) for n in declared.names))


def _provenance_properties(package: Locked, provenance: Provenance | None) -> list[Property]:
    if provenance is None:
        return [Property("gateway:provenance:status", "unknown"),
                Property("gateway:provenance:reason", "provenance.json not generated")]
    ours = {a.sha256 for a in package.artifacts}
    records = sorted((a for a in provenance.artifacts if a.sha256 in ours),
                     key=lambda a: a.filename)
    props: list[Property] = []
    statuses = sorted({a.status for a in records})
    if not records:
        props += [Property("gateway:provenance:status", "unknown"),
                  Property("gateway:provenance:reason",
                           f"no artifact of this release in {PROVENANCE}")]
    elif len(statuses) == 1:
        props.append(Property("gateway:provenance:status", statuses[0]))
        reasons = sorted({a.reason for a in records if a.reason})
        props += [Property("gateway:provenance:reason", r) for r in reasons]
    else:
        props.append(Property("gateway:provenance:status", "mixed"))
        props += [Property("gateway:provenance:artifact", f"{a.filename} {a.status}")
                  for a in records]
    publisher = provenance.publishers.get(package.name)
    if publisher is not None:
        for field in ("kind", "repository", "workflow", "environment"):
            value = getattr(publisher, field)
            if value:
                props.append(Property(f"gateway:publisher:{field}", value))
    return props


def _component(package: Locked, provenance: Provenance | None,
               licence_of: Callable[[str, str], licences.Declared | None]) -> Component:
    ref = purl(package.name, package.version)
    references = tuple(
        ExternalReference("distribution", a.url, a.kind, (Hash("SHA-256", a.sha256),))
        for a in package.artifacts)
    props = _provenance_properties(package, provenance)
    if package.marker:
        props.append(Property("gateway:environment-marker", package.marker))
    return Component("library", ref, package.name, package.version, ref,
                     _licence_entries(licence_of(package.name, package.version)),
                     references, tuple(props))


def document(inputs: Inputs,
             licence_of: Callable[[str, str], licences.Declared | None] = licences.installed,
             ) -> Bom:
    """The SBOM for these inputs; `licence_of` looks licences up (installed metadata)."""
    name, version, licence = inputs.project
    root_ref = f"{name}@{version}"  # no purl: the project is not the PyPI package "gateway"
    root = Component("application", root_ref, name, version, None,
                     (ExpressionEntry(licence, "declared"),) if licence else ())
    components = tuple(_component(p, inputs.provenance, licence_of) for p in inputs.packages)
    refs = {p.name: purl(p.name, p.version) for p in inputs.packages}
    dependencies = [Dependency(root_ref, tuple(sorted(refs[d] for d in inputs.graph[name])))]
    dependencies += [Dependency(refs[p.name], tuple(sorted(refs[d] for d in
                                                           inputs.graph.get(p.name, ()))))
                     for p in inputs.packages]
    meta = Metadata(root, (Property("gateway:lock:sha256", inputs.lock_sha256),
                           Property("gateway:lock:files", f"{REQUIREMENTS} {PYLOCK} {UV_LOCK}")))
    bom = Bom("http://cyclonedx.org/schema/bom-1.6.schema.json", "CycloneDX", "1.6", meta,
              components, tuple(dependencies))
    digest = hashlib.sha256(msgspec.json.encode(bom)).hexdigest()
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:sha256:{digest}")
    return msgspec.structs.replace(bom, serial_number=f"urn:uuid:{serial}")


def render(bom: Bom) -> bytes:
    return msgspec.json.format(msgspec.json.encode(bom), indent=2) + b"\n"


def carried_licences(previous: bytes) -> dict[str, licences.Declared]:
    """Licences an earlier SBOM recorded, by purl (name@version, so never stale).

    A package that is not installed here (a Windows-only wheel on Linux, a
    backport on a newer Python) has no metadata to read; keeping what the
    previous SBOM said for that exact release keeps the output identical on
    every machine instead of flapping between "known" and "omitted".
    """
    try:
        doc = json.loads(previous)
        components = doc.get("components", []) if isinstance(doc, dict) else []
    except ValueError:
        return {}
    found: dict[str, licences.Declared] = {}
    for c in components:
        entries = c.get("licenses") if isinstance(c, dict) else None
        if not isinstance(entries, list) or not isinstance(c.get("purl"), str):
            continue
        expressions = [e["expression"] for e in entries if isinstance(e, dict)
                       and isinstance(e.get("expression"), str)]
        chosen = [e["license"] for e in entries if isinstance(e, dict)
                  and isinstance(e.get("license"), dict)]
        found[c["purl"]] = licences.Declared(
            expression=expressions[0] if expressions else None,
            ids=tuple(str(x["id"]) for x in chosen if isinstance(x.get("id"), str)),
            names=tuple(str(x["name"]) for x in chosen if isinstance(x.get("name"), str)))
    return found


def licence_lookup(previous: bytes | None,
                   ) -> Callable[[str, str], licences.Declared | None]:
    """Installed metadata first; for releases not installed here, the previous SBOM's."""
    carried = carried_licences(previous) if previous else {}

    def lookup(name: str, version: str) -> licences.Declared | None:
        return licences.installed(name, version) or carried.get(purl(name, version))

    return lookup


# ------------------------------------------------------------------ drift


def _by_ref(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {str(c.get("bom-ref")): c for c in doc.get("components", []) if isinstance(c, dict)}


def differences(expected: bytes, committed: bytes, limit: int = 3) -> list[str]:
    """What differs between the SBOM the lock produces and a committed one, briefly."""
    if expected == committed:
        return []
    try:
        have = json.loads(committed)
        if not isinstance(have, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        return ["it is not valid JSON"]
    want = json.loads(expected)
    mine, theirs = _by_ref(want), _by_ref(have)
    found = [f"{ref} is missing" for ref in sorted(set(mine) - set(theirs))]
    found += [f"{ref} is not in the lock" for ref in sorted(set(theirs) - set(mine))]
    for ref in sorted(set(mine) & set(theirs)):
        changed = sorted(k for k in set(mine[ref]) | set(theirs[ref])
                         if mine[ref].get(k) != theirs[ref].get(k))
        if changed:
            found.append(f"{ref} differs in {', '.join(changed)}")
    for key in ("metadata", "dependencies", "specVersion", "bomFormat"):
        if want.get(key) != have.get(key):
            found.append(f"{key} differs")
    found = found or ["formatting differs"]
    return found[:limit] + ([f"{len(found) - limit} more"] if len(found) > limit else [])
