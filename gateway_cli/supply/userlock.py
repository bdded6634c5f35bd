"""The provenance check for users' own lockfiles (`gateway provenance pin/check`).

A project that installs from a hash lock is protected from a changed file,
not from a bad release that was locked in good faith. Run in CI on every
lock change, `pin` records, beside the lock, who publishes each dependency
(its Trusted Publisher) and the PEP 740 provenance of every locked artifact;
`check` then fails the build when an artifact's provenance is missing where
its project used to publish it (the LiteLLM 1.82.7/1.82.8 case), comes from
another publisher, or does not verify. `check --offline` re-verifies the
recorded bundles with no network, so a CI job can run with egress closed.

The record is `LOCKFILE.provenance.json` in the same format as the
gateway's own `lockfiles/provenance.json` (`provenance.ProvenanceFile`).
Lockfiles understood: PEP 751 `pylock.toml` / `pylock.*.toml`, and
requirements files with `--hash=sha256:` on every requirement (filenames
are looked up by hash in the index's JSON Simple API).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import msgspec
from packaging.utils import canonicalize_name

from gateway_cli import __version__
from gateway_cli.errors import GatewayError
from gateway_cli.supply import integrity_api, lockfile
from gateway_cli.supply.pins import Observation, PinUpdate, reconcile
from gateway_cli.supply.provenance import (
    ArtifactEntry,
    ProvenanceFile,
    ProvenanceResult,
    decode_file,
    encode_file,
    summarise,
    verify_entry,
)

if TYPE_CHECKING:
    from sigstore.verify import Verifier

STORE_SUFFIX = ".provenance.json"
_PYLOCK_NAME = re.compile(r"^pylock(\.[^.]+)?\.toml$")
_INCLUDE = re.compile(r"^(-r|-c|--requirement|--constraint)(\s|=|$)")


class LockfileError(GatewayError):
    """The lockfile or its provenance record cannot be read: a usage error."""

    exit_code = 2


class CheckFailed(GatewayError):
    """At least one artifact failed; the report says which and what to do."""


class LockedArtifact(msgspec.Struct, frozen=True):
    """One artifact a lock pins; `filename` is None until looked up (requirements files)."""

    name: str
    version: str
    sha256: str
    filename: str | None = None


class PinReport(msgspec.Struct, frozen=True):
    results: tuple[ProvenanceResult, ...]
    update: PinUpdate | None
    written: Path | None


# -- reading -------------------------------------------------------------------------------------

def store_path(lock: Path) -> Path:
    """Where the provenance record of `lock` lives: beside it, `LOCK.provenance.json`."""
    return lock.with_name(lock.name + STORE_SUFFIX)


def read_lock(path: Path) -> list[LockedArtifact]:
    """Every index artifact of a pylock.toml or hash-pinned requirements file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise LockfileError(f"cannot read lockfile {path}: {reason}") from err
    if _PYLOCK_NAME.match(path.name):
        artifacts = _pylock_artifacts(path, text)
    else:
        artifacts = _requirements_artifacts(path, text)
    if not artifacts:
        raise LockfileError(f"{path}: no hash-pinned artifacts found; pass a pylock.toml or a "
                            "requirements file with --hash=sha256: on every requirement")
    return artifacts


def _pylock_artifacts(path: Path, text: str) -> list[LockedArtifact]:
    try:
        document = tomllib.loads(text)
        _, problems = lockfile.parse_pylock(document)
    except tomllib.TOMLDecodeError as err:
        raise LockfileError(f"{path}: not valid TOML ({err})") from err
    except (KeyError, TypeError, AttributeError) as err:
        raise LockfileError(f"{path}: not a PEP 751 lock: a [[packages]] entry lacks "
                            f"{err}") from err
    if problems:
        raise LockfileError(f"{path}: {problems[0]}" + _more(problems))
    artifacts = []
    for package in document.get("packages", []):
        name, version = str(package["name"]), str(package["version"])
        for artifact in [package.get("sdist") or {}, *package.get("wheels", [])]:
            if not artifact:
                continue
            filename = artifact.get("name") or unquote(
                urlsplit(artifact["url"]).path.rsplit("/", 1)[-1])
            artifacts.append(LockedArtifact(name, version, artifact["hashes"]["sha256"].lower(),
                                            filename))
    return artifacts


