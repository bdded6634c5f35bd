"""Content-based routing: a hook may send a request to another public model.

Guards use this (for example: a request carrying personal data goes to a
local model). A hook is a pure function of the request; the first hook that
names a model wins. The chosen model must exist; a hook naming an unknown
model is a configuration error reported to the client as 500, never a
silent fallback to the original model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway_cli.providers.operations import Op


@dataclass(frozen=True)
class RouteContext:
    op: Op
    model: str
    body: Mapping[str, Any]


RouteHook = Callable[[RouteContext], str | None]


def choose_model(hooks: list[RouteHook], context: RouteContext) -> str | None:
    for hook in hooks:
        target = hook(context)
        if target is not None and target != context.model:
            return target
    return None
