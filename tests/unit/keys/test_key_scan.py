"""The key scanner's pure core: every provider in every assignment syntax, look-alikes, masking,
and a file walk that stays bounded (binary, oversized, skipped dirs, symlink loops, FIFOs).

Keys are generated at test time from a seeded RNG, so the repository holds no
real-format secret that a push-protection scanner would flag.
"""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.keys import scan as scanner
from gateway_cli.keys.index import fingerprint
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.scan import (
    AI_TOOL_FILES,
    ENVIRONMENT,
    SHELL_RC_FILES,
    Hit,
    candidate_files,
    mask_key,
    provider_for_variable,
    read_candidate,
    run_scan,
    scan_environment,
    scan_text,
)

RNG = random.Random(20261126)
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
HEX = "0123456789abcdef"


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def openai_key() -> str:
    return f"sk-proj-{rand(20)}T3BlbkFJ{rand(20)}"


def anthropic_key() -> str:
    return f"sk-ant-api03-{rand(93, B64URL)}AA"


def google_key() -> str:
    return "AIza" + rand(35, B64URL)


def hf_key() -> str:
    return "hf_" + rand(34, string.ascii_letters)


def groq_key() -> str:
    return "gsk_" + rand(52)


def xai_key() -> str:
    return "xai-" + rand(80)


def openrouter_key() -> str:
    return "sk-or-v1-" + rand(64, HEX)


def azure_key() -> str:
    return rand(32, HEX)


def mistral_key() -> str:
    return rand(32)


def gateway_key() -> str:
    return f"gwk_{rand(8)}_{rand(42, B64URL)}A"


# (variable, make key, provider, kind)
PROVIDERS: dict[str, tuple[str, Callable[[], str], str, str]] = {
    "openai": ("OPENAI_API_KEY", openai_key, "openai", "openai_api_key"),
    "anthropic": ("ANTHROPIC_API_KEY", anthropic_key, "anthropic", "anthropic_api_key"),
    "google": ("GEMINI_API_KEY", google_key, "google", "google_api_key"),
    "huggingface": ("HF_TOKEN", hf_key, "huggingface", "huggingface_token"),
    "groq": ("GROQ_API_KEY", groq_key, "groq", "groq_api_key"),
    "xai": ("XAI_API_KEY", xai_key, "xai", "xai_api_key"),
    "openrouter": ("OPENROUTER_API_KEY", openrouter_key, "openrouter", "openrouter_api_key"),
    "azure": ("AZURE_OPENAI_API_KEY", azure_key, "azure", "azure_api_key"),
    "mistral": ("MISTRAL_API_KEY", mistral_key, "mistral", "secret_assignment"),
    "cohere": ("COHERE_API_KEY", lambda: rand(40), "cohere", "secret_assignment"),
    "together": ("TOGETHER_API_KEY", lambda: rand(64, HEX), "together", "secret_assignment"),
}

# How people write an assignment: .env, shell, fish, YAML, JSON, TOML, compose lists.
SYNTAXES = {
    "env": "{name}={value}",
    "env-quoted": '{name}="{value}"',
    "export": "export {name}='{value}'",
    "fish": "set -gx {name} {value}",
    "yaml": "{name}: {value}",
    "yaml-quoted": '  {name}: "{value}"',
    "json": '  "{name}": "{value}",',
    "toml": '{name} = "{value}"',
    "compose": "      - {name}={value}",
}


def _lines(*body: str) -> str:
    return "# settings for the app\n\n" + "\n".join(body) + "\nDEBUG=true\n"


def _revealed(masked: str) -> int:
    return len(masked.replace("…", ""))


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("which", PROVIDERS)
def test_each_provider_in_each_syntax(which: str, syntax: str) -> None:
    name, make, provider, kind = PROVIDERS[which]
    value = make()
    text = _lines(SYNTAXES[syntax].format(name=name, value=value))
    (hit,) = scan_text(text, "app/.env")
    assert (hit.source, hit.line, hit.variable) == ("app/.env", 3, name)
    assert (hit.provider, hit.kind) == (provider, kind)
    assert hit.secret.reveal() == value
    assert hit.masked == f"{value[:4]}…{value[-4:]}"
    assert hit.fingerprint == "…" + value[-4:] == fingerprint(Secret(value))
    assert hit.importable


