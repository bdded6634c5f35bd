"""Handing client keys out: owner and contact on a key, a bare token in `--output`,
one token file per key under `rotate-keys --output-dir`, and admin commands that
find the secret store through `--config` alone.

One gateway with no config (so it serves mock/echo) runs for the module; the
tokens the commands write are tried against it, since a file that holds the
wrong bytes would look fine to every other check.
"""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway_cli.keys.encrypted_file import LOG2_N_RANGE, EncryptedFileStore
from tests.conftest import Gateway, run_gateway, stop_gateway
from tests.integration.test_client_keys import (
    PASSPHRASE,
    Home,
    make_home,
    one_line_error,
    status_with,
)


@dataclass
class Setup:
    home: Home
    gateway: Gateway
    tmp: Path
    counter: list[int]

    def fresh(self, prefix: str) -> Path:
        """A path under the module's temporary directory that does not exist yet."""
        self.counter[0] += 1
        return self.tmp / f"{prefix}-{self.counter[0]}"

    def clients_json(self) -> bytes:
        return (self.home.path / "clients.json").read_bytes()

    def listing(self) -> list[dict[str, object]]:
        result = self.home.run("clients", "list", "--format", "json", "--all")
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert isinstance(rows, list)
        return rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("handout")
    home = make_home(tmp)
    gateway = home.serve(tmp)
    yield Setup(home, gateway, tmp, [0])
    stop_gateway(gateway)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def create(setup: Setup, name: str, *extra: str) -> str:
    home = setup.home  # names may start with '-': they go after "--", the options before
    result = run_gateway("clients", "create", *extra, *home.store_args, "--", name,
                         env=home.env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def manifest_rows(directory: Path) -> list[dict[str, str]]:
    text = (directory / "manifest.csv").read_text()
    assert "gwk_" not in text
    return list(csv.DictReader(io.StringIO(text)))


# ------------------------------------------------------------------ owner, contact


def test_owner_and_contact_are_stored_listed_audited_and_rotated(setup: Setup) -> None:
    token = create(setup, "ada", "--owner", "Ada Lovelace", "--contact", "ada@example.com",
                   "--team", "engines", "--budget", "25", "--admin")
    row = next(r for r in setup.listing() if r["name"] == "ada" and r["state"] == "active")
    assert (row["owner"], row["contact"], row["admin"], row["team"], row["budget"]) == (
        "Ada Lovelace", "ada@example.com", True, "engines", 25)
    text = setup.home.run("clients", "list")
    header, line = text.stdout.splitlines()[0], next(
        ln for ln in text.stdout.splitlines() if ln.startswith("ada "))
    for column in ("NAME", "ID", "STATE", "MODELS", "RPM", "BUDGET", "TEAM", "ADMIN",
                   "EXPIRES", "OWNER"):
        assert column in header.split()
    assert line.endswith(" Ada Lovelace")
    assert " $25 " in line and " engines " in line and " yes " in line

    records = [json.loads(x) for x in (setup.home.path / "audit.jsonl").read_text()
               .splitlines()]
    created = [r for r in records if r["event"] == "client.created"
               and r["data"]["name"] == "ada"]
    assert created[-1]["data"]["owner"] == "Ada Lovelace"
    assert created[-1]["data"]["contact"] == "ada@example.com"
    assert token not in (setup.home.path / "audit.jsonl").read_text()
    # A budget refuses the unpriced mock model: drop it before the key is tried.
    removed = setup.home.run("budgets", "set", "--key", "ada", "--remove", store=True)
    assert removed.returncode == 0, removed.stderr
    assert status_with(setup.gateway, token) == 200

    rotated = setup.home.run("rotate-keys", "--clients", "ada", "--output", str(
        setup.fresh("ada.json")), store=True)
    assert rotated.returncode == 0, rotated.stderr
    live = [r for r in setup.listing() if r["name"] == "ada" and r["state"] == "active"]
    assert len(live) == 1 and live[0]["id"] != row["id"]
    assert (live[0]["owner"], live[0]["contact"], live[0]["admin"]) == (
        "Ada Lovelace", "ada@example.com", True)
    assert status_with(setup.gateway, token) == 401


@pytest.mark.parametrize("args", [
    ("--owner", ""),
    ("--owner", " leading space"),
    ("--owner", "esc\x1b[31m"),
    ("--owner", "bidi\u202eevil"),
    ("--owner", "x" * 65),
    ("--owner", "a/b"),
    ("--contact", "not-an-email"),
    ("--contact", "a@b"),
    ("--contact", "a b@example.com"),
    ("--contact", "a@example.com\n"),
    ("--contact", "a@exa\tmple.com"),
    ("--contact", "two@at@example.com"),
    ("--contact", "x" * 64 + "@" + "d" * 190 + ".example"),
], ids=lambda a: repr(a)[:30])
def test_bad_owner_or_contact_is_refused_and_changes_nothing(setup: Setup,
                                                             args: tuple[str, ...]) -> None:
    before = setup.clients_json()
    audit_before = (setup.home.path / "audit.jsonl").read_bytes()
    result = setup.home.run("clients", "create", "refused", *args, store=True)
    line = one_line_error(result)
    assert line.startswith(f"gateway: {args[0]} must be ")
    assert setup.clients_json() == before
    assert (setup.home.path / "audit.jsonl").read_bytes() == audit_before


# ------------------------------------------------------------------------ --output


def test_create_output_holds_exactly_the_token_and_it_authenticates(setup: Setup) -> None:
    target = setup.fresh("bare.token")
    result = setup.home.run("clients", "create", "bare", "--output", str(target), store=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "gwk_" not in result.stderr
    data = target.read_bytes()
    token = data.decode().removesuffix("\n")
    assert data == token.encode() + b"\n" and "\n" not in token
    assert token.startswith("gwk_") and len(token) == 4 + 12 + 1 + 43
    assert mode(target) == 0o600
    assert status_with(setup.gateway, token) == 200


# -------------------------------------------------------------------- --output-dir


def test_output_dir_writes_one_file_per_client_and_a_token_free_manifest(
        setup: Setup) -> None:
    old = {
        "dev-one": create(setup, "dev-one", "--owner", "Dev One", "--contact",
                          "one@example.com", "--expires", "2099-01-31"),
        "-dash": create(setup, "-dash", "--owner", "O'Brien", "--contact",
                        "=HYPERLINK@example.com"),
        "plain": create(setup, "plain"),
    }
    out = setup.fresh("handout")
    result = setup.home.run("rotate-keys", "--clients", "dev-one", "--clients", "-dash",
                            "--clients", "plain", "--output-dir", str(out), store=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "gwk_" not in result.stderr
    assert mode(out) == 0o700
    assert sorted(p.name for p in out.iterdir()) == [
        "_-dash.token", "dev-one.token", "manifest.csv", "plain.token"]
    for path in out.iterdir():
        assert path.is_file() and not path.is_symlink() and mode(path) == 0o600
    rows = manifest_rows(out)
    assert list(rows[0]) == ["name", "owner", "contact", "file", "expires"]
    by_file = {r["file"]: r for r in rows}
    assert by_file["dev-one.token"] == {"name": "dev-one", "owner": "Dev One",
                                       "contact": "one@example.com", "file": "dev-one.token",
                                       "expires": "2099-01-31T00:00:00Z"}
    assert by_file["_-dash.token"]["name"] == "'-dash"  # a formula-looking cell is text
    assert by_file["_-dash.token"]["contact"] == "'=HYPERLINK@example.com"
    assert by_file["_-dash.token"]["owner"] == "O'Brien"
    assert by_file["plain.token"]["owner"] == "" and by_file["plain.token"]["expires"] == ""
    for name, previous in old.items():
        data = (out / ("_" * name.startswith("-") + f"{name}.token")).read_bytes()
        token = data.decode().removesuffix("\n")
        assert data == token.encode() + b"\n" and token.startswith("gwk_")
        assert token != previous
        assert status_with(setup.gateway, token) == 200
        assert status_with(setup.gateway, previous) == 401


def test_output_dir_with_clients_all_and_with_all(setup: Setup) -> None:
    create(setup, "everyone")
    for args in (("--clients", "all"), ("--all",)):
        out = setup.fresh("all")
        out.mkdir()  # an existing empty directory is used, and made private
        out.chmod(0o755)
        result = setup.home.run("rotate-keys", *args, "--output-dir", str(out), store=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and "gwk_" not in result.stderr
        assert mode(out) == 0o700
        rows = manifest_rows(out)
        live = {str(r["name"]) for r in setup.listing() if r["state"] == "active"
                and r["kind"] == "client"}
        assert {r["name"].lstrip("'") for r in rows} == live
        for row in rows:
            token = (out / row["file"]).read_text().strip()
            assert status_with(setup.gateway, token) == 200


@pytest.mark.parametrize("case", ["non-empty", "symlink", "file", "with-output",
                                  "signing-only"])
def test_output_dir_refusals_change_nothing(setup: Setup, case: str) -> None:
    token = create(setup, f"keep-{case}")
    out = setup.fresh("refused")
    extra: tuple[str, ...] = ("--clients", f"keep-{case}")
    if case == "non-empty":
        out.mkdir()
        (out / "old.token").write_text("old")
    elif case == "symlink":
        real = setup.fresh("real")
        real.mkdir()
        out.symlink_to(real)
    elif case == "file":
        out.write_text("x")
    elif case == "with-output":
        extra += ("--output", str(setup.fresh("tokens.json")))
    else:
        extra = ("--signing",)
    before = setup.clients_json()
    result = setup.home.run("rotate-keys", *extra, "--output-dir", str(out), store=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "gwk_" not in result.stdout + result.stderr
    assert setup.clients_json() == before
    assert status_with(setup.gateway, token) == 200
    if case in ("with-output", "signing-only"):
        assert not out.exists()
    if case == "symlink":
        assert not any(out.resolve().iterdir())


# ------------------------------------------------------------- [secrets] of --config


def test_admin_commands_read_secrets_from_config(tmp_path: Path) -> None:
    """The store lives away from the state directory, so only the config can lead there."""
    home = make_home(tmp_path)
    (home.path / "secrets.enc").unlink()
    elsewhere = tmp_path / "vault" / "gateway.enc"
    elsewhere.parent.mkdir(mode=0o700)
    EncryptedFileStore(elsewhere, PASSPHRASE, log2_n=min(LOG2_N_RANGE)).create()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[secrets]\nstore = "file:{elsewhere}"\n'
                      f'passphrase = "file:{home.passphrase_file}"\n')
    conf = ("--config", str(config))

    added = home.run("keys", "add", "openai", *conf, input="sk-" + "a" * 40 + "\n")
    assert added.returncode == 0, added.stderr
    listed = home.run("keys", "list", *conf)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:2] == ["openai", "openai"]
    both = home.run("keys", "list", *conf, "--secrets", "keyring")  # the command line wins
    assert both.returncode == 0 and "openai" not in both.stdout

    signing = home.run("rotate-keys", "--signing", *conf)
    assert signing.returncode == 0, signing.stderr
    assert "new signing keys" in signing.stderr

    created = home.run("clients", "create", "configured", "--owner", "Conf", *conf)
    assert created.returncode == 0, created.stderr
    budget = home.run("budgets", "set", "--key", "configured", "--monthly", "5", *conf)
    assert budget.returncode == 0, budget.stderr
    log = (home.path / "audit.jsonl").read_text().splitlines()
    last = [json.loads(x) for x in log][-2:]
    assert [r["event"] for r in last] == ["client.created", "client.budget"]
    assert all(r["mac"] for r in last)  # signed with the audit key of the configured store

    audit = home.run("keys", "audit", *conf)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "intact" in audit.stdout

    # Without the config the signed log cannot be extended: the store is not found.
    bare = home.run("clients", "create", "unconfigured")
    assert one_line_error(bare).startswith("gateway: the audit log is signed")
    assert "unconfigured" not in home.run("clients", "list", "--all").stdout
