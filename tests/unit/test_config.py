"""gateway.toml parsing: defaults, the example file, and errors that name key and value."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gateway_cli.config import Config, load_config, parse_config
from gateway_cli.errors import ConfigError
from gateway_cli.server.runtime import build_runtime

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_means_safe_defaults() -> None:
    config = load_config(None)
    assert config == Config()
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 4000
    assert config.server.max_body_bytes == 8 * 1024 * 1024
    assert build_runtime(config).models.keys() == {"mock-echo", "mock/echo"}


def test_example_file_is_valid_and_matches_defaults() -> None:
    """The commented example documents the defaults; it must parse to exactly them."""
    raw = tomllib.loads((ROOT / "gateway.example.toml").read_text())
    assert parse_config(raw) == Config()


def test_example_providers_and_models_are_valid() -> None:
    """The commented provider and model examples parse once uncommented."""
    text = (ROOT / "gateway.example.toml").read_text()
    examples = text[text.index("# [[providers]]"):]
    uncommented = "\n".join(line.removeprefix("# ") for line in examples.splitlines())
    config = parse_config(tomllib.loads(uncommented))
    assert [p.kind for p in config.providers] == ["openai", "anthropic", "azure",
                                                  "openai-compatible"]
    assert [m.name for m in config.models] == ["gpt-4o", "claude", "claude-code", "codex",
                                               "agents-on-mock"]


def test_example_limits_are_valid() -> None:
    """The commented [limits] examples parse once uncommented, and mean what they say."""
    text = (ROOT / "gateway.example.toml").read_text()
    examples = text[text.index("# [limits.per_key]"):text.index("[secrets]")]
    uncommented = "\n".join(line.removeprefix("# ") for line in examples.splitlines())
    raw = tomllib.loads(uncommented)
    raw["limits"]["models"][0]["name"] = "mock/echo"  # a model the bare config has
    limits = parse_config(raw).limits
    assert limits.per_key.rpm == 600 and limits.per_key.monthly_budget == 300.0
    assert [k.name for k in limits.keys] == ["ci"]
    assert limits.prices[0].deployment is None and limits.prices[0].output == 10.0


def test_mock_can_be_disabled() -> None:
    config = parse_config({"mock": {"enabled": False}})
    assert build_runtime(config).models == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"port": "4000"}}, "gateway.toml: server.port = '4000': expected int"),
        ({"server": {"port": 65536}}, "gateway.toml: server.port = 65536: expected int <= 65535"),
        ({"server": {"max_body_bytes": 10}},
         "gateway.toml: server.max_body_bytes = 10: expected int >= 1024"),
        ({"server": {"hots": "0.0.0.0"}}, "gateway.toml: unknown key 'server.hots' "
                                          "(check the spelling; see gateway.example.toml)"),
        ({"extra": {}}, "gateway.toml: unknown key 'extra' "
                        "(check the spelling; see gateway.example.toml)"),
        ({"mock": {"enabled": "yes"}}, "gateway.toml: mock.enabled = 'yes': expected bool"),
        ({"server": {"log_level": "LOUD"}},
         "gateway.toml: server.log_level = 'LOUD': expected one of "
         "'debug', 'info', 'warning', 'error'"),
        ({"mock": []}, "gateway.toml: mock = a table/array: expected object"),
    ],
)
def test_errors_name_key_value_and_expectation(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert str(info.value) == message


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "my.toml"
    path.write_text("[server]\nport = true\n")
    with pytest.raises(ConfigError, match=rf"^{path}: server.port = True: expected int$"):
        load_config(path)



# --- providers and models ----------------------------------------------------------------------

def _full(**provider: object) -> dict[str, object]:
    base: dict[str, object] = {"name": "oa", "kind": "openai", "secret": "env:OPENAI_API_KEY"}
    base.update(provider)
    return {"providers": [base],
            "models": [{"name": "gpt", "deployments": [{"provider": "oa", "model": "gpt-4o"}]}]}


def test_provider_and_model_parse() -> None:
    config = parse_config(_full())
    assert config.providers[0].kind == "openai"
    assert config.models[0].deployments[0].model == "gpt-4o"
    assert config.models[0].strategy == "priority"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": None}, "providers[0].secret: required for kind 'openai'"),
        ({"kind": "openai-compatible", "secret": None}, "providers[0].base_url: required"),
        ({"kind": "azure", "base_url": "https://x.openai.azure.com"},
         "providers[0].api_version: required for kind 'azure'"),
        ({"base_url": "ftp://example"}, "expected an http:// or https:// URL"),
        ({"headers": {"Authorization": "Bearer x"}}, "credentials go in 'secret'"),
        ({"name": "mock"}, "provider names must be unique"),
        ({"kind": "bedrock"}, "expected one of 'openai', 'anthropic', 'azure', "
                              "'openai-compatible'"),
    ],
)
def test_provider_errors(change: dict[str, object], message: str) -> None:
    raw = _full(**change)
    if change.get("secret", "") is None:
        del raw["providers"][0]["secret"]  # type: ignore[index]
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert message in str(info.value)


def test_pasted_secret_is_refused_without_echo() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
    with pytest.raises(ConfigError) as info:
        parse_config(_full(secret=key))
    assert "never the secret itself" in str(info.value)
    assert key not in str(info.value)


def test_unknown_provider_in_deployment() -> None:
    raw = _full()
    raw["models"] = [{"name": "x", "deployments": [{"provider": "nope", "model": "m"}]}]
    with pytest.raises(ConfigError, match=r"deployments\[0\].provider = 'nope': no such provider "
                                          r"\(known: oa\)"):
        parse_config(raw)


def test_duplicate_model_names_and_mock_clash() -> None:
    raw = _full()
    raw["models"] = [{"name": "mock/echo", "deployments": [{"provider": "oa", "model": "m"}]}]
    parse_config(raw)  # with providers the mock is off: the name is free
    raw["mock"] = {"enabled": True}
    with pytest.raises(ConfigError, match="model names must be unique"):
        parse_config(raw)


def test_model_needs_a_deployment() -> None:
    raw = _full()
    raw["models"] = [{"name": "x", "deployments": []}]
    with pytest.raises(ConfigError, match=r"models\[0\].deployments = a table/array: expected "
                                          r"array of length >= 1"):
        parse_config(raw)


def test_several_problems_are_counted() -> None:
    raw = {"providers": [{"name": "a", "kind": "openai"}, {"name": "b", "kind": "anthropic"}]}
    with pytest.raises(ConfigError, match=r"\(and 1 more\)$"):
        parse_config(raw)


def test_store_references_and_secrets_section() -> None:
    config = parse_config({"secrets": {"store": "file:/srv/gw/secrets.enc",
                                       "passphrase": "fd:3"},
                           "providers": [{"name": "oa", "kind": "openai",
                                          "secret": "store:openai"}]})
    assert config.providers[0].secret == "store:openai"
    assert config.secrets.store == "file:/srv/gw/secrets.enc"
    for bad in ({"store": "vault"}, {"passphrase": "hunter2"}):
        with pytest.raises(ConfigError, match="secrets") as info:
            parse_config({"secrets": bad})
    assert "hunter2" not in str(info.value)  # a passphrase pasted here is never echoed
    with pytest.raises(ConfigError, match="store:NAME"):
        parse_config({"providers": [{"name": "oa", "kind": "openai", "secret": "store:a b"}]})


def test_stream_hold_defaults_and_bounds() -> None:
    assert Config().inspection.output.stream_hold == 256
    for value in (64, 1000, 8192):
        config = parse_config({"inspection": {"output": {"stream_hold": value}}})
        assert config.inspection.output.stream_hold == value


@pytest.mark.parametrize(("value", "expected"), [
    (63, "expected int >= 64"), (0, "expected int >= 64"), (-256, "expected int >= 64"),
    (8193, "expected int <= 8192"), ("256", "expected int"), (True, "expected int"),
    (2.5, "expected int")])
def test_bad_stream_hold_is_one_line_naming_the_key(value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"inspection": {"output": {"stream_hold": value}}})
    assert str(info.value) == f"gateway.toml: inspection.output.stream_hold = {value!r}: {expected}"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("url", ["http://admin:hunter2@up.example/v1",
                                 "https://hunter2@up.example", "http://user:@up.example:8080/v1"])
def test_a_credential_in_a_base_url_is_refused_and_never_echoed(url: str) -> None:
    with pytest.raises(ConfigError, match="credentials go in 'secret'") as info:
        parse_config(_full(base_url=url))
    assert "hunter2" not in str(info.value) and "admin" not in str(info.value)


def test_an_at_sign_in_the_path_is_not_a_credential() -> None:
    parse_config(_full(base_url="https://up.example/v1/@team"))


@pytest.mark.parametrize(("headers", "says"), [
    ({"X-Org": "a\r\nX-Injected: 1"}, "line breaks"),
    ({"X-Org": "a\nb"}, "line breaks"),
    ({"X-Org": "a\0"}, "line breaks"),
    ({"X-Org": " padded"}, "surrounding whitespace"),
    ({"X Org": "a"}, "not a valid header name"),
    ({"X-Org\r\n": "a"}, "not a valid header name"),
    ({"": "a"}, "not a valid header name"),
    ({"Content-Length": "5"}, "frames each request itself"),
    ({"transfer-encoding": "chunked"}, "frames each request itself"),
    ({"Connection": "close"}, "frames each request itself"),
])
def test_extra_headers_are_validated_at_load_time(headers: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_config(_full(headers=headers))
    parse_config(_full(headers={"OpenAI-Organization": "org-1"}))


def test_tls_files_parse_as_paths() -> None:
    config = parse_config({"server": {"tls_cert": "/etc/gw/cert.pem",
                                      "tls_key": "/etc/gw/key.pem"}})
    assert (config.server.tls_cert, config.server.tls_key) == ("/etc/gw/cert.pem",
                                                               "/etc/gw/key.pem")
    assert Config().server.tls_cert is None and Config().server.tls_key is None


@pytest.mark.parametrize(("server", "message"), [
    ({"tls_cert": "/c.pem"}, "gateway.toml: server.tls_cert is set but server.tls_key is "
                             "not: HTTPS needs both the certificate and its key (or "
                             "neither, for plain HTTP)"),
    ({"tls_key": "/k.pem"}, "gateway.toml: server.tls_key is set but server.tls_cert is "
                            "not: HTTPS needs both the certificate and its key (or "
                            "neither, for plain HTTP)"),
    ({"tls_cert": "cert.pem", "tls_key": "/k.pem"},
     "gateway.toml: server.tls_cert = 'cert.pem': expected an absolute path"),
    ({"tls_cert": "/c.pem", "tls_key": "key.pem"},
     "gateway.toml: server.tls_key = 'key.pem': expected an absolute path"),
])
def test_tls_needs_both_files_as_absolute_paths(server: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"server": server})
    assert str(err.value) == message
