"""Choose the route: the routing hooks may move the request to another public model, then the
model's deployments are looked up. An unknown model is the client's 404; a hook naming an
unknown model is the operator's mistake (500), never a silent fallback."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import Principal
from gateway_cli.providers.operations import Op
from gateway_cli.request.scope import check_scope
from gateway_cli.routing.hooks import RouteContext, RouteHook, choose_model
from gateway_cli.routing.table import ModelRoute

log = logging.getLogger("gateway.proxy")


def choose_route(models: Mapping[str, ModelRoute], hooks: list[RouteHook], op: Op,
                 model: str, body: dict[str, Any], principal: Principal,
                 headers: list[tuple[bytes, bytes]]) -> ModelRoute:
    """The route for `model` after the hooks; a reroute is noted in `headers`."""
    target = choose_model(hooks, RouteContext(op, model, body)) if hooks else None
    if target is not None:
        if target not in models:
            log.error("a routing hook chose unknown model %r", target)
            raise HttpError(500, "the gateway's routing policy chose a model that is not "
                            "configured", "routing_error")
        headers.append((b"x-gateway-rerouted-from", model.encode()))
        model = target
        check_scope(principal, model)
    route = models.get(model)
    if route is None:
        raise HttpError(404, f"The model '{model}' does not exist or is not configured on this "
                        "gateway; GET /v1/models lists the available ones", "model_not_found",
                        "model")
    return route
