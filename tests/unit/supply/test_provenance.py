"""Offline PEP 740 verification against the pinned Sigstore root, on real attestations.

Every fixture in tests/fixtures/provenance is a real Sigstore-signed
attestation copied from pypi-attestations' and sigstore-python's test suites
(see its README for sources, artifact digests and expected publishers).
Nothing here is mocked: each bad input is a real attestation put where it
does not belong, or a real one with a byte changed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest

from gateway_cli.supply import trust
from gateway_cli.supply.provenance import (
    PUBLISH_V1,
    SLSA_PROVENANCE_V1,
    ArtifactEntry,
    ProvenanceFile,
    PublisherPin,
    decode_file,
    encode_file,
    summarise,
    verify_entry,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "provenance"

# Artifacts of the fixtures: (project, version, filename, sha256), from the fixtures' README.
PYPI_ATTESTATIONS = ("pypi-attestations", "0.0.19", "pypi_attestations-0.0.19.tar.gz",
                     "9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3")
SIGSTORE = ("sigstore", "3.6.1", "sigstore-3.6.1.tar.gz",
            "ee60fdc9236fd6709271ad53b44027461360c3fde155d2af15482e4c451ff865")
MODELS = ("pypi-attestation-models", "0.0.4a2", "pypi_attestation_models-0.0.4a2.tar.gz",
          "c9709ce6fd5b67b59b4a28758cf14d3f411803c4b89b6068b1f1a8e4ee94c8ef")
GITLAB = ("gitlab-oidc-project", "0.0.3", "gitlab_oidc_project-0.0.3.tar.gz",
          "c1ca9b0d85df1606451098233018534497bf584362e10e4a8c21dfaea92c02a8")
RFC8785 = ("rfc8785", "0.1.2", "rfc8785-0.1.2-py3-none-any.whl",
           "c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201")

PIN_PYPI_ATTESTATIONS = PublisherPin("GitHub", "trailofbits/pypi-attestations", "release.yml")
PIN_SIGSTORE = PublisherPin("GitHub", "sigstore/sigstore-python", "release.yml")
PIN_MODELS = PublisherPin("GitHub", "trailofbits/pypi-attestation-models", "release.yml")
PIN_GITLAB = PublisherPin("GitLab", "facutuesca/gitlab-oidc-project", ".gitlab-ci.yml")
PIN_RFC8785 = PublisherPin("GitHub", "trailofbits/rfc8785.py", "release.yml")


def fixture_json(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def publisher_block(pin: PublisherPin) -> dict[str, Any]:
    """The `publisher` object of a PEP 740 attestation bundle, as PyPI serves it."""
    key = "workflow" if pin.kind == "GitHub" else "workflow_filepath"
    return {"kind": pin.kind, "repository": pin.repository, key: pin.workflow,
            "environment": pin.environment}


def provenance_object(pin: PublisherPin, *attestations: dict[str, Any]) -> dict[str, Any]:
    """A provenance object in the Integrity API's format, around real attestations."""
    return {"version": 1, "attestation_bundles": [
        {"publisher": publisher_block(pin), "attestations": list(attestations)}]}


# The provenance the Integrity API would serve for each fixture artifact.
def served_provenance() -> dict[str, dict[str, Any]]:
    return {
        PYPI_ATTESTATIONS[2]: fixture_json("pypi_attestations-0.0.19.tar.gz.provenance"),
        SIGSTORE[2]: fixture_json("sigstore-3.6.1.tar.gz.provenance"),
        MODELS[2]: provenance_object(
            PIN_MODELS, fixture_json("pypi_attestation_models-0.0.4a2.tar.gz.attestation")),
        GITLAB[2]: provenance_object(
            PIN_GITLAB, fixture_json("gitlab_oidc_project-0.0.3.tar.gz.publish.attestation")),
    }


Status = Literal["attested", "unattested", "unknown"]


def entry(artifact: tuple[str, str, str, str], provenance: dict[str, Any] | None,
          status: Status | None = None) -> ArtifactEntry:
    name, version, filename, sha256 = artifact
    return ArtifactEntry(name=name, version=version, filename=filename, sha256=sha256,
                         status=status or ("attested" if provenance else "unattested"),
                         provenance=provenance)


