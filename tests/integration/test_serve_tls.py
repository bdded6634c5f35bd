"""`gateway serve` over HTTPS: a private CA, the official openai SDK, and the refusals."""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import Gateway, free_port, run_gateway, start_gateway, stop_gateway
from tests.fakes.pki import Pki, key_pem, make_pki, write_private


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def _config(pki: Pki) -> str:
    return f'[server]\ntls_cert = "{pki.cert}"\ntls_key = "{pki.key}"\n'


@pytest.fixture
def tls_gateway(tmp_path: Path, pki: Pki) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path, config=_config(pki), verify=pki.client_context())
    yield gw
    stop_gateway(gw)


def _client(gw: Gateway, pki: Pki) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0,
                         http_client=httpx.Client(verify=pki.client_context()))


def test_openai_sdk_over_https(tls_gateway: Gateway, pki: Pki) -> None:
    assert tls_gateway.url.startswith("https://")
    client = _client(tls_gateway, pki)
    completion = client.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": "hello over TLS"}])
    assert completion.choices[0].message.content == "hello over TLS"
    text = "streamed through an encrypted connection"
    chunks = list(client.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": text}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    log = tls_gateway.log()
    assert f"OpenAI base URL https://127.0.0.1:{tls_gateway.port}/v1" in log
    # The test certificate is valid for a day: the start-up says it needs renewing.
    assert "WARNING gateway: the TLS certificate" in log and "renew it" in log
    assert "http://127.0.0.1" not in log


def test_client_without_the_ca_is_refused(tls_gateway: Gateway) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls_gateway.url + "/health", verify=ssl.create_default_context())
    client = openai.OpenAI(base_url=tls_gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_plain_http_to_the_tls_port_gets_nothing(tls_gateway: Gateway, pki: Pki) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_gateway.port}/health", timeout=5)
    with pytest.raises(httpx.TransportError):
        httpx.post(f"http://127.0.0.1:{tls_gateway.port}/v1/chat/completions", timeout=5,
                   json={"model": "mock/echo", "messages": [{"role": "user", "content": "x"}]})
    assert tls_gateway.process.poll() is None  # and it goes on serving HTTPS
    assert httpx.get(tls_gateway.url + "/health", verify=pki.client_context()) \
        .status_code == 200


def test_gateway_run_finds_an_https_gateway(tls_gateway: Gateway, pki: Pki,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway_cli.cli.run_cmd import _reachable

    assert not _reachable(tls_gateway.url)  # the CA is not trusted yet
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))  # OpenSSL's default CA file, replaced
    assert _reachable(tls_gateway.url)


def test_command_line_overrides_config(tmp_path: Path, pki: Pki) -> None:
    wrong = f'[server]\ntls_cert = "{tmp_path / "nope.pem"}"\ntls_key = "{pki.other_key}"\n'
    gw = start_gateway(tmp_path, "--tls-cert", str(pki.cert), "--tls-key", str(pki.key),
                       config=wrong, verify=pki.client_context())
    try:
        assert _client(gw, pki).models.list().data[0].id == "mock-echo"
    finally:
        stop_gateway(gw)


def _refused(tmp_path: Path, *args: str, config: str | None = None) -> str:
    """Start with these arguments; return the one line it must end with."""
    extra = list(args)
    if config is not None:
        path = tmp_path / "gateway.toml"
        path.write_text(config)
        extra += ["--config", str(path)]
    result: subprocess.CompletedProcess[str] = run_gateway(
        "serve", "--port", str(free_port()), *extra,
        env={**os.environ, "GATEWAY_HOME": str(tmp_path / "home")})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("gateway: ") and "\n" not in lines[-1]
    assert not [line for line in lines[:-1] if "error" in line.lower()], result.stderr
    return lines[-1]


def _assert_no_key_content(line: str, pki: Pki) -> None:
    body = b"".join(pki.key_bytes.splitlines()[1:-1]).decode()
    assert "PRIVATE KEY-----" not in line
    assert not any(chunk in line for chunk in (body[i:i + 16]
                                               for i in range(0, len(body) - 16, 8)))


def _tls(cert: Path, key: Path) -> tuple[str, ...]:
    return ("--tls-cert", str(cert), "--tls-key", str(key))


