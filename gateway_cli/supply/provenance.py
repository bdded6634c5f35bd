"""PEP 740 provenance: the `provenance.json` data model and its offline verification.

The LiteLLM 1.82.7 and 1.82.8 releases (March 2026) reached PyPI without the
Trusted Publishing provenance every earlier release carried, and stole
credentials at import. A hash lock cannot catch that: the lock records
whatever was uploaded. Provenance can: each PyPI artifact published from CI
carries Sigstore-signed attestations that name the repository and workflow
that built it. This module decides, with no network, whether the provenance
recorded for one artifact proves that the artifact (name and sha256) was
published by the publisher pinned for its project.

Verification order, for every attestation of every bundle, and why:
1. parse (a malformed object is `corrupt-bundle`);
2. signature, certificate chain, SCT and transparency-log proof against the
   pinned Sigstore root (`invalid-signature`): nothing the certificate
   claims means anything before this;
3. the signing identity against the pinned publisher (`email-identity`,
   `publisher-kind`, `publisher-repository`, `publisher-workflow`): who
   signed comes before what they signed, since a statement from someone
   else is worthless whatever it says;
4. the in-toto statement: its one subject must be this artifact's filename
   (`wrong-artifact`) and sha256 (`digest-mismatch`), its predicate a type
   PyPI accepts (`unsupported-attestation`).

Attestation types: PyPI accepts two predicate types. A publish attestation
(`https://docs.pypi.org/attestations/publish/v1`) is what Trusted Publishing
produces for every upload, so at least one is required
(`no-publish-attestation` otherwise). SLSA provenance
(`https://slsa.dev/provenance/v1`) is optional; when present it must pass
the same checks, since a bad one means someone tampered with the provenance.
Any other type is refused: PyPI would not have served it.

The GitHub/GitLab *environment* is not in the Fulcio certificate; only the
`publisher` block PyPI serves next to the attestations records it (PyPI
checked it from the OIDC token at upload). A pinned environment is compared
with that block (`publisher-environment`), which is as strong as the TLS
connection the provenance was fetched over, not as strong as a signature.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from pypi_attestations import Attestation
    from sigstore.verify import Verifier

PUBLISH_V1 = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"

Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]

ResultKind = Literal[
    # passes
    "verified", "unattested", "unknown",
    # failures
    "missing-provenance", "not-recorded", "digest-mismatch", "wrong-artifact",
    "publisher-kind", "publisher-repository", "publisher-workflow", "publisher-environment",
    "email-identity", "corrupt-bundle", "invalid-signature", "no-publish-attestation",
    "unsupported-attestation",
]
PASSING: frozenset[str] = frozenset({"verified", "unattested", "unknown"})

_ISSUERS = {"GitHub": "https://token.actions.githubusercontent.com",
            "GitLab": "https://gitlab.com"}
_HOSTS = {"GitHub": "https://github.com", "GitLab": "https://gitlab.com"}
_OID = "1.3.6.1.4.1.57264.1."
_ISSUER_V2, _REPO_URI, _REPO_DIGEST, _REPO_REF, _BUILD_CONFIG = (
    _OID + "8", _OID + "12", _OID + "13", _OID + "14", _OID + "18")


class PublisherPin(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The Trusted Publisher a project's artifacts must come from.

    `workflow` is the workflow file name for GitHub (`release.yml`) and the CI
    file path for GitLab (`.gitlab-ci.yml`), as PyPI's publisher block names
    them. `environment` None means "not pinned", not "must have none".
    """

    kind: Literal["GitHub", "GitLab"]
    repository: NonEmpty
    workflow: NonEmpty
    environment: str | None = None

    def describe(self) -> str:
        env = f", environment {self.environment}" if self.environment else ""
        return f"{self.kind} {self.repository}, workflow {self.workflow}{env}"


class ArtifactEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One locked artifact and the provenance recorded for it.

    `status` says what is known, honestly: `attested` (provenance fetched and
    kept here exactly as the index served it), `unattested` (the index said it
    has none), `unknown` (not fetched yet, e.g. the index is a mirror that
    serves no provenance; `reason` says why).
    """

    name: NonEmpty
    version: NonEmpty
    filename: NonEmpty
    sha256: Sha256
    record_sha256: Sha256 | None = None
    status: Literal["attested", "unattested", "unknown"] = "unknown"
    reason: str | None = None
    provenance: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.status == "attested") != (self.provenance is not None):
            raise ValueError(f"{self.filename}: status '{self.status}' but provenance is "
                             f"{'present' if self.provenance is not None else 'missing'}")
        if _dist_filename(self.filename) is None:
            raise ValueError(f"{self.filename}: not a wheel or sdist filename")


class ProvenanceFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`lockfiles/provenance.json`: publisher pins by project, and every artifact's provenance."""

    version: Literal[1]
    publishers: dict[str, PublisherPin]
    artifacts: list[ArtifactEntry]

    def __post_init__(self) -> None:
        for name in self.publishers:
            if name != canonicalize_name(name):
                raise ValueError(f"publisher key '{name}' is not a normalised project name "
                                 f"(write '{canonicalize_name(name)}')")


class ProvenanceResult(msgspec.Struct, frozen=True):
    """The verdict for one artifact; `message` says what is wrong and what to do."""

    name: str
    version: str
    filename: str
    kind: ResultKind
    message: str
    publisher: PublisherPin | None = None
    attestations: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.kind in PASSING


class Summary(msgspec.Struct, frozen=True):
    total: int
    verified: int
    unattested: int
    unknown: int
    failed: int
    failures: dict[str, int]


def decode_file(data: bytes) -> ProvenanceFile:
    """Parse provenance.json; `msgspec.DecodeError`/`ValidationError` name the bad field."""
    return msgspec.json.decode(data, type=ProvenanceFile)


def encode_file(document: ProvenanceFile) -> bytes:
    """Stable, reviewable JSON: pins and artifacts sorted, two-space indent."""
    ordered = ProvenanceFile(
        version=document.version,
        publishers=dict(sorted(document.publishers.items())),
        artifacts=sorted(document.artifacts, key=lambda a: (a.name, a.version, a.filename)))
    return msgspec.json.format(msgspec.json.encode(ordered), indent=2) + b"\n"


def summarise(results: Iterable[ProvenanceResult]) -> Summary:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.kind] = counts.get(result.kind, 0) + 1
    failures = {k: v for k, v in sorted(counts.items()) if k not in PASSING}
    return Summary(total=sum(counts.values()), verified=counts.get("verified", 0),
                   unattested=counts.get("unattested", 0), unknown=counts.get("unknown", 0),
                   failed=sum(failures.values()), failures=failures)


class _Refusal(Exception):
    def __init__(self, kind: ResultKind, message: str) -> None:
        super().__init__(message)
        self.kind: ResultKind = kind
        self.message = message


def verify_entry(entry: ArtifactEntry, pin: PublisherPin | None,
                 verifier: Verifier) -> ProvenanceResult:
    """Does `entry.provenance` prove that `pin` published exactly this artifact?

    With no pin (first sight), the provenance is checked against the publisher
    it names itself, and that publisher is returned for pinning.
    """
    def result(kind: ResultKind, message: str, publisher: PublisherPin | None = None,
               types: tuple[str, ...] = ()) -> ProvenanceResult:
        return ProvenanceResult(entry.name, entry.version, entry.filename, kind, message,
                                publisher, types)

    label = f"{entry.name} {entry.version} ({entry.filename})"
    if entry.provenance is None:
        return result(*_absent(entry, pin, label), publisher=None)
    try:
        publisher, types = _verify_provenance(entry.provenance, entry, pin, verifier, label)
    except _Refusal as refusal:
        return result(refusal.kind, refusal.message)
    return result("verified", f"{label}: published by {publisher.describe()}; "
                  f"{len(types)} attestation(s) verified", publisher, types)


