"""The request path, one stage a module, in the order a request meets them.

    server/front.py              the one gate: exact path, Host/Origin, authentication -> Principal
    request/parse.py             strict JSON, no duplicate keys, depth, the fields routed on
    request/scope.py             the key may use the model asked for (again after any reroute)
    request/inspect_request.py   guards + policy: allow, redact, block or reroute; the canary
    request/choose_route.py      routing hooks, then the public model's deployments
    request/limits.py            rates, tokens, in flight, budgets: reserve now, settle after
    routing/failover.py          which deployment next and when, or why to stop (pure)
    upstream/attempt.py          one attempt at one deployment (the only provider IO)
    request/inspect_answer.py    the answer judged, placeholders restored; error bodies screened
    request/give_up.py           what the client hears when the planner stops
    server/relay.py              drives the attempts and delivers the answer (IO)
    server/stream_relay.py       a streamed answer, translated, restored and judged as it flows
    server/proxy.py              the ASGI edge that runs these stages for each API operation
    server/observer.py           when it ends: access log line, metrics, the audit record

Each stage notes what it decided in the request's Trace (request/trace.py):
names, codes, counts and timings, never text.

The stages here are pure where they can be: they take the call and return a
decision or raise `HttpError`; reading the socket, sleeping and sending stay
in server/ and upstream/.
"""
