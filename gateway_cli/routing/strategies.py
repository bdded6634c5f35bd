"""The order in which a model's deployments are tried.

Each strategy returns every deployment, best first, so the same list serves
the first attempt and every failover after it. Pure: randomness comes from
the `rng` argument, health from the `health` mapping.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from gateway_cli.routing.health import DeploymentHealth


class Candidate(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def priority(self) -> int: ...


T = TypeVar("T", bound="Candidate")


def _weighted_shuffle(items: Sequence[T], rng: random.Random) -> list[T]:
    """Weighted random order without replacement (Efraimidis-Spirakis keys)."""
    return sorted(items, key=lambda c: -(rng.random() ** (1.0 / c.weight)))


def order(strategy: str, candidates: Sequence[T],
                        health: Mapping[str, DeploymentHealth], rng: random.Random) -> list[T]:
    if strategy == "weighted":
        return _weighted_shuffle(candidates, rng)
    if strategy == "least-latency":
        # Unmeasured deployments first (0.0) so each gets sampled once.
        return sorted(_weighted_shuffle(candidates, rng),
                      key=lambda c: health[c.id].ewma_ttfb or 0.0)
    if strategy == "least-inflight":
        return sorted(_weighted_shuffle(candidates, rng),
                      key=lambda c: (health[c.id].inflight, c.priority))
    # priority: lowest number first; ties spread by weight
    return sorted(_weighted_shuffle(candidates, rng), key=lambda c: c.priority)
