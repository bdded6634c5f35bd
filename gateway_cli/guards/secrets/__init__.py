"""Secrets guard: finds credentials in text before it leaves for a provider or a log.

Why it is shaped this way (each module's docstring says more):

- Speed. Every prompt goes through every guard, so most text must cost about
  one pass: token regexes run only when a needle of theirs is among the
  text's long words, other detectors behind literal needles (engine.py,
  needles.py).
- Linear time. Bounded repetition with no trailing assertion, boundaries
  checked in Python, context searched only in merged windows, a cap on hits
  per detector (engine.py, detectors.py).
- Precision. Checksums and fixed shapes are validated (validators.py);
  placeholders never fire and values found only by a name must look random
  (values.py, assignments.py). Findings under `ACT_THRESHOLD` are still
  returned so a caller can log them without blocking on them.
- Safety. A finding carries `mask(value)`, never the value.

Modules: token_table.py (the prefixed formats, data), needles.py (generated
from it by scripts/generate-secret-tables), validators.py (checks on a token
match), detectors.py (shaped and contextual detectors, Authorization headers
of every scheme), assignments.py (values found by a name), pairs.py (values
named by a sibling field: HAR, Postman, Kubernetes env lists), passwords.py
(password values that are no credential: defaults, examples, stored
hashes), values.py (what a secret value looks like), plan.py (the detector
table compiled for the scan: needles behind a pre-gate character), engine.py
(gating, the scan and overlap resolution).
"""

from __future__ import annotations

from gateway_cli.guards.secrets.engine import (
    ACT_THRESHOLD,
    GUARD,
    MAX_HITS_PER_DETECTOR,
    OVERFLOW,
    SecretsGuard,
    scan,
)
from gateway_cli.guards.secrets.values import checksum_ok

__all__ = [
    "ACT_THRESHOLD",
    "GUARD",
    "MAX_HITS_PER_DETECTOR",
    "OVERFLOW",
    "SecretsGuard",
    "checksum_ok",
    "scan",
]
