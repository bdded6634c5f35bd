"""The handout directory and manifest, and the owner/contact checks, without a CLI."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pytest

from gateway_cli.keys import clients, handout
from gateway_cli.keys.clients import Client, ClientError


def client(name: str, ident: str = "abcdefghijkl", **extra: object) -> Client:
    return Client(id=ident, name=name, digest="0" * 64, created=0.0, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_become_text(value: str) -> None:
    assert handout.cell(value) == "'" + value


@pytest.mark.parametrize("value", ["alice", "", "a=b", "O'Brien"])
def test_plain_cells_are_left_alone(value: str) -> None:
    assert handout.cell(value) == value


def test_file_names_are_safe_and_distinct_case_aside() -> None:
    names = handout.file_names([client("alice"), client("Alice", "zzzzzzzzzzzz"),
                                client("-x"), client(".hidden"), client("..")])
    assert names == ["alice.token", "Alice.zzzzzzzzzzzz.token", "_-x.token",
                     "_.hidden.token", "_...token"]
    assert all("/" not in n and not n.startswith(("-", ".")) for n in names)


def test_manifest_has_no_token_and_guards_cells() -> None:
    rows = [client("a", owner="Ann", contact="=x@example.com", expires=86400.0),
            client("b")]
    text = handout.manifest(rows, ["a.token", "b.token"]).decode()
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [["name", "owner", "contact", "file", "expires"],
                      ["a", "Ann", "'=x@example.com", "a.token", "1970-01-02T00:00:00Z"],
                      ["b", "", "", "b.token", ""]]


def test_write_makes_private_files_in_a_private_dir(tmp_path: Path) -> None:
    where = tmp_path / "out"
    fd = handout.open_dir(where)
    try:
        files = handout.write(fd, where, [(client("a"), "gwk_token_a")])
    finally:
        os.close(fd)
    assert files == ["a.token"]
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    assert (where / "a.token").read_bytes() == b"gwk_token_a\n"
    for path in where.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "gwk_" not in (where / "manifest.csv").read_text()


def test_open_dir_refuses_links_files_and_non_empty_dirs(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    plain = tmp_path / "file"
    plain.write_text("x")
    for path, words in ((full, "not empty"), (link, "symbolic link"),
                        (plain, "not a directory")):
        with pytest.raises(handout.HandoutError, match=words):
            handout.open_dir(path)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("owner", ["Ada Lovelace", "O'Brien", "team-7", "José"])
def test_good_owners(owner: str) -> None:
    clients.check_owner(owner)


@pytest.mark.parametrize("owner", ["", " x", "x ", "a\nb", "a\x00b", "x" * 65, "a/b",
                                   "rtl\u202e", "a,b"])
def test_bad_owners(owner: str) -> None:
    with pytest.raises(ClientError):
        clients.check_owner(owner)


@pytest.mark.parametrize("contact", ["x@y.z", "dev+tag@example.com", "a.b@sub.example.org"])
def test_good_contacts(contact: str) -> None:
    clients.check_contact(contact)


@pytest.mark.parametrize("contact", ["", "x", "x@y", "@y.z", "x@.z", "x@y.", "x y@z.com",
                                     "x@y.z\n", "x@y..z", "é@example.com",
                                     "a" * 65 + "@example.com",
                                     "a@" + "b" * 250 + ".com", "<x@y.z>"])
def test_bad_contacts(contact: str) -> None:
    with pytest.raises(ClientError):
        clients.check_contact(contact)


def test_owner_and_contact_survive_json_and_old_records_lack_them() -> None:
    full = client("a", owner="Ann", contact="ann@example.com", admin=True)
    assert Client.from_json(full.to_json()) == full
    old = {k: v for k, v in full.to_json().items() if k not in ("owner", "contact")}
    assert Client.from_json(old).owner is None
    with pytest.raises(ValueError):
        Client.from_json({**full.to_json(), "owner": 7})


def test_reissue_carries_owner_and_contact(tmp_path: Path) -> None:
    created, _ = clients.create(tmp_path, "a", owner="Ann", contact="ann@example.com",
                                now=100.0)
    [(new, _)] = clients.reissue(tmp_path, ["a"], now=200.0)
    assert (new.owner, new.contact) == ("Ann", "ann@example.com") and new.id != created.id


def test_create_refuses_a_bad_contact_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ClientError):
        clients.create(tmp_path, "a", contact="nope")
    assert not clients.clients_path(tmp_path).exists()
