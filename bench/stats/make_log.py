"""Write a realistic month of request records for timing `gateway stats`.

    .venv/bin/python bench/stats/make_log.py --out /tmp/stats-bench
    .venv/bin/python bench/stats/make_log.py --out /tmp/small --records 20000 --files 3

The directory (made 0700) becomes a gateway home: `requests.jsonl` is the
active file and `requests-<first seq>.jsonl` the rotated ones, as the writer
names them. Every line is in the audit chain's canonical form with a correct
chain (seq from 0, prev the SHA-256 of the line before, across files), so
the log looks real; records are unsigned (kid and mac null), which is what a
gateway without an audit key writes.

Traffic: client keys in teams, each key using a few models (some much more
than others), a few requests with no key (open mode), errors, rate-limit
refusals, policy blocks, guard findings and models without a price (cost
null). Seeded, so two runs write the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path

from gateway_cli.auditlog.chain import GENESIS
from gateway_cli.auditlog.files import rotated_name

# public model -> (provider, deployments, $ per 1M input, $ per 1M output or None)
MODELS = {
    "gpt-4o": ("openai", ["openai-gpt-4o", "azure-gpt-4o"], 2.5, 10.0),
    "gpt-4o-mini": ("openai", ["openai-gpt-4o-mini"], 0.15, 0.6),
    "o3-mini": ("openai", ["openai-o3-mini"], 1.1, 4.4),
    "claude-sonnet": ("anthropic", ["anthropic-sonnet", "bedrock-sonnet"], 3.0, 15.0),
    "claude-haiku": ("anthropic", ["anthropic-haiku"], 0.8, 4.0),
    "llama-70b": ("groq", ["groq-llama-70b"], 0.59, 0.79),
    "mistral-large": ("mistral", ["mistral-large"], None, None),
    "text-embedding-3-small": ("openai", ["openai-embed-small"], 0.02, 0.0),
    "local-qwen": ("ollama", ["ollama-qwen"], None, None),
}
TEAMS = ["platform", "data", "support", "growth", "security", "research", "mobile", "finance"]
GUARDS = [("secrets", "aws_access_key", "message"), ("secrets", "github_token", "message"),
          ("pii", "email", "message"), ("pii", "phone", "message"), ("pii", "iban", "tool"),
          ("injection", "ignore_previous", "message")]


def canonical(record: dict[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode() + b"\n"


def stamp(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def clients(rng: random.Random, count: int) -> list[dict[str, object]]:
    out = []
    names = list(MODELS)
    for i in range(count):
        picks = rng.sample(names, rng.randint(1, 4))
        weights = [rng.paretovariate(1.2) for _ in picks]
        out.append({"name": f"app-{i:02d}", "id": hashlib.sha256(f"c{i}".encode()).hexdigest()[:16],
                    "team": TEAMS[i % len(TEAMS)], "models": picks, "weights": weights,
                    "rate": rng.paretovariate(1.1)})
    return out


def record(rng: random.Random, who: dict[str, object] | None, n: int) -> dict[str, object]:
    if who is None:
        model = rng.choice(["gpt-4o-mini", "local-qwen"])
    else:
        model = rng.choices(who["models"], who["weights"])[0]  # type: ignore[arg-type]
    provider, deployments, price_in, price_out = MODELS[model]
    deployment = deployments[0] if rng.random() < 0.8 else deployments[-1]
    embeddings = model.startswith("text-embedding")
    tokens_in = int(rng.lognormvariate(6.5, 1.2))
    tokens_out = 0 if embeddings else int(rng.lognormvariate(5.2, 1.0))
    latency = int(rng.lognormvariate(6.6, 0.8)) + tokens_out // 20
    roll = rng.random()
    status, error, applied, verdict, reason, findings = 200, None, "allow", "allow", None, []
    limit = "admitted"
    if rng.random() < 0.03:
        guard, kind, slot = rng.choice(GUARDS)
        findings = [{"count": rng.randint(1, 3), "guard": guard, "kind": kind, "slot": slot}]
        verdict = "block" if guard == "secrets" else "redact"
        applied, reason = verdict, f"{guard}.{kind}"
    if applied == "block":
        status, error, tokens_in, tokens_out, deployment, provider = (
            400, "blocked_by_policy", None, None, None, None)
        latency = rng.randint(1, 15)
    elif roll < 0.01:
        status, error, limit = 429, "rate_limited", "refused:key rpm"
        tokens_in = tokens_out = None
        deployment = provider = None
        latency = rng.randint(0, 3)
    elif roll < 0.02:
        status, error, tokens_out = 502, "upstream_error", None
    cost = None
    if price_in is not None and tokens_in is not None:
        cost = round((tokens_in * price_in + (tokens_out or 0) * (price_out or 0)) / 1e6, 8)
    return {
        "id": f"req_{n:012x}", "principal_kind": "client" if who else "open",
        "principal_id": who["id"] if who else None, "principal": who["name"] if who else None,
        "team": who["team"] if who else None, "client": f"10.0.{n % 7}.{n % 200 + 10}",
        "method": "POST", "path": "/v1/embeddings" if embeddings else "/v1/chat/completions",
        "op": "embeddings" if embeddings else "chat", "model": model, "served_model": model,
        "deployment": deployment, "provider": provider,
        "attempts": 0 if provider is None else 1,
        "failover": [], "verdict": verdict, "applied": applied, "reason": reason,
        "findings": findings, "output_verdict": "allow", "output_applied": "allow",
        "output_reason": None, "mode": "enforce", "limit": limit,
        "input_tokens": tokens_in, "output_tokens": tokens_out, "cached_tokens": 0,
        "cost": cost, "status": status, "error": error, "latency_ms": latency,
        "ttfb_ms": latency // 3, "stream": None if embeddings else "complete",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10, help="rotated files")
    parser.add_argument("--active", type=int, default=50_000,
                        help="records in the active file (the rest are rotated)")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--end", type=float, default=None, help="epoch of the last record")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    end = time.time() if args.end is None else args.end
    start = end - args.days * 86400
    keys = clients(rng, args.keys)
    rates = [float(k["rate"]) for k in keys] + [sum(float(k["rate"]) for k in keys) * 0.02]
    who: list[dict[str, object] | None] = [*keys, None]
    args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(args.out, 0o700)
    active = args.out / "requests.jsonl"
    for old in args.out.glob("requests*.jsonl"):
        old.unlink()
    rotated = max(0, args.records - args.active)
    per_file = -(-rotated // args.files) if args.files else 0
    prev = GENESIS
    step = (end - start) / max(1, args.records)
    handle = None
    began = time.perf_counter()
    for seq in range(args.records):
        if (seq < rotated and seq % per_file == 0) or seq == rotated:
            if handle is not None:
                handle.close()
            path = active if seq >= rotated else rotated_name(active, seq)
            handle = path.open("wb")
            os.chmod(path, 0o600)
        moment = start + seq * step + rng.random() * step
        data = record(rng, rng.choices(who, rates)[0], seq)
        line = canonical({"data": data, "event": "llm.request", "kid": None, "mac": None,
                          "prev": prev, "seq": seq, "time": stamp(moment)})
        prev = hashlib.sha256(line).hexdigest()
        assert handle is not None
        handle.write(line)
    if handle is not None:
        handle.close()
    size = sum(p.stat().st_size for p in args.out.glob("requests*.jsonl"))
    print(f"{args.records:,} records, {size / 1e6:,.0f} MB in {args.out} "
          f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
