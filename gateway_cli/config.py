"""The gateway.toml schema and its loader.

The schema is a tree of frozen msgspec Structs: decoding validates types,
ranges and unknown keys in one pass, and the resulting objects are immutable,
so the request path can share them without locks. Every field has a safe
default, so no config file at all is a valid configuration (loopback only,
the built-in mock model).

Validation errors are rewritten into one line that names the key, the value
found and what was expected, e.g.
``gateway.toml: server.port = 70000: expected an integer <= 65535``.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from gateway_cli.errors import ConfigError

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86400)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
AliasName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:/@+\[\]*-]{1,200}$")]
# `[server] event_loop` (server/event_loop.py).
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
ProviderKind = Literal["openai", "anthropic", "azure", "openai-compatible"]
Strategy = Literal["priority", "weighted", "least-latency", "least-inflight"]
Mode = Literal["enforce", "observe"]  # observe: report what the policy would do, change nothing

# A Host name as clients send it, without the port: a DNS name, an IPv4 address, an IPv6
# address in brackets, or "*" for any (only where something in front checks it).
HostName = Annotated[str, msgspec.Meta(pattern=r"^(\*|[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]+\])$")]
# A browser origin exactly as browsers send it: scheme://host[:port], no path.
Origin = Annotated[str, msgspec.Meta(pattern=r"^https?://[A-Za-z0-9._\[\]:-]{1,260}$")]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base for config sections: unknown keys are typos, and typos are errors."""


class ServerConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    host: str = DEFAULT_HOST
    port: Port = DEFAULT_PORT
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024**3)] = DEFAULT_MAX_BODY_BYTES
    max_json_depth: Annotated[int, msgspec.Meta(ge=8, le=512)] = 100
    max_header_bytes: Annotated[int, msgspec.Meta(ge=4096, le=1024**2)] = 65536
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The front door (server/gate.py, launch.py): who may reach the gateway and for how long.
    allowed_hosts: list[HostName] = msgspec.field(default_factory=list)
    allowed_origins: list[Origin] = msgspec.field(default_factory=list)
    max_connections: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 4096
    backlog: Annotated[int, msgspec.Meta(ge=16, le=65535)] = 1024
    max_requests_per_address: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1024
    header_timeout: Annotated[float, msgspec.Meta(ge=1, le=300)] = 10.0
    body_timeout: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60.0
    http2: bool = False
    # The event loop (server/event_loop.py): uvloop where installed ("auto"), or asyncio's.
    event_loop: EventLoopChoice = "auto"
    # Observability (issue: every request accounted for): one INFO line per request
    # (never content), in text or JSON lines; /metrics for loopback and admin keys.
    access_log: bool = True
    log_format: Literal["text", "json"] = "text"
    metrics: bool = True
    # HTTPS on the listener itself (server/tls.py): paths to PEM files, both or neither.
    # The key file is checked like a secret at start; the paths themselves are not secret.
    tls_cert: str | None = None
    tls_key: str | None = None


class MockConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """The built-in mock model `mock-echo` (also `mock/echo`): never leaves the process.

    Unset, it is served only while no provider is configured (to try the gateway
    out); a production gateway must not answer with an echo unless asked to.
    """

    enabled: bool | None = None


class ProviderConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """An upstream account: where to send requests and which secret signs them."""

    name: Name
    kind: ProviderKind
    base_url: str | None = None
    secret: str | None = None
    api_version: str | None = None
    anthropic_version: str = "2023-06-01"
    connect_timeout: Seconds = 10.0
    timeout: Seconds = 600.0
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 256
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class DeploymentConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """One place a public model name can be served from."""

    provider: Name
    model: Name
    weight: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    priority: int = 0
    timeout: Seconds | None = None
    rpm: PositiveInt | None = None
    tpm: PositiveInt | None = None
    concurrent: PositiveInt | None = None  # requests in flight to this deployment


class ModelConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """A public model name (what clients ask for) and the deployments behind it."""

    name: Name
    deployments: Annotated[list[DeploymentConfig], msgspec.Meta(min_length=1)]
    strategy: Strategy = "priority"
    # Other names clients may ask for; `*` matches any run of characters
    # ("claude-*-4-5*"). Limits, policy rules and key scopes use `name`.
    aliases: list[AliasName] = msgspec.field(default_factory=list)


