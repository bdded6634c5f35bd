"""`gateway provenance pin/check` against a local index speaking PyPI's Integrity API.

The index is a real HTTP server on 127.0.0.1 serving the real attestations
of tests/fixtures/provenance in the Integrity API's format (and 404 for a
file without provenance), plus PEP 691 JSON project pages for requirements
files. The lockfiles are written by each test from the fixtures' names,
versions and sha256 digests.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway_cli.cli.main import cli
from gateway_cli.supply.provenance import decode_file
from tests.conftest import free_port, run_gateway
from tests.unit.supply.test_provenance import (
    GITLAB,
    MODELS,
    PYPI_ATTESTATIONS,
    RFC8785,
    SIGSTORE,
    served_provenance,
)

INTEGRITY = "application/vnd.pypi.integrity.v1+json"
SIMPLE = "application/vnd.pypi.simple.v1+json"
LOCKED = [PYPI_ATTESTATIONS, SIGSTORE, MODELS, GITLAB, RFC8785]


class Index:
    """What the local index serves: path -> (status, body, content type)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.requests: list[str] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def provenance(self, artifact: tuple[str, str, str, str], document: Any) -> None:
        """Serve `document` as the file's provenance; None means it has none (404)."""
        name, version, filename, _ = artifact
        path = f"/integrity/{name}/{version}/{filename}/provenance"
        if document is None:
            body = json.dumps({"message": f"No provenance available for {filename}"})
            self.routes[path] = (404, body.encode(), "application/json")
        elif isinstance(document, bytes):
            self.routes[path] = (200, document, INTEGRITY)
        else:
            self.routes[path] = (200, json.dumps(document).encode(), INTEGRITY)

    def project_page(self, name: str, artifacts: list[tuple[str, str, str, str]]) -> None:
        files = [{"filename": a[2], "url": f"{self.url}/files/{a[2]}",
                  "hashes": {"sha256": a[3]}, "provenance": None} for a in artifacts]
        page = {"meta": {"api-version": "1.1"}, "name": name, "files": files,
                "versions": sorted({a[1] for a in artifacts})}
        self.routes[f"/simple/{name}/"] = (200, json.dumps(page).encode(), SIMPLE)


