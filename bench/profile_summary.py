"""Summarise a py-spy profile (`py-spy record --format raw`, collapsed stacks). Stdlib only.

    python bench/profile_summary.py profile.txt [--top 25] > profile.md

Prints markdown: where the samples go by package (self time: the innermost
frame's package; inclusive: stacks that pass through the package at all), and
the top functions by self time. Without --native, time spent in C code is
charged to the Python function that called it (socket.send to asyncio's
transport, msgspec.json.decode to its caller's line, and so on).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

# Frames that only start the server (CLI, asyncio.run, the loop's own
# run_forever); every sample passes through them, so they are left out of the
# inclusive figures.
BOOTSTRAP = ("gateway_cli/cli/", "gateway_cli/server/launch.py", "click/", "asyncio/runners.py")
BOOTSTRAP_FUNCS = {"<module>", "BaseEventLoop.run_until_complete", "BaseEventLoop.run_forever",
                   "BaseEventLoop._run_once", "Handle._run"}

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# Order matters: first match wins.
PACKAGES = [
    ("gateway_cli", ("gateway_cli/",)),
    ("aiohttp (+ yarl, multidict)", ("aiohttp/", "yarl/", "multidict/", "propcache/",
                                    "aiohappyeyeballs/", "frozenlist/", "aiosignal/")),
    ("litestar", ("litestar/",)),
    ("granian", ("granian/", "_granian")),
    ("msgspec", ("msgspec/",)),
    ("asyncio (event loop)", ("asyncio/",)),
    ("python runtime / C", ("libpython", "python3", ".so", "libc", "(native)", ".c", ".h")),
]


def package(file: str) -> str:
    for name, needles in PACKAGES:
        if any(file.endswith(n) if n in (".c", ".h") else n in file for n in needles):
            return name
    return "other stdlib / site-packages"


def parse(path: str) -> list[tuple[str, list[tuple[str, str]], int]]:
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            frames = []
            thread = "all threads"
            for raw in stack.split(";"):
                if raw.startswith("thread ("):
                    thread = "MainThread (asyncio loop)" if "MainThread" in raw \
                        else "other threads (Granian's Rust runtime)"
                    continue
                if raw.startswith("process ") or not raw:
                    continue
                m = FRAME.match(raw)
                if m:
                    frames.append((m.group("func"), m.group("file")))
                else:
                    frames.append((raw, "(native)"))
            if not frames:  # a thread sampled in native code with no Python frame
                frames = [("(no Python frame: native code)", "(native)")]
            stacks.append((thread, frames, int(count)))
    return stacks


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stacks = parse(args.profile)
    total = sum(c for _, _, c in stacks)
    if not total:
        print("no samples")
        return 1
    self_pkg: Counter[str] = Counter()
    incl_pkg: Counter[str] = Counter()
    self_fn: Counter[tuple[str, str]] = Counter()
    incl_fn: Counter[tuple[str, str]] = Counter()
    threads: Counter[str] = Counter()
    for thread, frames, count in stacks:
        threads[thread] += count
        func, file = frames[-1]
        self_pkg[package(file)] += count
        self_fn[(func, file)] += count
        inner = [(fn, f) for fn, f in frames
                 if not any(b in f for b in BOOTSTRAP) and fn not in BOOTSTRAP_FUNCS
                 and f != "gateway"]
        for p in {package(f) for _, f in inner}:
            incl_pkg[p] += count
        for key in set(inner):
            incl_fn[key] += count

    def pct(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    out = [f"{total} samples: " + ", ".join(f"{t} {pct(n)}" for t, n in threads.most_common())
           + ".", "",
           "| package | self | inclusive (excluding the start-up frames) |", "|---|---:|---:|"]
    for name, n in self_pkg.most_common():
        out.append(f"| {name} | {pct(n)} | {pct(incl_pkg[name])} |")
    out += ["", f"Top {args.top} functions by self time:", "",
            "| function | file | self | inclusive |", "|---|---|---:|---:|"]
    for (func, file), n in self_fn.most_common(args.top):
        out.append(f"| `{func}` | {file} | {pct(n)} | {pct(incl_fn[(func, file)])} |")
    gw = [(k, n) for k, n in incl_fn.items() if "gateway_cli/" in k[1]
          or k[0] == "ASGIRoute.handle"]
    gw.sort(key=lambda kn: -kn[1])
    out += ["", "gateway_cli functions by inclusive time (and Litestar's ASGIRoute.handle, "
            "which calls the proxy handler):", "",
            "| function | file | self | inclusive |", "|---|---|---:|---:|"]
    for (func, file), n in gw[:15]:
        out.append(f"| `{func}` | {file} | {pct(self_fn[(func, file)])} | {pct(n)} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
