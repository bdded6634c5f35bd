"""Benign training texts the injection corpus lacks, made from packages the lock pins.

The corpus's licensed records hold non-English text mostly as attacks (a
machine-translated attack set) and few pieces of code, docs or agent
instructions, so the classifier learned "Spanish" and "an SDK docstring
about prompts" as evidence of injection: 5% of benign Spanish sentences
flagged, Claude Code's own attribution reminder at 0.477. Two categories of
negatives, both reproducible from the hash-pinned lock and permissively
licensed (the licence is read from each package's metadata and checked):

- multilingual prose: Faker's lorem generator (MIT) in every locale it
  ships, its word lists taken from real texts of each language, seeded;
- code, docs and agent prompts: chunks of the sources and docs of a fixed
  list of MIT / Apache-2.0 packages, from half of their files (by a hash of
  the path). `bench/guards/overdefence.py` leaves those files out, so the
  over-defence set stays data the classifier never saw.

Nothing here is fitted to a record: the categories are whole packages and
whole locales, and the dev split and the evaluation-only sentences are
never read.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import random
import sysconfig
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

SITE = Path(sysconfig.get_paths()["purelib"])
SEED = 20261207
SUFFIXES = (".py", ".pyi", ".md", ".rst", ".txt")
LICENCES = frozenset({"MIT", "Apache-2.0"})
# distribution -> (top-level folders, its licence as its metadata states it). Code and docs a
# coding agent reads, SDK docs that talk about prompts and roles, agent instruction files.
PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "openai-agents": (("agents",), "MIT"),
    "anthropic": (("anthropic",), "MIT"),
    "openai": (("openai",), "Apache-2.0"),
    "mcp": (("mcp",), "MIT"),
    "litestar": (("litestar",), "MIT"),
    "pydantic": (("pydantic",), "MIT"),
    "rich": (("rich",), "MIT"),
    "pytest": (("_pytest", "pytest"), "MIT"),
    "requests": (("requests",), "Apache-2.0"),
    "markdown-it-py": (("markdown_it",), "MIT"),
    "Faker": (("faker",), "MIT"),
}
# Code a package carries from other projects, under their own licences: never read.
VENDORED = frozenset({"_vendor", "vendor", "_vendored", "vendored", "extern", "_distutils"})
CODE_CHUNKS = 800
LENGTHS = (300, 800, 1600, 4000)  # characters: tool outputs are of every size (<= 4,000)
LOREM_PER_LOCALE = 24
README_PIECES = 12


class Negative(NamedTuple):
    text: str
    source: str
    licence: str


_NAMES = {"MIT": "MIT", "MIT License": "MIT", "Apache-2.0": "Apache-2.0",
          "Apache 2.0": "Apache-2.0", "Apache License 2.0": "Apache-2.0",
          "Apache License, Version 2.0": "Apache-2.0", "Apache Software License": "Apache-2.0"}


def _field(meta: md.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values else ""


def licence_of(dist: str) -> str:
    """The SPDX id a package's metadata states, or what it states when that is not one
    permissive licence: an expression with AND, or classifiers naming two licences,
    comes back as it is (and is refused). An OR expression gives its permissive choice."""
    meta = md.metadata(dist)
    expression = _field(meta, "License-Expression")
    if expression:
        if " AND " in expression or " WITH " in expression:
            return expression
        choices = [c.strip("() ") for c in expression.split(" OR ")]
        return next((c for c in choices if c in LICENCES), expression)
    named: set[str] = {_NAMES.get(c.split("::")[-1].strip(), c.split("::")[-1].strip())
             for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")}
    field = _field(meta, "License")
    if field and "\n" not in field and len(field) < 40:
        named.add(_NAMES.get(field, field))
    if len(named) == 1:
        return named.pop()
    return " | ".join(sorted(named)) or "unknown"


def _checked(dist: str) -> str:
    want = PACKAGES[dist][1]
    found = licence_of(dist)
    if found != want or want not in LICENCES:
        raise SystemExit(f"{dist}: licence {found!r}, expected {want!r}: not trained on")
    return want


def in_training_half(relative: str) -> bool:
    """Half of the files, by a hash of their path: the other half is over-defence data."""
    return hashlib.sha256(relative.encode("utf-8")).digest()[0] % 2 == 0


def training_files(site: Path = SITE) -> list[Path]:
    """The package files code/docs negatives are cut from, in a stable order."""
    files: list[Path] = []
    for folders, _ in PACKAGES.values():
        for folder in folders:
            root = site / folder
            if root.is_dir():
                files += [p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                          and p.stat().st_size >= 512 and not VENDORED & set(p.parts)
                          and in_training_half(p.relative_to(site).as_posix())]
    return sorted(files, key=lambda p: p.relative_to(site).as_posix())


def _dist_of(relative: str) -> str:
    top = relative.split("/", 1)[0]
    return next(d for d, (folders, _) in PACKAGES.items() if top in folders)


def code_and_docs(count: int = CODE_CHUNKS, site: Path = SITE) -> list[Negative]:
    by_dist: dict[str, list[Path]] = {}
    for path in training_files(site):
        by_dist.setdefault(_dist_of(path.relative_to(site).as_posix()), []).append(path)
    dists = sorted(by_dist)  # a package first, then one of its files: no package dominates
    licences = {d: _checked(d) for d in PACKAGES}
    rng = random.Random(SEED)
    out: list[Negative] = []
    while len(out) < count and dists:
        files = by_dist[dists[rng.randrange(len(dists))]]
        path = files[rng.randrange(len(files))]
        text = path.read_text(encoding="utf-8", errors="replace")
        size = LENGTHS[rng.randrange(len(LENGTHS))]
        offset = rng.randrange(max(1, len(text) - size))
        piece = text[offset:offset + size].strip()
        if len(piece) >= 100:
            relative = path.relative_to(site).as_posix()
            dist = _dist_of(relative)
            out.append(Negative(piece, f"code {dist} {md.version(dist)}:{relative} @{offset}",
                                licences[dist]))
    return out


def long_description(dist: str) -> str:
    """The body of a package's METADATA file (after its headers' blank line), read as
    text: the same bytes whatever state the email parser or its policy is in."""
    text = md.distribution(dist).read_text("METADATA") or ""
    _, sep, body = text.replace("\r\n", "\n").partition("\n\n")
    return body if sep else ""


def readmes(per_package: int = README_PIECES) -> list[Negative]:
    """The packages' own READMEs (their metadata's long description), cut at blank lines
    into pieces of up to ~1,500 characters: markdown links, install steps, "you should"."""
    out: list[Negative] = []
    for dist in sorted(PACKAGES):
        licence = _checked(dist)
        body = long_description(dist)
        pieces: list[str] = []
        current = ""
        for block in body.split("\n\n"):
            if current and len(current) + len(block) > 1500:
                pieces.append(current)
                current = ""
            current = f"{current}\n\n{block}" if current else block
        pieces.append(current)
        for i, piece in enumerate(p.strip()[:4000] for p in pieces):
            if i >= per_package:
                break
            if len(piece) >= 100:
                out.append(Negative(piece, f"readme {dist} {md.version(dist)} #{i}", licence))
    return out


def lorem_locales() -> list[str]:
    import faker.providers.lorem as lorem

    root = Path(lorem.__file__).parent
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
                  and p.name != "la")  # Latin is lorem ipsum itself


# Locales whose word list is a frequency list (most common first: "de", "la", "que", ...):
# sampled by rank (Zipf), so function words come as often as in real prose; the others
# (alphabetical or unordered lists) uniformly, as Faker itself does.
BY_FREQUENCY = frozenset({"es_AR", "es_ES", "es_MX", "pl_PL", "fa_IR", "vi_VN", "zh_CN",
                          "zh_TW", "hy_AM", "az_AZ", "mk_MK"})


def _words(locale: str) -> tuple[str, ...]:
    import importlib

    return tuple(importlib.import_module(f"faker.providers.lorem.{locale}").Provider.word_list)


def paragraph(words: Sequence[str], weights: Sequence[float] | None, sentences: int,
              rng: random.Random) -> str:
    out = []
    for _ in range(sentences):
        picked = rng.choices(words, weights=weights, k=rng.randint(5, 16))
        out.append(" ".join(picked).capitalize() + ".")
    return " ".join(out)


def multilingual(per_locale: int = LOREM_PER_LOCALE) -> list[Negative]:
    """Paragraphs in every language Faker has a word list for (one to eight sentences)."""
    licence = _checked("Faker")
    version = md.version("Faker")
    out: list[Negative] = []
    for n, locale in enumerate(lorem_locales()):
        words = _words(locale)
        weights = ([1.0 / (rank + 1) for rank in range(len(words))]
                   if locale in BY_FREQUENCY else None)
        rng = random.Random(SEED + n)
        for i in range(per_locale):
            text = paragraph(words, weights, 1 + i % 8, rng)
            out.append(Negative(text, f"lorem Faker {version} {locale} #{i}", licence))
    return out


def negatives(per_locale: int = LOREM_PER_LOCALE, chunks: int = CODE_CHUNKS) -> list[Negative]:
    return [*multilingual(per_locale), *readmes(), *code_and_docs(chunks)]


def excluded(paths: Iterable[Path], site: Path = SITE) -> set[str]:
    """The relative paths among `paths` that training reads (for over-defence to leave out)."""
    trained = {p.relative_to(site).as_posix() for p in training_files(site)}
    return {p.relative_to(site).as_posix() for p in paths} & trained
