"""`gateway keys`: provider secrets added, listed, replaced, removed and tested, in the
encrypted file store and in a real Secret Service (gnome-keyring on a private D-Bus).

The values go in on stdin only; every test checks that no output ever shows one.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from gateway_cli.keys.encrypted_file import EncryptedFileStore
from tests.conftest import free_port, start_gateway, stop_gateway
from tests.fakes.upstream import FakeUpstream
from tests.integration.test_client_keys import (
    MESSAGES,
    PASSPHRASE,
    Home,
    make_home,
    notified,
    one_line_error,
)
from tests.secret_service import SecretService, run_python

FIRST = "sk-proj-keys-first-" + "f" * 24 + "fst1"
SECOND = "sk-ant-keys-second-" + "s" * 24 + "snd2"
THIRD = "sk-proj-keys-third-" + "t" * 24 + "thd3"
WRONG = "sk-proj-keys-wrong-" + "w" * 24 + "wrg4"
KEYRING_FIRST = "sk-keyring-first-" + "k" * 24 + "kr01"
KEYRING_NEW = "sk-keyring-new-" + "n" * 24 + "kr02"
VALUES = (FIRST, SECOND, THIRD, WRONG, KEYRING_FIRST, KEYRING_NEW)
READ = "import keyring, sys; print(keyring.get_password('gateway', sys.argv[1]))"


class Recorder:
    """Runs commands for one state directory and keeps everything they printed."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.printed: list[str] = []

    def run(self, *args: str, input: str = "", store: bool = True
            ) -> subprocess.CompletedProcess[str]:
        result = self.home.run(*args, input=input, store=store)
        self.printed += [result.stdout, result.stderr]
        return result

    def assert_no_value_printed(self) -> None:
        assert self.printed
        for text in self.printed:
            for value in VALUES:
                assert value not in text and value[:-4] not in text


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Recorder]:
    recorder = Recorder(make_home(tmp_path))
    yield recorder
    recorder.assert_no_value_printed()


def stored(home: Home, name: str) -> str | None:
    secret = EncryptedFileStore(home.path / "secrets.enc", PASSPHRASE).get(name)
    return secret.reveal() if secret is not None else None


def test_add_list_replace_remove(cli: Recorder) -> None:
    added = cli.run("keys", "add", "openai", input=FIRST + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout == ""
    assert added.stderr.splitlines()[:2] == [
        f"stored openai (openai, …fst1) in the encrypted file {cli.home.path / 'secrets.enc'}",
        'use it in gateway.toml: secret = "store:openai"']
    assert cli.run("keys", "add", "anthropic", "--name", "claude",
                   input=SECOND + "\n").returncode == 0
    assert stored(cli.home, "openai") == FIRST and stored(cli.home, "claude") == SECOND

    listed = cli.run("keys", "list", store=False)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "PROVIDER", "KEY", "STORE", "CREATED", "ROTATED"]
    assert [row.split()[:4] for row in rows] == [["claude", "anthropic", "…snd2", "file"],
                                                 ["openai", "openai", "…fst1", "file"]]
    records = json.loads(cli.run("keys", "list", "--format", "json", store=False).stdout)
    assert [(r["name"], r["provider"], r["fingerprint"], r["store"], r["rotated"])
            for r in records] == [("claude", "anthropic", "…snd2", "file", None),
                                  ("openai", "openai", "…fst1", "file", None)]
    assert all(isinstance(r["created"], float) for r in records)

    duplicate = cli.run("keys", "add", "openai", input=THIRD + "\n")
    assert one_line_error(duplicate) == (
        "gateway: a key named 'openai' already exists; rotate it with `gateway rotate-keys "
        "--provider openai` or remove it first")
    assert stored(cli.home, "openai") == FIRST

    replaced = cli.run("keys", "add", "openai", "--replace", input=THIRD + "\n")
    assert replaced.returncode == 0, replaced.stderr
    assert stored(cli.home, "openai") == THIRD
    assert "…thd3" in cli.run("keys", "list", store=False).stdout

    empty = cli.run("keys", "add", "openai", "--name", "blank", input="\n")
    assert one_line_error(empty).startswith("gateway: no openai API key given")
    assert stored(cli.home, "blank") is None

    removed = cli.run("keys", "remove", "claude")
    assert removed.returncode == 0, removed.stderr
    assert stored(cli.home, "claude") is None
    assert [r["name"] for r in json.loads(
        cli.run("keys", "list", "--format", "json", store=False).stdout)] == ["openai"]
    again = cli.run("keys", "remove", "claude")
    assert one_line_error(again) == (
        "gateway: no stored key named 'claude'; see `gateway keys list`")

    # The index and the log hold names and fingerprints; the store file is ciphertext.
    for name in ("keys.json", "audit.jsonl", "secrets.enc"):
        data = (cli.home.path / name).read_bytes()
        assert not any(value.encode() in data for value in VALUES), name


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("probe", api_key=FIRST) as up:
        yield up


