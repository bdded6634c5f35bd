"""Limits and spend: rate, token, concurrency and budget caps, and the stores that count them.

    model.py      what a counter is, what a store answers (Granted / Refused), the Store interface
    windows.py    the fixed windows (minute, UTC day, UTC month) a counter is kept in
    slots.py      a prepared layout's store keys in the current windows, kept per window
    prepared.py   a caller's limits on a model worked out once (what plan.py decides per call)
    tokens.py     a local token estimate of a request, and the usage an answer reports
    prices.py     the dated price table and the cost of a request's usage
    outcome.py    the check every store makes, and what a grant or refusal reports
    memory_store.py / sqlite_store.py / redis_store.py   one interface, chosen in [limits]
    stores.py     open_store(kind, ...): the one that [limits] names
    resp.py       the small Redis client (RESP2, standard library only) redis_store.py speaks
"""
