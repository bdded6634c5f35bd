"""`gateway scan` and `gateway import` as a person runs them: the real CLI in a subprocess.

Each test gets its own HOME and GATEWAY_HOME under tmp_path and an environment
built from scratch, so neither the user's dotfiles nor keys exported in the
shell running the suite are read. Keys are generated at run time from a
seeded RNG; no literal key sits in the repository. Every run asserts that no
full key value reaches stdout or stderr.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway_cli.cli.scan_cmd import IMPORT_HINT, RUN_HINT, import_keys, scan
from gateway_cli.keys import index
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import SecretStore, open_store
from tests.conftest import run_gateway

RNG = random.Random(4711)
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def openai_key() -> str:
    return f"sk-proj-{rand(20)}T3BlbkFJ{rand(20)}"


def anthropic_key() -> str:
    return f"sk-ant-api03-{rand(93, B64URL)}AA"


def groq_key() -> str:
    return "gsk_" + rand(52)


def hf_key() -> str:
    return "hf_" + rand(34, string.ascii_letters)


def gateway_key() -> str:
    return f"gwk_{rand(8)}_{rand(42, B64URL)}A"


@dataclass
class Env:
    """A private HOME, GATEWAY_HOME and project directory, and the CLI run against them."""

    tmp: Path
    home: Path
    state: Path
    project: Path
    keyfile: Path

    def run(self, *args: str, extra_env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "SYSTEMROOT")
               if k in os.environ}
        env.update(HOME=str(self.home), GATEWAY_HOME=str(self.state), **(extra_env or {}))
        return run_gateway(*args, env=env, cwd=self.tmp, input=stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL)

    def store_args(self, keyfile: Path | None = None) -> list[str]:
        return ["--secrets", "file", "--passphrase-file", str(keyfile or self.keyfile)]

    def open_store(self, keyfile: Path | None = None) -> SecretStore:
        return open_store("file", home=self.state, passphrase=f"file:{keyfile or self.keyfile}")


def _keyfile(path: Path, passphrase: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(passphrase + "\n")
    return path


@pytest.fixture
def env(tmp_path: Path) -> Env:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    return Env(tmp_path, home, tmp_path / "state", project,
               _keyfile(tmp_path / "passphrase", f"pass {rand(24)}"))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _no_values(result: subprocess.CompletedProcess[str], *values: str) -> None:
    out = result.stdout + result.stderr
    for value in values:
        assert value not in out
        assert value[4:-4] not in out  # not even the middle of it


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("gateway: ")
    return lines[0]


def _project_with_keys(env: Env) -> dict[str, str]:
    keys = {"openai": openai_key(), "anthropic": anthropic_key(), "groq": groq_key()}
    _write(env.project / ".env",
           "# local settings\n"
           "DEBUG=1\n"
           f'export OPENAI_API_KEY="{keys["openai"]}"\n'
           "OPENAI_BASE_URL=https://api.openai.com/v1\n"
           f"ANTHROPIC_API_KEY={keys['anthropic']}\n")
    _write(env.project / ".continue/config.json", json.dumps(
        {"models": [{"title": "Llama", "provider": "groq", "apiKey": keys["groq"]}]},
        indent=2))
    # Skipped: dependencies and version control.
    _write(env.project / "node_modules/some-pkg/.env", f"OPENAI_API_KEY={openai_key()}\n")
    _write(env.project / ".git/.env", f"OPENAI_API_KEY={openai_key()}\n")
    _write(env.project / "README.md", "Set OPENAI_API_KEY=sk-... in .env\n")
    return keys


# --------------------------------------------------------------------------- scan


def test_scan_finds_keys_in_env_files_and_tool_configs(env: Env) -> None:
    keys = _project_with_keys(env)
    result = env.run("scan", str(env.project), "--no-env")
    assert result.returncode == 1, result.stderr
    dotenv, continue_cfg = env.project / ".env", env.project / ".continue/config.json"
    lines = result.stdout.splitlines()
    o, a, g = keys["openai"], keys["anthropic"], keys["groq"]
    assert f"{dotenv}:3  OPENAI_API_KEY  openai  {o[:4]}…{o[-4:]}" in lines
    assert f"{dotenv}:5  ANTHROPIC_API_KEY  anthropic  {a[:4]}…{a[-4:]}" in lines
    assert f"{continue_cfg}:6  apiKey  groq  {g[:4]}…{g[-4:]}" in lines
    assert len(lines) == 5  # three hits, the summary and the hint
    assert lines[3].startswith("found 3 keys (3 distinct) in 2 files")
    assert lines[4] == IMPORT_HINT
    assert "node_modules" not in result.stdout and ".git" not in result.stdout
    _no_values(result, *keys.values())


def test_scan_reads_shell_rc_files_and_tool_configs_in_home(env: Env) -> None:
    hf, codex = hf_key(), openai_key()
    _write(env.home / ".bashrc", f"alias ll='ls -l'\nexport HF_TOKEN={hf}\n")
    _write(env.home / ".codex/auth.json", json.dumps({"OPENAI_API_KEY": codex}))
    result = env.run("scan", "--no-env")
    assert result.returncode == 1, result.stderr
    assert f"{env.home / '.bashrc'}:2  HF_TOKEN  huggingface  hf_{hf[3]}…{hf[-4:]}" in (
        result.stdout.splitlines())
    assert f"{env.home / '.codex/auth.json'}:1  OPENAI_API_KEY  openai" in result.stdout
    _no_values(result, hf, codex)
    assert env.run("scan", "--no-env", "--no-home").returncode == 0


def test_scan_json_output(env: Env) -> None:
    keys = _project_with_keys(env)
    result = env.run("scan", str(env.project), "--no-env", "--no-home", "--format", "json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"hits", "scanned"}
    assert data["scanned"] == {"files": 2, "env_vars": 0}
    hits = {h["provider"]: h for h in data["hits"]}
    assert set(hits) == {"openai", "anthropic", "groq"}
    assert hits["openai"] == {
        "source": str(env.project / ".env"), "line": 3, "variable": "OPENAI_API_KEY",
        "provider": "openai", "kind": "openai_api_key",
        "masked": f"{keys['openai'][:4]}…{keys['openai'][-4:]}",
        "fingerprint": "…" + keys["openai"][-4:], "confidence": 0.95, "importable": True}
    _no_values(result, *keys.values())


def test_scan_environment_variables_and_no_env(env: Env) -> None:
    key, gwk = openai_key(), gateway_key()
    extra = {"OPENAI_API_KEY": key, "APP_GATEWAY_KEY": gwk, "EDITOR": "vi"}
    result = env.run("scan", str(env.project), extra_env=extra)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert f"environment  OPENAI_API_KEY  openai  {key[:4]}…{key[-4:]}" in lines
    assert (f"environment  APP_GATEWAY_KEY  gateway  gwk_…{gwk[-4:]}  "
            "(gateway client key: not importable)") in lines
    assert "in the environment" in result.stdout
    _no_values(result, key, gwk)

    quiet = env.run("scan", str(env.project), "--no-env", extra_env=extra)
    assert quiet.returncode == 0, quiet.stdout
    assert "no provider keys found" in quiet.stdout
    _no_values(quiet, key, gwk)


def test_scan_clean_directory_exits_zero(env: Env) -> None:
    _write(env.project / ".env", "OPENAI_API_KEY=${OPENAI_API_KEY}\nMODEL=gpt-4o\n")
    _write(env.project / "docker-compose.yml",
           "services:\n  app:\n    environment:\n      - OPENAI_API_KEY=your-key-here\n")
    result = env.run("scan", str(env.project), "--no-env")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == ("no provider keys found (scanned 2 files and 0 "
                                     "environment variables)")
    assert result.stderr == ""


def test_scan_usage_errors_exit_two(env: Env) -> None:
    result = env.run("scan", str(env.tmp / "missing"))
    assert result.returncode == 2
    assert "does not exist" in _one_line(result.stderr)
    result = env.run("scan", "--format", "xml")
    assert result.returncode == 2
    _one_line(result.stderr)


def test_scan_help_and_json_through_click() -> None:
    runner = CliRunner()
    result = runner.invoke(scan, ["--help"])
    assert result.exit_code == 0
    assert "Exit 0 when nothing is found, 1 when keys are found" in result.output
    result = runner.invoke(import_keys, ["--help"])
    assert result.exit_code == 0
    assert "never" in result.output and "edits your files" in result.output


# --------------------------------------------------------------------------- import


def test_import_stores_keys_and_says_what_to_delete(env: Env) -> None:
    keys = _project_with_keys(env)
    # The same OpenAI key is also exported in the shell: one stored key, two hints.
    extra = {"OPENAI_API_KEY": keys["openai"]}
    result = env.run("import", str(env.project), "--yes", *env.store_args(), extra_env=extra)
    assert result.returncode == 0, result.stderr
    _no_values(result, *keys.values())

    store = env.open_store()
    for name, value in keys.items():
        secret = store.get(name)
        assert secret is not None and secret.reveal() == value
    records = {r.name: r for r in index.list_keys(env.state)}
    assert set(records) == {"openai", "anthropic", "groq"}
    assert records["openai"].provider == "openai"
    assert records["openai"].fingerprint == "…" + keys["openai"][-4:]
    assert records["groq"].store == "file"

    out = result.stdout
    assert f"{env.project / '.env'}:3: delete the line defining OPENAI_API_KEY" in out
    assert f"{env.project / '.env'}:5: delete the line defining ANTHROPIC_API_KEY" in out
    assert f"{env.project / '.continue/config.json'}:6: delete the line defining apiKey" in out
    assert "environment: unset OPENAI_API_KEY in the shell that set it" in out
    assert 'secret = "store:openai"' in out
    assert 'secret = "store:groq"' in out
    assert out.count(RUN_HINT) == 1
    assert "never edits your files" in out
    assert (env.state / "secrets.enc").stat().st_mode & 0o077 == 0


def test_import_dry_run_stores_nothing(env: Env) -> None:
    keys = _project_with_keys(env)
    result = env.run("import", str(env.project), "--no-env", "--dry-run", *env.store_args())
    assert result.returncode == 0, result.stderr
    assert "would store as store:openai" in result.stdout
    assert "dry run: nothing stored (3 keys would be)" in result.stdout
    assert not (env.state / "secrets.enc").exists()
    assert not index.index_path(env.state).exists()
    _no_values(result, *keys.values())


def test_import_twice_does_not_duplicate_and_new_values_get_new_names(env: Env) -> None:
    keys = _project_with_keys(env)
    args = ("import", str(env.project), "--no-env", "--yes", *env.store_args())
    assert env.run(*args).returncode == 0
    again = env.run(*args)
    assert again.returncode == 0, again.stderr
    assert "already stored as store:openai" in again.stdout
    assert not any(line.startswith("stored ") for line in again.stdout.splitlines())
    assert "nothing new to store" in again.stdout
    assert len(index.list_keys(env.state)) == 3

    # A second, different OpenAI key becomes openai-2; the old one stays.
    second = openai_key()
    _write(env.project / "svc/.env.local", f"OPENAI_API_KEY={second}\n")
    third = env.run(*args)
    assert third.returncode == 0, third.stderr
    assert "stored openai key" in third.stdout and "as store:openai-2" in third.stdout
    store = env.open_store()
    assert store.get("openai") == Secret(keys["openai"])
    assert store.get("openai-2") == Secret(second)
    assert [r.name for r in index.list_keys(env.state)] == [
        "anthropic", "groq", "openai", "openai-2"]
    _no_values(third, second, *keys.values())


def test_import_never_imports_gateway_client_keys(env: Env) -> None:
    gwk = gateway_key()
    _write(env.project / ".env", f"OPENAI_API_KEY={gwk}\n")
    result = env.run("import", str(env.project), "--no-env", "--yes", *env.store_args())
    assert result.returncode == 0, result.stderr
    assert "not imported" in result.stdout
    assert "no provider keys to import" in result.stdout
    assert not (env.state / "secrets.enc").exists()
    _no_values(result, gwk)


def test_import_with_a_broken_store_fails_in_one_line_and_stores_nothing(env: Env) -> None:
    keys = _project_with_keys(env)
    args = ("import", str(env.project), "--no-env", "--yes")
    assert env.run(*args, *env.store_args()).returncode == 0
    before = (env.state / "secrets.enc").read_bytes()
    new = anthropic_key()
    _write(env.project / "other.env", f"ANTHROPIC_API_KEY={new}\n")
    wrong = _keyfile(env.tmp / "wrong-passphrase", f"not it {rand(16)}")
    result = env.run(*args, *env.store_args(wrong))
    assert result.returncode == 1
    assert "wrong passphrase" in _one_line(result.stderr)
    assert (env.state / "secrets.enc").read_bytes() == before
    assert len(index.list_keys(env.state)) == 3
    _no_values(result, new, *keys.values())


def test_import_asks_before_storing(env: Env) -> None:
    keys = _project_with_keys(env)
    result = env.run("import", str(env.project), "--no-env", *env.store_args(), stdin="n\n")
    assert result.returncode == 1
    assert "store 3 keys in" in result.stdout
    assert _one_line(result.stderr) == "gateway: aborted"
    assert not (env.state / "secrets.enc").exists()

    result = env.run("import", str(env.project), "--no-env", *env.store_args(), stdin="y\n")
    assert result.returncode == 0, result.stderr
    assert {r.name for r in index.list_keys(env.state)} == set(keys)
    _no_values(result, *keys.values())
