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
    assert build_runtime(config).models.keys() == {"mock/echo"}


def test_example_file_is_valid_and_matches_defaults() -> None:
    """The commented example documents the defaults; it must parse to exactly them."""
    raw = tomllib.loads((ROOT / "gateway.example.toml").read_text())
    assert parse_config(raw) == Config()


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

