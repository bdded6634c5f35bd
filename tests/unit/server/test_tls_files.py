"""The TLS file checks on their own: the cases a test process can set up in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway_cli.config import parse_config
from gateway_cli.errors import StartupError
from gateway_cli.server.reconfigure import needs_restart
from gateway_cli.server.tls import check_tls_files
from tests.fakes.pki import Pki, make_pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def test_good_files_pass(pki: Pki) -> None:
    check_tls_files(pki.cert, pki.key)


def test_a_link_to_the_key_is_followed(tmp_path: Path, pki: Pki) -> None:
    # certbot's live/ directory and mounted container secrets are links.
    link = tmp_path / "live-key.pem"
    link.symlink_to(pki.key)
    check_tls_files(pki.cert, link)


def test_a_link_into_dev_is_refused(tmp_path: Path, pki: Pki) -> None:
    link = tmp_path / "zero.pem"
    link.symlink_to("/dev/zero")
    with pytest.raises(StartupError, match=r"is a system or device file"):
        check_tls_files(pki.cert, link)


def test_a_fifo_does_not_block_the_start(tmp_path: Path, pki: Pki) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(StartupError, match=r"is not a regular file"):
        check_tls_files(pki.cert, fifo)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o700 | 0o010])
def test_any_group_or_other_bit_is_refused(pki: Pki, mode: int) -> None:
    pki.key.chmod(mode)
    with pytest.raises(StartupError) as err:
        check_tls_files(pki.cert, pki.key)
    assert str(err.value) == (f"TLS key {pki.key} is open to other users (mode {mode:04o}); "
                              f"run: chmod 600 {pki.key}")


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_key_of_another_user_is_refused(pki: Pki) -> None:
    os.chown(pki.key, 4321, 4321)
    with pytest.raises(StartupError) as err:
        check_tls_files(pki.cert, pki.key)
    assert str(err.value) == (f"TLS key {pki.key} belongs to another user (uid 4321); it "
                              "must belong to the user running the gateway or to root")


def test_an_oversized_certificate_is_refused(pki: Pki) -> None:
    pki.cert.write_bytes(pki.cert.read_bytes() * 2000)
    with pytest.raises(StartupError, match=r"is larger than 1024 KiB"):
        check_tls_files(pki.cert, pki.key)


def test_a_combined_private_file_passes(tmp_path: Path, pki: Pki) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.cert.read_bytes() + pki.key_bytes)
    combined.chmod(0o600)
    check_tls_files(combined, combined)


def test_switching_between_http_and_https_needs_a_restart(tmp_path: Path) -> None:
    from gateway_cli.server.tls_reload import ServedCertificate, Snapshot

    plain = parse_config({})
    https = parse_config({"server": {"tls_cert": "/c.pem", "tls_key": "/k.pem"}})
    moved = parse_config({"server": {"tls_cert": "/new/c.pem", "tls_key": "/new/k.pem"}})
    restart = ["server.tls_cert and server.tls_key (between HTTP and HTTPS)"]
    assert needs_restart(plain, https) == restart
    served = ServedCertificate(Snapshot(tmp_path, tmp_path / "c", tmp_path / "k",
                                        (Path("/c.pem"), Path("/k.pem")), "f"), tmp_path, None)
    assert needs_restart(https, plain, served) == restart
    # Other files while serving HTTPS are read at the reload: no restart.
    assert needs_restart(https, moved, served) == []
    # Files given on the command line stay in force whatever the config says.
    fixed = ServedCertificate(Snapshot(tmp_path, tmp_path / "c", tmp_path / "k",
                                       (Path("/c.pem"), Path("/k.pem")), "f"), tmp_path,
                              (Path("/c.pem"), Path("/k.pem")))
    assert needs_restart(https, plain, fixed) == []


def _self_signed(tmp_path: Path, days: float) -> Path:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(key, hashes.SHA256()))
    path = tmp_path / f"cert-{days}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_expiry_warnings(tmp_path: Path) -> None:
    import time

    from gateway_cli.server.tls import expiry_warning

    assert expiry_warning(_self_signed(tmp_path, 90), time.time()) is None
    soon = expiry_warning(_self_signed(tmp_path, 3), time.time())
    assert soon is not None and "expires at" in soon and "in 3.0 days" in soon
    gone = expiry_warning(_self_signed(tmp_path, -1), time.time())
    assert gone is not None and "expired at" in gone and "clients will refuse it" in gone
