"""The injection guard's findings on a text already judged, for the same client.

Chat clients and agents send the whole conversation with every call: the
system prompt (Claude Code's is tens of kilobytes), the tool definitions and
every earlier turn come again, unchanged, with one new turn. Judging them all
again made inspection cost grow with the length of the conversation, not with
what is new in it. The injection guard is a pure function of the text, the
kind of slot it sits in and the threshold applied, so its findings on the
same text under the same settings are the same: they are kept here and
reused. This is not a skip: a text is judged in full the first time, and a
text that differs by one character is a different text.

What is kept, and why it is safe:
- The key is a BLAKE2b-256 digest of the text (never the text: the cache holds
  no prompt), the slot kind, the threshold and the client key's name. A
  collision would need 2**128 work; and since entries are per client key, one
  client cannot learn by timing whether another sent a given text.
- Findings are copied out, so the policy's per-finding bookkeeping (by object
  identity) never sees one finding object twice.
- A scan that raised is never kept: the next request judges the text again.
- The cache belongs to one Inspector, made from one inspection config: a
  reload builds a new Inspector, and an empty cache with it.
- Bounded by entries (least recently used out first); `inspection.cache_entries
  = 0` turns it off. A lock makes it safe for the worker thread that inspects
  large bodies off the event loop.

The format guards (secrets, personal data, custom patterns) are not cached:
they scan a request's texts joined, so that a key name in one string is the
context of a value in the next, and their findings on one text depend on its
neighbours.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from hashlib import blake2b

from gateway_cli.guards.base import Finding

Key = tuple[str, str, float, bytes]


def digest(text: str) -> bytes:
    # surrogatepass: JSON can carry lone surrogates; the encoding stays one-to-one.
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()


class VerdictCache:
    def __init__(self, entries: int) -> None:
        self.entries = entries
        # An OrderedDict, not a dict: taking the oldest entry of a dict that has lost many
        # from its front walks over every deleted slot (next(iter(d)) is linear then),
        # which a cache full of texts seen once did at every insertion.
        self._kept: OrderedDict[Key, tuple[Finding, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, client: str, source: str, threshold: float, text: str) -> Key:
        return (client, source, threshold, digest(text))

    def get(self, key: Key) -> list[Finding] | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                self.misses += 1
                return None
            self._kept.move_to_end(key)  # the most recently used goes last
            self.hits += 1
        return [replace(f) for f in found]

    def put(self, key: Key, findings: list[Finding]) -> None:
        with self._lock:
            self._kept[key] = tuple(findings)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)
