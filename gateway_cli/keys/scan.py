"""Find LLM provider keys lying around in plain text: the environment, dotfiles, `.env` files.

A key in an env var or a dotfile is readable by every process the user runs,
including a poisoned dependency (the LiteLLM 1.82.7/1.82.8 attack read
exactly these places). `gateway scan` lists them so they can be moved into
the secret store with `gateway import`.

Detection is the secrets guard's (`gateway_cli.guards.secrets`): its
provider-specific kinds (OpenAI, Anthropic, Google, Hugging Face, Groq, ...)
count wherever they are, and any of its other findings counts when it is the
value assigned to a variable named for a known provider (`MISTRAL_API_KEY=`,
`"cohere_api_key":`). The guard already rejects placeholders (`sk-...`,
`${OPENAI_API_KEY}`, `your-key-here`).

A `Hit` never shows its value: its repr, its JSON form and every message
carry a masked preview (at most the first and last four characters) and the
last-four fingerprint `gateway keys list` shows. The value itself travels
in a `Secret` for `gateway import`.

Everything here is pure except `candidate_files`, `read_candidate` and
`run_scan`, which read the file system and never write to it.
"""

from __future__ import annotations

import os
import re
import stat
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gateway_cli.guards import secrets as guard
from gateway_cli.keys.index import fingerprint
from gateway_cli.keys.refs import Secret

ENVIRONMENT = "environment"
GATEWAY_KIND = "gateway_client_key"
GATEWAY_PROVIDER = "gateway"

# Guard kinds whose format alone says which provider the key is for.
PROVIDER_KINDS: Mapping[str, str] = {
    "openai_api_key": "openai",  # sk- is also used by DeepSeek & co: a variable name wins
    "anthropic_api_key": "anthropic",
    "openrouter_api_key": "openrouter",
    "google_api_key": "google",
    "huggingface_token": "huggingface",
    "huggingface_org_token": "huggingface",
    "groq_api_key": "groq",
    "perplexity_api_key": "perplexity",
    "xai_api_key": "xai",
    "replicate_api_token": "replicate",
    "aws_bedrock_api_key": "bedrock",
    "deepseek_api_key": "deepseek",  # sk- + 32 hex: DashScope uses it too, so a name wins
}
# Kinds whose prefix could belong to another provider, so a provider-named variable decides.
_AMBIGUOUS_KINDS = frozenset({"openai_api_key", "deepseek_api_key"})

# Words in a variable name that name a provider, first match wins (AZURE_OPENAI_API_KEY is
# Azure's). Multi-word entries match consecutive words (HUGGING_FACE_HUB_TOKEN).
_VAR_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("AZURE", "azure"),
    ("OPENROUTER", "openrouter"),
    ("OPENAI", "openai"),
    ("ANTHROPIC", "anthropic"),
    ("CLAUDE", "anthropic"),
    ("GEMINI", "google"),
    ("GOOGLE", "google"),
    ("MISTRAL", "mistral"),
    ("MISTRALAI", "mistral"),
    ("GROQ", "groq"),
    ("COHERE", "cohere"),
    ("TOGETHER", "together"),
    ("TOGETHERAI", "together"),
    ("DEEPSEEK", "deepseek"),
    ("XAI", "xai"),
    ("GROK", "xai"),
    ("HF", "huggingface"),
    ("HUGGINGFACE", "huggingface"),
    ("HUGGINGFACEHUB", "huggingface"),
    ("HUGGING_FACE", "huggingface"),
    ("PERPLEXITY", "perplexity"),
    ("PPLX", "perplexity"),
    ("REPLICATE", "replicate"),
)
_SPECIAL_VARS = {"CO_API_KEY": "cohere"}  # the Cohere SDK's own variable
# A variable holds a key when its last word says so (OPENAI_API_KEY, HF_TOKEN, apiKey).
_KEY_WORDS = frozenset({"KEY", "APIKEY", "TOKEN", "SECRET"})
# A generic (not provider-shaped) finding must be at least this long to be a provider key:
# the shortest common ones (Mistral, Azure's hex keys) are 32.
_MIN_GENERIC_LEN = 24
# Guard kinds that are never a provider's API key even under OPENAI_API_KEY: `gateway run`
# hands apps a gateway-issued JWT there, and the rest are other kinds of credential.
_NOT_PROVIDER_KEYS = frozenset({
    guard.OVERFLOW, "jwt", "private_key", "gcp_service_account", "database_url",
    "url_credentials", "basic_auth_credentials", "password_assignment",
    "authorization_token", "azure_devops_pat", "sourcegraph_token", "discord_user_token",
})

