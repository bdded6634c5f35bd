#!/usr/bin/env python3
"""What a SQLite limits file's history and settings cost per request, in process, alternating.

    .venv/bin/python bench/limits/sqlite_files.py --young      # history: wrapped WAL or growing
    .venv/bin/python bench/limits/sqlite_files.py \\
        --variant "ckpt100::PRAGMA wal_autocheckpoint=100" \\
        --variant "page4096:PRAGMA page_size=4096:"                   # settings

Each store runs cpu.py's `--like-proxy` request (Limiter.admit + settle: a reservation
and a settlement, two transactions, one request at a time) in its own file. After
`--history` requests on each, blocks of `--block` requests run on each store in
rotation, `--rounds` times; per store the mean and median of `time.process_time()`
(user + system: the kernel's side of the WAL, its writes and checkpoint fsyncs, is
in it) per request. Alternating spreads a loaded machine's drift over every store.

`default` is a file as the store makes it. A `--variant NAME:BEFORE:AFTER` file gets
the `;`-separated PRAGMAs BEFORE on a fresh file before the store opens it (a page
size takes only then) and AFTER on the store's connection. `--young` adds a store
whose file is made anew every 800 commits, so its WAL never wraps: against
`default` (after its history) that is what a long history costs. `--prefill N`
puts N other parties' slots in every table first (a deeper B-tree).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

import cpu  # noqa: E402

from gateway_cli.limits.sqlite_store import SqliteStore  # noqa: E402
from gateway_cli.request.limits import Limiter  # noqa: E402

YOUNG_COMMITS = 800  # a young file is made anew before its WAL reaches 1,000 frames


def pragmas(db: sqlite3.Connection, text: str) -> None:
    for statement in filter(None, (p.strip() for p in text.split(";"))):
        if not statement.upper().startswith("PRAGMA "):
            raise SystemExit(f"only PRAGMAs are run: {statement!r}")
        db.execute(statement)


def make(path: Path, before: str = "", after: str = "") -> Limiter:
    if before:
        db = sqlite3.connect(path)
        pragmas(db, before)
        db.execute("PRAGMA journal_mode = WAL")  # writes the header: the page size holds
        db.close()
    store = SqliteStore(path)
    pragmas(store._db, after)
    return Limiter(cpu.CONFIG, store)


def prefill(limiter: Limiter, rows: int) -> None:
    rnd = random.Random(1)
    values = []
    for _ in range(rows // 4):
        name = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(12))
        for slot in ("requests@29000000", "tokens@29000000", "inflight@now", "spend@2026-12"):
            values.append((f"key:{name}:{slot}", 1.0, 4e9))
    db = limiter.store._db  # type: ignore[attr-defined]
    db.execute("BEGIN")
    db.executemany("INSERT OR IGNORE INTO counters VALUES (?, ?, ?)", values)
    db.execute("COMMIT")


async def run(args: argparse.Namespace, tmp: Path) -> None:
    specs = [("default", "", "")]
    for v in args.variant:
        name, before, after = [*v.split(":", 2), "", ""][:3]
        specs.append((name, before, after))
    stores = {name: make(tmp / f"{name}.sqlite", before, after) for name, before, after in specs}
    for limiter in stores.values():
        if args.prefill:
            prefill(limiter, args.prefill)
        await cpu.loop(limiter, args.history)
    young_made = 0

    async def fresh_young() -> Limiter:
        nonlocal young_made
        young_made += 1
        limiter = make(tmp / f"young-{young_made}.sqlite")
        if args.prefill:
            prefill(limiter, args.prefill)
        await cpu.loop(limiter, 100)  # statements prepared, the file made
        return limiter

    young_commits = 0
    if args.young:
        stores["young"] = await fresh_young()
        young_commits = 200
    cpu_us: dict[str, list[float]] = {name: [] for name in stores}
    for r in range(args.rounds):
        names = list(stores)
        names = names[r % len(names):] + names[:r % len(names)]
        for name in names:
            if name == "young" and young_commits + 2 * args.block > YOUNG_COMMITS:
                await stores["young"].store.close()
                stores["young"] = await fresh_young()
                young_commits = 200
            start = time.process_time()
            await cpu.loop(stores[name], args.block)
            cpu_us[name].append((time.process_time() - start) / args.block * 1e6)
            if name == "young":
                young_commits += 2 * args.block
    base = statistics.mean(cpu_us["default"])
    print(f"| file | CPU µs per request, mean of {args.rounds} | median | vs default | "
          "page size | WAL bytes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in cpu_us.items():
        store = stores[name].store
        path = Path(store.path)  # type: ignore[attr-defined]
        wal = path.with_name(path.name + "-wal")
        page = store._db.execute("PRAGMA page_size").fetchone()[0]  # type: ignore[attr-defined]
        print(f"| {name} | {statistics.mean(values):.1f} | {statistics.median(values):.1f} | "
              f"{statistics.mean(values) - base:+.1f} | {page} | "
              f"{wal.stat().st_size if wal.exists() else 0:,} |")
    for limiter in stores.values():
        await limiter.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        metavar="NAME:BEFORE:AFTER")
    parser.add_argument("--young", action="store_true",
                        help="also a store whose WAL never wraps (made anew every 800 commits)")
    parser.add_argument("--history", type=int, default=10_000,
                        help="requests on each store before the timed blocks")
    parser.add_argument("--prefill", type=int, default=0, help="other parties' rows first")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=200, help="requests per timed block")
    args = parser.parse_args()
    if args.rounds < 1 or args.block < 1 or args.history < 0 or args.prefill < 0:
        parser.error("--rounds and --block must be at least 1, --history and --prefill "
                     "at least 0")
    if args.young and 2 * args.block > YOUNG_COMMITS - 200:
        parser.error(f"--young needs --block of at most {(YOUNG_COMMITS - 200) // 2}")
    for v in args.variant:
        if not v.split(":", 1)[0] or v.split(":", 1)[0] in ("default", "young"):
            parser.error(f"--variant needs a name of its own: {v!r}")
    cpu.like_proxy()
    logging.disable(logging.WARNING)  # the like-proxy limits price nothing: no warnings
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-files-") as tmp:
        asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