Action = Literal["block", "redact", "mask", "hash", "flag", "reroute"]
Confidence = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class GuardPolicyConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """What to do when one guard finds something."""

    action: Action
    min_confidence: Confidence = 0.5
    fail_open: bool = False
    reroute_to: str | None = None


def _guard(action: str, **extra: Any) -> Any:
    return msgspec.field(default_factory=lambda: GuardPolicyConfig(action=action,  # type: ignore[arg-type]
                                                                   **extra))


class CustomGuardConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """Banned substrings and regexes of this deployment (e.g. internal project names)."""

    banned: list[str] = msgspec.field(default_factory=list)
    regexes: list[str] = msgspec.field(default_factory=list)
    action: Action = "block"
    fail_open: bool = False


class OutputPolicyConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """What to do when a model's answer leaks: a planted canary (system-prompt leak),
    a secret or personal data the request did not carry, a link or image that
    would carry data to a host not on the allow-list, or active HTML."""

    action: Literal["block", "mask", "flag"] = "block"
    min_confidence: Confidence = 0.7
    fail_open: bool = False
    # Plant a random canary in every system prompt and watch for it in answers. Off by
    # default: it changes every request body (no more byte-for-byte pass-through).
    canary: bool = False
    link_allowlist: list[str] = msgspec.field(default_factory=list)
    # Characters of text held back per text slot of a streamed answer (an OpenAI choice,
    # an Anthropic text block, a Responses part) when the action is block or mask, so a
    # finding is judged before any of it is sent. It delays the first visible text by
    # about that much (guards/mask_stream.py explains the default).
    stream_hold: Annotated[int, msgspec.Meta(ge=64, le=8192)] = 256


SlotKind = Literal["user", "system", "assistant", "tool_definition", "tool_call", "tool_result",
                   "document", "metadata", "reasoning"]
SlotAction = Literal["block", "redact", "mask", "hash", "flag", "ignore"]
SlotWeight = Annotated[float, msgspec.Meta(ge=0.0, le=4.0)]
# "secrets", "pii", "injection", "custom" or "*", optionally ".kind" ("injection.role_token").
SlotMatch = Annotated[str, msgspec.Meta(
    pattern=r"^(?:\*|(?:secrets|pii|injection|custom)(?:\.[a-z0-9_]{1,64})?)$")]


class SlotRule(_Strict, frozen=True, forbid_unknown_fields=True):
    """How findings weigh in some slots (where a text sits in the request).

    System prompts and tool definitions are written by the application the key
    belongs to; user turns, tool results and documents come from outside. A
    rule names guards or guard.kinds (`match`) and slots; in those slots it
    replaces the guard's action (`ignore` exempts) and multiplies the finding's
    confidence by `weight` before `min_confidence` is applied. For injection,
    whose threshold is on a text's combined score, a weight on the whole guard
    scales that score. The first rule that matches a finding wins.
    """

    match: Annotated[list[SlotMatch], msgspec.Meta(min_length=1)]
    slots: Annotated[list[SlotKind], msgspec.Meta(min_length=1)]
    action: SlotAction | None = None
    weight: SlotWeight = 1.0


# The defaults, after any configured slot rules: what the application wrote itself is
# reported, not rewritten or refused. Personal data in a system prompt (the app's own
# support address) is the app's to send; instructions, role markers and the words
# "system prompt" are what system prompts and tool descriptions are made of.
DEFAULT_SLOT_RULES: tuple[SlotRule, ...] = (
    SlotRule(match=["pii"], slots=["system", "tool_definition"], action="flag"),
    SlotRule(match=["injection"], slots=["system", "tool_definition"], action="flag"),
)


class InspectionRule(_Strict, frozen=True, forbid_unknown_fields=True):
    """Overrides for some requests: by public model, client key name and/or team.

    A rule applies when every list it sets matches (a list matches when it holds
    the request's value); the first rule that applies wins.
    """

    models: list[str] = msgspec.field(default_factory=list)
    keys: list[str] = msgspec.field(default_factory=list)
    teams: list[str] = msgspec.field(default_factory=list)
    secrets: GuardPolicyConfig | None = None
    pii: GuardPolicyConfig | None = None
    injection: GuardPolicyConfig | None = None
    # Checked before the top-level slot rules for the requests this rule applies to.
    slot_rules: list[SlotRule] = msgspec.field(default_factory=list)


class InspectionConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """Request inspection. `observe` records what would happen and never changes traffic."""

    enabled: bool = True
    mode: Mode = "enforce"
    secrets: GuardPolicyConfig = _guard("redact", min_confidence=0.6)
    pii: GuardPolicyConfig = _guard("redact", min_confidence=0.6)
    injection: GuardPolicyConfig = _guard("block", min_confidence=0.5)
    custom: CustomGuardConfig = msgspec.field(default_factory=CustomGuardConfig)
    output: OutputPolicyConfig = msgspec.field(default_factory=OutputPolicyConfig)
    rules: list[InspectionRule] = msgspec.field(default_factory=list)
    slot_rules: list[SlotRule] = msgspec.field(default_factory=list)
    # False: only the configured slot rules apply (every slot weighs the same otherwise).
    default_slot_rules: bool = True
    # The injection guard's findings on texts already judged for the same client key,
    # reused when a conversation sends them again (guards/verdict_cache.py); 0: off.
    cache_entries: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 20_000


class RoutingConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    backoff_initial: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.2
    backoff_max: Annotated[float, msgspec.Meta(ge=0, le=300)] = 5.0
    max_retry_after: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0
    breaker_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    breaker_cooldown: Seconds = 30.0


Budget = Annotated[float, msgspec.Meta(gt=0, le=1e9)]  # US dollars
PerMillion = Annotated[float, msgspec.Meta(ge=0, le=1e6)]  # US dollars per million tokens


class LimitSet(_Strict, frozen=True, forbid_unknown_fields=True):
    """Caps on one client key, team or public model; every one optional."""

    rpm: PositiveInt | None = None  # requests per minute
    tpm: PositiveInt | None = None  # input + output tokens per minute
    concurrent: PositiveInt | None = None  # requests in flight
    max_input_tokens: PositiveInt | None = None  # per request (estimated before the call)
    max_output_tokens: PositiveInt | None = None  # per request (max_tokens clamped or refused)
    daily_budget: Budget | None = None  # spend per UTC day
    monthly_budget: Budget | None = None  # spend per UTC calendar month


class NamedLimits(LimitSet, frozen=True, forbid_unknown_fields=True):
    name: str = ""  # required: checked with the other limits rules (it follows defaults)


class PriceConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """A price that replaces the built-in table for one upstream model or one deployment."""

    input: PerMillion
    output: PerMillion
    cached_input: PerMillion | None = None
    model: Name | None = None  # the provider's model name, as in a deployment's `model`
    deployment: Name | None = None  # a deployment id: "provider/model"


class LimitsConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    store: Literal["memory", "sqlite", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str | None = None  # a secret reference (store:, env:, keyring:, file:)
    # closed: refuse with 503 while the shared store is unreachable; local: count per
    # instance until it is back (said in the log at each change).
    on_store_failure: Literal["closed", "local"] = "closed"
    on_excess_output: Literal["clamp", "refuse"] = "clamp"
    # The output a request is assumed to produce when it sets no cap, for token and
    # spend reservations before the call (corrected to the reported usage after it).
    assumed_output_tokens: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1024
    per_key: LimitSet = msgspec.field(default_factory=LimitSet)  # every client key, each alone
    keys: list[NamedLimits] = msgspec.field(default_factory=list)  # by client key name
    teams: list[NamedLimits] = msgspec.field(default_factory=list)
    models: list[NamedLimits] = msgspec.field(default_factory=list)  # by public model name
    prices: list[PriceConfig] = msgspec.field(default_factory=list)


class AuditConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """The request audit log: one chained, signed record per request (auditlog/records.py)."""

    enabled: bool = True
    path: str | None = None  # default: <home>/requests.jsonl
    # When the writer falls behind and its queue is full: refuse new requests with 503
    # (fail closed) or drop records, counted in /metrics and in the next record written.
    on_full: Literal["block", "drop"] = "block"
    queue: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 10_000
    rotate_bytes: Annotated[int, msgspec.Meta(ge=4096)] | None = 100 * 1024 * 1024
    rotate_daily: bool = False


class SecretsConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """Where `store:` secrets live; `--secrets` and `--passphrase-*` override it."""

    store: Annotated[str, msgspec.Meta(pattern=r"^(auto|keyring|file(:.+)?)$")] = "auto"
    # The encrypted file's passphrase: "prompt", "fd:N" or "file:/path/to/0600/file".
    passphrase: Annotated[str, msgspec.Meta(pattern=r"^(prompt|fd:\d+|file:.+)$")] | None = None


# An MCP server's name: it becomes part of tool names (`server__tool`), paths (/mcp/NAME)
# and scopes (mcp:NAME:tool), so plain words only, and no "__" that would split wrongly.
McpName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}(_[A-Za-z0-9-]+)*$")]


class McpServerConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """One MCP server behind the gateway: a stdio child (`command`) or a Streamable HTTP
    upstream (`url`), never both. See gateway_cli/mcp/."""

    command: list[str] | None = None
    # The child's whole environment beyond a minimal PATH and HOME; a value "store:NAME"
    # (or another secret reference) is resolved from the secret store at start.
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    secret: str | None = None  # the gateway's own credential for `url` (Bearer)
    max_result_bytes: Annotated[int, msgspec.Meta(ge=256, le=64 * 1024 * 1024)] = 262144
    oversize: Literal["truncate", "block"] = "truncate"
    start: Literal["lazy", "startup"] = "lazy"
    # Tools whose calls wait for `gateway mcp approve-call ID` (or are denied at timeout).
    approval: list[str] = msgspec.field(default_factory=list)
    approval_timeout: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 120.0
    # Server-to-client requests (sampling, elicitation, roots): sent on to the calling
    # client, or answered with an error here.
    client_requests: Literal["relay", "refuse"] = "refuse"
    timeout: Seconds = 60.0  # one request to the server
    # Calls per minute per caller, by tool name or `*` pattern (mcp/rates.py): an exact
    # name before any pattern, then patterns longest first; `rate_default` for the rest.
    rate: dict[str, Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]] = \
        msgspec.field(default_factory=dict)
    rate_default: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None


class McpConfig(_Strict, frozen=True, forbid_unknown_fields=True):
    """The MCP gateway (/mcp and /mcp/NAME)."""

    # Scopes of the open principal (no client key configured, loopback only). Empty: the
    # open principal reaches no tool (deny by default).
    open_scopes: list[str] = msgspec.field(default_factory=list)
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 * 1024 * 1024)] = 4 * 1024 * 1024
    max_sessions: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000
    session_idle: Annotated[float, msgspec.Meta(ge=10, le=86400)] = 3600.0
    servers: dict[McpName, McpServerConfig] = msgspec.field(default_factory=dict)


