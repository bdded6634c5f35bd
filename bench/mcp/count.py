"""Instructions per tools/call on the gateway's MCP path, counted by callgrind.

    .venv/bin/python -m bench.mcp.count [--calls 400] [--tree DIR]

Runs `bench.mcp.front_cost --marks N` under `valgrind --tool=callgrind
--dump-before=getppid` (PYTHONHASHSEED=0): the front_cost set-up and its warm-up,
then N calls through the gateway's ASGI app and N calls with its upstream client
alone, a dump between them. Per call = a loop's total / N; the gateway's own work is
the difference. User-space instructions of this process only: the notes server is a
child outside valgrind, and the kernel's socket work is not counted. Callgrind counts
instructions, not time, so the result barely moves with the machine's load (the
client-alone loop moves by ~1-2% run to run: whether a stream's end arrives with its
answer or after changes the reads). `--tree` counts another checkout (e.g. the branch
point exported with `git archive`) with the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _total(path: Path) -> int:
    match = re.search(r"^totals: (\d+)", path.read_text(errors="replace"), re.M)
    if match is None:
        raise SystemExit(f"no totals line in {path}")
    return int(match.group(1))


def count(calls: int, tree: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(tree)}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=getppid",
             f"--callgrind-out-file={out}", sys.executable, "-m", "bench.mcp.front_cost",
             "--marks", str(calls)],
            capture_output=True, text=True, env=env, cwd=tree, check=False)
        if done.returncode != 0:
            raise SystemExit(f"front_cost failed:\n{done.stderr[-3000:]}")
        through, straight = (_total(Path(f"{out}.{k}")) // calls for k in (2, 3))
    return {"through": through, "straight": straight, "own": through - straight}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--tree", type=Path, default=ROOT)
    args = parser.parse_args()
    result = count(args.calls, args.tree.resolve())
    print(f"| instructions per tools/call ({args.calls} calls) | through | client alone "
          "| own work |\n|---|---|---|---|")
    print(f"| {args.tree} | {result['through']:,} | {result['straight']:,} | "
          f"{result['own']:,} |")


if __name__ == "__main__":
    main()
