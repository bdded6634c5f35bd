"""`gateway log verify | tail | export` against real logs written by the real writer.

Most runs go through click's CliRunner on the real command group (fast); a
few run the CLI in a subprocess for the exit codes and one-line errors a
person sees.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway_cli.auditlog import files, reading
from gateway_cli.auditlog.chain import SigningKey
from gateway_cli.cli.log_cmd import csv_cell
from gateway_cli.cli.main import cli
from gateway_cli.keys import signing
from gateway_cli.keys.encrypted_file import EncryptedFileStore
from tests.integration.test_client_keys import PASSPHRASE, Home, make_home
from tests.unit.auditlog.helpers import NOW, request, wait_for, write_log, writer


class Env:
    """A state directory whose encrypted store holds audit keys, and its request log."""

    def __init__(self, root: Path) -> None:
        self.home: Home = make_home(root)
        self.store = EncryptedFileStore(self.home.path / "secrets.enc", PASSPHRASE)
        self.log = self.home.path / "requests.jsonl"

    def key(self) -> SigningKey:
        entry = signing.ensure(self.store).current("audit")
        assert entry is not None
        return SigningKey(entry.kid, entry.key)

    def run(self, *args: str, store: bool = False) -> Result:
        extra = ["--home", str(self.home.path)]
        if store:
            extra += self.home.store_args
        return CliRunner().invoke(cli, ["log", *args, *extra], env=self.home.env,
                                  catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_verify_an_intact_rotated_log(env: Env) -> None:
    write_log(env.log, 12, env.key(), rotate_bytes=4096, max_batch=2)
    result = env.run("verify", store=True)
    assert result.exit_code == 0, result.output
    files_count = len(files.log_files(env.log))
    assert f"12 record(s) in {files_count} file(s), 12 signed, 0 signed by retired keys; " \
           "intact" in result.output
    assert "the log ends at seq 11 (2025-06-15T15:06:51.000Z), requests.jsonl line" \
        in result.output


def test_verify_finds_tampering(env: Env) -> None:
    write_log(env.log, 5, env.key())
    raw = env.log.read_bytes().splitlines(keepends=True)
    raw[2] = raw[2].replace(b'"status":200', b'"status":201')
    env.log.write_bytes(b"".join(raw))
    result = env.run("verify", store=True)
    assert result.exit_code == 1
    assert "problem: requests.jsonl line 3 (seq 2): MAC mismatch" in result.output
    assert "TAMPERED" in result.output


def test_verify_across_an_audit_key_rotation(env: Env) -> None:
    write_log(env.log, 3, env.key())
    signing.rotate(env.store, grace=3600)
    write_log(env.log, 3, env.key(), start=3)
    result = env.run("verify", store=True)
    assert result.exit_code == 0, result.output
    assert "6 signed, 0 signed by retired keys; intact" in result.output
    signing.rotate(env.store, grace=0)  # both keys gone: unverifiable, not tampered
    result = env.run("verify", store=True)
    assert result.exit_code == 0 and "6 signed by retired keys; intact" in result.output


def test_verify_reports_a_crash(env: Env) -> None:
    write_log(env.log, 2, env.key())
    with env.log.open("ab") as handle:
        handle.write(b'{"data":{"app')
    result = env.run("verify", store=True)
    assert result.exit_code == 0, result.output
    assert "followed by a partial record of 13 bytes: a crash while writing" in result.output


def test_the_configured_path_is_used(env: Env, tmp_path: Path) -> None:
    elsewhere = tmp_path / "logs" / "gw.jsonl"
    elsewhere.parent.mkdir()
    write_log(elsewhere, 2, env.key())
    config = tmp_path / "gateway.toml"
    config.write_text(f'[audit]\npath = "{elsewhere}"\n')
    result = env.run("verify", "--config", str(config), store=True)
    assert result.exit_code == 0 and str(elsewhere) in result.output
    assert env.run("tail", "--config", str(config)).output.count("req-") == 2


@pytest.mark.parametrize("command", ["verify", "tail", "export"])
def test_no_log_is_a_clear_error(env: Env, command: str) -> None:
    result = env.home.run("log", command, store=command == "verify")
    assert result.returncode == 1
    assert result.stderr == (f"gateway: there is no request log at {env.log} (a gateway "
                             "writes it once it has served a request; see [audit] path in "
                             "gateway.toml)\n")


@pytest.mark.parametrize("kind", ["symlink", "group-writable", "directory", "garbage",
                                  "empty"])
def test_bad_log_files(env: Env, tmp_path: Path, kind: str) -> None:
    if kind == "symlink":
        target = tmp_path / "target.jsonl"
        write_log(target, 2, env.key())
        env.log.symlink_to(target)
    elif kind == "group-writable":
        write_log(env.log, 2, env.key())
        env.log.chmod(0o660)
    elif kind == "directory":
        env.log.mkdir()
    elif kind == "garbage":
        env.log.write_bytes(b"\x1b[2Jnot a record\n{}\n")
    else:
        env.log.write_bytes(b"")
    verified = env.home.run("log", "verify", store=True)
    tail = env.home.run("log", "tail")
    assert "\x1b" not in verified.stdout + tail.stdout
    if kind == "empty":
        assert verified.returncode == 0 and "the log holds no record" in verified.stdout
        assert tail.returncode == 0 and tail.stdout == ""
        return
    assert verified.returncode == 1 and "TAMPERED" in verified.stdout
    expected = {"symlink": "a symbolic link", "group-writable": "written by other users",
                "directory": "not a regular file", "garbage": "malformed"}[kind]
    assert expected in verified.stdout
    if kind in ("symlink", "directory"):
        assert tail.returncode == 1 and tail.stderr.startswith("gateway: ")
        assert len(tail.stderr.splitlines()) == 1
    if kind == "garbage":
        assert tail.stdout.count("(not a record: run `gateway log verify`)") == 2


def test_tail_shows_one_readable_line_per_record(env: Env) -> None:
    w = writer(env.log, env.key(), rotate_bytes=4096, max_batch=1)
    w.start()
    for i in range(10):
        w.submit("llm.request", request(i), NOW + i)
    w.submit("llm.request", request(10, principal="evil\x1b[31m\u202e", cost=None,
                                     dropped=3), NOW + 10)
    w.close()
    result = env.run("tail", "-n", "3")
    assert result.exit_code == 0
    out = result.output.splitlines()
    assert out[0] == ("2025-06-15T15:06:48.000Z req-00000008 billing-app gpt-4o-mini "
                      "openai-eu 200 1834ms 812/233 tok $0.000261 allow")
    assert out[2].startswith("2025-06-15T15:06:50.000Z req-00000010 evil?[31m? ")
    assert "$- allow (+3 dropped before)" in out[2]
    raw = env.run("tail", "-n", "20", "--json").output.splitlines()
    assert len(raw) == 11 and [json.loads(x)["seq"] for x in raw] == list(range(11))


def test_follow_continues_across_a_rotation(env: Env) -> None:
    key = env.key()
    write_log(env.log, 2, key)
    seen: list[int] = []
    stop = threading.Event()
    lines, fd, end = reading.tail(env.log, 1)
    assert fd is not None and len(lines) == 1
    thread = threading.Thread(target=reading.follow, args=(
        env.log, fd, end, lambda line: seen.append(json.loads(line)["seq"]), stop.is_set,
        0.01))
    thread.start()
    try:
        w = writer(env.log, key, rotate_bytes=4096, max_batch=1)
        w.start()
        for i in range(2, 20):
            w.submit("llm.request", request(i), NOW + i)
        w.close()
        assert len(files.rotated_files(env.log)) >= 2
        wait_for(lambda: len(seen) >= 18)
    finally:
        stop.set()
        thread.join()
    assert seen == list(range(2, 20))


def test_export_jsonl_and_csv(env: Env) -> None:
    w = writer(env.log, env.key())
    w.start()
    for i in range(5):
        w.submit("llm.request", request(i, failover=["a:timeout"]), NOW + i * 3600)
    w.submit("mcp.call", request(5, principal="=HYPERLINK(\"x\")", model="-tool"),
             NOW + 5 * 3600)
    w.submit("log.note", {"x": 1}, NOW + 5 * 3600)
    w.close()
    every = env.run("export")
    assert every.exit_code == 0
    assert every.output.encode() == b"".join(env.log.read_bytes().splitlines(
        keepends=True)[:6])  # as they are; not the non-request event
    ranged = env.run("export", "--since", "2025-06-15T17:06:40Z", "--until",
                     "2025-06-15T19:06:40")
    assert [json.loads(x)["seq"] for x in ranged.output.splitlines()] == [2, 3]
    table = list(csv.reader(io.StringIO(env.run("export", "--format", "csv").output)))
    assert table[0][:5] == ["time", "seq", "event", "id", "principal_kind"]
    assert len(table) == 7
    row = dict(zip(table[0], table[6], strict=True))
    assert row["principal"] == "'=HYPERLINK(\"x\")" and row["model"] == "'-tool"
    assert row["event"] == "mcp.call" and row["cost"] == "0.000261"
    assert row["reason"] == "" and table[1][table[0].index("failover")] == '["a:timeout"]'
    assert env.run("export", "--since", "3650d").output == every.output  # relative
    assert env.run("export", "--since", "99999999d").exit_code == 2
    recent = env.run("export", "--since", "24h")
    assert recent.exit_code == 0 and recent.output == ""  # 2025 is long ago


def test_bad_since(env: Env) -> None:
    write_log(env.log, 1, env.key())
    result = env.home.run("log", "export", "--since", "yesterday")
    assert result.returncode == 2
    assert "'--since': expected a duration before now such as 24h" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_csv_cells() -> None:
    assert [csv_cell(v) for v in (None, True, 3, -1.5, "+1", "@x", "a", {"b": [1]})] == [
        "", "true", "3", "-1.5", "'+1", "'@x", "a", '{"b":[1]}']


# --- `--workers N`: one chain per worker, read together ---------------------------

def _two_chains(env: Env) -> Path:
    """Worker 1 wrote requests 0, 2, 4, ... and worker 2 requests 1, 3, 5, ... (one a
    second, alternating), worker 2's chain rotated once: merged by time they are 0..11."""
    key = env.key()
    second = files.worker_log_path(env.log, 2)
    first_writer = writer(env.log, key)
    second_writer = writer(second, key, rotate_bytes=4096, max_batch=1)
    first_writer.start()
    second_writer.start()
    for i in range(12):
        (first_writer if i % 2 == 0 else second_writer).submit(
            "llm.request", request(i), NOW + i)
    assert first_writer.close() and second_writer.close()
    assert files.rotated_files(second)
    return second


