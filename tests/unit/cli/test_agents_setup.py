"""What `gateway run` gives the coding agents it knows (cli/agents.py, run_cmd.run_setup)."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from gateway_cli.cli.agents import agent_of, codex_overrides, setup_for
from gateway_cli.cli.main import cli
from gateway_cli.cli.run_cmd import MASK, run_setup

TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl"
URL = "http://127.0.0.1:4000"


@pytest.mark.parametrize(("argv", "agent"), [
    (["claude", "-p", "x"], "claude"), (["/opt/bin/codex", "exec"], "codex"),
    (["C:/tools/codex.exe"], "codex"), (["python", "codex"], None), (["claudette"], None)])
def test_agents_are_known_by_program_name(argv: list[str], agent: str | None) -> None:
    assert agent_of(argv) == agent


def test_claude_gets_base_url_and_auth_token_and_no_api_key() -> None:
    env, argv = run_setup({"PATH": "/bin", "ANTHROPIC_API_KEY": "sk-ant-api03-" + "x" * 40},
                          URL, TOKEN, ["claude", "-p", "hi"])
    assert env["ANTHROPIC_BASE_URL"] == URL and env["ANTHROPIC_AUTH_TOKEN"] == TOKEN
    assert "ANTHROPIC_API_KEY" not in env
    assert argv == ("claude", "-p", "hi")


def test_codex_gets_its_provider_through_override_flags_and_the_token_only_in_env() -> None:
    env, argv = run_setup({"PATH": "/bin"}, URL, TOKEN, ["codex", "exec", "-m", "m", "hi"])
    assert TOKEN not in " ".join(argv)
    assert argv[0] == "codex" and argv[-4:] == ("exec", "-m", "m", "hi")
    assert env["OPENAI_API_KEY"] == TOKEN
    values = dict(arg.split("=", 1) for arg in argv[1:-4] if arg != "-c")
    parsed = {key: tomllib.loads(f"v = {value}")["v"] for key, value in values.items()}
    assert parsed == {"model_providers.gateway.name": "gateway",
                      "model_providers.gateway.base_url": URL + "/v1",
                      "model_providers.gateway.env_key": "OPENAI_API_KEY",
                      "model_providers.gateway.wire_api": "responses",
                      "model_provider": "gateway"}


def test_override_values_are_toml_strings_whatever_the_url() -> None:
    odd = 'http://h:1/p"q\\r'
    value = codex_overrides(odd)[3].split("=", 1)[1]
    assert tomllib.loads(f"v = {value}")["v"] == odd + "/v1"


def test_other_programs_run_unchanged() -> None:
    assert setup_for(["python", "app.py"], URL, TOKEN).argv == ("python", "app.py")


def test_print_env_masks_the_token_and_runs_nothing() -> None:
    result = CliRunner().invoke(cli, ["run", "--print-env", "--", "codex", "exec", "hi"],
                                env={"OPENAI_API_KEY": "sk-proj-" + "k" * 40})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"OPENAI_API_KEY={MASK}" in lines and f"ANTHROPIC_API_KEY={MASK}" in lines
    assert "OPENAI_BASE_URL=http://127.0.0.1:4000/v1" in lines
    assert any(line.startswith("command: codex -c ") and line.endswith(" exec hi")
               for line in lines)
    assert "sk-proj-" not in result.output


def test_print_env_for_claude_shows_the_auth_token_masked() -> None:
    result = CliRunner().invoke(cli, ["run", "--url", "http://127.0.0.1:5000", "--print-env",
                                      "--", "claude"], env={})
    assert f"ANTHROPIC_AUTH_TOKEN={MASK}" in result.output.splitlines()
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:5000" in result.output.splitlines()


def test_run_without_a_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 2 and "COMMAND" in result.output


def test_codex_override_values_round_trip_through_toml_whatever_they_hold() -> None:
    import tomllib

    from gateway_cli.cli.agents import codex_overrides

    for url in ['http://h:1/"x"', "http://h:1/a\\b", "http://h:1/\nmodel_provider=\"evil\""]:
        flags = codex_overrides(url)
        values = [flags[i + 1] for i in range(0, len(flags), 2)]
        base = next(v for v in values if v.startswith("model_providers.gateway.base_url="))
        parsed = tomllib.loads(base)  # one key, one value: nothing smuggled in
        assert parsed == {"model_providers": {"gateway": {"base_url": f"{url}/v1"}}}