def _absent(entry: ArtifactEntry, pin: PublisherPin | None,
            label: str) -> tuple[ResultKind, str]:
    if pin is None:
        if entry.status == "unknown":
            why = f" ({entry.reason})" if entry.reason else ""
            return "unknown", f"{label}: provenance not fetched yet{why}; nothing to verify"
        return "unattested", (f"{label}: published without provenance, and "
                              f"{entry.name} is not pinned to a publisher")
    if entry.status == "unknown":
        why = f" ({entry.reason})" if entry.reason else ""
        return "missing-provenance", (
            f"{label}: no provenance was fetched{why}, but {entry.name} is pinned to "
            f"{pin.describe()}; fetch it from an index that serves PEP 740 provenance "
            "before trusting this artifact")
    return "missing-provenance", (
        f"{label}: has NO provenance, but {entry.name} is pinned to {pin.describe()}, "
        "which published earlier releases with provenance. An upload that bypasses the "
        "project's trusted publisher is how the LiteLLM 1.82.7/1.82.8 compromise looked: "
        "do not install it; keep the previous version, and only if the maintainers confirm "
        f"they stopped using trusted publishing, re-pin with --accept-change {entry.name}")


def _verify_provenance(document: Mapping[str, Any], entry: ArtifactEntry,
                       pin: PublisherPin | None, verifier: Verifier,
                       label: str) -> tuple[PublisherPin, tuple[str, ...]]:
    from pydantic import ValidationError
    from pypi_attestations import Provenance

    blocks = _publisher_blocks(document, label)
    try:
        provenance = Provenance.model_validate(document)
    except ValidationError as err:
        raise _Refusal("corrupt-bundle", f"{label}: the provenance object is malformed "
                       f"({_first_error(err)}); fetch it again from the index") from err
    types: list[str] = []
    # Every bundle must come from one publisher: the pin, or on first sight the first
    # bundle's own, so a second bundle cannot smuggle in another publisher.
    expected = pin or (blocks[0] if blocks else None)
    for bundle, block in zip(provenance.attestation_bundles, blocks, strict=True):
        expected = expected or block  # never None here: blocks is not empty
        for number, attestation in enumerate(bundle.attestations, 1):
            where = f"{label}, attestation {number}"
            types.append(_verify_attestation(attestation, entry, expected, verifier, where))
        _check_block(block, expected, label)
    if PUBLISH_V1 not in types or expected is None:
        found = ", ".join(types) or "no attestation at all"
        raise _Refusal("no-publish-attestation", (
            f"{label}: the provenance holds {found} but no PyPI publish attestation, which "
            "every trusted-publishing upload carries; treat the artifact as unattested and "
            "do not install it until the index serves complete provenance"))
    return blocks[0], tuple(types)


def _publisher_blocks(provenance: Mapping[str, Any], label: str) -> list[PublisherPin]:
    """Each bundle's publisher as a pin; kinds other than GitHub/GitLab cannot be pinned."""
    bundles = provenance.get("attestation_bundles")
    if not isinstance(bundles, list):
        raise _Refusal("corrupt-bundle", f"{label}: the provenance object has no "
                       "'attestation_bundles' list; fetch it again from the index")
    pins = []
    for bundle in bundles:
        block = bundle.get("publisher") if isinstance(bundle, dict) else None
        if not isinstance(block, dict):
            raise _Refusal("corrupt-bundle", f"{label}: an attestation bundle has no "
                           "publisher; fetch the provenance again from the index")
        kind = block.get("kind")
        if kind not in ("GitHub", "GitLab"):
            raise _Refusal("publisher-kind", (
                f"{label}: published by a {kind!r} trusted publisher; only GitHub and GitLab "
                "publishers can be pinned, so this artifact cannot be verified: "
                "review it by hand before installing"))
        workflow = block.get("workflow" if kind == "GitHub" else "workflow_filepath")
        try:
            pins.append(msgspec.convert(
                {"kind": kind, "repository": block.get("repository"), "workflow": workflow,
                 "environment": block.get("environment") or None}, PublisherPin))
        except msgspec.ValidationError as err:
            raise _Refusal("corrupt-bundle", f"{label}: malformed publisher block "
                           f"({err}); fetch the provenance again from the index") from err
    return pins