def first_attestation(provenance: dict[str, Any]) -> dict[str, Any]:
    return dict(provenance["attestation_bundles"][0]["attestations"][0])


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Verification must not touch the network nor any TUF cache: both would fail here."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during offline verification: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for var in ("HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "home"))
    yield
    assert not (tmp_path / "home").exists(), "something wrote a cache (TUF?) during verification"


@pytest.fixture(scope="module")
def verifier() -> Any:
    return trust.pinned_verifier()


@pytest.fixture(scope="module")
def staging_verifier() -> Any:
    """Sigstore's *staging* root, as shipped inside the sigstore package.

    The rfc8785 attestations (email identity) were signed by Sigstore staging,
    not production, so only this root gets far enough to check their identity.
    """
    import sigstore

    root = (Path(sigstore.__file__).parent / "_store" /
            "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev" / "trusted_root.json").read_bytes()
    return trust.build_verifier(trust.check_root(root, hashlib.sha256(root).hexdigest()))


# -- valid attestations ---------------------------------------------------------------------------

VALID = [
    pytest.param(PYPI_ATTESTATIONS, PIN_PYPI_ATTESTATIONS, id="pypi_attestations-0.0.19"),
    pytest.param(SIGSTORE, PIN_SIGSTORE, id="sigstore-3.6.1"),
    pytest.param(MODELS, PIN_MODELS, id="pypi_attestation_models-0.0.4a2"),
    pytest.param(GITLAB, PIN_GITLAB, id="gitlab_oidc_project-0.0.3"),
]


@pytest.mark.parametrize(("artifact", "pin"), VALID)
def test_valid_provenance_verifies_offline_against_the_pinned_root(
        artifact: tuple[str, str, str, str], pin: PublisherPin, verifier: Any) -> None:
    served = served_provenance()[artifact[2]]
    pinned = verify_entry(entry(artifact, served), pin, verifier)
    assert pinned.kind == "verified", pinned.message
    assert pinned.passed
    assert pinned.publisher == pin
    assert pinned.attestations == (PUBLISH_V1,)


@pytest.mark.parametrize(("artifact", "pin"), VALID)
def test_first_sight_returns_the_publisher_the_provenance_names(
        artifact: tuple[str, str, str, str], pin: PublisherPin, verifier: Any) -> None:
    result = verify_entry(entry(artifact, served_provenance()[artifact[2]]), None, verifier)
    assert result.kind == "verified", result.message
    assert result.publisher == pin


