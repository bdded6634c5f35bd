#!/usr/bin/env bash
# The release binary: size, `gateway --version` time, time to the first answer of `serve`,
# the self-check's own time, and whether two builds give the same bytes.
#
#   bench/binary/run.sh                 # build (scripts/build-binary --both) into a temp dir, measure
#   DIST=dist bench/binary/run.sh       # measure an existing `--both` build instead
#   REPRO=1 bench/binary/run.sh         # also build a second time and compare the sha256 of each output
#
# Settings: RUNS (first-response runs, default 10), VERSION_RUNS (default 20),
# KEEP_TMP=1 (keep the builds). Needs the project's .venv (for Python) and uses
# hyperfine when installed (`apt-get install hyperfine`), else a timed loop.
# Prints a markdown report; targets (issue 7, onefile): --version <= 0.5 s, first response <= 1.5 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=$(command -v python3)
RUNS=${RUNS:-10}
VERSION_RUNS=${VERSION_RUNS:-20}

WORK=$(mktemp -d /tmp/gateway-bench-binary-XXXXXX)
cleanup() { [ "${KEEP_TMP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"; }
trap cleanup EXIT

build() {  # build DIR: one `--both` build, its wall time in seconds on stdout
    local started
    started=$(date +%s.%N)
    scripts/build-binary --both --dist "$1/dist" --build-dir "$1/build" >"$1.log" 2>&1 \
        || { cat "$1.log" >&2; exit 1; }
    "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" \
        "$started" "$(date +%s.%N)"
}

if [ -n "${DIST:-}" ]; then
    DIST=$(cd "$DIST" && pwd)
    BUILD_SECONDS="(not built here)"
else
    mkdir -p "$WORK/a"
    BUILD_SECONDS="$(build "$WORK/a") s"
    DIST="$WORK/a/dist"
fi
ONEFILE="$DIST/gateway"
ONEDIR="$DIST/gateway-onedir/gateway"

version_time() {  # mean wall seconds of `EXE --version`
    if command -v hyperfine >/dev/null; then
        hyperfine -N -w 3 -r "$VERSION_RUNS" --export-json "$WORK/hf.json" "$1 --version" >/dev/null
        "$PY" -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; \
print(f\"{r['mean']:.3f} s (± {r['stddev']:.3f}; user {r['user']:.3f} s, system {r['system']:.3f} s; hyperfine)\")" \
            "$WORK/hf.json"
    else
        "$PY" - "$1" "$VERSION_RUNS" <<'EOF'
import statistics, subprocess, sys, time
exe, runs = sys.argv[1], int(sys.argv[2])
for _ in range(3):
    subprocess.run([exe, "--version"], capture_output=True, check=True)
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([exe, "--version"], capture_output=True, check=True)
    times.append(time.perf_counter() - t)
print(f"{statistics.mean(times):.3f} s (± {statistics.stdev(times):.3f}; loop of {runs})")
EOF
    fi
}

first_response() {
    "$PY" bench/binary/first_response.py "$1" "$RUNS" \
        | "$PY" -c "import json,sys; r=json.loads(sys.stdin.read()); \
print(f\"{r['median']:.3f} s median of {r['runs']} (min {r['min']:.3f}, max {r['max']:.3f})\")"
}

self_check() {
    "$1" verify --self --format json | "$PY" -c "import json,sys; r=json.load(sys.stdin); \
print(f\"{r['seconds']:.3f} s ({r['files_checked']} files, {r['bytes_hashed'] / 1048576:.0f} MiB hashed)\")"
}

size_mb() { "$PY" -c "import sys; print(f'{int(sys.argv[1]) / 1e6:.1f} MB')" "$1"; }

echo "## Release binary ($(uname -sm), $(nproc) cores; $(date -u +%Y-%m-%d))"
echo
echo "| | onefile (\`dist/gateway\`) | onedir (\`dist/gateway-onedir/\`) |"
echo "|---|---|---|"
echo "| size | $(size_mb "$(stat -c %s "$ONEFILE")") | $(size_mb "$(du -sb "$DIST/gateway-onedir" | cut -f1)") (folder) |"
echo "| \`--version\` | $(version_time "$ONEFILE") | $(version_time "$ONEDIR") |"
echo "| first answer of \`serve\` | $(first_response "$ONEFILE") | $(first_response "$ONEDIR") |"
echo "| self-check at start | $(self_check "$ONEFILE") | $(self_check "$ONEDIR") |"
echo
echo "Build: $BUILD_SECONDS (scripts/build-binary --both: venv from the lock, gateway verify, PyInstaller)."

if [ "${REPRO:-0}" = 1 ]; then
    mkdir -p "$WORK/b"
    SECOND="$(build "$WORK/b") s"
    echo
    echo "Reproducibility (a second build, $SECOND, same tree and machine, other directories):"
    echo
    for f in gateway gateway-onedir/gateway; do
        a=$(sha256sum "$DIST/$f" | cut -d' ' -f1)
        b=$(sha256sum "$WORK/b/dist/$f" | cut -d' ' -f1)
        [ "$a" = "$b" ] && same=identical || same=DIFFERENT
        echo "- \`$f\`: $same (${a:0:16}... / ${b:0:16}...)"
    done
    differing=$( (cd "$DIST/gateway-onedir" && find . -type f -print0 | sort -z \
        | xargs -0 sha256sum) | (cd "$WORK/b/dist/gateway-onedir" && sha256sum -c --quiet 2>/dev/null) \
        | sed 's/: FAILED$//' || true)
    echo "- onedir files that differ: ${differing:-none}"
fi