# Shell start-up files that `export` keys, relative to $HOME.
SHELL_RC_FILES: tuple[str, ...] = (
    ".bashrc",
    ".bash_profile",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".config/fish/config.fish",
)
# Config files of AI tools that keep a provider key in plain text, relative to $HOME (and
# matched at the end of a path inside a directory given to `gateway scan`). The one list of
# them: aider, Continue, Codex CLI, Claude Code, LiteLLM, Cursor's MCP servers, the OpenAI
# CLI, and .netrc (curl/httpx credentials for api.openai.com and friends).
AI_TOOL_FILES: tuple[str, ...] = (
    ".aider.conf.yml",
    ".continue/config.json",
    ".continue/config.yaml",
    ".codex/auth.json",
    ".claude.json",
    ".config/litellm/*",
    ".cursor/mcp.json",
    ".config/openai/*",
    ".netrc",
)
# Files a directory walk reads besides AI_TOOL_FILES.
ENV_FILE_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "docker-compose*.yml",
    "docker-compose*.yaml",
)
SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__"})
MAX_DEPTH = 6  # directory levels below a walked PATH
MAX_FILES = 10_000  # files looked at per walked PATH
MAX_FILE_BYTES = 1024 * 1024
_BINARY_SNIFF = 8192
_MAX_ENV_VALUE = 64 * 1024

# `NAME=`, `export NAME=`, `NAME: `, `"name": "`, `- NAME=` (compose), `name = "` (TOML),
# matched against the text just before a finding on its line.
_ASSIGN = re.compile(
    r"""(?:^|[\s{,;(\[])(?:export[ \t]+)?["']?([A-Za-z_][A-Za-z0-9_.-]{0,127})["']?"""
    r"""[ \t]{0,8}[:=][ \t]{0,8}["'`]?\Z"""
)
# fish `set -gx NAME value`, csh `setenv NAME value`: read as `NAME=value` (one character
# replaced, so offsets stay the same) because the guard recognises a generic key only after
# an assignment operator.
_SET = re.compile(
    r"^([ \t]*(?:set(?:[ \t]+--?[A-Za-z]+)*|setenv)[ \t]+[A-Za-z_][A-Za-z0-9_]{0,127})[ \t]",
    re.MULTILINE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PREFIX_WINDOW = 200


@dataclass(frozen=True)
class Hit:
    """One provider key found in plain text; nothing here shows the value except `secret`."""

    source: str  # a file path, or "environment"
    line: int | None  # 1-based line in the file; None for the environment
    variable: str | None  # the name it is assigned to, if any
    provider: str  # openai, anthropic, azure, google, huggingface, groq, mistral, gateway, ...
    kind: str  # the secrets guard's kind, e.g. "openai_api_key", "secret_assignment"
    masked: str  # first and last four characters at most
    fingerprint: str  # "…abcd", as `gateway keys list` shows it
    confidence: float
    secret: Secret = field(repr=False, compare=False)

    @property
    def importable(self) -> bool:
        """Gateway client keys belong to the gateway itself: they are listed, never imported."""
        return self.kind != GATEWAY_KIND

    @property
    def location(self) -> str:
        where = shown(self.source)
        return where if self.line is None else f"{where}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "line": self.line,
            "variable": self.variable,
            "provider": self.provider,
            "kind": self.kind,
            "masked": self.masked,
            "fingerprint": self.fingerprint,
            "confidence": self.confidence,
            "importable": self.importable,
        }


def mask_key(value: str) -> str:
    """`sk-p…wxyz`: at most 8 characters and never more than 40% of the value."""
    if len(value) >= 20:
        return f"{value[:4]}…{value[-4:]}"
    if len(value) >= 12:
        return f"…{value[-4:]}"
    return "…"


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub("_", name).upper()) if w]


