#!/usr/bin/env bash
# Cost of the supply-chain check `gateway serve` runs at start-up.
#
#   bench/verify_startup.sh            # the runtime lock, in a throwaway venv
#
# Builds a venv holding exactly what the README installs (runtime + build lock
# and the project), then times `gateway verify` three ways: cold (no verify
# cache, OS page cache dropped when this machine allows it), uncached (no verify
# cache, files already in the page cache) and warm (the verify cache of a
# previous clean run). "verify s" is the time inside the check; "wall s" adds
# the interpreter start and imports. Targets: cold <= 1.5 s, warm <= 100 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
work=$(mktemp -d /tmp/gateway-verify-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q --require-hashes --no-deps -r lockfiles/requirements.txt \
    -r lockfiles/requirements-build.txt >/dev/null 2>&1
"$work/venv/bin/pip" install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1
export XDG_CACHE_HOME="$work/cache"

measure() {  # label, extra args...
    local label=$1; shift
    local start end seconds
    start=$(date +%s.%N)
    seconds=$("$work/venv/bin/gateway" verify --format json "$@" \
        | "$work/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')
    end=$(date +%s.%N)
    printf '| %s | %.3f | %.3f |\n' "$label" "$seconds" "$(echo "$end - $start" | bc)"
}

echo "| run | verify s | wall s |"
echo "|---|---:|---:|"
sync
if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cold="cold (page cache dropped)"
else cold="cold (page cache could not be dropped here)"; fi
measure "$cold" --no-cache
measure "uncached" --no-cache
measure "first cached run (fills the cache)"
measure "warm" 
measure "warm"