def test_refuses_a_key_others_can_read(tmp_path: Path, pki: Pki) -> None:
    pki.key.chmod(0o644)
    line = _refused(tmp_path, *_tls(pki.cert, pki.key))
    assert str(pki.key) in line and "0644" in line and f"chmod 600 {pki.key}" in line
    _assert_no_key_content(line, pki)


def test_accepts_a_read_only_key(tmp_path: Path, pki: Pki) -> None:
    pki.key.chmod(0o400)
    gw = start_gateway(tmp_path, *_tls(pki.cert, pki.key), verify=pki.client_context())
    stop_gateway(gw)


def test_refuses_a_missing_key(tmp_path: Path, pki: Pki) -> None:
    missing = tmp_path / "missing-key.pem"
    line = _refused(tmp_path, *_tls(pki.cert, missing))
    assert line == f"gateway: TLS key {missing} does not exist"


def test_refuses_a_missing_certificate(tmp_path: Path, pki: Pki) -> None:
    missing = tmp_path / "missing-cert.pem"
    line = _refused(tmp_path, *_tls(missing, pki.key))
    assert line == f"gateway: TLS certificate {missing} does not exist"


def test_refuses_a_key_of_another_certificate(tmp_path: Path, pki: Pki) -> None:
    line = _refused(tmp_path, *_tls(pki.cert, pki.other_key))
    assert str(pki.other_key) in line and "does not belong to the certificate" in line
    assert str(pki.cert) in line


def test_refuses_a_garbage_certificate(tmp_path: Path, pki: Pki) -> None:
    pki.cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                        "-----END CERTIFICATE-----\n")
    line = _refused(tmp_path, *_tls(pki.cert, pki.key))
    assert line.startswith(f"gateway: TLS certificate {pki.cert} is not a PEM certificate")


def test_refuses_a_certificate_file_that_is_not_pem(tmp_path: Path, pki: Pki) -> None:
    pki.cert.write_bytes(os.urandom(300))
    line = _refused(tmp_path, *_tls(pki.cert, pki.key))
    assert "is not a PEM certificate" in line


def test_refuses_a_key_that_is_not_a_key(tmp_path: Path, pki: Pki) -> None:
    write_private(pki.key, pki.cert.read_bytes())
    line = _refused(tmp_path, *_tls(pki.cert, pki.key))
    assert line == (f"gateway: TLS key {pki.key} is not a PEM private key "
                    "(-----BEGIN PRIVATE KEY-----)")


def test_refuses_an_encrypted_key(tmp_path: Path, pki: Pki) -> None:
    key = serialization.load_pem_private_key(pki.key_bytes, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    write_private(pki.key, key_pem(key, serialization.BestAvailableEncryption(b"s3cret")))
    line = _refused(tmp_path, *_tls(pki.cert, pki.key))
    assert str(pki.key) in line and "encrypted with a passphrase" in line
    assert "s3cret" not in line


def test_refuses_a_traditional_encrypted_key(tmp_path: Path, pki: Pki) -> None:
    # The older OpenSSL form: "Proc-Type: 4,ENCRYPTED" inside "BEGIN EC PRIVATE KEY".
    key = serialization.load_pem_private_key(pki.key_bytes, password=None)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.BestAvailableEncryption(b"s3cret"))
    assert b"Proc-Type: 4,ENCRYPTED" in pem
    write_private(pki.key, pem)
    assert "encrypted with a passphrase" in _refused(tmp_path, *_tls(pki.cert, pki.key))


def test_refuses_a_combined_file_others_can_read(tmp_path: Path, pki: Pki) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.cert.read_bytes() + pki.key_bytes)
    combined.chmod(0o644)
    line = _refused(tmp_path, *_tls(combined, pki.key))
    assert f"chmod 600 {combined}" in line
    _assert_no_key_content(line, pki)


def test_refuses_only_one_on_the_command_line(tmp_path: Path, pki: Pki) -> None:
    line = _refused(tmp_path, "--tls-cert", str(pki.cert))
    assert line.startswith("gateway: HTTPS needs both a certificate and its key")
    line = _refused(tmp_path, "--tls-key", str(pki.key))
    assert line.startswith("gateway: HTTPS needs both a certificate and its key")


def test_refuses_only_one_in_the_config(tmp_path: Path, pki: Pki) -> None:
    line = _refused(tmp_path, config=f'[server]\ntls_key = "{pki.key}"\n')
    assert line.endswith("server.tls_key is set but server.tls_cert is not: HTTPS needs "
                         "both the certificate and its key (or neither, for plain HTTP)")