class Config(_Strict, frozen=True, forbid_unknown_fields=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    secrets: SecretsConfig = msgspec.field(default_factory=SecretsConfig)
    mock: MockConfig = msgspec.field(default_factory=MockConfig)
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    inspection: InspectionConfig = msgspec.field(default_factory=InspectionConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    audit: AuditConfig = msgspec.field(default_factory=AuditConfig)
    providers: list[ProviderConfig] = msgspec.field(default_factory=list)
    models: list[ModelConfig] = msgspec.field(default_factory=list)
    mcp: McpConfig = msgspec.field(default_factory=McpConfig)


def mock_enabled(config: Config) -> bool:
    """Whether `mock-echo` is served: as `[mock] enabled` says, else only with no provider."""
    enabled = config.mock.enabled
    return enabled if enabled is not None else not config.providers


def secret_references(config: Config) -> list[str]:
    """Every secret reference the config holds: provider keys and the limits store's password."""
    refs = [p.secret for p in config.providers if p.secret]
    if config.limits.redis_password:
        refs.append(config.limits.redis_password)
    refs += [s.secret for s in config.mcp.servers.values() if s.secret]
    return refs


_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_EXPECTED_RE = re.compile(r"^Expected `(?P<what>[^`]*)`(?P<rest>.*?)(, got `(?P<got>[^`]*)`)?$")


def _lookup(raw: Any, dotted: str) -> tuple[bool, Any]:
    """Find the raw value at a msgspec path like ``.server.port`` or ``.models[0].name``."""
    node = raw
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", dotted):
        key, index = part
        try:
            node = node[key] if key else node[int(index)]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _choices(path: str) -> tuple[Any, ...]:
    """The allowed values of the Literal field at a msgspec path, for error messages."""
    node: Any = Config
    for key, _index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        if not key:
            args = typing.get_args(node)
            node = args[0] if args else node
            continue
        hints = typing.get_type_hints(node, include_extras=True) if isinstance(node, type) else {}
        node = hints.get(key)
        while typing.get_origin(node) is Annotated:
            node = typing.get_args(node)[0]
    return typing.get_args(node) if typing.get_origin(node) is Literal else ()


def _describe(err: msgspec.ValidationError, raw: dict[str, Any], source: str) -> str:
    message = str(err)
    path = ""
    m = _PATH_RE.search(message)
    if m:
        path = m.group("path")
        message = message[: m.start()]
    key = path.lstrip(".") or "(top level)"
    unknown = re.match(r"Object contains unknown field `([^`]*)`", message)
    if unknown:
        full = f"{key}.{unknown.group(1)}" if path else unknown.group(1)
        return f"{source}: unknown key '{full}' (check the spelling; see gateway.example.toml)"
    missing = re.match(r"Object missing required field `([^`]*)`", message)
    if missing:
        full = f"{key}.{missing.group(1)}" if path else missing.group(1)
        return f"{source}: missing required key '{full}'"
    found, value = _lookup(raw, path)
    shown = repr(value) if found and not isinstance(value, dict | list) else "a table/array"
    if key.endswith((".secret", ".passphrase")) and found:
        shown = "(value not shown)"  # it may be the secret itself, pasted in the wrong place
    expected = message
    e = _EXPECTED_RE.match(message)
    if e:
        # TOML has no null: an optional key is one left out, so "| null" would only confuse.
        what = e.group("what").replace(" | null", "")
        expected = f"expected {what}{e.group('rest')}"
    elif message.startswith("Invalid enum value"):
        choices = _choices(path)
        expected = f"expected one of {', '.join(map(repr, choices))}" if choices else message
    return f"{source}: {key} = {shown}: {expected}"


_SECRET_REF = re.compile(
    r"^(store:[A-Za-z0-9][A-Za-z0-9._-]{0,63}|env:[A-Za-z_][A-Za-z0-9_]*|keyring:[^\s]+"
    r"|file:/\S+)$")
_NEEDS_SECRET = {"openai", "anthropic", "azure"}
_DEFAULT_BASE = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
_RESERVED = {"mock"}


# RFC 9110 token characters.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


def _has_userinfo(url: str) -> bool:
    authority = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return "@" in authority


def _shown_url(url: str) -> str:
    """The URL for an error message, with anything before an '@' in it left out."""
    return url.rpartition("@")[2] if "@" in url else url


def _cross_check(config: Config) -> list[str]:
    """Rules that span fields: references resolve, names are unique, secrets are references."""
    problems: list[str] = []
    providers: dict[str, ProviderConfig] = {}
    for i, p in enumerate(config.providers):
        key = f"providers[{i}]"
        if p.name in providers or p.name in _RESERVED:
            problems.append(f"{key}.name = {p.name!r}: provider names must be unique and not "
                            f"{', '.join(sorted(_RESERVED))!r}")
        providers[p.name] = p
        if p.base_url is None and p.kind not in _DEFAULT_BASE:
            problems.append(f"{key}.base_url: required for kind {p.kind!r}")
        elif p.base_url is not None and not re.match(r"^https?://[^/\s]+", p.base_url):
            problems.append(f"{key}.base_url = {_shown_url(p.base_url)!r}: expected an "
                            "http:// or https:// URL")
        elif p.base_url is not None and _has_userinfo(p.base_url):
            # Never echo it: the part before '@' is a credential.
            problems.append(f"{key}.base_url: holds a user name or password before '@'; "
                            "credentials go in 'secret' (a reference), never in the URL")
        elif p.base_url is not None and any(c in p.base_url for c in "\r\n\0\t "):
            problems.append(f"{key}.base_url: holds whitespace or control characters")
        if p.secret is None:
            if p.kind in _NEEDS_SECRET:
                problems.append(f"{key}.secret: required for kind {p.kind!r}; give a reference "
                                "such as 'store:openai' (see `gateway keys add`) or "
                                "'env:OPENAI_API_KEY'")
        elif not _SECRET_REF.match(p.secret):
            # Never echo the value: it may be the secret itself pasted by mistake.
            problems.append(f"{key}.secret: expected a reference 'store:NAME', 'env:NAME', "
                            "'keyring:NAME' or 'file:/absolute/path', never the secret itself")
        if p.kind == "azure" and not p.api_version:
            problems.append(f"{key}.api_version: required for kind 'azure' (e.g. '2024-10-21')")
        for header, value in p.headers.items():
            if not _HEADER_NAME.fullmatch(header):
                problems.append(f"{key}.headers: {header[:60]!r} is not a valid header name")
            elif header.lower() in {"authorization", "api-key", "x-api-key"}:
                problems.append(f"{key}.headers.{header}: credentials go in 'secret', "
                                "not in headers")
            elif header.lower() in {"content-length", "transfer-encoding", "connection"}:
                problems.append(f"{key}.headers.{header}: the gateway frames each request "
                                "itself; this header cannot be set")
            elif any(c in value for c in "\r\n\0") or value != value.strip():
                problems.append(f"{key}.headers.{header}: a header value may not hold line "
                                "breaks, NUL or surrounding whitespace")
    seen: set[str] = {"mock-echo", "mock/echo"} if mock_enabled(config) else set()
    for i, m in enumerate(config.models):
        key = f"models[{i}]"
        if m.name in seen:
            problems.append(f"{key}.name = {m.name!r}: model names must be unique")
        seen.add(m.name)
    taken = set(seen)  # names and aliases; rules and limits name models by `name` only
    for i, m in enumerate(config.models):
        key = f"models[{i}]"
        for alias in m.aliases:
            if alias.strip("*") == "":
                problems.append(f"{key}.aliases: {alias!r} would match every model name")
            elif alias in taken:
                problems.append(f"{key}.aliases: {alias!r} is already a model name or alias")
            taken.add(alias)
        for j, d in enumerate(m.deployments):
            if d.provider not in providers and d.provider != "mock":
                known = ", ".join(sorted(providers)) or "none configured"
                problems.append(f"{key}.deployments[{j}].provider = {d.provider!r}: no such "
                                f"provider (known: {known})")
    aliases = taken - seen
    named = [(f"inspection.rules[{i}].models", name)
             for i, rule in enumerate(config.inspection.rules) for name in rule.models]
    named += [(f"limits.models[{i}].name", lim.name) for i, lim in enumerate(config.limits.models)]
    problems += [f"{where}: {name!r} is an alias; name the model itself (aliases are "
                 "resolved before rules and limits apply)" for where, name in named
                 if name in aliases]
    problems += _tls_checks(config.server)
    problems += _mcp_checks(config.mcp)
    problems += _inspection_checks(config, seen)
    problems += _limits_checks(config.limits, seen)
    return problems


def _mcp_checks(mcp: McpConfig) -> list[str]:
    """An MCP server is exactly one of a child or a URL, and holds no secret in clear."""
    from gateway_cli.mcp.scopes import ScopeError, parse_scope

    problems: list[str] = []
    for i, scope in enumerate(mcp.open_scopes):
        try:
            parse_scope(scope)
        except ScopeError as err:
            problems.append(f"mcp.open_scopes[{i}]: {err}")
    for name, server in mcp.servers.items():
        key = f"mcp.servers.{name}"
        if (server.command is None) == (server.url is None):
            problems.append(f"{key}: give exactly one of 'command' (a stdio child) or 'url' "
                            "(a Streamable HTTP server)")
        if server.command is not None and (not server.command or not server.command[0]):
            problems.append(f"{key}.command: the program to run, then its arguments")
        if server.url is not None:
            if not re.match(r"^https?://[^/\s]+", server.url):
                problems.append(f"{key}.url = {_shown_url(server.url)!r}: expected an "
                                "http:// or https:// URL")
            elif _has_userinfo(server.url):
                problems.append(f"{key}.url: holds a user name or password before '@'; "
                                "credentials go in 'secret' (a reference)")
            elif any(c in server.url for c in "\r\n\0\t "):
                problems.append(f"{key}.url: holds whitespace or control characters")
        if server.secret is not None:
            if server.url is None:
                problems.append(f"{key}.secret: only for a 'url' server; a child's "
                                "credentials go in 'env' as references")
            elif not _SECRET_REF.match(server.secret):
                problems.append(f"{key}.secret: expected a reference 'store:NAME', 'env:NAME', "
                                "'keyring:NAME' or 'file:/absolute/path', never the secret "
                                "itself")
        if server.env and server.command is None:
            problems.append(f"{key}.env: only for a 'command' server")
        for var in server.env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", var):
                problems.append(f"{key}.env: {var[:60]!r} is not an environment variable name")
        if server.cwd is not None and not Path(server.cwd).is_absolute():
            problems.append(f"{key}.cwd = {server.cwd!r}: expected an absolute path")
        for pattern in server.rate:
            if not re.fullmatch(r"[A-Za-z0-9_.*/-]{1,128}", pattern):
                problems.append(f"{key}.rate: {pattern[:60]!r} is not a tool name or a "
                                "pattern of letters, digits, _ . - / and *")
    return problems


def _tls_checks(server: ServerConfig) -> list[str]:
    """Half a TLS setup would start on plain HTTP while the operator believes otherwise."""
    if (server.tls_cert is None) != (server.tls_key is None):
        given, missing = ("tls_cert", "tls_key") if server.tls_key is None \
            else ("tls_key", "tls_cert")
        return [f"server.{given} is set but server.{missing} is not: HTTPS needs both "
                "the certificate and its key (or neither, for plain HTTP)"]
    # Relative to what? The directory the service happens to start in is no answer.
    return [f"server.{name} = {value!r}: expected an absolute path" for name, value
            in (("tls_cert", server.tls_cert), ("tls_key", server.tls_key))
            if value is not None and not Path(value).is_absolute()]


def _limits_checks(limits: LimitsConfig, models: set[str]) -> list[str]:
    problems: list[str] = []
    url = limits.redis_url
    if not re.match(r"^rediss?://[^/\s@]+(:\d+)?(/\d{1,2})?$", url):
        # Never echo a URL with '@': the part before it would be a password.
        shown = "(not shown: it holds '@')" if "@" in url else repr(url)
        problems.append(f"limits.redis_url = {shown}: expected redis://host:port/db; a "
                        "password goes in 'redis_password' as a reference, never in the URL")
    if limits.redis_password is not None and not _SECRET_REF.match(limits.redis_password):
        problems.append("limits.redis_password: expected a reference 'store:NAME', "
                        "'env:NAME', 'keyring:NAME' or 'file:/absolute/path', never the "
                        "password itself")
    for group in ("keys", "teams", "models"):
        names: set[str] = set()
        for i, entry in enumerate(getattr(limits, group)):
            if not entry.name:
                problems.append(f"limits.{group}[{i}]: missing required key 'name'")
            elif entry.name in names:
                problems.append(f"limits.{group}[{i}].name = {entry.name!r}: given twice")
            names.add(entry.name)
            if group == "models" and entry.name not in models:
                problems.append(f"limits.models[{i}].name = {entry.name!r}: no such model")
    for i, price in enumerate(limits.prices):
        if (price.model is None) == (price.deployment is None):
            problems.append(f"limits.prices[{i}]: give exactly one of 'model' or 'deployment'")
        if price.cached_input is not None and price.cached_input > price.input:
            problems.append(f"limits.prices[{i}].cached_input: more than 'input'")
    return problems


def _inspection_checks(config: Config, models: set[str]) -> list[str]:
    problems: list[str] = []
    policies = [(f"inspection.{n}", getattr(config.inspection, n))
                for n in ("secrets", "pii", "injection")]
    for i, rule in enumerate(config.inspection.rules):
        if not (rule.models or rule.keys or rule.teams):
            problems.append(f"inspection.rules[{i}]: give models, keys or teams to say which "
                            "requests it applies to")
        policies += [(f"inspection.rules[{i}].{n}", getattr(rule, n))
                     for n in ("secrets", "pii", "injection") if getattr(rule, n) is not None]
    for key, policy in policies:
        if policy.action == "reroute" and policy.reroute_to not in models:
            problems.append(f"{key}.reroute_to = {policy.reroute_to!r}: action 'reroute' needs "
                            "the name of a configured model")
    for i, pattern in enumerate(config.inspection.custom.regexes):
        try:
            re.compile(pattern)
        except re.error as err:
            problems.append(f"inspection.custom.regexes[{i}]: not a valid regex ({err})")
    return problems


def default_base_url(provider: ProviderConfig) -> str:
    return (provider.base_url or _DEFAULT_BASE[provider.kind]).rstrip("/")


def parse_config(raw: dict[str, Any], source: str = "gateway.toml") -> Config:
    """Validate an already-parsed TOML document (pure: no file access)."""
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as err:
        raise ConfigError(_describe(err, raw, source)) from None
    problems = _cross_check(config)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {problems[0]}{more}")
    return config


def load_config(path: Path | None) -> Config:
    """Load gateway.toml, or the defaults when no path is given."""
    if path is None:
        return Config()
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{source}: permission denied reading the config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text; a config file is TOML") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from None
    return parse_config(raw, source)
