"""The committed SBOM is the lock's, complete, valid CycloneDX 1.6, and guarded by --check."""

from __future__ import annotations

import copy
import json
import re
import shutil
import tomllib
from email.message import Message
from pathlib import Path
from typing import Any

import cyclonedx
import pytest
from packaging.utils import canonicalize_name

from gateway_cli.supply import licences, sbom
from gateway_cli.supply.lockfile import parse_requirements
from tests.conftest import ROOT, run_gateway

COMMITTED = ROOT / sbom.DEFAULT_OUTPUT
SCHEMAS = Path(str(cyclonedx.__file__)).parent / "schema" / "_res"
LOCK_FILES = (sbom.REQUIREMENTS, sbom.PYLOCK, sbom.UV_LOCK, sbom.PYPROJECT, sbom.DEFAULT_OUTPUT,
              sbom.PROVENANCE)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(COMMITTED.read_text())
    return doc


@pytest.fixture(scope="module")
def pins() -> dict[str, Any]:
    found, problems = parse_requirements((ROOT / sbom.REQUIREMENTS).read_text())
    assert problems == []
    return dict(found)


def _purl(name: str, version: str) -> str:
    return f"pkg:pypi/{name}@{version}"


# -- the committed SBOM is the lock's --------------------------------------------------------

def test_committed_sbom_matches_the_lock() -> None:
    previous = COMMITTED.read_bytes()
    expected = sbom.render(sbom.document(sbom.load(ROOT), sbom.licence_lookup(previous)))
    assert sbom.differences(expected, previous) == [], (
        "sbom/gateway.cdx.json is out of date with the lock; run `gateway sbom` and commit it")
    assert expected == previous


def test_every_runtime_package_appears_once_with_the_locks_hashes(
        committed: dict[str, Any], pins: dict[str, Any]) -> None:
    names = [c["name"] for c in committed["components"]]
    assert sorted(names) == sorted(pins), "components and lockfiles/requirements.txt differ"
    assert len(names) == len(set(names))
    for component in committed["components"]:
        pin = pins[component["name"]]
        assert component["purl"] == _purl(pin.name, pin.version)
        assert component["bom-ref"] == component["purl"]
        digests = {h["content"] for ref in component["externalReferences"]
                   for h in ref["hashes"] if h["alg"] == "SHA-256"}
        assert digests, component["name"]
        assert digests == set(pin.hashes), f"{component['name']}: hashes differ from the lock"
        assert all(ref["type"] == "distribution" and ref["url"].startswith(
            "https://files.pythonhosted.org/") for ref in component["externalReferences"])


def test_litestar_lists_its_locked_dependencies(committed: dict[str, Any],
                                                pins: dict[str, Any]) -> None:
    uv_lock = tomllib.loads((ROOT / sbom.UV_LOCK).read_text())
    (entry,) = [p for p in uv_lock["package"] if p["name"] == "litestar"]
    wanted = sorted(_purl(pins[n].name, pins[n].version) for n in
                    (canonicalize_name(d["name"]) for d in entry["dependencies"]))
    graph = {d["ref"]: d["dependsOn"] for d in committed["dependencies"]}
    assert graph[_purl("litestar", entry["version"])] == wanted
    assert _purl("msgspec", pins["msgspec"].version) in wanted


def test_graph_covers_every_component_and_the_project(committed: dict[str, Any]) -> None:
    refs = {c["bom-ref"] for c in committed["components"]}
    graph = {d["ref"]: d["dependsOn"] for d in committed["dependencies"]}
    root = committed["metadata"]["component"]["bom-ref"]
    assert set(graph) == refs | {root}
    assert all(set(targets) <= refs for targets in graph.values())
    assert _purl("litestar", "2.25.0") in graph[root] or any(
        t.startswith("pkg:pypi/litestar@") for t in graph[root])


def test_extras_bring_their_optional_dependencies(committed: dict[str, Any]) -> None:
    """sigstore-rekor-types needs pydantic[email]: the extra's email-validator is in the graph."""
    graph = {d["ref"]: d["dependsOn"] for d in committed["dependencies"]}
    pydantic = next(r for r in graph if r.startswith("pkg:pypi/pydantic@"))
    assert any(t.startswith("pkg:pypi/email-validator@") for t in graph[pydantic])