def _ids(text: str) -> list[int]:
    return [int(json.loads(line)["data"]["id"].removeprefix("req-")) for line in
            text.splitlines()]


def test_tail_merges_every_workers_chain_by_time(env: Env) -> None:
    _two_chains(env)
    result = env.run("tail", "-n", "3")
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert [line.split()[1] for line in out] == ["req-00000009", "req-00000010",
                                                 "req-00000011"]
    assert [line.rsplit(" ", 2)[-2:] for line in out] == [
        ["[worker", "2]"], ["[worker", "1]"], ["[worker", "2]"]]
    assert _ids(env.run("tail", "-n", "100", "--json").output) == list(range(12))


def test_follow_reads_every_workers_chain(env: Env) -> None:
    second = _two_chains(env)
    _, followed, chains = reading.tail_all(env.log, 0)
    assert chains == 2 and [path for path, _, _ in followed] == [env.log, second]
    seen: list[tuple[int, int]] = []
    stop = threading.Event()
    thread = threading.Thread(target=reading.follow_all, args=(
        followed, lambda k, line: seen.append((k, json.loads(line)["seq"])), stop.is_set,
        0.01))
    thread.start()
    try:
        key = env.key()
        for path, count, start in ((second, 3, 100), (env.log, 2, 200)):
            w = writer(path, key, rotate_bytes=4096, max_batch=1)
            w.start()
            for i in range(start, start + count):
                w.submit("llm.request", request(i), NOW + i)
            assert w.close()
        wait_for(lambda: len(seen) >= 5)
    finally:
        stop.set()
        thread.join()
    assert sorted(k for k, _ in seen) == [0, 0, 1, 1, 1]
    assert [seq for k, seq in seen if k == 0] == [6, 7]  # worker 1's chain continues


