#!/usr/bin/env python3
"""What a scoped token costs the front door: `Authenticator.check` per call, in-process.

    bench/keys/token_check.py            # 20,000 calls per case, median of 5 rounds
    bench/keys/token_check.py --calls 50000 --rounds 7 --json

Compared on one table (one client key) and one signing key: a client key, a
`gateway run` token and a scoped token (`gateway tokens issue`, 2 scopes), each
valid; a scoped token that is revoked, has a bad signature, or an unknown kid.
A refused token must not cost much more than an accepted one (no amplification).
Nothing touches the network or the user's state: the table lives in a temporary
directory removed on exit. See bench/keys/README.md for results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

if Path(sys.executable).resolve() != VENV_PYTHON.resolve() and VENV_PYTHON.exists() \
        and __name__ == "__main__":
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))


def measure(calls: int, rounds: int) -> dict[str, float]:
    from gateway_cli.keys import clients, issued, jwt
    from gateway_cli.keys.signing import KeyEntry
    from gateway_cli.server.auth import Authenticator

    key = KeyEntry(kid="tbench0000001", key=os.urandom(32), created=time.time())
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _, client_token = clients.create(home, "bench")
        record, scoped = issued.issue(home, key, name="agent",
                                      scopes=["mcp:fs:read_*", "mcp:fs:list_*"],
                                      models=["mock/echo"], ttl=3600)
        run = jwt.issue(key.kid, key.key, {"aud": "gateway", "exp": time.time() + 3600,
                                           "jti": "r" * 24, "sub": "run:bench"})
        table = clients.load_table(home)
    keys = {key.kid: (key.key, None)}
    live = Authenticator(table, jwt_keys=keys)
    revoked = Authenticator(table, jwt_keys=keys, revoked_jtis=frozenset({record.jti}))
    head, body, sig = scoped.split(".")
    bad_sig = f"{head}.{body}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BA'}"
    unknown = jwt.issue("tunknown00000", key.key, {"aud": issued.AUDIENCE})
    cases = {"client_key": (live, client_token), "run_token": (live, run),
             "scoped_token": (live, scoped), "scoped_revoked": (revoked, scoped),
             "scoped_bad_signature": (live, bad_sig), "scoped_unknown_kid": (live, unknown)}
    out: dict[str, float] = {}
    for label, (auth, token) in cases.items():
        headers = [(b"content-type", b"application/json"),
                   (b"authorization", f"Bearer {token}".encode())]
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                auth.check(headers)
            samples.append((time.perf_counter() - start) / calls * 1e6)
        out[label] = statistics.median(samples)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.calls, args.rounds)
    if args.json:
        print(json.dumps({"us_per_check": result, "calls": args.calls,
                          "rounds": args.rounds}, indent=1))
    else:
        for label, micros in result.items():
            print(f"{label:22} {micros:7.2f} µs per Authenticator.check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
