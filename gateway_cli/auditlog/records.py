"""The request audit record: one per request through the gateway, in the chained log.

The envelope (seq, time, event, prev, kid, mac) is chain.py's. `time` is when
the request ended. `event` is `llm.request` for a call to a model; a tool call
through the MCP gateway will be `mcp.call` with the same fields where they
apply (`op` the tool method, `model` the tool, `deployment` the server).

`data` is flat, so an export to CSV is one column per field. Every value is a
name, a number, a status or a code the gateway chose; nothing is copied from
the request or answer text. A client-chosen model name is recorded only when
it is a configured model; otherwise `model` holds `unknown:<first 16 hex of its
SHA-256>` so a secret pasted into the model field never reaches the log.

Fields (absent means not applicable; null means not known):

- id: the request id (x-request-id)
- principal_kind: "client" | "run" | "token" | "open"; principal_id ("tok:<jti>" for a
  scoped token of `gateway tokens issue`); principal (key or token name); team
- client: the client's IP address
- method; path: the gateway path asked for, or "other" for one it does not serve
- op: "chat" | "embeddings" | "responses" | "messages" | "count_tokens" | null
- model: the public model asked for; served_model: after a policy reroute
- deployment, provider: who answered (null when nobody did)
- attempts: number of upstream attempts; failover: ["<deployment>:<outcome>", ...]
- verdict, applied: the request policy's verdict and what was done ("allow" ...)
- reason: the rule that decided, e.g. "secrets.github_token" (never the text)
- findings: [{"guard", "kind", "count", "slot"}] with slot the kind of field
- output_verdict, output_applied, output_reason: the answer policy's
- mode: "enforce" | "observe"
- limit: null | "admitted" | "refused:<limit label>"
- input_tokens, output_tokens, cached_tokens: as the provider reported them
  (null when it did not); cost: US dollars, null without a price
- status: the HTTP status the client got; error: the gateway's error code or null
- latency_ms: total; ttfb_ms: until the first byte of the answer body
- stream: null (not streamed) | "complete" | "policy" (cut by the output
  policy) | "client" (the client left) | "upstream" (the upstream broke off)
- arguments_sha256, result_bytes (mcp.call only): the SHA-256 of a tool call's arguments
  as received (canonical JSON) and the size of the upstream's result before any cut
- dropped: records dropped (queue full, on_full = "drop") since the last one
  written; present only when not zero
"""

from __future__ import annotations

from typing import Final

LLM_EVENT: Final = "llm.request"
MCP_EVENT: Final = "mcp.call"
# A tool definition that no longer matches its pin (changed, added, removed), or pins that
# fail their signature: {"server", "changed", "added", "removed", "error"} (names only);
# for prompts and resources also "kind" ("prompts", "resources", "resourceTemplates").
MCP_ALERT_EVENT: Final = "mcp.alert"
REQUEST_EVENTS: Final = frozenset({LLM_EVENT, MCP_EVENT})

# Column order for CSV export and the order `gateway log tail` prints.
FIELDS: Final = (
    "id", "principal_kind", "principal_id", "principal", "team", "client", "method", "path",
    "op", "model", "served_model", "deployment", "provider", "attempts", "failover",
    "verdict", "applied", "reason", "findings", "output_verdict", "output_applied",
    "output_reason", "mode", "limit", "input_tokens", "output_tokens", "cached_tokens",
    "cost", "status", "error", "latency_ms", "ttfb_ms", "stream", "arguments_sha256",
    "result_bytes", "dropped",
)