def _verify_attestation(attestation: Attestation, entry: ArtifactEntry, expected: PublisherPin,
                        verifier: Verifier, where: str) -> str:
    from cryptography import x509
    from sigstore.errors import Error as SigstoreError
    from sigstore.errors import VerificationError

    try:
        bundle = attestation.to_bundle()
        payload_type, payload = verifier.verify_dsse(bundle, _AfterwardsIdentity())
    except VerificationError as err:
        raise _Refusal("invalid-signature", (
            f"{where}: the signature does not verify against the pinned Sigstore production "
            f"root ({err}); the provenance was forged, tampered with, or signed by another "
            "Sigstore instance: do not install the artifact")) from err
    except (SigstoreError, ValueError, TypeError, KeyError, IndexError) as err:
        raise _Refusal("corrupt-bundle", (
            f"{where}: the attestation is corrupt ({type(err).__name__}: {err}); fetch the "
            "provenance again from the index, and do not install the artifact until it "
            "verifies")) from err
    cert: x509.Certificate = bundle.signing_certificate
    _check_identity(cert, attestation.certificate_claims, expected, where)
    if payload_type != DSSE_PAYLOAD_TYPE:
        raise _Refusal("corrupt-bundle", f"{where}: the envelope carries {payload_type}, "
                       "not an in-toto statement; fetch the provenance again")
    return _check_statement(payload, entry, where)


class _AfterwardsIdentity:
    """A sigstore policy that accepts any identity, because `_check_identity` runs next.

    sigstore raises the same `VerificationError` for a broken chain and for a
    wrong signer; checking the identity separately, only once the signature is
    known to be good, is what lets each failure say what it is. Never use this
    without `_check_identity` after it.
    """

    def verify(self, cert: Certificate) -> None:
        return None


def _check_identity(cert: Certificate, claims: Mapping[str, str], expected: PublisherPin,
                    where: str) -> None:
    from cryptography import x509
    from pypi_attestations import GitHubPublisher, GitLabPublisher
    from sigstore.errors import VerificationError

    issuer = claims.get(_ISSUER_V2, "")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        emails = []
    if emails or issuer not in _ISSUERS.values():
        who = emails[0] if emails else "an identity"
        raise _Refusal("email-identity", (
            f"{where}: signed by {who} (issuer {issuer or 'unknown'}), a personal identity, "
            f"not by a CI Trusted Publisher, but the project is pinned to "
            f"{expected.describe()}; do not install the artifact: anyone holding that "
            "account could have signed it"))
    if issuer != _ISSUERS[expected.kind]:
        actual = next(k for k, v in _ISSUERS.items() if v == issuer)
        raise _Refusal("publisher-kind", (
            f"{where}: published from {actual} CI, but the project is pinned to "
            f"{expected.describe()}; do not install it unless the maintainers announced the "
            f"move (then re-pin with --accept-change)"))
    want_repo = f"{_HOSTS[expected.kind]}/{expected.repository}"
    repo = claims.get(_REPO_URI, "")
    if repo != want_repo:
        raise _Refusal("publisher-repository", (
            f"{where}: built in repository {repo or '(none)'}, but the project is pinned to "
            f"{expected.describe()}; a release from another repository (a fork, a hijacked "
            "account) must not be installed unless the maintainers announced the move "
            "(then re-pin with --accept-change)"))
    separator = "/.github/workflows/" if expected.kind == "GitHub" else "//"
    config = claims.get(_BUILD_CONFIG, "")
    suffixes = [claims[oid] for oid in (_REPO_DIGEST, _REPO_REF) if oid in claims]
    if config not in {f"{want_repo}{separator}{expected.workflow}@{s}" for s in suffixes}:
        raise _Refusal("publisher-workflow", (
            f"{where}: built by {config or '(no build config)'}, not by the pinned workflow "
            f"{expected.workflow} of {expected.repository}; another workflow in the same "
            "repository may have been abused: do not install the artifact unless the "
            "maintainers renamed the workflow (then re-pin with --accept-change)"))
    publisher = (GitHubPublisher(repository=expected.repository, workflow=expected.workflow)
                 if expected.kind == "GitHub" else
                 GitLabPublisher(repository=expected.repository,
                                 workflow_filepath=expected.workflow))
    try:  # pypi-attestations' own Trusted Publisher policy must agree with the checks above
        publisher._as_policy().verify(cert)
    except (VerificationError, x509.ExtensionNotFound) as err:
        raise _Refusal("publisher-workflow", f"{where}: the certificate does not match "
                       f"{expected.describe()} ({err}); do not install the artifact") from err


