"""Cached bytecode that would run instead of the verified source.

Python imports `__pycache__/<module>.cpython-311.pyc` instead of the source
when the cache's header says it was compiled from it: for a timestamp pyc,
the source's mtime and size (both easy to copy); for an unchecked
hash-based pyc, nothing at all; for a checked one, the source's hash, which
says nothing about the code that follows. So hashing every source against
RECORD proves nothing about what runs while such a file sits next to it.

Each cached file that Python would use for a verified source (it is for this
interpreter, and its header matches the source) is compared with a fresh
compile of that source: the code objects must be equal (they compare
instructions, constants and nested functions, not the file name, so a venv
that was moved still passes). Compiling is the cost (about a millisecond a
module); the verify cache remembers clean results by the stat of both files,
so a warm start skips them; those stats are taken in the same pass as the
distribution's own files (`verify_cache.dist_fingerprint`).
"""

from __future__ import annotations

import importlib.util
import marshal
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway_cli.supply.installed import Distribution, FileProblem

if TYPE_CHECKING:
    from gateway_cli.supply.verify_cache import DistPrint, VerifyCache

MAGIC = importlib.util.MAGIC_NUMBER
_MAX_PYC = 32 * 1024 * 1024
_TAG = f".{importlib.util.cache_from_source('x.py').rsplit('.', 2)[-2]}"  # .cpython-311
_SUFFIXES = {"pyc": 0, "opt-1.pyc": 1, "opt-2.pyc": 2}


def check_bytecode(dists: Sequence[Distribution], cache: VerifyCache | None,
                   prints: Mapping[str, DistPrint]) -> tuple[list[FileProblem], int]:
    """Problems with cached bytecode of the distributions' hashed sources; files compared.

    `prints` hold, for each distribution, its cached files and the fingerprint
    of the bytecode check's inputs (`verify_cache.dist_fingerprint`, which
    lists and stats them in the same pass as the distribution's own files).
    """
    problems: list[FileProblem] = []
    compared = 0
    for dist in dists:
        survey = prints[dist.name]
        if cache is not None and cache.is_clean(survey.bytecode):
            continue
        mine = []
        for pyc, source, optimize in sorted(survey.cached):
            why = _mismatch(pyc, source, optimize)
            compared += 1
            if why is not None:
                mine.append(FileProblem("pyc", Path(pyc), why, dist.name))
        problems += mine
        if cache is not None and not mine:
            cache.mark_clean(survey.bytecode)
    return problems, compared


def cached_bytecode(sources: Mapping[str, set[str]]
                    ) -> tuple[list[tuple[str, str, int]], list[os.stat_result]]:
    """(pyc, source, optimization) for each cached file Python could load for a source, and
    the lstat of each: `sources` maps a folder to the stems of its hashed `.py` files.

    On the warm path of every start: one listing per package folder and one
    stat per cached file, with as little Python per file as possible.
    """
    found: list[tuple[str, str, int]] = []
    stats: list[os.stat_result] = []
    stat = os.lstat
    tag = _TAG + "."
    for folder, names in sources.items():
        cache_dir = folder + os.sep + "__pycache__"
        try:
            listing = os.listdir(cache_dir)
        except OSError:
            continue
        for name in listing:
            cut = name.rfind(tag)  # stems may hold dots: hook-PyQt5.QtOpenGL.cpython-311.pyc
            if cut <= 0 or name[:cut] not in names:
                continue
            optimization = _SUFFIXES.get(name[cut + len(tag):])
            if optimization is None:
                continue
            path = cache_dir + os.sep + name
            try:
                stats.append(stat(path))
            except OSError:
                continue
            found.append((path, folder + os.sep + name[:cut] + ".py", optimization))
    return found, stats


def _mismatch(pyc: str, source: str, optimize: int) -> str | None:
    """Why Python would run code here that is not the source's; None when it would not."""
    try:
        source_stat = os.stat(source)
        with open(pyc, "rb") as handle:
            data = handle.read(_MAX_PYC + 1)
        with open(source, "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    if len(data) < 16 or data[:4] != MAGIC:
        return None  # not this interpreter's: ignored at import
    flags = int.from_bytes(data[4:8], "little")
    if flags & ~0b11:
        return None  # an invalid header: the import system refuses to use it
    if flags == 0:
        mtime = int.from_bytes(data[8:12], "little")
        size = int.from_bytes(data[12:16], "little")
        if mtime != int(source_stat.st_mtime) & 0xFFFFFFFF \
                or size != source_stat.st_size & 0xFFFFFFFF:
            return None  # stale: Python recompiles from the source instead
    elif flags & 0b10 and data[8:16] != importlib.util.source_hash(text):
        return None  # a checked hash that does not match: Python recompiles
    if len(data) > _MAX_PYC:
        return f"cached bytecode over {_MAX_PYC} bytes for {os.path.basename(source)}"
    try:
        cached = marshal.loads(data[16:])  # noqa: S302 - read, compared, never run
        fresh = compile(text, source, "exec", dont_inherit=True, optimize=optimize)
    except (ValueError, EOFError, TypeError, SyntaxError):
        return (f"cached bytecode for {os.path.basename(source)} cannot be read, yet Python "
                "would try to load it")
    if cached != fresh:
        return (f"cached bytecode that Python would run instead of "
                f"{os.path.basename(source)} is not compiled from it")
    return None