def test_json_document_on_one_line_names_each_key() -> None:
    openai, anthropic = openai_key(), anthropic_key()
    doc = {"models": [{"provider": "openai", "apiKey": openai},
                      {"provider": "anthropic", "apiKey": anthropic}], "theme": "dark"}
    hits = scan_text(json.dumps(doc), "config.json")
    assert [(h.provider, h.variable, h.line) for h in hits] == [
        ("openai", "apiKey", 1), ("anthropic", "apiKey", 1)]


def test_a_key_outside_an_assignment_has_no_variable() -> None:
    key = groq_key()
    text = f"machine api.groq.com\n  login me\n  password {key}\n"
    (hit,) = scan_text(text, ".netrc")
    assert (hit.line, hit.variable, hit.provider) == (3, None, "groq")


def test_the_variable_decides_between_providers_sharing_the_sk_prefix() -> None:
    value = f"sk-{rand(48)}"
    (deepseek,) = scan_text(f"DEEPSEEK_API_KEY={value}\n", ".env")
    assert deepseek.provider == "deepseek"
    (plain,) = scan_text(f"key {value}\n", "notes.txt")
    assert plain.provider == "openai"
    # A distinctive prefix beats a misleading variable name.
    (groq,) = scan_text(f"OPENAI_API_KEY={groq_key()}\n", ".env")
    assert groq.provider == "groq"


def test_gateway_client_keys_are_listed_but_not_importable() -> None:
    value = gateway_key()
    (hit,) = scan_text(f"OPENAI_API_KEY={value}\n", ".env")
    assert (hit.provider, hit.kind, hit.importable) == ("gateway", "gateway_client_key", False)
    assert hit.to_json()["importable"] is False


@pytest.mark.parametrize(
    "text",
    [
        "OPENAI_API_KEY=sk-abc123",
        f"OPENAI_API_KEY=sk-{rand(12)}",
        f"OPENAI_API_KEY=sk-{rand(16)}",  # a generic value this short is not a provider key
        "OPENAI_API_KEY=sk-...",
        "OPENAI_API_KEY=sk-proj-...",
        "OPENAI_API_KEY=your-key-here",
        "ANTHROPIC_API_KEY=<your-anthropic-key>",
        "export OPENAI_API_KEY=${OPENAI_API_KEY}",
        'OPENAI_API_KEY="${OPENAI_API_KEY}"',
        "OPENAI_API_KEY={{ secrets.OPENAI_API_KEY }}",
        "OPENAI_API_KEY=$(pass show openai)",
        "OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "MISTRAL_API_KEY=changeme",
        f"MISTRAL_API_KEY={rand(16)}",
        "HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        # a secret, but not an LLM provider's
        f"DATABASE_PASSWORD={rand(32)}",
        f"GITHUB_TOKEN=ghp_{rand(36)}",
        f"STRIPE_API_KEY=sk_live_{rand(32)}",
        # a hex id near "azure" that is not assigned to a key variable
        f"AZURE_SUBSCRIPTION_ID={azure_key()}",
        # `gateway run` hands apps a gateway-issued JWT as OPENAI_API_KEY: not a provider key
        "OPENAI_API_KEY=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0NzExIn0."
        + rand(43, B64URL),
        "task-" + rand(40),
    ],
)
def test_look_alikes_and_placeholders_are_not_hits(text: str) -> None:
    assert scan_text(text + "\n", ".env") == []
    assert scan_environment({"X": text}) == []


