"""What `gateway run` sets for the coding agents it knows, beyond the SDKs' variables.

The SDK variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, *_API_KEY) are not
enough for the two most used coding agents:

- Claude Code reads ANTHROPIC_BASE_URL and, for a bearer token,
  ANTHROPIC_AUTH_TOKEN. Given ANTHROPIC_API_KEY as well it would ask which
  one to use; it gets only the token.
- Codex CLI ignores OPENAI_BASE_URL for its built-in provider and speaks only
  the Responses API. It is pointed at the gateway through its own `-c`
  override flags (a provider named `gateway`: base URL, the variable holding
  the key, the Responses wire API), so no file of the user's is edited and
  nothing persists after the run. The flags carry the variable's *name*;
  the token itself stays in the child's environment, never in argv (which
  every local user can read in /proc or `ps`).

Pure: the caller passes the command, base URL and token, and runs what comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CODEX_PROVIDER = "gateway"
CODEX_KEY_VAR = "OPENAI_API_KEY"  # the run token, as for every OpenAI SDK in the child


@dataclass(frozen=True)
class AgentSetup:
    name: str | None  # the agent recognised, or None for any other program
    env: dict[str, str] = field(default_factory=dict)  # set in the child's environment
    unset: tuple[str, ...] = ()  # removed from it
    argv: tuple[str, ...] = ()  # the command as run


def agent_of(command: Sequence[str]) -> str | None:
    name = Path(command[0]).name.lower() if command else ""
    name = name.removesuffix(".exe").removesuffix(".cmd")
    return name if name in ("claude", "codex") else None


def _toml_string(value: str) -> str:
    """A TOML basic string (Codex parses each `-c` value as TOML)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    # A control character (a newline would end the value and start a new key) as \uXXXX.
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
                      for c in escaped)
    return f'"{escaped}"'


def codex_overrides(base_url: str) -> tuple[str, ...]:
    """Codex's `-c` flags selecting the gateway as its model provider."""
    prefix = f"model_providers.{CODEX_PROVIDER}"
    pairs = (
        (f"{prefix}.name", "gateway"),
        (f"{prefix}.base_url", f"{base_url}/v1"),
        (f"{prefix}.env_key", CODEX_KEY_VAR),
        (f"{prefix}.wire_api", "responses"),
        ("model_provider", CODEX_PROVIDER),
    )
    out: list[str] = []
    for key, value in pairs:
        out += ["-c", f"{key}={_toml_string(value)}"]
    return tuple(out)


def setup_for(command: Sequence[str], base_url: str, token: str) -> AgentSetup:
    """The environment additions, removals and argv for `command` under `gateway run`."""
    agent = agent_of(command)
    if agent == "claude":
        return AgentSetup(agent, env={"ANTHROPIC_BASE_URL": base_url,
                                      "ANTHROPIC_AUTH_TOKEN": token},
                          unset=("ANTHROPIC_API_KEY",), argv=tuple(command))
    if agent == "codex":
        return AgentSetup(agent, env={CODEX_KEY_VAR: token},
                          argv=(command[0], *codex_overrides(base_url), *command[1:]))
    return AgentSetup(None, argv=tuple(command))
