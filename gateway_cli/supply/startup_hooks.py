"""Code that runs when the interpreter starts, before any check of ours can.

The LiteLLM 1.82.8 release shipped `litellm_init.pth`: site.py executes
every line of a `.pth` file that starts with `import`, in every Python
process of that environment, whether or not litellm is ever imported. So the
environment is scanned, by reading files only, for everything site.py runs
or imports at start-up:

- `*.pth` files in each site-packages directory. Lines starting with
  `import ` or `import<TAB>` are executed (kind `pth-import`); other lines
  add a directory to sys.path (kind `pth-path`: lower risk, still listed,
  and the directories they add are searched for customize modules too);
- `sitecustomize` and `usercustomize` as a module, package, byte-code or
  extension anywhere on the start-up path: site-packages, the directories
  `.pth` files add, and the interpreter's own path (stdlib, lib-dynload);
- `include-system-site-packages = true` in pyvenv.cfg, which makes every
  start-up hook of the base interpreter's site-packages run in the venv too.

Not covered, because they are not files of the environment: PYTHONSTARTUP
(interactive sessions only), PYTHONPATH / PYTHONHOME and other variables
(the gateway should be started with a clean environment or `-I`), and a
modified interpreter or standard library.

Each hook found is compared with `ALLOWED`, a short, reviewed table: a hook
is allowed only when its path matches a rule, the rule's distribution lists
the file in its RECORD (so the installed-files check vouches for its
content), and, where the content is stable, its sha256 or a pattern of its
content matches. Modules imported by an allowed `.pth` line must themselves
be allowed, so an allowed hook cannot be turned into a loader for other code.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HookKind = Literal["pth-import", "pth-path", "pth-module", "customize", "system-site-packages"]
_CUSTOMIZE = ("sitecustomize", "usercustomize")
_MAX_PTH = 1024 * 1024  # site.py would read a larger .pth; we refuse to judge one
_MAX_HASHED = 256 * 1024 * 1024  # a customize module or extension larger than this is hashed cut


@dataclass(frozen=True)
class Hook:
    """One thing that runs (or may run) at interpreter start."""

    kind: HookKind
    path: Path
    sha256: str  # hex digest of the file, "" for a directory
    detail: str  # what runs: the first import line, the added directory, ...
    text: str = ""  # the content of a .pth file (bounded), for content rules
    imports: tuple[str, ...] = ()  # top-level modules an import line names
    site: Path | None = None  # the site-packages directory holding it, if any


@dataclass(frozen=True)
class AllowedHook:
    """A start-up hook we accept, and why.

    `pattern` is matched (fnmatch) against the path relative to the
    site-packages directory. `owner` is the distribution whose RECORD must
    list the file. `sha256` (hex) pins the exact content where it is stable
    across versions; `content` is a regular expression the whole content
    must match where it is not (it embeds a version).
    """

    pattern: str
    owner: str
    why: str
    sha256: frozenset[str] = frozenset()
    content: str | None = None
    # For a generated file that embeds a path or a version: the sha256 of its content
    # with those parts replaced by placeholders (see `editable_finder_template`).
    template_sha256: frozenset[str] = frozenset()


# sha256 of setuptools 84.2.1's editable finder for this project with the mapped path and
# the version replaced by placeholders (`editable_finder_template`). A setuptools upgrade
# that changes the template must be reviewed and its digest added.
EDITABLE_FINDER_TEMPLATE = "886eaaa95c5eb38a0673ca9abdda5baabf815bc9a2d95767469e37a521674aed"
_FINDER_MAPPING = re.compile(
    r"^MAPPING: dict\[str, str\] = \{'gateway_cli': '(/[^'\n]*)/gateway_cli'\}$", re.M)
_FINDER_PLACEHOLDER = re.compile(
    r"^PATH_PLACEHOLDER = '__editable__\.gateway-[0-9A-Za-z.+_-]+\.finder' "
    r"\+ \"\.__path_hook__\"$", re.M)


def editable_finder_template(data: bytes) -> str | None:
    """The sha256 of a finder's content with its checkout path and version taken out.

    None when the file is not one finder mapping gateway_cli (anything else, a
    second mapping or a changed line included, cannot be normalised).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(_FINDER_MAPPING.findall(text)) != 1 or len(_FINDER_PLACEHOLDER.findall(text)) != 1:
        return None
    text = _FINDER_MAPPING.sub("MAPPING: dict[str, str] = {'gateway_cli': '@PATH@/gateway_cli'}",
                               text)
    text = _FINDER_PLACEHOLDER.sub(
        "PATH_PLACEHOLDER = '__editable__.gateway-@VERSION@.finder' + \".__path_hook__\"", text)
    return hashlib.sha256(text.encode()).hexdigest()