@given(st.text(alphabet=ALNUM + "-_", max_size=300))
def test_masking_never_reveals_more_than_eight_characters(value: str) -> None:
    masked = mask_key(value)
    assert _revealed(masked) <= min(8, len(value) * 4 // 10)


def test_no_hit_form_shows_the_value() -> None:
    values = [make() for _, make, _, _ in PROVIDERS.values()] + [gateway_key()]
    text = "\n".join(f"K{i}_API_KEY={v}" for i, v in enumerate(values))
    hits = scan_text(text, ".env") + scan_environment(
        {name: make() for name, make, _, _ in PROVIDERS.values()})
    assert hits
    for hit in hits:
        value = hit.secret.reveal()
        for shown in (repr(hit), str(hit), json.dumps(hit.to_json()), hit.masked):
            assert value not in shown
            assert value[4:-4] not in shown
        assert "secret" not in hit.to_json()
        assert _revealed(hit.masked) <= 8


def test_environment_hits_are_named_by_variable() -> None:
    openai, mistral, gwk = openai_key(), mistral_key(), gateway_key()
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/me", "OPENAI_API_KEY": openai,
           "MISTRAL_API_KEY": mistral, "GATEWAY_KEY": gwk, "EMPTY": ""}
    hits = scan_environment(env)
    assert [(h.variable, h.provider, h.source, h.line) for h in hits] == [
        ("GATEWAY_KEY", "gateway", ENVIRONMENT, None),
        ("MISTRAL_API_KEY", "mistral", ENVIRONMENT, None),
        ("OPENAI_API_KEY", "openai", ENVIRONMENT, None),
    ]
    assert [h.secret.reveal() for h in hits] == [gwk, mistral, openai]


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("OPENAI_API_KEY", "openai"),
        ("AZURE_OPENAI_API_KEY", "azure"),
        ("azureOpenAIApiKey", "azure"),
        ("anthropicApiKey", "anthropic"),
        ("GOOGLE_API_KEY", "google"),
        ("GEMINI_API_KEY", "google"),
        ("HUGGING_FACE_HUB_TOKEN", "huggingface"),
        ("HUGGINGFACEHUB_API_TOKEN", "huggingface"),
        ("HF_TOKEN", "huggingface"),
        ("CO_API_KEY", "cohere"),
        ("TOGETHER_AI_API_KEY", "together"),
        ("XAI_API_KEY", "xai"),
        ("openrouter_api_key", "openrouter"),
        ("OPENAI_BASE_URL", None),
        ("MY_API_KEY", None),
        ("OPENAI_MODEL", None),
        ("NOXAI_API_KEY", None),
        (None, None),
    ],
)
def test_provider_for_variable(name: str | None, provider: str | None) -> None:
    assert provider_for_variable(name) == provider


# --------------------------------------------------------------------------- files


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_home_files_are_the_rc_files_and_ai_tool_configs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for rel in (".bashrc", ".zshenv", ".config/fish/config.fish", ".aider.conf.yml",
                ".continue/config.yaml", ".codex/auth.json", ".claude.json",
                ".config/litellm/proxy.yaml", ".config/openai/credentials", ".netrc",
                ".cursor/mcp.json"):
        _write(home / rel, "x\n")
    _write(home / ".vimrc", "x\n")
    _write(home / "project/.env", "x\n")
    found = {p.relative_to(home).as_posix() for p in candidate_files(home, [], True)}
    assert found == {".bashrc", ".zshenv", ".config/fish/config.fish", ".aider.conf.yml",
                     ".continue/config.yaml", ".codex/auth.json", ".claude.json",
                     ".config/litellm/proxy.yaml", ".config/openai/credentials", ".netrc",
                     ".cursor/mcp.json"}
    assert list(candidate_files(home, [], False)) == []
    assert ".bashrc" in SHELL_RC_FILES
    assert ".codex/auth.json" in AI_TOOL_FILES


def test_directory_walk_picks_env_compose_and_tool_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    wanted = [".env", ".env.local", "prod.env", ".envrc", "docker-compose.yml",
              "docker-compose.override.yml", "svc/.env", "svc/.continue/config.json",
              "svc/.cursor/mcp.json", "a/b/c/d/e/.env"]
    for rel in wanted:
        _write(root / rel, "x\n")
    for rel in ("README.md", "env.py", "node_modules/pkg/.env", ".git/.env", ".venv/.env",
                "venv/.env", "__pycache__/.env", "svc/node_modules/.env",
                "a/b/c/d/e/f/g/.env"):  # the last one is deeper than MAX_DEPTH
        _write(root / rel, "x\n")
    found = {p.relative_to(root).as_posix() for p in candidate_files(tmp_path, [root], False)}
    assert found == set(wanted)


def test_an_explicit_file_is_read_whatever_its_name(tmp_path: Path) -> None:
    key = anthropic_key()
    path = _write(tmp_path / "notes.md", f"the key is {key}\n")
    report = run_scan(env=None, home=None, paths=[path])
    assert [(h.source, h.line, h.provider) for h in report.hits] == [(str(path), 1, "anthropic")]
    assert (report.files, report.env_vars) == (1, 0)