def _requirements_artifacts(path: Path, text: str) -> list[LockedArtifact]:
    """Pins of a requirements file; option lines (index URLs, `-e .`) carry no artifact."""
    kept = []
    for number, line in enumerate(re.sub(r"\\\n", " ", text).splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if _INCLUDE.match(stripped):
            raise LockfileError(f"{path}: line {number}: '{stripped[:60]}' includes another "
                                "file, which is not followed; check each lockfile on its own")
        kept.append("" if stripped.startswith("-") else line)
    pins, problems = lockfile.parse_requirements("\n".join(kept))
    if problems:
        raise LockfileError(f"{path}: {problems[0]}" + _more(problems))
    return [LockedArtifact(pin.name, pin.version, digest)
            for pin in pins.values() for digest in sorted(pin.hashes)]


def _more(problems: Sequence[str]) -> str:
    return f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""


def read_store(path: Path) -> ProvenanceFile:
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise LockfileError(f"no provenance record {path}; run `gateway provenance pin` on the "
                            "lockfile first, and commit the file it writes") from err
    except OSError as err:
        raise LockfileError(f"cannot read provenance record {path}: {err.strerror}") from err
    try:
        return decode_file(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise LockfileError(f"{path} is not a valid provenance record ({err}); restore it from "
                            "version control or run `gateway provenance pin` again") from err


def write_store(path: Path, document: ProvenanceFile) -> None:
    """Replace the record atomically, so an interrupted run never leaves half a file."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(encode_file(document))
    os.replace(temporary, path)


# -- fetching ------------------------------------------------------------------------------------

def resolve_filenames(artifacts: Iterable[LockedArtifact], known: Mapping[str, str],
                      base: str | None) -> list[LockedArtifact]:
    """Fill in filenames: from the record (`known`, sha256 -> filename), else from the index."""
    out: list[LockedArtifact] = []
    listed: dict[str, dict[str, str]] = {}
    for artifact in artifacts:
        filename = artifact.filename or known.get(artifact.sha256)
        if filename is None:
            if base is None:
                out.append(artifact)
                continue
            project = str(canonicalize_name(artifact.name))
            if project not in listed:
                listed[project] = integrity_api.fetch_file_digests(base, project)
            filename = listed[project].get(artifact.sha256)
            if filename is None:
                raise integrity_api.IndexAPIError(
                    f"{artifact.name}=={artifact.version}: the index lists no file with sha256 "
                    f"{artifact.sha256}; the lock pins an artifact this index does not serve: "
                    "check --index-url, or re-lock")
        out.append(msgspec.structs.replace(artifact, filename=filename))
    return out


def fetch_entries(artifacts: Iterable[LockedArtifact], base: str,
                  previous: Mapping[str, ArtifactEntry]) -> list[ArtifactEntry]:
    """Each artifact's provenance as the index serves it now (or its absence)."""
    entries = []
    for artifact in artifacts:
        assert artifact.filename is not None
        document = integrity_api.fetch_provenance(base, artifact.name, artifact.version,
                                                  artifact.filename)
        old = previous.get(artifact.sha256)
        entries.append(ArtifactEntry(
            name=artifact.name, version=artifact.version, filename=artifact.filename,
            sha256=artifact.sha256, record_sha256=old.record_sha256 if old else None,
            status="attested" if document is not None else "unattested",
            reason=None if document is not None else f"{base} serves no provenance for it",
            provenance=document))
    return entries


def _by_sha(document: ProvenanceFile | None) -> dict[str, ArtifactEntry]:
    return {e.sha256: e for e in document.artifacts} if document else {}


# -- the two commands ----------------------------------------------------------------------------

def pin(lock: Path, *, store: Path, base: str, accepted: Set[str],
        verifier: Verifier) -> PinReport:
    """Fetch, verify and pin; write the record only if nothing was refused."""
    artifacts = read_lock(lock)
    previous = read_store(store) if store.exists() else None
    stored = _by_sha(previous)
    resolved = resolve_filenames(artifacts, {s: e.filename for s, e in stored.items()}, base)
    entries = fetch_entries(resolved, base, stored)
    # First verify each provenance against the publisher it names, then let the pin rules
    # compare that (now proven) publisher with the pinned one.
    results = tuple(verify_entry(entry, None, verifier) for entry in entries)
    if not all(r.passed for r in results):
        return PinReport(results, None, None)
    update = reconcile(previous.publishers if previous else {},
                       (Observation(r.name, r.filename, r.publisher) for r in results), accepted)
    if not update.ok:
        return PinReport(results, update, None)
    write_store(store, ProvenanceFile(version=1, publishers=update.pins, artifacts=entries))
    return PinReport(results, update, store)


def check(lock: Path, *, store: Path, base: str | None,
          verifier: Verifier) -> tuple[ProvenanceResult, ...]:
    """Verify every locked artifact against the pinned publishers (offline when base is None)."""
    artifacts = read_lock(lock)
    record = read_store(store)
    stored = _by_sha(record)
    pins = {str(canonicalize_name(k)): v for k, v in record.publishers.items()}
    resolved = resolve_filenames(artifacts, {s: e.filename for s, e in stored.items()}, base)
    results = []
    for artifact in resolved:
        pin_ = pins.get(str(canonicalize_name(artifact.name)))
        entry = _entry_for(artifact, stored, base)
        if entry is None:
            results.append(_not_recorded(artifact, store))
        else:
            results.append(verify_entry(entry, pin_, verifier))
    return tuple(results)


def _entry_for(artifact: LockedArtifact, stored: Mapping[str, ArtifactEntry],
               base: str | None) -> ArtifactEntry | None:
    if base is not None:
        return fetch_entries([artifact], base, stored)[0]
    old = stored.get(artifact.sha256)
    if old is None or artifact.filename is None:
        return None
    # The lock decides what is checked; the record only supplies the provenance.
    return msgspec.structs.replace(old, name=artifact.name, version=artifact.version,
                                   filename=artifact.filename)


def _not_recorded(artifact: LockedArtifact, store: Path) -> ProvenanceResult:
    return ProvenanceResult(
        artifact.name, artifact.version, artifact.filename or f"sha256:{artifact.sha256}",
        "not-recorded",
        f"{artifact.name} {artifact.version}: the artifact with sha256 {artifact.sha256} is "
        f"in the lock but not in {store.name}, so there is nothing to verify offline; the "
        "lock changed since the last pin: run `gateway provenance pin` and review the diff")


# -- reports -------------------------------------------------------------------------------------

RULES: dict[str, str] = {
    "missing-provenance": "No provenance for a project pinned to a Trusted Publisher",
    "not-recorded": "Locked artifact missing from the provenance record",
    "digest-mismatch": "Attestation is for a different sha256 than the lock pins",
    "wrong-artifact": "Attestation is for another file",
    "publisher-kind": "Published from another CI service than the pinned one",
    "publisher-repository": "Published from another repository than the pinned one",
    "publisher-workflow": "Published by another workflow than the pinned one",
    "publisher-environment": "Published from another environment than the pinned one",
    "email-identity": "Signed by a personal identity instead of a Trusted Publisher",
    "corrupt-bundle": "Provenance is malformed or corrupted",
    "invalid-signature": "Signature or certificate chain does not verify",
    "no-publish-attestation": "Provenance lacks a PyPI publish attestation",
    "unsupported-attestation": "Attestation of a type PyPI does not accept",
}


def render_text(results: Sequence[ProvenanceResult], lock: Path) -> str:
    lines = []
    for r in results:
        if r.passed:
            who = f" ({r.publisher.describe()})" if r.publisher else ""
            lines.append(f"{r.kind:<12} {r.name} {r.version} {r.filename}{who}")
        else:
            lines.append(f"FAILED [{r.kind}] {r.message}")
    s = summarise(results)
    lines.append(f"{lock}: {s.total} artifacts, {s.verified} verified, {s.unattested} "
                 f"without provenance (not pinned), {s.unknown} not fetched, {s.failed} failed")
    return "\n".join(lines) + "\n"


def render_json(results: Sequence[ProvenanceResult], lock: Path) -> str:
    document = {
        "lockfile": str(lock),
        "summary": msgspec.to_builtins(summarise(results)),
        "results": [dict(msgspec.to_builtins(r), passed=r.passed) for r in results],
    }
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"


def render_sarif(results: Sequence[ProvenanceResult], lock: Path) -> str:
    """Minimal valid SARIF 2.1.0: one result per failed artifact, located at the lockfile."""
    uri = lock.as_posix() if not lock.is_absolute() else lock.as_uri()
    document: dict[str, Any] = {
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                   "sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "gateway provenance check",
                "version": __version__,
                "rules": [{"id": rule, "name": rule, "shortDescription": {"text": text}}
                          for rule, text in RULES.items()],
            }},
            "results": [{
                "ruleId": r.kind,
                "ruleIndex": list(RULES).index(r.kind),
                "level": "error",
                "message": {"text": r.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
            } for r in results if not r.passed],
        }],
    }
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"


RENDERERS = {"text": render_text, "json": render_json, "sarif": render_sarif}