# The allow-list. Add an entry only for a hook that a distribution in the lock
# installs on purpose, with the reason; prefer pinning content by sha256.
ALLOWED: tuple[AllowedHook, ...] = (
    AllowedHook(
        "distutils-precedence.pth", "setuptools",
        "setuptools makes its bundled distutils win over the stdlib one; present wherever "
        "the locked setuptools (build lock) is installed. Pinned to the content of setuptools "
        "84.2.1's file: an upgrade that changes it must be reviewed and its sha256 added.",
        sha256=frozenset({"2638ce9e2500e572a5e0de7faed6661eb569d1b696fcba07b0dd223da5f5d224"})),
    AllowedHook(
        "_distutils_hack/__init__.py", "setuptools",
        "the module distutils-precedence.pth imports; its content changes with setuptools, so "
        "only ownership is required (the installed-files check verifies it against RECORD)."),
    AllowedHook(
        "__editable__.gateway-*.pth", "gateway",
        "the editable install of the project itself (`pip install -e .`, the dev venv): one "
        "line that installs the finder mapping gateway_cli to the checkout.",
        content=r"import (__editable___gateway_[0-9A-Za-z_]+_finder); \1\.install\(\)\s*"),
    AllowedHook(
        "__editable___gateway_*_finder.py", "gateway",
        "the finder the editable .pth imports, generated by the locked setuptools: pinned "
        "to its template (the file with the checkout's path and the version taken out), so "
        "a payload appended to it fails even with its RECORD hash rewritten.",
        template_sha256=frozenset({EDITABLE_FINDER_TEMPLATE})),
)


@dataclass(frozen=True)
class Verdict:
    """A hook judged against the allow-list: `rule` is None when it is not allowed."""

    hook: Hook
    rule: AllowedHook | None
    reason: str  # why it is not allowed ("" when allowed)


def _read(path: Path, limit: int) -> bytes | None:
    """Up to `limit`+1 bytes of a regular file; None for a FIFO, device or directory.

    Opened without blocking so that a `.pth` replaced by a FIFO cannot hang
    the check (site.py itself would hang on it, which is reported anyway).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read(limit + 1)


def _template_digest(path: Path) -> str | None:
    data = _read(path, _MAX_HASHED)
    return editable_finder_template(data) if data is not None else None


def _sha256(path: Path) -> str:
    data = _read(path, _MAX_HASHED)
    return hashlib.sha256(data).hexdigest() if data is not None else ""


def _imported_modules(line: str) -> tuple[str, ...]:
    """Top-level modules an executed .pth line imports (parsed, never run)."""
    try:
        tree = ast.parse(line)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute)
                       and node.func.attr == "import_module"))):
            names.append(node.args[0].value.split(".")[0])
    return tuple(dict.fromkeys(names))


def read_pth(path: Path, site: Path) -> tuple[Hook, list[Path]]:
    """A .pth file as a hook, and the existing directories its path lines add."""
    raw = _read(path, _MAX_PTH)
    if raw is None:
        return Hook("pth-import", path, "", "not a regular file (site.py would still try to "
                    "read it)", site=site), []
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) > _MAX_PTH:
        return Hook("pth-import", path, digest, f"larger than {_MAX_PTH} bytes; not parsed",
                    site=site), []
    text = raw.decode("utf-8", errors="replace")
    executed: list[str] = []
    added: list[Path] = []
    paths: list[str] = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("import ", "import\t")):
            executed.append(line)
            continue
        paths.append(line.rstrip())
        folder = Path(os.path.normpath(os.path.join(site, line.rstrip())))
        if folder.is_dir():
            added.append(folder)
    if executed:
        imports = tuple(dict.fromkeys(m for line in executed for m in _imported_modules(line)))
        more = f" (+{len(executed) - 1} more)" if len(executed) > 1 else ""
        return Hook("pth-import", path, digest, f"executes: {executed[0][:200]}{more}", text,
                    imports, site), added
    return Hook("pth-path", path, digest, "adds to sys.path: " + ", ".join(p[:100] for p in paths),
                text, (), site), added


def _customize_in(folder: Path, site: Path | None) -> list[Hook]:
    """sitecustomize / usercustomize in one directory, in any importable form."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        stem = name.split(".", 1)[0]
        if stem in _CUSTOMIZE:
            found.append(folder / name)
    if "__pycache__" in names:
        with contextlib.suppress(OSError):
            found += [folder / "__pycache__" / n for n in sorted(os.listdir(folder / "__pycache__"))
                      if n.split(".", 1)[0] in _CUSTOMIZE]
    hooks = []
    for path in found:
        target = path / "__init__.py" if path.is_dir() else path
        digest = _sha256(target)
        hooks.append(Hook("customize", path, digest,
                          f"imported by site.py at every start: {path.name}", site=site))
    return hooks


