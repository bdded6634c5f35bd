"""Python's cyclic garbage collector, set for a server that runs for weeks.

Reference counting frees almost everything a request allocates the moment it is
done; the cyclic collector exists for the rest (cycles: tasks, futures,
exceptions with their tracebacks). Its defaults suit a short script, not this
process, in two ways:

- Everything built at start-up (the configuration, routing tables, guard tables,
  the classifier's vocabulary, every imported module: some 50,000 tracked
  objects) lives as long as the process, yet every full collection walks it all
  again. `gc.freeze()` after start-up moves it out of the collector's sight;
  forked workers then also stop touching those pages (less copy-on-write).
- A young collection runs every 700 net allocations of container objects. Under
  load, the requests in flight hold thousands of young objects (decoded bodies,
  findings, tasks), so a young collection runs several times per request and
  walks all of them each time, to find almost nothing. Ten times the threshold
  means a tenth of those walks; the garbage cycles it lets wait are small and
  short-lived (at most ~7,000 objects, a few MB, before they are collected).

bench/README.md has the measurement that justifies the numbers.
"""

from __future__ import annotations

import gc

YOUNG = 7000  # container allocations between young collections (CPython's default: 700)
OLDER = 10  # young collections per middle one, and middle per full (defaults)


def settle() -> None:
    """Call once start-up is done, just before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)