def test_no_clock_and_a_content_derived_serial(committed: dict[str, Any]) -> None:
    assert "timestamp" not in committed["metadata"]
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                        r"[0-9a-f]{12}", committed["serialNumber"])
    again = sbom.render(sbom.document(sbom.load(ROOT), sbom.licence_lookup(
        COMMITTED.read_bytes())))
    assert again == COMMITTED.read_bytes()


# -- CycloneDX 1.6 validity ------------------------------------------------------------------
# cyclonedx-python-lib ships the official schemas but validates them only with the optional
# `jsonschema` package, which is not in the lock; this walks the same schema for the keywords
# it uses (draft-07 subset: $ref, type, enum, const, required, properties,
# additionalProperties, items / additionalItems, min/maxItems, uniqueItems, pattern,
# min/maxLength, minimum/maximum, oneOf, anyOf, allOf).

_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool,
                          "null": type(None), "number": (int, float), "integer": int}


class _Schema:
    def __init__(self) -> None:
        self.files: dict[str, Any] = {}

    def load(self, name: str) -> Any:
        if name not in self.files:
            self.files[name] = json.loads((SCHEMAS / name).read_text())
        return self.files[name]

    def resolve(self, ref: str, base: str) -> tuple[Any, str]:
        file, _, pointer = ref.partition("#")
        file = file or base
        node = self.load(file)
        for part in filter(None, pointer.split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, file

    def errors(self, value: Any, schema: Any, where: str = "$",
               base: str = "bom-1.6.SNAPSHOT.schema.json") -> list[str]:
        if schema is True or schema == {}:
            return []
        if schema is False:
            return [f"{where}: not allowed"]
        if "$ref" in schema:
            target, file = self.resolve(schema["$ref"], base)
            return self.errors(value, target, where, file)
        out: list[str] = []
        kind = schema.get("type")
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            ok = any(isinstance(value, _TYPES[k]) and not (k in ("integer", "number")
                     and isinstance(value, bool)) for k in kinds)
            if not ok:
                return [f"{where}: expected {kind}, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{where}: {value!r} not in enum")
        if "const" in schema and value != schema["const"]:
            out.append(f"{where}: {value!r} != {schema['const']!r}")
        if isinstance(value, str):
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append(f"{where}: {value!r} does not match {schema['pattern']}")
            if len(value) < schema.get("minLength", 0) or \
                    len(value) > schema.get("maxLength", len(value)):
                out.append(f"{where}: length out of range")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                value < schema.get("minimum", value) or value > schema.get("maximum", value)):
            out.append(f"{where}: {value} out of range")
        if isinstance(value, dict):
            for key in schema.get("required", []):
                if key not in value:
                    out.append(f"{where}: missing required {key!r}")
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties", True)
            for key, item in value.items():
                if key in props:
                    out += self.errors(item, props[key], f"{where}.{key}", base)
                elif extra is False:
                    out.append(f"{where}: unexpected property {key!r}")
                elif isinstance(extra, dict):
                    out += self.errors(item, extra, f"{where}.{key}", base)
        if isinstance(value, list):
            if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
                out.append(f"{where}: {len(value)} items out of range")
            if schema.get("uniqueItems"):
                seen = [json.dumps(v, sort_keys=True) for v in value]
                if len(seen) != len(set(seen)):
                    out.append(f"{where}: items are not unique")
            items = schema.get("items")
            if isinstance(items, list):
                for i, item in enumerate(value):
                    sub = items[i] if i < len(items) else schema.get("additionalItems", True)
                    out += self.errors(item, sub, f"{where}[{i}]", base)
            elif items is not None:
                for i, item in enumerate(value):
                    out += self.errors(item, items, f"{where}[{i}]", base)
        for sub in schema.get("allOf", []):
            out += self.errors(value, sub, where, base)
        if "anyOf" in schema and all(self.errors(value, s, where, base)
                                     for s in schema["anyOf"]):
            out.append(f"{where}: matches none of anyOf")
        if "oneOf" in schema:
            passing = sum(not self.errors(value, s, where, base) for s in schema["oneOf"])
            if passing != 1:
                out.append(f"{where}: matches {passing} of oneOf, not exactly 1")
        return out


def _validate(doc: Any) -> list[str]:
    schema = _Schema()
    return schema.errors(doc, schema.load("bom-1.6.SNAPSHOT.schema.json"))