def find_hooks(sites: Sequence[Path], interpreter_path: Iterable[Path] = (),
               pyvenv_cfg: Path | None = None) -> list[Hook]:
    """Every start-up hook of an environment.

    `sites` are the site-packages directories site.py processes;
    `interpreter_path` is sys.path as it is before site.py runs (stdlib,
    lib-dynload), searched for customize modules only.
    """
    hooks: list[Hook] = []
    searched: list[tuple[Path, Path | None]] = []
    seen: set[str] = set()
    site: Path
    for site in sites:
        real = os.path.realpath(site)
        if real in seen or not os.path.isdir(real):
            continue
        seen.add(real)
        searched.append((site, site))
        for name in sorted(os.listdir(site)):
            if name.endswith(".pth") and not (site / name).is_dir():
                hook, added = read_pth(site / name, site)
                hooks.append(hook)
                searched += [(folder, None) for folder in added]
    searched += [(Path(p), None) for p in interpreter_path]
    for folder, owner_site in searched:
        real = os.path.realpath(folder)
        if owner_site is None and real in seen:
            continue
        seen.add(real)
        hooks += _customize_in(folder, owner_site)
    if pyvenv_cfg is not None and _includes_system_site(pyvenv_cfg):
        hooks.append(Hook("system-site-packages", pyvenv_cfg, _sha256(pyvenv_cfg),
                          "include-system-site-packages = true: the base interpreter's "
                          "site-packages and their start-up hooks are part of this environment"))
    return hooks


def _includes_system_site(pyvenv_cfg: Path) -> bool:
    try:
        lines = pyvenv_cfg.read_text(errors="replace").splitlines()
    except OSError:
        return False
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() == "include-system-site-packages":
            return value.strip().lower() == "true"
    return False


def _relative(hook: Hook) -> str | None:
    if hook.site is None:
        return None
    rel = os.path.relpath(hook.path, hook.site)
    return None if rel.startswith(os.pardir) else rel.replace(os.sep, "/")


def _match(hook: Hook, owners: Mapping[str, str],
           allowed: Sequence[AllowedHook]) -> tuple[AllowedHook | None, str]:
    rel = _relative(hook)
    if rel is None:
        return None, "it is outside site-packages, so no installed distribution can vouch for it"
    rules = [r for r in allowed if fnmatch.fnmatchcase(rel, r.pattern)]
    if not rules:
        return None, "it is not on the start-up hook allow-list"
    owner = owners.get(os.path.normpath(str(hook.path)))
    reasons = []
    for rule in rules:
        if owner != rule.owner:
            reasons.append(f"the allow-list expects it from {rule.owner}, but "
                           + (f"it was installed by {owner}" if owner else "no RECORD lists it"))
        elif rule.sha256 and hook.sha256 not in rule.sha256:
            reasons.append(f"its content (sha256 {hook.sha256[:16]}...) is not the allowed one")
        elif rule.content is not None and not re.fullmatch(rule.content, hook.text):
            reasons.append("its content does not match the allowed pattern")
        elif rule.template_sha256 and _template_digest(hook.path) not in rule.template_sha256:
            reasons.append("its content is not what the locked setuptools generates (code "
                           "added or changed)")
        else:
            return rule, ""
    return None, "; ".join(reasons)


def _module_files(name: str, sites: Sequence[Path]) -> list[Hook]:
    """Files in site-packages that `import name` would load (module, package, extension)."""
    found = []
    for site in sites:
        try:
            entries = os.listdir(site)
        except OSError:
            continue
        for entry in sorted(entries):
            path = site / entry
            if entry == name and (path / "__init__.py").is_file():
                found.append(path / "__init__.py")
            elif entry.split(".", 1)[0] == name and entry != name and path.is_file():
                found.append(path)
    return [Hook("pth-module", p, _sha256(p), "", site=p.parent if p.name != "__init__.py"
                 else p.parent.parent) for p in found]


def judge(hooks: Sequence[Hook], owners: Mapping[str, str], sites: Sequence[Path],
          allowed: Sequence[AllowedHook] = ALLOWED) -> list[Verdict]:
    """Each hook with the rule that allows it, or the reason it is not allowed.

    `owners` maps a normalised absolute path to the distribution whose
    RECORD lists it. For each allowed `.pth` with import lines, the modules
    it imports that live in site-packages are judged too.
    """
    verdicts: list[Verdict] = []
    for hook in hooks:
        rule, reason = _match(hook, owners, allowed)
        verdicts.append(Verdict(hook, rule, reason))
        if rule is None:
            continue
        for module in hook.imports:
            for found in _module_files(module, sites):
                detail = f"imported at every start by {hook.path.name}"
                found = Hook("pth-module", found.path, found.sha256, detail, site=found.site)
                sub_rule, sub_reason = _match(found, owners, allowed)
                verdicts.append(Verdict(found, sub_rule, sub_reason))
    return verdicts
