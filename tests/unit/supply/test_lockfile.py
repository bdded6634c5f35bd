"""The lockfiles agree with pyproject.toml and with each other, artifact by artifact."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway_cli import __version__
from gateway_cli.supply import lockfile

ROOT = Path(__file__).resolve().parents[3]
LOCKS = ROOT / "lockfiles"


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return _toml(ROOT / "pyproject.toml")


@pytest.fixture(scope="module")
def uv_lock() -> dict[str, Any]:
    return _toml(ROOT / "uv.lock")


@pytest.fixture(scope="module")
def resolved(uv_lock: dict[str, Any]) -> dict[str, lockfile.Pin]:
    return lockfile.resolved_pins(uv_lock)


def _requirements(name: str) -> dict[str, lockfile.Pin]:
    pins, problems = lockfile.parse_requirements((LOCKS / name).read_text())
    assert problems == [], problems
    return pins


# --- the committed lock ---------------------------------------------------------------------

def test_pyproject_and_lock_agree(pyproject: dict[str, Any], uv_lock: dict[str, Any]) -> None:
    problems = lockfile.drift(pyproject, uv_lock)
    assert problems == [], (
        "pyproject.toml and uv.lock disagree; run `gateway lock`:\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-test.txt",
                                  "requirements-build.txt", "requirements-release.txt"])
def test_requirements_files_match_resolution(name: str,
                                             resolved: dict[str, lockfile.Pin]) -> None:
    pins = _requirements(name)
    assert pins, f"{name} pins nothing"
    assert lockfile.compare_pins(name, pins, resolved) == []


def test_pylock_matches_runtime_requirements(resolved: dict[str, lockfile.Pin]) -> None:
    pins, problems = lockfile.parse_pylock(_toml(LOCKS / "pylock.toml"))
    assert problems == []
    assert lockfile.compare_pins("pylock.toml", pins, resolved) == []
    runtime = _requirements("requirements.txt")
    assert {(p.name, p.version) for p in pins.values()} == \
        {(p.name, p.version) for p in runtime.values()}


def test_every_locked_package_is_exported_once(resolved: dict[str, lockfile.Pin]) -> None:
    runtime = set(_requirements("requirements.txt"))
    test = set(_requirements("requirements-test.txt"))
    build = set(_requirements("requirements-build.txt"))
    release = set(_requirements("requirements-release.txt"))
    files = [runtime, build, release, test]
    for i, one in enumerate(files):
        for other in files[i + 1:]:
            assert not (one & other)
    assert runtime | build | release | test == set(resolved)
    # The release tools never reach a source install (runtime + build).
    assert "pyinstaller" in release and "pyinstaller" not in runtime | build


def test_runtime_lock_holds_the_promised_dependencies() -> None:
    runtime = set(_requirements("requirements.txt"))
    for name in ["litestar", "granian", "click", "keyring", "cryptography", "sigstore",
                 "pypi-attestations", "msgspec"]:
        assert name in runtime
    # The upstream client is the gateway's own (gateway_cli/net/http1.py); aiohttp and
    # what it pulls in only serve the bench's bare proxy, from the test lock.
    for gone in ["aiohttp", "yarl", "frozenlist", "aiosignal", "aiohappyeyeballs",
                 "propcache"]:
        assert gone not in runtime
    # pip-audit is a test tool: `gateway audit` has its own OSV client (its query path
    # runs pip at import), so it and what it pulls in are not run-time attack surface.
    # prometheus-client only parses /metrics in tests; gateway_cli/metrics renders it.
    # mcp and openai-agents are real clients the tests drive; the gateway speaks MCP itself.
    for tool in ["pytest", "openai", "anthropic", "hypothesis", "setuptools", "pip-audit",
                 "prometheus-client", "mcp", "openai-agents", "starlette", "uvicorn"]:
        assert tool not in runtime


def test_version_matches_pyproject(pyproject: dict[str, Any]) -> None:
    assert pyproject["project"]["version"] == __version__


# --- the checks catch what they must ---------------------------------------------------------

def test_added_dependency_without_relock_is_drift(pyproject: dict[str, Any],
                                                  uv_lock: dict[str, Any]) -> None:
    changed = copy.deepcopy(pyproject)
    changed["project"]["dependencies"].append("requests>=2")
    assert lockfile.drift(changed, uv_lock) == [
        "runtime: 'requests>=2' is declared in pyproject.toml but not locked"
    ]


def test_removed_dependency_without_relock_is_drift(pyproject: dict[str, Any],
                                                    uv_lock: dict[str, Any]) -> None:
    changed = copy.deepcopy(pyproject)
    changed["project"]["dependencies"] = [d for d in changed["project"]["dependencies"]
                                          if not d.startswith("click")]
    problems = lockfile.drift(changed, uv_lock)
    assert len(problems) == 1 and "'click" in problems[0] and "no longer declared" in problems[0]


def test_reranged_dependency_without_relock_is_drift(pyproject: dict[str, Any],
                                                     uv_lock: dict[str, Any]) -> None:
    changed = copy.deepcopy(pyproject)
    changed["project"]["dependencies"] = [
        "click>=8.2,<9" if d.startswith("click") else d
        for d in changed["project"]["dependencies"]
    ]
    problems = lockfile.drift(changed, uv_lock)
    assert len(problems) == 2
    assert any("click<9,>=8.2" in p and "not locked" in p for p in problems)


def test_changed_test_group_is_drift(pyproject: dict[str, Any], uv_lock: dict[str, Any]) -> None:
    changed = copy.deepcopy(pyproject)
    changed["dependency-groups"]["test"].append("coverage")
    assert lockfile.drift(changed, uv_lock) == [
        "test: 'coverage' is declared in pyproject.toml but not locked"
    ]


def test_equivalent_spelling_is_not_drift(pyproject: dict[str, Any],
                                          uv_lock: dict[str, Any]) -> None:
    changed = copy.deepcopy(pyproject)
    changed["project"]["dependencies"] = [
        "Click <9, >=8.1" if d.startswith("click") else d
        for d in changed["project"]["dependencies"]
    ]
    assert lockfile.drift(changed, uv_lock) == []


def test_lock_without_project_entry(pyproject: dict[str, Any]) -> None:
    assert lockfile.drift(pyproject, {"package": []}) == [
        "uv.lock has no entry for the project 'gateway'"
    ]


def _first_block(text: str) -> str:
    lines = text.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines[1:], 1) if not line.startswith(" "))
    return "".join(lines[:end])


def test_tampered_hash_is_caught(resolved: dict[str, lockfile.Pin]) -> None:
    text = (LOCKS / "requirements.txt").read_text()
    block = _first_block(text)
    digest = block.split("sha256:")[1][:64]
    tampered = text.replace(digest, "0" * 64, 1)
    pins, problems = lockfile.parse_requirements(tampered)
    assert problems == []
    assert any("hashes differ" in p for p in lockfile.compare_pins("r", pins, resolved))


def test_tampered_version_is_caught(resolved: dict[str, lockfile.Pin]) -> None:
    text = (LOCKS / "requirements.txt").read_text()
    name, version = _first_block(text).split(" ")[0].split("==")
    tampered = text.replace(f"{name}=={version}", f"{name}==999.0", 1)
    pins, _ = lockfile.parse_requirements(tampered)
    assert f"r: {name}==999.0 but uv.lock resolved {version}" in \
        lockfile.compare_pins("r", pins, resolved)


def test_package_not_in_resolution_is_caught(resolved: dict[str, lockfile.Pin]) -> None:
    pins, _ = lockfile.parse_requirements("evil==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    assert lockfile.compare_pins("r", pins, resolved) == ["r: evil is not in uv.lock"]


@pytest.mark.parametrize(
    "line",
    [
        "--find-links /opt/wheels",
        "--extra-index-url file:///opt/pypi/simple",
        "-i https://example.invalid/simple",
        "evil @ file:///tmp/evil-1.0-py3-none-any.whl",
        "/tmp/evil-1.0-py3-none-any.whl",
    ],
)
def test_local_sources_and_options_are_refused(line: str) -> None:
    _, problems = lockfile.parse_requirements(line + "\n")
    assert len(problems) == 1


def test_unhashed_or_unpinned_requirement_is_refused() -> None:
    _, problems = lockfile.parse_requirements("click==8.1.0\nrequests>=2\n")
    assert problems == ["click: no sha256 hash", "line 2: 'requests>=2' is not pinned with =="]


def test_pylock_local_path_is_refused() -> None:
    pylock = {"packages": [{"name": "evil", "version": "1", "wheels": [
        {"path": "/opt/wheels/evil-1-py3-none-any.whl", "hashes": {"sha256": "a" * 64}}]}]}
    _, problems = lockfile.parse_pylock(pylock)
    assert problems and "not fetched over https" in problems[0]


def test_pylock_missing_hash_is_refused() -> None:
    pylock = {"packages": [{"name": "evil", "version": "1", "wheels": [
        {"url": "https://example.invalid/evil-1-py3-none-any.whl", "hashes": {}}]}]}
    _, problems = lockfile.parse_pylock(pylock)
    assert problems == ["evil: an artifact has no sha256 hash"]
