"""A renewed TLS certificate served after `gateway reload`, on the real process.

The renewal comes from the same test CA (new key, new serial, other expiry), put in
place the way certbot does (live/ links moved to new archive/ files) or rewritten in
place. Clients are the openai SDK trusting only that CA; which certificate a new
connection gets is read from the handshake (the peer certificate's serial).
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from cryptography import x509

from tests.conftest import Gateway, run_gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.pki import Pki, issue, make_pki
from tests.fakes.upstream import FakeUpstream, slow_stream

KEY = "sk-test-tls-reload-" + "t" * 24
MESSAGES = [{"role": "user", "content": "hello over renewed TLS"}]
# The fake answers word by word: 100 words at 0.1 s apart outlast any reload.
LONG = [{"role": "user", "content": " ".join(f"word{i}" for i in range(100))}]


def served_serial(port: int, context: ssl.SSLContext) -> int:
    """The serial of the certificate a new connection is served (verified by `context`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@dataclass
class Setup:
    gw: Gateway
    fake: FakeUpstream
    pki: Pki
    tmp: Path
    archive: Path
    live: Path
    first: int

    def reload(self) -> tuple[int, str]:
        result = run_gateway("reload", env={**os.environ,
                                            "GATEWAY_HOME": str(self.tmp / "gateway-home")})
        return result.returncode, result.stdout + result.stderr

    def serial(self) -> int:
        return served_serial(self.gw.port, self.pki.client_context())

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gw.url + "/v1", api_key="x", max_retries=0,
                             http_client=httpx.Client(verify=self.pki.client_context()))

    def renew_by_links(self, name: str, days: float) -> int:
        """certbot's way: new files in archive/, the live/ links moved onto them."""
        serial = issue(self.pki, self.archive / f"cert-{name}.pem",
                       self.archive / f"key-{name}.pem", datetime.timedelta(days=days))
        for kind in ("cert", "key"):
            temporary = self.live / f".{kind}.new"
            temporary.symlink_to(self.archive / f"{kind}-{name}.pem")
            temporary.replace(self.live / f"{kind}.pem")  # atomic, as a link swap is
        return serial


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    pki = make_pki(tmp_path)
    archive, live = tmp_path / "archive", tmp_path / "live"
    archive.mkdir()
    live.mkdir()
    first = issue(pki, archive / "cert-1.pem", archive / "key-1.pem", datetime.timedelta(days=30))
    (live / "cert.pem").symlink_to(archive / "cert-1.pem")
    (live / "key.pem").symlink_to(archive / "key-1.pem")
    fake = FakeUpstream("up", api_key=KEY).start()
    config = (GatewayConfig()
              .provider("up", "openai", base_url=f"{fake.url}/v1", secret="env:TLS_RELOAD_KEY")
              .model("gpt", deployment("up", "gpt-4o-mini"))
              .section("server", tls_cert=str(live / "cert.pem"),
                       tls_key=str(live / "key.pem"))).toml()
    gw = start_gateway(tmp_path, config=config, verify=pki.client_context(),
                       env={**os.environ, "TLS_RELOAD_KEY": KEY,
                            "GATEWAY_HOME": str(tmp_path / "gateway-home")})
    yield Setup(gw, fake, pki, tmp_path, archive, live, first)
    stop_gateway(gw)
    fake.stop()


