#!/usr/bin/env bash
# Install LiteLLM's proxy into a throwaway venv, for bench/run --with-litellm.
#
#   bench/litellm.sh install DIR     prints the installed version on stdout
#
# Never into the project's .venv, never into its lockfiles. The version is
# pinned (LITELLM_VERSION overrides it) and checked against releases known
# to be malicious: 1.82.7 and 1.82.8 were published by an attacker, and the
# 1.107 line was reported compromised as well (it is no longer listed on the
# index). pip checks the installed version matches the pin exactly.
set -euo pipefail

PINNED="${LITELLM_VERSION:-1.108.5}"
case "$PINNED" in
    1.82.7|1.82.8|1.107|1.107.*)
        echo "litellm $PINNED is a known-malicious release; refusing" >&2; exit 1 ;;
esac

[ "${1:-}" = install ] && [ -n "${2:-}" ] || { echo "usage: $0 install DIR" >&2; exit 2; }
DIR=$2

installed() {
    "$DIR/bin/python" -c 'from importlib.metadata import version; print(version("litellm"))' \
        2>/dev/null || true
}

if [ "$(installed)" != "$PINNED" ] || [ ! -x "$DIR/bin/litellm" ]; then
    rm -rf "$DIR"
    python3 -m venv "$DIR" >&2
    "$DIR/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$PINNED" >&2
fi
version=$(installed)
[ "$version" = "$PINNED" ] || { echo "installed litellm is '$version', expected $PINNED" >&2; exit 1; }
echo "$version"