def provider_for_variable(name: str | None) -> str | None:
    """The provider a variable name is for (`AZURE_OPENAI_API_KEY` -> azure), if it holds a key."""
    if not name:
        return None
    words = _words(name)
    joined = "_".join(words)
    if joined in _SPECIAL_VARS:
        return _SPECIAL_VARS[joined]
    if not words or words[-1] not in _KEY_WORDS:
        return None
    padded = f"_{joined}_"
    for word, provider in _VAR_PROVIDERS:
        if f"_{word}_" in padded:
            return provider
    return None


def _variable_before(text: str, line_start: int, start: int) -> str | None:
    prefix = text[max(line_start, start - _PREFIX_WINDOW) : start]
    m = _ASSIGN.search(prefix)
    return m.group(1) if m else None


def _classify(kind: str, value: str, variable: str | None) -> str | None:
    """The provider a finding is a key for, or None when it is not an LLM provider key."""
    if kind == GATEWAY_KIND:
        return GATEWAY_PROVIDER
    named = provider_for_variable(variable)
    if kind in PROVIDER_KINDS:
        if kind in _AMBIGUOUS_KINDS and named is not None:
            return named
        return PROVIDER_KINDS[kind]
    if kind in _NOT_PROVIDER_KEYS or named is None or len(value) < _MIN_GENERIC_LEN:
        return None
    return named


def _hits(text: str, source: str, *, env_name: str | None = None) -> list[Hit]:
    """Hits in `text`; with `env_name` it is one environment variable, else a file's text."""
    original = text
    if "set" in text:
        text = _SET.sub(r"\1=", text)
    findings = guard.scan(text)
    if not findings:
        return []
    lines = env_name is None
    line_starts = [0, *(m.end() for m in re.finditer("\n", text))] if lines else []
    out: list[Hit] = []
    for f in findings:
        value = original[f.start : f.end]
        line_start = text.rfind("\n", 0, f.start) + 1
        inner = _variable_before(text, line_start, f.start)
        # The name that says which provider: the assignment around the value, else the
        # environment variable holding it all.
        deciding = inner if provider_for_variable(inner) or env_name is None else env_name
        provider = _classify(f.kind, value, deciding)
        if provider is None:
            continue
        secret = Secret(value)
        out.append(Hit(
            source=source if lines else ENVIRONMENT,
            line=bisect_right(line_starts, f.start) if lines else None,
            variable=env_name or inner,
            provider=provider,
            kind=f.kind,
            masked=mask_key(value),
            fingerprint=fingerprint(secret),
            confidence=f.confidence,
            secret=secret,
        ))
    return out


def scan_text(text: str, source: str) -> list[Hit]:
    """The provider keys in the text of one file, with line numbers and variable names."""
    return _hits(text, source)


def scan_environment(env: Mapping[str, str]) -> list[Hit]:
    """Environment variables whose value holds a provider key, reported by variable name."""
    out: list[Hit] = []
    for name in sorted(env):
        value = env[name]
        if not value or len(value) > _MAX_ENV_VALUE:
            continue
        # Scanned as an assignment so a generic key under MISTRAL_API_KEY is recognised too.
        out += _hits(f"{name}={value}", ENVIRONMENT, env_name=name)
    return out


# --------------------------------------------------------------------------- files

def _matches(rel: PurePosixPath, patterns: Sequence[str]) -> bool:
    return any(rel.match(p) for p in patterns)


_WALK_PATTERNS = ENV_FILE_PATTERNS + AI_TOOL_FILES


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk(root: Path, on_limit: Callable[[Path, str], None] | None) -> Iterator[Path]:
    """Breadth first, so the `.env` at the top of a huge tree is read before the limit."""
    real_root = os.path.realpath(root)
    try:
        top = os.stat(root)
    except OSError:
        return
    seen = {(top.st_dev, top.st_ino)}
    queue: deque[tuple[Path, PurePosixPath, int]] = deque([(root, PurePosixPath(), 0)])
    count = 0
    while queue:
        directory, rel_dir, depth = queue.popleft()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            if on_limit is not None:
                on_limit(directory, f"directory not scanned: cannot be read ({err.strerror})")
            continue
        for entry in entries:
            rel = rel_dir / entry.name
            try:
                link = entry.is_symlink()
                if link and not _inside(os.path.realpath(entry.path), real_root):
                    continue  # never followed out of the tree
                is_dir = entry.is_dir()
                info = entry.stat() if is_dir else None
            except OSError:
                continue
            if is_dir and info is not None:
                key = (info.st_dev, info.st_ino)
                if entry.name in SKIP_DIRS or depth + 1 > MAX_DEPTH or key in seen:
                    continue  # `seen` also ends symlink loops
                seen.add(key)
                queue.append((Path(entry.path), rel, depth + 1))
                continue
            count += 1
            if count > MAX_FILES:
                if on_limit is not None:
                    on_limit(root, f"stopped after {MAX_FILES} files; pass its "
                             "subdirectories to scan the rest")
                return
            if _matches(rel, _WALK_PATTERNS):
                yield Path(entry.path)