def _check_block(block: PublisherPin, pin: PublisherPin, label: str) -> None:
    """PyPI's publisher block must name the pinned publisher (only it records the environment)."""
    if (block.kind, block.repository, block.workflow) != (pin.kind, pin.repository, pin.workflow):
        raise _Refusal("publisher-repository" if block.repository != pin.repository
                       else "publisher-workflow", (
            f"{label}: the index says it was published by {block.describe()}, but the "
            f"project is pinned to {pin.describe()}; do not install it unless the "
            "maintainers announced the change (then re-pin with --accept-change)"))
    if pin.environment is not None and block.environment != pin.environment:
        raise _Refusal("publisher-environment", (
            f"{label}: published from environment {block.environment or '(none)'}, but the "
            f"project is pinned to environment {pin.environment}, whose protection rules "
            "(reviewers, branches) were therefore bypassed; do not install it unless the "
            "maintainers announced the change (then re-pin with --accept-change)"))


def _check_statement(payload: bytes, entry: ArtifactEntry, where: str) -> str:
    try:
        statement = json.loads(payload)
        kind = statement["_type"]
        subjects = statement["subject"]
        predicate_type = statement["predicateType"]
    except (ValueError, KeyError, TypeError) as err:
        raise _Refusal("corrupt-bundle", f"{where}: the signed statement is not an in-toto "
                       "statement; fetch the provenance again") from err
    if kind != STATEMENT_V1 or not isinstance(subjects, list) or len(subjects) != 1:
        raise _Refusal("corrupt-bundle", f"{where}: the statement must be an in-toto v1 "
                       "statement with exactly one subject; fetch the provenance again")
    subject = subjects[0] if isinstance(subjects[0], dict) else {}
    name = subject.get("name")
    digest = (subject.get("digest") or {}).get("sha256")
    if not isinstance(name, str) or _dist_filename(name) != _dist_filename(entry.filename):
        raise _Refusal("wrong-artifact", (
            f"{where}: the attestation is for {name!r}, another artifact; provenance was "
            f"copied from another file onto {entry.filename}: do not install it"))
    if digest != entry.sha256:
        raise _Refusal("digest-mismatch", (
            f"{where}: the attestation is for sha256 {digest}, but the lock pins "
            f"{entry.sha256}; the artifact in the lock is not the one that was published: "
            "do not install it, and find out who changed the lock or the file"))
    if predicate_type not in (PUBLISH_V1, SLSA_PROVENANCE_V1):
        raise _Refusal("unsupported-attestation", (
            f"{where}: attestation type {predicate_type!r} is not one PyPI accepts; the "
            "provenance was tampered with: do not install the artifact"))
    return str(predicate_type)


def _dist_filename(filename: str) -> tuple[object, ...] | None:
    """A filename's parsed identity (name, version, tags), None if it is not a distribution."""
    try:
        if filename.endswith(".whl"):
            return tuple(parse_wheel_filename(filename))
        if filename.endswith((".tar.gz", ".zip")):
            return tuple(parse_sdist_filename(filename))
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _first_error(err: Any) -> str:
    errors = err.errors()
    if not errors:
        return str(err)
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    return f"{loc}: {first.get('msg', '')}"[:200]