def test_export_merges_every_workers_chain_by_time(env: Env) -> None:
    second = _two_chains(env)
    # A line that is not a record keeps its place in its chain (after record 11).
    with second.open("ab") as handle:
        handle.write(b"not a record\n")
    result = env.run("export")
    assert result.exit_code == 0
    assert _ids(result.stdout) == list(range(12))
    assert "1 line(s) are not records" in result.stderr
    ranged = env.run("export", "--since", "2025-06-15T15:06:43Z", "--until",
                     "2025-06-15T15:06:46Z")
    assert _ids(ranged.stdout) == [3, 4, 5]
    table = list(csv.reader(io.StringIO(env.run("export", "--format", "csv").stdout)))
    assert table[0][-1] == "worker"
    assert [(row[table[0].index("id")], row[-1]) for row in table[1:4]] == [
        ("req-00000000", "1"), ("req-00000001", "2"), ("req-00000002", "1")]
    # seq counts within each worker's own chain
    assert [row[1] for row in table[1:5]] == ["0", "0", "1", "1"]


def test_stats_counts_every_workers_chain(env: Env) -> None:
    _two_chains(env)
    result = CliRunner().invoke(cli, ["stats", "--home", str(env.home.path), "--format",
                                      "json", "--no-cache"], env=env.home.env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["records"] == 12 and report["total"]["requests"] == 12
    names = {f["name"] for f in report["files"]}
    assert "requests.jsonl" in names and "requests.worker2.jsonl" in names
    assert any(name.startswith("requests.worker2-") for name in names)  # its rotated file


def test_tail_follow_picks_up_a_workers_chain_begun_later(env: Env, tmp_path: Path) -> None:
    """`gateway log tail -f` started while one chain exists follows a second one that a
    gateway started with --workers 2 begins afterwards, and marks lines by worker."""
    import subprocess

    from tests.conftest import gateway_cmd

    key = env.key()
    write_log(env.log, 1, key)
    out = tmp_path / "tail.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            gateway_cmd("log", "tail", "-f", "-n", "1", "--home", str(env.home.path)),
            stdout=sink, stderr=subprocess.STDOUT, env=env.home.env)
    try:
        wait_for(lambda: out.read_text().count("\n") >= 1, timeout=30)  # a CLI start
        assert out.read_text().splitlines()[0].split()[1] == "req-00000000"
        for path, start in ((files.worker_log_path(env.log, 2), 100), (env.log, 200)):
            w = writer(path, key)
            w.start()
            assert w.submit("llm.request", request(start), NOW + start)
            assert w.close()
        wait_for(lambda: out.read_text().count("\n") >= 3, timeout=30)
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)
    later = out.read_text().splitlines()[1:]
    assert sorted(line.split()[1] + " " + line.rsplit(" ", 2)[-1] for line in later) == [
        "req-00000100 2]", "req-00000200 1]"], later