def test_keys_test_against_a_provider(cli: Recorder, fake: FakeUpstream,
                                      tmp_path: Path) -> None:
    config = tmp_path / "probe.toml"
    config.write_text(f"""
[[providers]]
name = "probe"
kind = "openai"
base_url = "{fake.url}/v1"
secret = "store:probe"

[[providers]]
name = "down"
kind = "openai"
base_url = "http://127.0.0.1:{free_port()}/v1"
secret = "store:probe"
""")
    assert cli.run("keys", "add", "openai", "--name", "probe",
                   input=FIRST + "\n").returncode == 0

    def probe(name: str) -> subprocess.CompletedProcess[str]:
        return cli.run("keys", "test", name, "--config", str(config))

    works = probe("probe")
    assert works.returncode == 0, works.stderr
    assert works.stdout == "probe: ok: the key works (3 model(s) listed)\n"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {FIRST}"

    assert cli.run("keys", "add", "openai", "--name", "probe", "--replace",
                   input=WRONG + "\n").returncode == 0
    refused = probe("probe")
    assert refused.returncode == 1
    assert refused.stderr == ""
    assert refused.stdout.startswith("probe: HTTP 401: Incorrect API key provided")
    assert refused.stdout.count("\n") == 1

    unreachable = probe("down")
    assert unreachable.returncode == 1
    assert "Traceback" not in unreachable.stderr and unreachable.stderr == ""
    assert unreachable.stdout.startswith("down: cannot reach http://127.0.0.1:")
    assert unreachable.stdout.endswith("(ConnectionRefusedError: Connection refused)\n")
    assert unreachable.stdout.count("\n") == 1


# ------------------------------------------------------------ the OS keyring


def test_keyring_end_to_end(secret_service: SecretService, tmp_path: Path) -> None:
    """keys add -> the value is in the Secret Service -> serve uses it -> rotate -> used."""
    state = tmp_path / "gateway-home"
    state.mkdir(mode=0o700)
    env = {**secret_service.env, "GATEWAY_HOME": str(state)}
    cli = Recorder(Home(state, env))
    added = cli.run("keys", "add", "openai", "--name", "kr-up", "--secrets", "keyring",
                    input=KEYRING_FIRST + "\n", store=False)
    assert added.returncode == 0, added.stderr
    assert "in the OS keyring (SecretService)" in added.stderr
    assert run_python(READ, env, "kr-up").stdout.strip() == KEYRING_FIRST
    assert not (state / "secrets.enc").exists()  # nothing went to a file

    with FakeUpstream("kr", api_key=KEYRING_FIRST) as up:
        config = f"""
[[providers]]
name = "kr-up"
kind = "openai"
base_url = "{up.url}/v1"
secret = "store:kr-up"

[[models]]
name = "kr/gpt"
deployments = [{{ provider = "kr-up", model = "gpt-4o-mini" }}]
"""
        gateway = start_gateway(tmp_path, "--secrets", "keyring", config=config, env=env)
        try:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="local",
                                   max_retries=0)

            def ask() -> str | None:
                answer = client.chat.completions.create(model="kr/gpt", messages=MESSAGES)  # type: ignore[arg-type]
                return answer.choices[0].message.content

            assert ask() == "kr: hello gateway"
            assert up.requests[-1].headers["authorization"] == f"Bearer {KEYRING_FIRST}"
            assert "secret store: OS keyring (SecretService)" in gateway.log()

            up.api_key = KEYRING_NEW
            rotated = cli.run("rotate-keys", "--provider", "kr-up", "--secrets", "keyring",
                              input=KEYRING_NEW + "\n", store=False)
            assert rotated.returncode == 0, rotated.stderr
            assert notified(rotated, gateway).startswith("applied, reloaded secrets in ")
            assert ask() == "kr: hello gateway"
            assert up.requests[-1].headers["authorization"] == f"Bearer {KEYRING_NEW}"
            assert run_python(READ, env, "kr-up").stdout.strip() == KEYRING_NEW

            pid = gateway.process.pid
            for text in (gateway.log(), Path(f"/proc/{pid}/cmdline").read_text(),
                         Path(f"/proc/{pid}/environ").read_text()):
                assert KEYRING_FIRST not in text and KEYRING_NEW not in text
        finally:
            stop_gateway(gateway)
    cli.assert_no_value_printed()


@pytest.mark.parametrize("bus", ["nowhere", "unset"])
def test_keyring_without_a_secret_service_says_what_to_do(
        no_secret_service: dict[str, str], tmp_path: Path, bus: str) -> None:
    env = dict(no_secret_service, GATEWAY_HOME=str(tmp_path / "gateway-home"))
    if bus == "unset":
        del env["DBUS_SESSION_BUS_ADDRESS"]
    cli = Recorder(Home(tmp_path / "gateway-home", env))
    hint = "--secrets file with --passphrase-fd N or --passphrase-file PATH"

    keyring = one_line_error(cli.run("keys", "add", "openai", "--secrets", "keyring",
                                     input=FIRST + "\n", store=False))
    assert keyring.startswith("gateway: the OS keyring is not usable here (")
    assert keyring.endswith(f"); use the encrypted file store: {hint}")

    auto = one_line_error(cli.run("rotate-keys", "--provider", "openai", input=FIRST + "\n",
                                  store=False))
    assert auto.startswith("gateway: no usable OS keyring here (")
    assert auto.endswith(f"); on a headless server use the encrypted file store: {hint}")
    assert not (tmp_path / "gateway-home" / "keys.json").exists()
    cli.assert_no_value_printed()
