"""Instructions per request/stream on the inspected path, counted by callgrind.

    .venv/bin/python bench/speed/count.py                 # every shape, N=100
    .venv/bin/python bench/speed/count.py request stream  # some shapes
    .venv/bin/python bench/speed/count.py --n 50 --json out.json

One process: `driver.py N empty SHAPE...` under `valgrind --tool=callgrind
--dump-before=getppid`; the driver calls `os.getppid()` between the loops,
so callgrind writes one count per loop. A shape's cost per call is its
loop's count minus the empty loop's, divided by N: imports, set-up and
warm-up excluded. Callgrind counts instructions, not time, so the result
repeats within a fraction of a percent whatever else the machine runs
(PYTHONHASHSEED=0 keeps set and dict orders fixed). The digest of each
shape's result is printed too, so an optimisation that changed an outcome is
visible next to its count. About 3.5 G instructions of start-up come first
(one to two minutes under callgrind on a loaded 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SHAPES = ("request", "answer", "stream", "code", "ticket", "agent")


def _total(path: Path) -> int:
    match = re.search(r"^totals: (\d+)", path.read_text(errors="replace"), re.M)
    if match is None:
        raise SystemExit(f"no totals line in {path}")
    return int(match.group(1))


def count(shapes: list[str], n: int) -> dict[str, dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=getppid",
             f"--callgrind-out-file={out}", sys.executable, str(HERE / "driver.py"),
             str(n), *shapes],
            capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"driver failed:\n{done.stderr[-3000:]}")
        # cg.out.1 is start-up to the first mark; then one dump per loop (empty first).
        loops = [_total(Path(f"{out}.{k}")) for k in range(2, len(shapes) + 3)]
        digests = dict(line.split()[0::2] for line in done.stdout.splitlines())
    empty = loops[0]
    return {shape: {"per_call": round((loops[i + 1] - empty) / n), "n": n,
                    "digest": digests[shape]} for i, shape in enumerate(shapes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shapes", nargs="*", default=list(SHAPES))
    parser.add_argument("--n", type=int, default=100, help="iterations per shape (100)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = count(args.shapes, args.n)
    print("| shape | instructions per call | result digest |")
    print("|---|---:|---|")
    for shape, r in results.items():
        print(f"| {shape} | {r['per_call']:,} | {r['digest']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