def test_slsa_provenance_is_verified_alongside_the_publish_attestation(verifier: Any) -> None:
    both = provenance_object(
        PIN_PYPI_ATTESTATIONS,
        fixture_json("pypi_attestations-0.0.19.tar.gz.publish.attestation"),
        fixture_json("pypi_attestations-0.0.19.tar.gz.slsa.attestation"))
    result = verify_entry(entry(PYPI_ATTESTATIONS, both), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "verified", result.message
    assert result.attestations == (PUBLISH_V1, SLSA_PROVENANCE_V1)


def test_slsa_provenance_alone_is_not_enough(verifier: Any) -> None:
    only_slsa = provenance_object(
        PIN_PYPI_ATTESTATIONS, fixture_json("pypi_attestations-0.0.19.tar.gz.slsa.attestation"))
    result = verify_entry(entry(PYPI_ATTESTATIONS, only_slsa), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "no-publish-attestation"
    assert "no PyPI publish attestation" in result.message


def test_a_provenance_with_no_attestation_is_refused(verifier: Any) -> None:
    empty = provenance_object(PIN_PYPI_ATTESTATIONS)
    result = verify_entry(entry(PYPI_ATTESTATIONS, empty), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "no-publish-attestation"
    assert "no attestation at all" in result.message


def test_a_second_bundle_from_another_publisher_is_refused(verifier: Any) -> None:
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    extra = copy.deepcopy(served["attestation_bundles"][0])
    extra["publisher"] = publisher_block(PIN_SIGSTORE)
    served["attestation_bundles"].append(extra)
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), None, verifier)
    assert result.kind == "publisher-repository"


# -- each bad input, its own error ----------------------------------------------------------------

def test_flipped_digest_is_a_digest_mismatch(verifier: Any) -> None:
    name, version, filename, sha256 = PYPI_ATTESTATIONS
    flipped = ("0" if sha256[0] != "0" else "1") + sha256[1:]
    result = verify_entry(entry((name, version, filename, flipped),
                                served_provenance()[filename]), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "digest-mismatch"
    assert sha256 in result.message and flipped in result.message
    assert "do not install" in result.message


def test_bundle_for_another_artifact_is_refused(verifier: Any) -> None:
    # A genuine bundle of the right publisher, replayed onto another file.
    replayed = served_provenance()[PYPI_ATTESTATIONS[2]]
    result = verify_entry(entry(SIGSTORE, replayed), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "wrong-artifact"
    assert "pypi_attestations-0.0.19.tar.gz" in result.message
    assert "another artifact" in result.message


def test_wrong_publisher_repository_is_refused(verifier: Any) -> None:
    fork = PublisherPin("GitHub", "attacker/pypi-attestations", "release.yml")
    result = verify_entry(entry(PYPI_ATTESTATIONS, served_provenance()[PYPI_ATTESTATIONS[2]]),
                          fork, verifier)
    assert result.kind == "publisher-repository"
    assert "https://github.com/trailofbits/pypi-attestations" in result.message
    assert "attacker/pypi-attestations" in result.message
    assert "--accept-change" in result.message


def test_wrong_workflow_is_refused(verifier: Any) -> None:
    other = PublisherPin("GitHub", "trailofbits/pypi-attestations", "nightly.yml")
    result = verify_entry(entry(PYPI_ATTESTATIONS, served_provenance()[PYPI_ATTESTATIONS[2]]),
                          other, verifier)
    assert result.kind == "publisher-workflow"
    assert "nightly.yml" in result.message
    assert ".github/workflows/release.yml@refs/tags/v0.0.19" in result.message


def test_wrong_ci_service_is_refused(verifier: Any) -> None:
    on_gitlab = PublisherPin("GitLab", "trailofbits/pypi-attestations", ".gitlab-ci.yml")
    result = verify_entry(entry(PYPI_ATTESTATIONS, served_provenance()[PYPI_ATTESTATIONS[2]]),
                          on_gitlab, verifier)
    assert result.kind == "publisher-kind"
    assert "GitHub CI" in result.message


def test_pinned_environment_must_match_the_publisher_block(verifier: Any) -> None:
    with_env = PublisherPin("GitHub", "trailofbits/pypi-attestations", "release.yml", "pypi")
    result = verify_entry(entry(PYPI_ATTESTATIONS, served_provenance()[PYPI_ATTESTATIONS[2]]),
                          with_env, verifier)
    assert result.kind == "publisher-environment"
    assert "environment pypi" in result.message


def test_publisher_block_other_than_the_pin_is_refused(verifier: Any) -> None:
    # The signatures are the pinned publisher's, but the index names someone else.
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    served["attestation_bundles"][0]["publisher"]["repository"] = "attacker/pypi-attestations"
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "publisher-repository"


def test_email_identity_is_refused_where_a_trusted_publisher_is_pinned(
        staging_verifier: Any) -> None:
    signed_by_person = provenance_object(
        PIN_RFC8785, fixture_json("rfc8785-0.1.2-py3-none-any.whl.publish.attestation"))
    result = verify_entry(entry(RFC8785, signed_by_person), PIN_RFC8785, staging_verifier)
    assert result.kind == "email-identity"
    assert "william@yossarian.net" in result.message
    assert "not by a CI Trusted Publisher" in result.message


def test_attestation_from_another_sigstore_instance_does_not_verify(verifier: Any) -> None:
    # The rfc8785 attestation is genuine, but signed by Sigstore staging: the pinned
    # production root must not accept it.
    staging_signed = provenance_object(
        PIN_RFC8785, fixture_json("rfc8785-0.1.2-py3-none-any.whl.publish.attestation"))
    result = verify_entry(entry(RFC8785, staging_signed), PIN_RFC8785, verifier)
    assert result.kind == "invalid-signature"
    assert "pinned Sigstore production root" in result.message


def _flip_base64_byte(value: str, index: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_byte_flipped_in_the_signature_is_an_invalid_signature(verifier: Any) -> None:
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    attestation = served["attestation_bundles"][0]["attestations"][0]
    attestation["envelope"]["signature"] = _flip_base64_byte(
        attestation["envelope"]["signature"], 20)
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "invalid-signature"
    assert "does not verify" in result.message


def test_byte_flipped_in_the_certificate_is_refused(verifier: Any) -> None:
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    material = served["attestation_bundles"][0]["attestations"][0]["verification_material"]
    material["certificate"] = _flip_base64_byte(material["certificate"], 300)
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind in ("invalid-signature", "corrupt-bundle")
    assert "do not install" in result.message


def test_byte_flipped_in_the_statement_is_an_invalid_signature(verifier: Any) -> None:
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    attestation = served["attestation_bundles"][0]["attestations"][0]
    statement = base64.b64decode(attestation["envelope"]["statement"]).replace(
        b"9bb1add0", b"9bb1add1")
    attestation["envelope"]["statement"] = base64.b64encode(statement).decode()
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "invalid-signature"


@pytest.mark.parametrize("damage", [
    pytest.param(lambda a: a["verification_material"].update(
        certificate=a["verification_material"]["certificate"][:200]), id="truncated-certificate"),
    pytest.param(lambda a: a["envelope"].update(signature="not base64!"),
                 id="signature-not-base64"),
    pytest.param(lambda a: a["verification_material"].update(transparency_entries=[]),
                 id="no-transparency-entry"),
    pytest.param(lambda a: a["verification_material"]["transparency_entries"][0].pop("logIndex"),
                 id="broken-transparency-entry"),
    pytest.param(lambda a: a.pop("envelope"), id="no-envelope"),
])
def test_corrupted_attestation_is_a_corrupt_bundle(damage: Any, verifier: Any) -> None:
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    damage(served["attestation_bundles"][0]["attestations"][0])
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), PIN_PYPI_ATTESTATIONS, verifier)
    assert result.kind == "corrupt-bundle", result.message
    assert "fetch" in result.message


def test_provenance_object_without_bundles_is_a_corrupt_bundle(verifier: Any) -> None:
    result = verify_entry(entry(PYPI_ATTESTATIONS, {"version": 1}), PIN_PYPI_ATTESTATIONS,
                          verifier)
    assert result.kind == "corrupt-bundle"
    assert "attestation_bundles" in result.message


def test_truncated_provenance_record_is_rejected() -> None:
    served = served_provenance()
    data = encode_file(ProvenanceFile(version=1, publishers={"sigstore": PIN_SIGSTORE},
                                      artifacts=[entry(SIGSTORE, served[SIGSTORE[2]])]))
    with pytest.raises(msgspec.DecodeError, match="truncated"):
        decode_file(data[: len(data) // 2])


def test_publisher_kind_that_cannot_be_pinned_is_refused(verifier: Any) -> None:
    served = served_provenance()[PYPI_ATTESTATIONS[2]]
    served["attestation_bundles"][0]["publisher"] = {"kind": "Google", "email": "x@y.iam"}
    result = verify_entry(entry(PYPI_ATTESTATIONS, served), None, verifier)
    assert result.kind == "publisher-kind"
    assert "only GitHub and GitLab" in result.message


def test_tampered_trusted_root_is_refused(tmp_path: Path) -> None:
    shipped = trust.read_root()
    assert hashlib.sha256(shipped).hexdigest() == trust.PINNED_ROOT_SHA256
    tampered = tmp_path / "trusted_root.json"
    tampered.write_bytes(shipped.replace(b"https://rekor.sigstore.dev",
                                         b"https://rekor.attacker.dev", 1))
    with pytest.raises(trust.TrustRootError, match="altered") as err:
        trust.pinned_verifier(tampered)
    assert trust.PINNED_ROOT_SHA256 in str(err.value)
    assert "reinstall the gateway" in str(err.value)


def test_unreadable_trusted_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(trust.TrustRootError, match="cannot read"):
        trust.pinned_verifier(tmp_path / "missing.json")


def test_unusable_trusted_root_is_refused() -> None:
    garbage = b'{"mediaType": "something else"}'
    with pytest.raises(trust.TrustRootError, match="not usable"):
        trust.build_verifier(trust.check_root(garbage, hashlib.sha256(garbage).hexdigest()))


# -- no provenance ---------------------------------------------------------------------------------

LITELLM = ("litellm", "1.82.7", "litellm-1.82.7-py3-none-any.whl",
           hashlib.sha256(b"simulated litellm 1.82.7 wheel, uploaded with a stolen token")
           .hexdigest())
# Illustrative pin: the simulation needs *a* trusted publisher for the project.
PIN_LITELLM = PublisherPin("GitHub", "BerriAI/litellm", "publish.yml")


def test_litellm_case_pinned_project_without_provenance_is_refused(verifier: Any) -> None:
    result = verify_entry(entry(LITELLM, None), PIN_LITELLM, verifier)
    assert result.kind == "missing-provenance"
    assert not result.passed
    assert "litellm 1.82.7" in result.message
    assert "BerriAI/litellm" in result.message
    assert "do not install it" in result.message
    assert "--accept-change litellm" in result.message


def test_unpinned_project_without_provenance_passes_as_unattested(verifier: Any) -> None:
    result = verify_entry(entry(RFC8785, None), None, verifier)
    assert result.kind == "unattested"
    assert result.passed


def test_provenance_not_fetched_yet_is_reported_honestly(verifier: Any) -> None:
    unknown = msgspec.structs.replace(entry(RFC8785, None, "unknown"),
                                      reason="the mirror serves no provenance")
    assert verify_entry(unknown, None, verifier).kind == "unknown"
    pinned = verify_entry(unknown, PIN_RFC8785, verifier)
    assert pinned.kind == "missing-provenance"
    assert "the mirror serves no provenance" in pinned.message


# -- the provenance.json model --------------------------------------------------------------------

def test_provenance_file_round_trips(verifier: Any) -> None:
    served = served_provenance()
    document = ProvenanceFile(
        version=1,
        publishers={"sigstore": PIN_SIGSTORE, "pypi-attestations": PIN_PYPI_ATTESTATIONS},
        artifacts=[entry(SIGSTORE, served[SIGSTORE[2]]), entry(RFC8785, None),
                   entry(PYPI_ATTESTATIONS, served[PYPI_ATTESTATIONS[2]])])
    data = encode_file(document)
    again = decode_file(data)
    assert list(again.publishers) == ["pypi-attestations", "sigstore"]
    assert [a.name for a in again.artifacts] == ["pypi-attestations", "rfc8785", "sigstore"]
    # The provenance is kept exactly as served, so it still verifies after the round trip.
    assert again.artifacts[0].provenance == served[PYPI_ATTESTATIONS[2]]
    assert verify_entry(again.artifacts[0], PIN_PYPI_ATTESTATIONS, verifier).kind == "verified"
    assert encode_file(again) == data


def _document(**artifact: Any) -> bytes:
    base = {"name": "rfc8785", "version": "0.1.2", "filename": RFC8785[2],
            "sha256": RFC8785[3], "status": "unattested"}
    return json.dumps({"version": 1, "publishers": {},
                       "artifacts": [{**base, **artifact}]}).encode()


@pytest.mark.parametrize(("change", "message"), [
    ({"sha256": "C4E9"}, "sha256"),
    ({"status": "attested"}, "status 'attested' but provenance is missing"),
    ({"status": "unattested", "provenance": {"version": 1}}, "provenance is present"),
    ({"status": "maybe"}, "status"),
    ({"filename": "rfc8785.exe"}, "not a wheel or sdist filename"),
    ({"publisher": "me"}, "unknown field"),
])
def test_malformed_provenance_file_is_rejected_with_the_reason(change: dict[str, Any],
                                                               message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        decode_file(_document(**change))


def test_publisher_keys_must_be_normalised_names() -> None:
    data = json.dumps({"version": 1, "artifacts": [], "publishers": {
        "PyPI_Attestations": msgspec.to_builtins(PIN_PYPI_ATTESTATIONS)}}).encode()
    with pytest.raises(msgspec.ValidationError, match="write 'pypi-attestations'"):
        decode_file(data)


def test_unsupported_version_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="version"):
        decode_file(b'{"version": 2, "publishers": {}, "artifacts": []}')


def test_summarise_counts_each_kind(verifier: Any) -> None:
    served = served_provenance()
    results = [
        verify_entry(entry(SIGSTORE, served[SIGSTORE[2]]), PIN_SIGSTORE, verifier),
        verify_entry(entry(RFC8785, None), None, verifier),
        verify_entry(entry(LITELLM, None), PIN_LITELLM, verifier),
        verify_entry(entry(SIGSTORE, served[PYPI_ATTESTATIONS[2]]), PIN_SIGSTORE, verifier),
    ]
    summary = summarise(results)
    assert (summary.total, summary.verified, summary.unattested, summary.failed) == (4, 1, 1, 2)
    assert summary.failures == {"missing-provenance": 1, "publisher-repository": 1}