def test_a_renewal_is_served_after_reload_and_a_stream_in_flight_completes(
        setup: Setup) -> None:
    assert setup.serial() == setup.first
    setup.fake.script(slow_stream(0.1))
    client = setup.client()
    chunks: list[str] = []
    ended: list[str | None] = []

    def read() -> None:
        stream = client.chat.completions.create(model="gpt", messages=LONG, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                chunks.append(chunk.choices[0].delta.content)
            if chunk.choices and chunk.choices[0].finish_reason:
                ended.append(chunk.choices[0].finish_reason)

    # New connections all through the reload: none may be refused or fail.
    failures: list[str] = []
    served: list[int] = []
    stop = threading.Event()

    def connect() -> None:
        while not stop.is_set():
            try:
                served.append(setup.serial())
            except (OSError, ssl.SSLError) as err:
                failures.append(repr(err))

    before = len(setup.fake.requests)
    reader = threading.Thread(target=read)
    reader.start()
    deadline = time.monotonic() + 10
    while len(setup.fake.requests) == before and time.monotonic() < deadline:
        time.sleep(0.02)  # the stream has reached the upstream: it is in flight
    assert len(setup.fake.requests) > before
    prober = threading.Thread(target=connect)
    prober.start()
    renewed = setup.renew_by_links("2", days=90)
    assert renewed != setup.first
    code, out = setup.reload()
    assert code == 0, out
    assert "tls certificate" in out and "restart needed" not in out
    # The answer comes once the old worker stopped accepting: every new connection from
    # here on is served the renewal.
    assert setup.serial() == renewed
    assert reader.is_alive()  # the stream began before the reload and is still going
    stop.set()
    prober.join(30)
    reader.join(30)
    assert not reader.is_alive()
    assert ended == ["stop"]
    assert "".join(chunks).split()[-1] == "word99"  # the whole answer arrived
    assert not failures, failures[:3]
    assert set(served) <= {setup.first, renewed} and renewed in served
    # The openai SDK goes on working over the renewed certificate.
    setup.fake.script()  # back to prompt answers
    answer = setup.client().chat.completions.create(model="gpt", messages=MESSAGES)
    assert answer.choices[0].message.content
    log = setup.gw.log()
    assert "TLS certificate reloaded from" in log
    # The checked copies Granian loaded from are gone once it has read them.
    run_dir = setup.tmp / "gateway-home" / "run"
    assert not [p for p in run_dir.iterdir() if p.name.startswith("tls-")]


def test_a_file_rewritten_in_place_is_served_after_reload(setup: Setup) -> None:
    # Some tools rewrite the files under the same names (no links involved).
    target_cert = (setup.live / "cert.pem").resolve()
    target_key = (setup.live / "key.pem").resolve()
    renewed = issue(setup.pki, target_cert, target_key, datetime.timedelta(days=60))
    code, out = setup.reload()
    assert code == 0, out
    assert setup.serial() == renewed
    # A reload with nothing changed replaces no worker.
    code, out = setup.reload()
    assert code == 0 and "tls certificate" not in out, out
    assert setup.serial() == renewed


def _refused(setup: Setup, out: str, code: int) -> str:
    assert code == 1, out
    lines = [line for line in out.splitlines() if "REFUSED" in line]
    assert len(lines) == 1, out
    assert "Traceback" not in out and "Traceback" not in setup.gw.log()
    return lines[0]


def test_a_key_that_is_not_the_certificates_is_refused_and_the_old_one_serves(
        setup: Setup) -> None:
    issue(setup.pki, setup.archive / "cert-3.pem", setup.archive / "key-3.pem",
          datetime.timedelta(days=90))
    # The new certificate, but with some other key: a botched renewal.
    (setup.live / "cert.pem").unlink()
    (setup.live / "cert.pem").symlink_to(setup.archive / "cert-3.pem")
    (setup.live / "key.pem").unlink()
    (setup.live / "key.pem").symlink_to(setup.pki.other_key)
    code, out = setup.reload()
    line = _refused(setup, out, code)
    assert "does not belong to the certificate" in line
    assert str(setup.live / "key.pem") in line
    assert "PRIVATE KEY" not in out and "PRIVATE KEY" not in setup.gw.log()
    assert setup.serial() == setup.first  # nothing changed
    assert setup.client().models.list().data
    assert setup.gw.process.poll() is None


def test_a_renewed_key_open_to_others_is_refused(setup: Setup) -> None:
    issue(setup.pki, setup.archive / "cert-4.pem", setup.archive / "key-4.pem",
          datetime.timedelta(days=90))
    (setup.archive / "key-4.pem").chmod(0o644)
    for kind in ("cert", "key"):
        (setup.live / f"{kind}.pem").unlink()
        (setup.live / f"{kind}.pem").symlink_to(setup.archive / f"{kind}-4.pem")
    code, out = setup.reload()
    line = _refused(setup, out, code)
    assert "0644" in line and "chmod 600" in line
    assert setup.serial() == setup.first
    # Fixed, the same reload goes through.
    (setup.archive / "key-4.pem").chmod(0o600)
    code, out = setup.reload()
    assert code == 0, out
    assert setup.serial() != setup.first


def test_a_broken_config_refuses_the_certificate_too(setup: Setup) -> None:
    renewed = setup.renew_by_links("5", days=90)
    config = setup.tmp / "gateway.toml"
    good = config.read_text()
    config.write_text(good + "\n[nonsense\n")
    code, out = setup.reload()
    _refused(setup, out, code)
    assert setup.serial() == setup.first  # one reload, all or nothing
    config.write_text(good)
    code, out = setup.reload()
    assert code == 0, out
    assert setup.serial() == renewed
