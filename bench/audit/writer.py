#!/usr/bin/env python3
"""What the request log costs per request: CPU µs per record and records/s.

Submits N realistic request records (the fields of auditlog/records.py, about
900 bytes a line, signed) to a real AuditWriter on a real file, from the main
thread as the event loop would, and closes it (everything written and
fsynced). Reports:

- submit: CPU µs per record spent in submit() on the calling thread;
- total: process CPU time (both threads: submit + encode + write + fsync
  syscalls) per record, and wall-clock records/s;
- encode: encode_batch alone, trusted and with the secrets scan, µs per record.

    .venv/bin/python bench/audit/writer.py [--records 200000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from gateway_cli.auditlog.chain import EMPTY, SigningKey, encode_batch
from gateway_cli.auditlog.writer import AuditWriter


def record(i: int) -> dict[str, object]:
    return {
        "id": f"req_01J8ZQ4V3K6M2N7P{i:010d}", "principal_kind": "client",
        "principal_id": "c_8f3a2b1c", "principal": "billing-app", "team": "payments",
        "client": "10.0.3.17", "method": "POST", "path": "/v1/chat/completions", "op": "chat",
        "model": "gpt-4o-mini", "served_model": "gpt-4o-mini", "deployment": "openai-eu",
        "provider": "openai", "attempts": 1, "failover": [], "verdict": "allow",
        "applied": "allow", "reason": None, "findings": [], "output_verdict": "allow",
        "output_applied": "allow", "output_reason": None, "mode": "enforce",
        "limit": "admitted", "input_tokens": 812 + i % 97, "output_tokens": 233 + i % 31,
        "cached_tokens": 0, "cost": 0.000261 + (i % 13) * 1e-6, "status": 200,
        "error": None, "latency_ms": 1834.2 + i % 7, "ttfb_ms": 412.7, "stream": "complete"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=None,
                        help="Where the log goes (default: a temporary directory).")
    args = parser.parse_args()
    n = args.records
    key = SigningKey("abench000001", os.urandom(32))
    records = [record(i) for i in range(n)]
    base = time.time()

    sample = [("llm.request", records[i], base + i / 1000) for i in range(min(n, 20_000))]
    start = time.process_time()
    data, _ = encode_batch(EMPTY, sample, key, trusted=True)
    trusted = (time.process_time() - start) / len(sample) * 1e6
    start = time.process_time()
    encode_batch(EMPTY, sample[:2000], key)
    scanned = (time.process_time() - start) / 2000 * 1e6
    line = len(data) / len(sample)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        log = Path(tmp) / "requests.jsonl"
        writer = AuditWriter(log, key, queue=1_000_000, on_full="block",
                             rotate_bytes=100 * 1024 * 1024, rotate_daily=False)
        writer.start()
        cpu0, wall0, thread0 = time.process_time(), time.perf_counter(), time.thread_time()
        for i, data_ in enumerate(records):
            writer.submit("llm.request", data_, base + i / 1000)
        submit_cpu = time.thread_time() - thread0
        writer.close(timeout=600)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        assert writer.written == n, writer.written

    print(f"records: {n}, line: {line:.0f} bytes, log: {size / 1e6:.0f} MB, "
          f"batches: {writer.batches} ({n / writer.batches:.0f} records per write+fsync)")
    print(f"submit (event-loop thread): {submit_cpu / n * 1e6:.2f} µs CPU per record")
    print(f"total (process CPU, both threads): {cpu / n * 1e6:.1f} µs per record; "
          f"{n / wall:,.0f} records/s wall clock")
    print(f"encode_batch alone: {trusted:.1f} µs per record trusted, {scanned:.0f} µs with "
          "the secrets scan")


if __name__ == "__main__":
    main()
