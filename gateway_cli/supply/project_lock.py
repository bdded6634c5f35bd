"""Provenance and RECORD digests for the gateway's own lock (`gateway lock`).

The project's lock is checked by the same code as a user's (`userlock.pin`),
so a dependency that loses its trusted-publisher provenance, or changes
publisher, stops a re-lock exactly as it fails a user's CI. Where the index
cannot be asked (it serves no integrity API, or it is unreachable), every
artifact is recorded honestly as `unknown` with the reason, never left out.

RECORD digests are computed from the wheels pip downloads for this machine,
checked against the lock's hashes; wheels for other platforms keep `null`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Mapping, Set
from pathlib import Path

from gateway_cli.supply import integrity_api, userlock
from gateway_cli.supply.installed import record_digest_from_wheel
from gateway_cli.supply.integrity_api import IndexAPIError
from gateway_cli.supply.provenance import ArtifactEntry, ProvenanceFile

PYLOCK = Path("lockfiles/pylock.toml")
REQUIREMENTS = Path("lockfiles/requirements.txt")
STORE = Path("lockfiles/provenance.json")
# A locked project known to publish PEP 740 provenance: if the index lists none for it,
# the index does not implement PEP 740 and every artifact is recorded as unknown.
PROBE_PROJECT = "sigstore"


def download_record_digests(root: Path) -> dict[str, str]:
    """RECORD digest of every locked wheel pip picks for this machine, by filename."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(  # noqa: S603 - fixed argv, hash-checked downloads
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--require-hashes", "--only-binary", ":all:", "-r", str(root / REQUIREMENTS),
             "-d", tmp],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise userlock.LockfileError(f"pip download of the locked wheels failed: {last}")
        return {wheel.name: record_digest_from_wheel(wheel)
                for wheel in sorted(Path(tmp).glob("*.whl"))}


def unknown_entries(root: Path, reason: str,
                    previous: Mapping[str, ArtifactEntry]) -> list[ArtifactEntry]:
    entries = []
    for artifact in userlock.read_lock(root / PYLOCK):
        assert artifact.filename is not None  # pylock.toml always names its files
        old = previous.get(artifact.sha256)
        entries.append(ArtifactEntry(
            name=artifact.name, version=artifact.version, filename=artifact.filename,
            sha256=artifact.sha256, record_sha256=old.record_sha256 if old else None,
            status="unknown", reason=reason, provenance=None))
    return entries


def with_records(document: ProvenanceFile, records: Mapping[str, str]) -> ProvenanceFile:
    entries = [
        ArtifactEntry(name=e.name, version=e.version, filename=e.filename, sha256=e.sha256,
                      record_sha256=records.get(e.filename, e.record_sha256),
                      status=e.status, reason=e.reason, provenance=e.provenance)
        for e in document.artifacts
    ]
    return ProvenanceFile(version=document.version, publishers=document.publishers,
                          artifacts=entries)


def refresh(root: Path, *, base: str, accepted: Set[str], fetch: bool,
            records: Mapping[str, str]) -> tuple[ProvenanceFile, userlock.PinReport | None]:
    """Fetch, verify and pin provenance for the runtime lock, then write provenance.json.

    Returns the document written and the pin report (None when nothing could be fetched).
    A pin report that refuses something writes nothing: the caller reports and fails.
    """
    from gateway_cli.supply.trust import pinned_verifier

    store = root / STORE
    previous = userlock.read_store(store) if store.exists() else None
    by_sha = {e.sha256: e for e in previous.artifacts} if previous else {}
    report: userlock.PinReport | None = None
    if fetch:
        try:
            if not integrity_api.serves_provenance(base, PROBE_PROJECT):
                raise IndexAPIError(f"{base} implements no PEP 740 provenance (its JSON Simple "
                                    "API has no 'provenance' keys)")
            report = userlock.pin(root / PYLOCK, store=store, base=base, accepted=accepted,
                                  verifier=pinned_verifier())
        except IndexAPIError as err:
            reason = f"not fetched: {err}"
            document = ProvenanceFile(version=1,
                                      publishers=previous.publishers if previous else {},
                                      artifacts=unknown_entries(root, reason, by_sha))
        else:
            if report.written is None:
                return previous or ProvenanceFile(version=1, publishers={}, artifacts=[]), report
            document = userlock.read_store(store)
    else:
        document = ProvenanceFile(
            version=1, publishers=previous.publishers if previous else {},
            artifacts=unknown_entries(root, "not fetched: `gateway lock --no-fetch`", by_sha))
    document = with_records(document, records)
    userlock.write_store(store, document)
    return document, report


def stale(root: Path) -> list[str]:
    """Why the committed provenance.json does not describe the committed lock (offline)."""
    store = root / STORE
    if not store.exists():
        return [f"{STORE} is missing; run `gateway lock`"]
    recorded = {e.sha256 for e in userlock.read_store(store).artifacts}
    locked = {a.sha256: a for a in userlock.read_lock(root / PYLOCK)}
    problems = [f"{STORE}: {a.filename} ({a.name} {a.version}) is locked but not recorded"
                for sha, a in sorted(locked.items()) if sha not in recorded]
    problems += [f"{STORE}: records an artifact (sha256 {sha[:12]}...) the lock no longer has"
                 for sha in sorted(recorded - set(locked))]
    return problems