def candidate_files(home: Path, paths: Sequence[Path], include_home: bool, *,
                    on_limit: Callable[[Path, str], None] | None = None) -> Iterator[Path]:
    """The files to read: shell rc and AI tool files in `home`, then each PATH (each once).

    A PATH that is a file is read whatever its name; a directory is walked for `.env`
    files, compose files and the AI tools' config files.
    """
    seen: set[str] = set()

    def once(path: Path) -> bool:
        real = os.path.realpath(path)
        if real in seen:
            return False
        seen.add(real)
        return True

    if include_home:
        for name in SHELL_RC_FILES + AI_TOOL_FILES:
            matches = sorted(home.glob(name)) if "*" in name else [home / name]
            for path in matches:
                if path.is_file() and once(path):
                    yield path
    for path in paths:
        if path.is_dir():
            for found in _walk(path, on_limit):
                if once(found):
                    yield found
        elif once(path):
            yield path


def read_candidate(path: Path) -> tuple[str | None, str | None]:
    """The text of a file, or None and why it was skipped (not regular, too big, binary)."""
    try:
        info = os.stat(path)
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return None, "not a regular file"
    if info.st_size > MAX_FILE_BYTES:
        return None, "larger than 1 MB"
    try:
        # O_NONBLOCK: a file swapped for a FIFO after the stat must not hang the scan.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    if len(data) > MAX_FILE_BYTES:
        return None, "larger than 1 MB"
    text = _decoded(data)
    if text is None:
        return None, "binary"
    return text, None


_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe", "utf-16-le"),
         (b"\xfe\xff", "utf-16-be"))


def _decoded(data: bytes) -> str | None:
    """Text in UTF-8, or UTF-16/32 with a BOM (PowerShell writes .env files in UTF-16);
    None for binary data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    head = data[:_BINARY_SNIFF]
    if len(head) >= 8 and head[1::2].count(0) == len(head[1::2]) and 0 not in head[0::2]:
        return data.decode("utf-16-le", errors="replace")  # UTF-16 without a BOM
    if b"\0" in head:
        return None
    return data.decode("utf-8", errors="replace")


def shown(text: str) -> str:
    """`text` safe for a terminal: control and other unprintable characters escaped.

    A path in a hostile repository can hold escape sequences that would
    rewrite the user's terminal if printed raw.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


@dataclass
class ScanReport:
    hits: list[Hit]
    files: int  # files read
    env_vars: int  # environment variables looked at
    notes: list[str]  # files skipped, walks cut short: one line each, no values

    def to_json(self) -> dict[str, Any]:
        return {"hits": [h.to_json() for h in self.hits],
                "scanned": {"files": self.files, "env_vars": self.env_vars}}


def run_scan(*, env: Mapping[str, str] | None, home: Path | None,
             paths: Sequence[Path]) -> ScanReport:
    """Scan the environment (unless None), the home files (unless None) and `paths`."""
    notes: list[str] = []
    hits = scan_environment(env) if env is not None else []
    files = 0
    found = candidate_files(home if home is not None else Path(), paths, home is not None,
                            on_limit=lambda where, why: notes.append(f"{shown(str(where))}: {why}"))
    for path in found:
        text, why = read_candidate(path)
        if text is None:
            notes.append(f"skipped {shown(str(path))}: {why}")
            continue
        files += 1
        hits += scan_text(text, str(path))
    return ScanReport(hits, files, len(env) if env is not None else 0, notes)
