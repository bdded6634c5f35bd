-- wrk script: POST a realistic OpenAI chat-completions request (~1.5 KB:
-- a system prompt and a few turns) and print one parseable result line.
--
--   wrk -t1 -c8 -d10s -s bench/chat.lua http://127.0.0.1:PORT/v1/chat/completions
--
-- Environment (read once, when wrk loads the script):
--   BENCH_MODEL   the "model" field (default "bench-model")
--   BENCH_STREAM  "1" adds "stream": true (the streaming variant); the
--                 response is read to its end, so latency is the time to
--                 the last byte of the whole event stream
--   BENCH_LABEL   a label copied into the result line
--   BENCH_HEADERS extra request headers, "Name: value" pairs separated by "|"
--                 (a peer such as Portkey takes its upstream from headers)
--   BENCH_FRESH   unset: the same body every time. "turn": the last user turn
--                 is new in every request (a counter in it), the history the
--                 same: a conversation, turn after turn, as chat clients and
--                 agents send it. "all": a counter in every message, so no
--                 text was ever seen before (what a gateway that remembers
--                 judged texts gains nothing from). Bodies stay within a few
--                 bytes of the same size.
--
-- done() prints, after wrk's own report, one line:
--   BENCH_RESULT {"label":..,"requests":..,"duration_us":..,"rps":..,
--                 "p50_us":..,"p90_us":..,"p99_us":..,"max_us":..,"mean_us":..,
--                 "errors":{"connect":..,"read":..,"write":..,"status":..,"timeout":..}}
-- "errors.status" counts answers that were not 2xx/3xx: a non-zero value
-- means the run measured failures, and bench/run refuses it.

local model = os.getenv("BENCH_MODEL") or "bench-model"
local stream = os.getenv("BENCH_STREAM") == "1"
local label = os.getenv("BENCH_LABEL") or ""

-- Plain JSON pieces; no escaping needed (no quotes or backslashes inside).
local system = "You are a senior backend engineer helping a team operate an API gateway "
  .. "that sits between internal applications and several LLM providers. Answer "
  .. "precisely and briefly, prefer concrete settings and numbers over general advice, "
  .. "say so when something depends on the workload, and never invent configuration "
  .. "keys: if you are not sure an option exists, say that it may not."

local turns = {
  {"user", "Our service calls the gateway about 300 times a second at peak. Requests "
    .. "carry a long system prompt and the last few turns of a conversation, and most "
    .. "answers are short. Latency matters more than throughput for us."},
  {"assistant", "At 300 requests per second with short answers, the time is dominated "
    .. "by the provider, so the gateway mostly needs to stay out of the way: keep "
    .. "connections to each provider open and pooled, avoid re-encoding bodies it only "
    .. "forwards, and stream answers through as they arrive instead of buffering them."},
  {"user", "We see occasional spikes of 150 ms before the first token. Could that be "
    .. "connection setup to the provider? How would we confirm it?"},
  {"assistant", "It could be. A new TLS connection costs two or three round trips. "
    .. "Compare the time to first byte of requests that reused a pooled connection "
    .. "with those that opened a new one; if the spikes only appear on new connections, "
    .. "the pool is too small or its idle timeout is too short."},
  {"user", "Explain briefly why connection pooling helps and how to size the pool."},
}

local fresh = os.getenv("BENCH_FRESH") or ""

local function make_body(n)
  -- n: nil for the fixed body; a counter put in the last turn ("turn") or everywhere ("all")
  local mark = n and (" (" .. n .. ")") or ""
  local everywhere = fresh == "all" and mark or ""
  local parts = {}
  parts[#parts + 1] = '{"role":"system","content":"' .. system .. everywhere .. '"}'
  for i, t in ipairs(turns) do
    local extra = (i == #turns) and mark or everywhere
    parts[#parts + 1] = '{"role":"' .. t[1] .. '","content":"' .. t[2] .. extra .. '"}'
  end
  local b = '{"model":"' .. model .. '","messages":[' .. table.concat(parts, ",") .. ']'
    .. ',"temperature":0.2,"max_tokens":400,"user":"bench-user-0001"'
  if stream then
    b = b .. ',"stream":true'
  end
  return b .. '}'
end

local body = make_body(nil)

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = stream and "text/event-stream" or "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

if fresh == "turn" or fresh == "all" then
  local counter = 0
  function request()
    counter = counter + 1
    return wrk.format(nil, nil, nil, make_body(counter))
  end
elseif fresh ~= "" then
  error("BENCH_FRESH must be unset, \"turn\" or \"all\"")
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'BENCH_RESULT {"label":"%s","stream":%s,"fresh":"%s","body_bytes":%d,"requests":%d,'
    .. '"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,'
    .. '"max_us":%d,"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d}}\n',
    label, tostring(stream), fresh, #body, summary.requests, summary.duration,
    summary.requests / secs, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
