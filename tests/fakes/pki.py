"""A private CA and a server certificate for 127.0.0.1 and localhost, made on the spot.

HTTPS tests verify the gateway's certificate for real against a CA they control,
instead of switching verification off.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_key: Path  # a valid key that is not the certificate's
    key_bytes: bytes
    ca_key: ec.EllipticCurvePrivateKey | None = None  # to issue renewals (issue())
    ca_cert: x509.Certificate | None = None

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def key_pem(key: ec.EllipticCurvePrivateKey,
            encryption: serialization.KeySerializationEncryption | None = None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption or serialization.NoEncryption())


def write_private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def make_pki(tmp_path: Path) -> Pki:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder()
          .subject_name(_name("gateway test CA")).issuer_name(_name("gateway test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(ca, ca_key, key, datetime.timedelta(days=1))
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    key_bytes = key_pem(key)
    return Pki(ca=tmp_path / "ca.pem", cert=tmp_path / "cert.pem",
               key=write_private(tmp_path / "key.pem", key_bytes),
               other_key=write_private(tmp_path / "other-key.pem",
                                        key_pem(ec.generate_private_key(ec.SECP256R1()))),
               key_bytes=key_bytes, ca_key=ca_key, ca_cert=ca)


def issue(pki: Pki, cert: Path, key: Path, valid: datetime.timedelta) -> int:
    """A renewal from the same CA (new key, new serial, its own expiry) written to
    `cert` and `key` (0600); its serial number."""
    assert pki.ca_key is not None and pki.ca_cert is not None
    new_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf(pki.ca_cert, pki.ca_key, new_key, valid)
    cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    write_private(key, key_pem(new_key))
    return leaf.serial_number


def _leaf(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
          key: ec.EllipticCurvePrivateKey, valid: datetime.timedelta) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + valid)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
