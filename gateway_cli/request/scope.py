"""The model permission of a client key: checked on the model asked for, and again on any
model a policy or routing hook moves the request to, so a reroute never widens a key."""

from __future__ import annotations

from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import Principal


def check_scope(principal: Principal, model: str) -> None:
    if not principal.may_use(model):
        raise HttpError(403, f"this gateway key may not use the model '{model}'",
                        "model_not_allowed", "model")
