"""What a running gateway knows: its validated config and the models it serves.

Built once at start-up and shared read-only by every request handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway_cli.config import Config
from gateway_cli.providers import mock


@dataclass(frozen=True)
class ModelEntry:
    """One public model name and the provider that answers it."""

    name: str
    provider: str
    owned_by: str


@dataclass(frozen=True)
class Runtime:
    config: Config
    models: dict[str, ModelEntry] = field(default_factory=dict)


def build_runtime(config: Config) -> Runtime:
    models: dict[str, ModelEntry] = {}
    if config.mock.enabled:
        models[mock.MODEL] = ModelEntry(name=mock.MODEL, provider="mock", owned_by="gateway")
    return Runtime(config=config, models=models)