def test_committed_sbom_is_valid_cyclonedx_1_6(committed: dict[str, Any]) -> None:
    assert committed["bomFormat"] == "CycloneDX" and committed["specVersion"] == "1.6"
    assert _validate(committed) == []


def _with_licence_id(doc: dict[str, Any]) -> dict[str, Any]:
    """The first component whose licence is given by SPDX id (not an expression)."""
    return next(c for c in doc["components"]
                if c.get("licenses") and "license" in c["licenses"][0]
                and "id" in c["licenses"][0]["license"])


@pytest.mark.parametrize(("mutate", "fragment"), [
    (lambda d: d["components"][0]["externalReferences"][0]["hashes"][0].update(alg="sha256"),
     "'sha256' not in enum"),
    (lambda d: d["components"][0]["externalReferences"][0]["hashes"][0].update(content="xyz"),
     "does not match"),
    (lambda d: d["components"][0].pop("type"), "missing required 'type'"),
    (lambda d: d["components"][0].update(colour="blue"), "unexpected property 'colour'"),
    (lambda d: d.update(serialNumber="42"), "does not match"),
    (lambda d: _with_licence_id(d)["licenses"].append({"expression": "MIT"}), "of oneOf"),
    (lambda d: _with_licence_id(d)["licenses"][0]["license"].update(id="Not-A-Licence"),
     "of oneOf"),
])
def test_the_validator_catches_invalid_documents(committed: dict[str, Any], mutate: Any,
                                                 fragment: str) -> None:
    doc = copy.deepcopy(committed)
    mutate(doc)
    assert any(fragment in e for e in _validate(doc)), _validate(doc)


# -- gateway sbom / --check, on a copy of the project ----------------------------------------

@pytest.fixture
def project(tmp_path: Path) -> Path:
    for relative in LOCK_FILES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / relative, tmp_path / relative)
    return tmp_path


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gateway: ") and "Traceback" not in stderr
    return lines[0]


def test_check_passes_on_an_untouched_copy(project: Path) -> None:
    result = run_gateway("sbom", "--check", "--root", str(project))
    assert result.returncode == 0, result.stderr
    assert "matches the lock" in result.stdout


def test_check_detects_a_tampered_hash(project: Path) -> None:
    path = project / sbom.DEFAULT_OUTPUT
    doc = json.loads(path.read_text())
    h11 = next(c for c in doc["components"] if c["name"] == "h11")
    h11["externalReferences"][0]["hashes"][0]["content"] = "f" * 64
    path.write_text(json.dumps(doc, indent=2) + "\n")
    result = run_gateway("sbom", "--check", "--root", str(project))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "pkg:pypi/h11@0.16.0 differs in externalReferences" in line
    assert "run `gateway sbom`" in line


def test_check_detects_a_relock_without_regeneration(project: Path) -> None:
    """A new artifact hash everywhere in the lock (consistent) but not in the SBOM."""
    old = next(iter(parse_requirements((project / sbom.REQUIREMENTS).read_text())[0]
                    ["msgspec"].hashes))
    for relative in (sbom.REQUIREMENTS, sbom.PYLOCK, sbom.UV_LOCK):
        path = project / relative
        path.write_text(path.read_text().replace(old, "e" * 64))
    result = run_gateway("sbom", "--check", "--root", str(project))
    assert result.returncode == 1
    assert "pkg:pypi/msgspec@0.22.0 differs in externalReferences" in _one_line(result.stderr)
    written = run_gateway("sbom", "--root", str(project))
    assert written.returncode == 0 and "wrote" in written.stdout
    assert run_gateway("sbom", "--check", "--root", str(project)).returncode == 0
    assert "e" * 64 in (project / sbom.DEFAULT_OUTPUT).read_text()


def test_missing_sbom_is_drift(project: Path) -> None:
    (project / sbom.DEFAULT_OUTPUT).unlink()
    result = run_gateway("sbom", "--check", "--root", str(project))
    assert result.returncode == 1
    assert "does not exist; run `gateway sbom`" in _one_line(result.stderr)


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", "it is not valid JSON"),
    ("[]", "it is not valid JSON"),
    ("{}", "is missing"),
])
def test_garbage_sbom_is_drift(project: Path, content: str, fragment: str) -> None:
    (project / sbom.DEFAULT_OUTPUT).write_text(content)
    result = run_gateway("sbom", "--check", "--root", str(project))
    assert result.returncode == 1
    assert fragment in _one_line(result.stderr)