def test_binary_and_oversized_files_are_skipped(tmp_path: Path) -> None:
    key = openai_key()
    binary = _write(tmp_path / "repo/.env", b"\x00\x01" + f"OPENAI_API_KEY={key}\n".encode())
    big = _write(tmp_path / "repo/big.env",
                 f"OPENAI_API_KEY={key}\n" + "#" * scanner.MAX_FILE_BYTES)
    assert read_candidate(binary) == (None, "binary")
    assert read_candidate(big) == (None, "larger than 1 MB")
    report = run_scan(env=None, home=None, paths=[tmp_path / "repo"])
    assert report.hits == []
    assert report.files == 0
    assert sorted(report.notes) == sorted([f"skipped {big}: larger than 1 MB",
                                           f"skipped {binary}: binary"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_env_does_not_hang_the_scan(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".env")
    report = run_scan(env=None, home=None, paths=[tmp_path])
    assert report.notes == [f"skipped {tmp_path / '.env'}: not a regular file"]


def test_symlinks_loops_and_links_out_of_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    key_in, key_out = openai_key(), groq_key()
    _write(root / "app/.env", f"OPENAI_API_KEY={key_in}\n")
    _write(outside / ".env", f"GROQ_API_KEY={key_out}\n")
    (root / "app/loop").symlink_to(root, target_is_directory=True)  # a cycle
    (root / "self").symlink_to(".", target_is_directory=True)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "escape.env").symlink_to(outside / ".env")
    (root / "alias.env").symlink_to(root / "app/.env")  # the same file twice
    report = run_scan(env=None, home=None, paths=[root])
    assert [h.secret.reveal() for h in report.hits] == [key_in]
    assert report.files == 1


def test_the_walk_stops_after_max_files(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner, "MAX_FILES", 5)
    for i in range(10):
        _write(tmp_path / f"f{i}.txt", "x\n")
    _write(tmp_path / "z/.env", "x\n")  # after the limit in breadth-first order
    limits: list[tuple[Path, str]] = []
    found = list(candidate_files(tmp_path, [tmp_path], False,
                                 on_limit=lambda p, why: limits.append((p, why))))
    assert found == []
    assert limits == [(tmp_path, "stopped after 5 files; pass its subdirectories to scan the rest")]


def test_each_file_is_read_once(tmp_path: Path) -> None:
    home = tmp_path
    _write(home / ".bashrc", f"export OPENAI_API_KEY={openai_key()}\n")
    _write(home / ".env", "x\n")
    found = list(candidate_files(home, [home, home / ".bashrc"], True))
    assert found == [home / ".bashrc", home / ".env"]


def test_hit_is_frozen_and_compares_without_the_secret() -> None:
    a = Hit("f", 1, "V", "openai", "openai_api_key", "m", "…abcd", 0.9, Secret("x" * 20))
    b = Hit("f", 1, "V", "openai", "openai_api_key", "m", "…abcd", 0.9, Secret("y" * 20))
    assert a == b
    with pytest.raises(AttributeError):
        a.source = "g"  # type: ignore[misc]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-8-sig"])
def test_env_files_in_other_unicode_encodings_are_read(tmp_path: Path, encoding: str) -> None:
    """PowerShell's `Out-File` writes UTF-16 with a BOM."""
    key = openai_key()
    text = f"OPENAI_API_KEY={key}\r\n"
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # no BOM: the LE one is still recognised
        data = (b"\xff\xfe" if encoding == "utf-16-le" else b"\xfe\xff") + data
    path = tmp_path / ".env"
    path.write_bytes(data)
    report = scanner.run_scan(env=None, home=None, paths=[path])
    assert [h.secret.reveal() for h in report.hits] == [key]
    path.write_bytes(text.encode("utf-16-le"))  # no BOM at all
    assert [h.secret.reveal() for h in scanner.run_scan(env=None, home=None,
                                                        paths=[path]).hits] == [key]


def test_printed_paths_cannot_drive_the_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "evil\x1b]0;owned\x07\x1b[2J"
    folder.mkdir()
    _write(folder / ".env", f"OPENAI_API_KEY={openai_key()}\n")
    report = scanner.run_scan(env=None, home=None, paths=[tmp_path])
    [hit] = report.hits
    assert "\x1b" not in hit.location and "\x07" not in hit.location
    assert "\\x1b]0;owned\\x07" in hit.location


def test_an_unreadable_directory_is_reported(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory the walk cannot list (permissions; root reads through those, so the
    failure is made at os.scandir) is named in a note, not skipped silently."""
    locked = tmp_path / "locked"
    locked.mkdir()
    _write(tmp_path / ".env", "x\n")
    original = os.scandir

    def failing(path: object) -> object:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied")
        return original(path)

    monkeypatch.setattr(os, "scandir", failing)
    notes: list[tuple[Path, str]] = []
    found = list(candidate_files(tmp_path, [tmp_path], False,
                                 on_limit=lambda p, why: notes.append((p, why))))
    assert found == [tmp_path / ".env"]
    assert notes == [(locked, "directory not scanned: cannot be read (Permission denied)")]