@pytest.fixture
def index() -> Iterator[Index]:
    state = Index()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            status, body, content_type = state.routes.get(
                self.path, (404, b'{"message": "Not Found"}', "application/json"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    served = served_provenance()
    for artifact in LOCKED:
        state.provenance(artifact, served.get(artifact[2]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def write_pylock(directory: Path, artifacts: list[tuple[str, str, str, str]]) -> Path:
    lines = ['lock-version = "1.0"', 'created-by = "tests"', 'requires-python = ">=3.11"', ""]
    for name, version, filename, sha256 in artifacts:
        url = f"https://files.pythonhosted.org/packages/00/00/{filename}"
        artifact = f'{{ url = "{url}", hashes = {{ sha256 = "{sha256}" }} }}'
        lines += ["[[packages]]", f'name = "{name}"', f'version = "{version}"',
                  'index = "https://pypi.org/simple"',
                  f"wheels = [{artifact}]" if filename.endswith(".whl") else f"sdist = {artifact}",
                  ""]
    path = directory / "pylock.toml"
    path.write_text("\n".join(lines))
    return path


def gateway(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gateway: ") and "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def pinned(tmp_path: Path, index: Index) -> Path:
    lock = write_pylock(tmp_path, LOCKED)
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert result.exit_code == 0, result.output + result.stderr
    return lock


def record_of(lock: Path) -> Path:
    return lock.with_name(lock.name + ".provenance.json")


# -- the happy path --------------------------------------------------------------------------------

def test_pin_records_publishers_and_bundles_then_check_passes(pinned: Path, index: Index) -> None:
    record = decode_file(record_of(pinned).read_bytes())
    assert {name: (p.kind, p.repository, p.workflow) for name, p in record.publishers.items()} == {
        "gitlab-oidc-project": ("GitLab", "facutuesca/gitlab-oidc-project", ".gitlab-ci.yml"),
        "pypi-attestation-models": ("GitHub", "trailofbits/pypi-attestation-models",
                                    "release.yml"),
        "pypi-attestations": ("GitHub", "trailofbits/pypi-attestations", "release.yml"),
        "sigstore": ("GitHub", "sigstore/sigstore-python", "release.yml"),
    }
    statuses = {a.filename: a.status for a in record.artifacts}
    assert statuses == {a[2]: "unattested" if a is RFC8785 else "attested" for a in LOCKED}
    served = served_provenance()
    assert next(a for a in record.artifacts
                if a.filename == SIGSTORE[2]).provenance == served[SIGSTORE[2]]

    online = gateway("provenance", "check", str(pinned), "--index-url", index.url)
    assert online.exit_code == 0, online.output + online.stderr
    assert "4 verified, 1 without provenance (not pinned), 0 not fetched, 0 failed" in online.stdout
    offline = gateway("provenance", "check", str(pinned), "--offline")
    assert offline.exit_code == 0, offline.output + offline.stderr


def test_pin_prints_what_it_pinned(tmp_path: Path, index: Index) -> None:
    lock = write_pylock(tmp_path, [SIGSTORE, RFC8785])
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url + "/simple/")
    assert result.exit_code == 0, result.output + result.stderr
    assert ("pinned   sigstore: GitHub sigstore/sigstore-python, workflow release.yml"
            in result.stdout)
    assert "2 artifacts, 1 with verified provenance, 1 projects pinned" in result.stdout


def test_offline_check_uses_the_recorded_bundles_only(pinned: Path, index: Index) -> None:
    before = len(index.requests)
    index.routes.clear()  # the index now serves nothing at all
    result = gateway("provenance", "check", str(pinned), "--offline")
    assert result.exit_code == 0, result.output + result.stderr
    assert len(index.requests) == before


# -- what check must catch -------------------------------------------------------------------------

def test_check_fails_when_the_index_serves_another_publishers_provenance(
        pinned: Path, index: Index) -> None:
    index.provenance(PYPI_ATTESTATIONS, served_provenance()[SIGSTORE[2]])
    result = gateway("provenance", "check", str(pinned), "--index-url", index.url)
    assert result.exit_code == 1
    assert "FAILED [publisher-repository] pypi-attestations 0.0.19" in result.stdout
    assert "https://github.com/sigstore/sigstore-python" in result.stdout
    assert one_line(result.stderr) == (
        f"gateway: provenance check failed for 1 of 5 artifacts in {pinned}")


def test_litellm_case_provenance_disappears_for_a_pinned_project(
        pinned: Path, index: Index) -> None:
    index.provenance(SIGSTORE, None)
    check = gateway("provenance", "check", str(pinned), "--index-url", index.url)
    assert check.exit_code == 1
    assert "FAILED [missing-provenance] sigstore 3.6.1 (sigstore-3.6.1.tar.gz): has NO " \
           "provenance" in check.stdout
    assert "--accept-change sigstore" in check.stdout

    before = record_of(pinned).read_bytes()
    repin = gateway("provenance", "pin", str(pinned), "--index-url", index.url)
    assert repin.exit_code == 1
    assert "REFUSED [provenance-dropped] sigstore" in repin.stdout
    assert "nothing was written" in one_line(repin.stderr)
    assert record_of(pinned).read_bytes() == before

    accepted = gateway("provenance", "pin", str(pinned), "--index-url", index.url,
                       "--accept-change", "sigstore")
    assert accepted.exit_code == 0, accepted.output + accepted.stderr
    assert "unpinned sigstore" in accepted.stdout
    assert "sigstore" not in decode_file(record_of(pinned).read_bytes()).publishers


def test_pin_refuses_a_publisher_change_unless_accepted(pinned: Path, index: Index) -> None:
    # As if the project had been pinned to another repository before: the index now
    # names trailofbits/pypi-attestations, which is a change of publisher.
    record = json.loads(record_of(pinned).read_text())
    record["publishers"]["pypi-attestations"]["repository"] = "someone/pypi-attestations"
    record_of(pinned).write_text(json.dumps(record))

    check = gateway("provenance", "check", str(pinned), "--offline")
    assert check.exit_code == 1
    assert "FAILED [publisher-repository] pypi-attestations" in check.stdout

    refused = gateway("provenance", "pin", str(pinned), "--index-url", index.url)
    assert refused.exit_code == 1
    assert "REFUSED [publisher-changed] pypi-attestations" in refused.stdout
    accepted = gateway("provenance", "pin", str(pinned), "--index-url", index.url,
                       "--accept-change", "pypi-attestations")
    assert accepted.exit_code == 0, accepted.output + accepted.stderr
    assert "re-pinned pypi-attestations: GitHub trailofbits/pypi-attestations" in accepted.stdout


def test_pin_refuses_provenance_that_does_not_verify(tmp_path: Path, index: Index) -> None:
    index.provenance(PYPI_ATTESTATIONS, served_provenance()[SIGSTORE[2]])
    lock = write_pylock(tmp_path, [PYPI_ATTESTATIONS])
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert result.exit_code == 1
    assert "FAILED [wrong-artifact]" in result.stdout
    assert not record_of(lock).exists()


def test_offline_check_detects_a_tampered_record(pinned: Path) -> None:
    record = json.loads(record_of(pinned).read_text())
    artifact = next(a for a in record["artifacts"] if a["filename"] == SIGSTORE[2])
    envelope = artifact["provenance"]["attestation_bundles"][0]["attestations"][0]["envelope"]
    signature = bytearray(base64.b64decode(envelope["signature"]))
    signature[20] ^= 1
    envelope["signature"] = base64.b64encode(bytes(signature)).decode()
    record_of(pinned).write_text(json.dumps(record))
    result = gateway("provenance", "check", str(pinned), "--offline")
    assert result.exit_code == 1
    assert "FAILED [invalid-signature] sigstore 3.6.1" in result.stdout


def test_offline_check_of_a_lock_changed_since_pin(pinned: Path) -> None:
    flipped = (*PYPI_ATTESTATIONS[:3], "0" * 64)
    write_pylock(pinned.parent, [flipped, SIGSTORE])
    result = gateway("provenance", "check", str(pinned), "--offline")
    assert result.exit_code == 1
    assert "FAILED [not-recorded] pypi-attestations 0.0.19" in result.stdout
    assert "gateway provenance pin" in result.stdout


def test_online_check_of_a_flipped_digest(pinned: Path, index: Index) -> None:
    sha = PYPI_ATTESTATIONS[3]
    write_pylock(pinned.parent, [(*PYPI_ATTESTATIONS[:3], sha[:-1] + ("0" if sha[-1] != "0"
                                                                        else "1"))])
    result = gateway("provenance", "check", str(pinned), "--index-url", index.url)
    assert result.exit_code == 1
    assert "FAILED [digest-mismatch]" in result.stdout


# -- report formats --------------------------------------------------------------------------------

def test_json_report(pinned: Path, index: Index) -> None:
    index.provenance(SIGSTORE, None)
    result = gateway("provenance", "check", str(pinned), "--index-url", index.url,
                     "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] == 1
    assert report["summary"]["failures"] == {"missing-provenance": 1}
    failed = [r for r in report["results"] if not r["passed"]]
    assert [(r["name"], r["kind"]) for r in failed] == [("sigstore", "missing-provenance")]


def test_sarif_report(pinned: Path, index: Index) -> None:
    index.provenance(PYPI_ATTESTATIONS, served_provenance()[SIGSTORE[2]])
    result = gateway("provenance", "check", str(pinned), "--index-url", index.url,
                     "--format", "sarif")
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = sarif["runs"]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert run["tool"]["driver"]["name"] == "gateway provenance check"
    (finding,) = run["results"]
    assert finding["ruleId"] == "publisher-repository"
    assert rules[finding["ruleIndex"]] == "publisher-repository"
    assert finding["level"] == "error"
    assert "pypi-attestations" in finding["message"]["text"]
    location = finding["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert location == pinned.as_uri()


def test_sarif_report_of_a_clean_lock_has_no_results(pinned: Path) -> None:
    result = gateway("provenance", "check", str(pinned), "--offline", "--format", "sarif")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["runs"][0]["results"] == []


# -- requirements files ----------------------------------------------------------------------------

def test_hash_pinned_requirements_file(tmp_path: Path, index: Index) -> None:
    for artifact in (SIGSTORE, RFC8785, GITLAB):
        index.project_page(artifact[0], [artifact])
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "# generated\n--index-url https://pypi.org/simple\n-e .\n"
        + "".join(f"{name}=={version} \\\n    --hash=sha256:{sha}\n"
                  for name, version, _, sha in (SIGSTORE, RFC8785, GITLAB)))
    pin = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert pin.exit_code == 0, pin.output + pin.stderr
    assert "/simple/sigstore/" in index.requests
    record = decode_file(record_of(lock).read_bytes())
    assert sorted(a.filename for a in record.artifacts) == sorted(
        a[2] for a in (SIGSTORE, RFC8785, GITLAB))

    index.routes.clear()
    offline = gateway("provenance", "check", str(lock), "--offline")
    assert offline.exit_code == 0, offline.output + offline.stderr
    assert "2 verified, 1 without provenance" in offline.stdout


def test_requirement_whose_hash_the_index_does_not_list(tmp_path: Path, index: Index) -> None:
    index.project_page("sigstore", [SIGSTORE])
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"sigstore==3.6.1 --hash=sha256:{'1' * 64}\n")
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert result.exit_code == 1
    assert "the index lists no file with sha256 1111" in one_line(result.stderr)


# -- usage errors: exit 2, one clear line ----------------------------------------------------------

@pytest.mark.parametrize(("name", "content", "expected"), [
    ("pylock.toml", "[[packages]\nname = ", "not valid TOML"),
    ("pylock.toml", '[[packages]]\nname = "x"\n', "lacks 'version'"),
    ("pylock.toml", '[[packages]]\nname = "x"\nversion = "1"\n'
                    'sdist = { url = "https://x/x-1.tar.gz" }\n', "no sha256 hash"),
    ("pylock.toml", 'lock-version = "1.0"\n', "no hash-pinned artifacts"),
    ("requirements.txt", "sigstore>=3\n", "not pinned with =="),
    ("requirements.txt", "sigstore==3.6.1\n", "no sha256 hash"),
    ("requirements.txt", "-r other.txt\n", "includes another file"),
    ("requirements.txt", "# nothing locked\n", "no hash-pinned artifacts"),
])
def test_malformed_lockfile_is_a_usage_error(tmp_path: Path, name: str, content: str,
                                             expected: str) -> None:
    lock = tmp_path / name
    lock.write_text(content)
    result = gateway("provenance", "check", str(lock), "--offline")
    assert result.exit_code == 2, result.output + result.stderr
    assert expected in one_line(result.stderr)


def test_binary_lockfile_is_a_usage_error(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_bytes(b"\xff\xfe\x00garbage")
    result = gateway("provenance", "pin", str(lock))
    assert result.exit_code == 2
    assert "cannot read lockfile" in one_line(result.stderr)


def test_missing_lockfile_is_a_usage_error(tmp_path: Path) -> None:
    result = gateway("provenance", "check", str(tmp_path / "pylock.toml"))
    assert result.exit_code == 2
    assert "does not exist" in one_line(result.stderr)


def test_check_before_pin_is_a_usage_error(tmp_path: Path) -> None:
    lock = write_pylock(tmp_path, [SIGSTORE])
    result = gateway("provenance", "check", str(lock), "--offline")
    assert result.exit_code == 2
    assert "run `gateway provenance pin`" in one_line(result.stderr)


def test_truncated_record_is_a_usage_error(pinned: Path) -> None:
    data = record_of(pinned).read_bytes()
    record_of(pinned).write_bytes(data[: len(data) // 2])
    result = gateway("provenance", "check", str(pinned), "--offline")
    assert result.exit_code == 2
    assert "is not a valid provenance record" in one_line(result.stderr)


@pytest.mark.parametrize("url", ["ftp://pypi.org", "http://pypi.org", "file:///etc",
                                 "https://user:pw@pypi.org"])
def test_unsafe_index_url_is_a_usage_error(tmp_path: Path, url: str) -> None:
    lock = write_pylock(tmp_path, [SIGSTORE])
    result = gateway("provenance", "pin", str(lock), "--index-url", url)
    assert result.exit_code == 2
    assert "--index-url" in one_line(result.stderr)


def test_subprocess_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text("not toml [")
    result = run_gateway("provenance", "check", str(lock), "--offline")
    assert result.returncode == 2
    assert "not valid TOML" in one_line(result.stderr)


# -- index failures: exit 1, one clear line --------------------------------------------------------

def test_unreachable_index(tmp_path: Path) -> None:
    lock = write_pylock(tmp_path, [SIGSTORE])
    result = gateway("provenance", "pin", str(lock), "--index-url",
                     f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach" in one_line(result.stderr)
    assert "--offline" in result.stderr


def test_index_answering_truncated_json(tmp_path: Path, index: Index) -> None:
    text = json.dumps(served_provenance()[SIGSTORE[2]]).encode()
    index.provenance(SIGSTORE, text[: len(text) // 2])
    lock = write_pylock(tmp_path, [SIGSTORE])
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert result.exit_code == 1
    assert "is not JSON" in one_line(result.stderr)


def test_index_answering_something_else(tmp_path: Path, index: Index) -> None:
    index.provenance(SIGSTORE, {"message": "hello"})
    lock = write_pylock(tmp_path, [SIGSTORE])
    result = gateway("provenance", "check", str(lock), "--index-url", index.url)
    assert result.exit_code == 2  # no record yet
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert result.exit_code == 1
    assert "not a PEP 740 provenance object" in one_line(result.stderr)


def test_index_server_error(tmp_path: Path, index: Index) -> None:
    name, version, filename, _ = SIGSTORE
    index.routes[f"/integrity/{name}/{version}/{filename}/provenance"] = (503, b"busy",
                                                                          "text/plain")
    lock = write_pylock(tmp_path, [SIGSTORE])
    result = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert result.exit_code == 1
    assert "answered HTTP 503" in one_line(result.stderr)
    assert "retry" in result.stderr


def test_a_check_that_verified_nothing_fails_unless_allowed(tmp_path: Path,
                                                            index: Index) -> None:
    """An index serving no provenance must not turn `check` into a silent pass."""
    index.project_page(RFC8785[0], [RFC8785])  # released with no provenance
    lock = write_pylock(tmp_path, [RFC8785])
    pin = gateway("provenance", "pin", str(lock), "--index-url", index.url)
    assert pin.exit_code == 0, pin.output + pin.stderr
    result = gateway("provenance", "check", str(lock), "--offline")
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        f"gateway: provenance check verified nothing in {lock} (1 artifacts, none with "
        "provenance to verify); pass --allow-unknown to accept that")
    allowed = gateway("provenance", "check", str(lock), "--offline", "--allow-unknown")
    assert allowed.exit_code == 0, allowed.output + allowed.stderr
    assert "0 verified, 1 without provenance" in allowed.stdout