def test_inconsistent_lock_is_refused(project: Path) -> None:
    path = project / sbom.REQUIREMENTS
    path.write_text(path.read_text().replace("h11==0.16.0", "h11==0.14.0"))
    result = run_gateway("sbom", "--root", str(project))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "the lock is inconsistent (h11:" in line and "gateway lock" in line


def test_missing_lock_file_is_a_usage_error(project: Path) -> None:
    (project / sbom.PYLOCK).unlink()
    result = run_gateway("sbom", "--root", str(project))
    assert result.returncode == 2
    assert "lockfiles/pylock.toml not found" in _one_line(result.stderr)


def test_output_elsewhere(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "bom.json"
    result = run_gateway("sbom", "--root", str(project), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == (project / sbom.DEFAULT_OUTPUT).read_bytes()


# -- provenance properties -------------------------------------------------------------------

def _props(bom: sbom.Bom, name: str) -> list[tuple[str, str]]:
    component = next(c for c in bom.components if c.name == name)
    return [(p.name, p.value) for p in component.properties]


def _h11_artifacts() -> list[sbom.Artifact]:
    packages = sbom.load(ROOT).packages
    return list(next(p for p in packages if p.name == "h11").artifacts)


def test_committed_provenance_is_honestly_unknown(committed: dict[str, Any]) -> None:
    """The index these locks were made against serves no PEP 740 provenance: say so."""
    for component in committed["components"]:
        props = {p["name"]: p["value"] for p in component["properties"]}
        assert props["gateway:provenance:status"] == "unknown"
        assert props["gateway:provenance:reason"].startswith("not fetched: ")


def test_without_provenance_every_package_is_unknown(project: Path) -> None:
    (project / sbom.PROVENANCE).unlink()
    bom = sbom.document(sbom.load(project), lambda n, v: None)
    for component in bom.components:
        props = dict((p.name, p.value) for p in component.properties)
        assert props["gateway:provenance:status"] == "unknown"
        assert props["gateway:provenance:reason"] == "provenance.json not generated"


def test_provenance_status_and_publisher_are_recorded(project: Path) -> None:
    """The shape `gateway provenance` writes (supply/provenance.py's ProvenanceFile)."""
    sdist, wheel = _h11_artifacts()
    bundle = {"attestation_bundles": []}
    (project / sbom.PROVENANCE).write_text(json.dumps({
        "version": 1,
        "publishers": {"h11": {"kind": "GitHub", "repository": "python-hyper/h11",
                               "workflow": "publish.yml", "environment": "pypi"}},
        "artifacts": [
            {"name": "h11", "version": "0.16.0", "filename": wheel.filename,
             "sha256": wheel.sha256, "record_sha256": "ab" * 32, "status": "attested",
             "reason": None, "provenance": bundle},
            {"name": "h11", "version": "0.16.0", "filename": sdist.filename,
             "sha256": sdist.sha256, "record_sha256": None, "status": "attested",
             "provenance": bundle},
            {"name": "h11", "version": "0.16.0", "filename": "h11-0.16.0-py2-none-any.whl",
             "sha256": "d" * 64, "status": "unattested", "reason": "not in this lock"},
        ]}))
    bom = sbom.document(sbom.load(project), lambda n, v: None)
    assert _props(bom, "h11") == [
        ("gateway:provenance:status", "attested"),
        ("gateway:publisher:kind", "GitHub"),
        ("gateway:publisher:repository", "python-hyper/h11"),
        ("gateway:publisher:workflow", "publish.yml"),
        ("gateway:publisher:environment", "pypi"),
    ]
    assert _props(bom, "msgspec")[:2] == [
        ("gateway:provenance:status", "unknown"),
        ("gateway:provenance:reason", f"no artifact of this release in {sbom.PROVENANCE}")]


def test_mixed_provenance_is_listed_per_artifact(project: Path) -> None:
    sdist, wheel = _h11_artifacts()
    (project / sbom.PROVENANCE).write_text(json.dumps({"version": 1, "publishers": {},
        "artifacts": [
            {"name": "h11", "version": "0.16.0", "filename": sdist.filename,
             "sha256": sdist.sha256, "status": "unknown", "reason": "mirror serves none"},
            {"name": "h11", "version": "0.16.0", "filename": wheel.filename,
             "sha256": wheel.sha256, "status": "attested", "provenance": {}}]}))
    bom = sbom.document(sbom.load(project), lambda n, v: None)
    assert _props(bom, "h11") == [
        ("gateway:provenance:status", "mixed"),  # then each artifact, by file name
        ("gateway:provenance:artifact", f"{wheel.filename} attested"),
        ("gateway:provenance:artifact", f"{sdist.filename} unknown"),
    ]


def test_a_uniform_status_keeps_its_reason(project: Path) -> None:
    sdist, wheel = _h11_artifacts()
    (project / sbom.PROVENANCE).write_text(json.dumps({"version": 1, "publishers": {},
        "artifacts": [{"name": "h11", "version": "0.16.0", "filename": a.filename,
                       "sha256": a.sha256, "status": "unknown",
                       "reason": "index serves no provenance"} for a in (sdist, wheel)]}))
    bom = sbom.document(sbom.load(project), lambda n, v: None)
    assert _props(bom, "h11") == [("gateway:provenance:status", "unknown"),
                                  ("gateway:provenance:reason", "index serves no provenance")]


@pytest.mark.parametrize("content", ["{not json", '{"artifacts": [{"name": "h11"}]}',
                                     '{"publishers": []}'])
def test_malformed_provenance_is_refused(project: Path, content: str) -> None:
    (project / sbom.PROVENANCE).write_text(content)
    result = run_gateway("sbom", "--check", "--root", str(project))
    assert result.returncode == 1
    assert "lockfiles/provenance.json is not in the expected form" in _one_line(result.stderr)


# -- licences and purls ----------------------------------------------------------------------

def _meta(**fields: str | list[str]) -> Message:
    meta = Message()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            meta[key.replace("_", "-")] = item
    return meta


@pytest.mark.parametrize(("fields", "expected"), [
    ({"License_Expression": "Apache-2.0 OR BSD-3-Clause", "License": "ignored"},
     licences.Declared(expression="Apache-2.0 OR BSD-3-Clause")),
    ({"License": "MIT"}, licences.Declared(ids=("MIT",))),
    ({"License": "MIT OR Apache-2.0"}, licences.Declared(expression="MIT OR Apache-2.0")),
    ({"License": "Apache 2.0"}, licences.Declared(names=("Apache 2.0",))),
    ({"License": "MIT License\n\nCopyright (c) 2022 ...",
      "Classifier": ["License :: OSI Approved :: MIT License"]},
     licences.Declared(ids=("MIT",))),
    ({"License": "UNKNOWN", "Classifier": ["License :: OSI Approved :: BSD License",
                                           "Programming Language :: Python"]},
     licences.Declared(names=("OSI Approved :: BSD License",))),
    ({"License": "x" * 81}, None),
    ({}, None),
])
def test_declared_licence(fields: dict[str, Any], expected: licences.Declared | None) -> None:
    assert licences.declared(_meta(**fields)) == expected


def test_installed_licence_only_for_the_locked_version() -> None:
    assert licences.installed("msgspec", "0.22.0") == licences.Declared(
        expression="BSD-3-Clause")
    assert licences.installed("msgspec", "0.21.0") is None
    assert licences.installed("no-such-package-here", "1.0") is None


def test_every_known_id_is_an_spdx_id_cyclonedx_accepts() -> None:
    spdx = set(json.loads((SCHEMAS / "spdx.SNAPSHOT.schema.json").read_text())["enum"])
    assert licences.KNOWN_IDS.issubset(spdx)


def test_carried_licences_keep_packages_not_installed_here(committed: dict[str, Any]) -> None:
    carried = sbom.carried_licences(COMMITTED.read_bytes())
    assert carried[_purl("h11", "0.16.0")] == licences.Declared(ids=("MIT",))
    assert sbom.carried_licences(b"{broken") == {}


@pytest.mark.parametrize(("name", "version", "expected"), [
    ("Foo_Bar", "1.0", "pkg:pypi/foo-bar@1.0"),
    ("zope.interface", "6.0", "pkg:pypi/zope-interface@6.0"),
    ("x", "1.0+local.7", "pkg:pypi/x@1.0%2Blocal.7"),
])
def test_purl(name: str, version: str, expected: str) -> None:
    assert sbom.purl(name, version) == expected
