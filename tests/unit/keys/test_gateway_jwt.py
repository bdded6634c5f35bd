"""The gateway's own HS256 JWTs and its signing keyset."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gateway_cli.keys import jwt, signing
from gateway_cli.keys.encrypted_file import EncryptedFileStore
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import StoreError

KEY = b"k" * 32
CLAIMS = {"aud": "gateway", "exp": 2000, "jti": "j1", "sub": "run:x"}


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_round_trip_and_expiry() -> None:
    token = jwt.issue("t1", KEY, CLAIMS)
    assert jwt.verify(token, {"t1": KEY}, now=1999) == CLAIMS
    assert jwt.verify(token, {"t1": KEY}, now=2000) is None
    assert jwt.verify(token, {"t2": KEY}, now=1) is None  # unknown kid
    assert jwt.verify(token, {"t1": b"x" * 32}, now=1) is None  # wrong key


@pytest.mark.parametrize("header", [
    {"alg": "none", "kid": "t1"}, {"alg": "HS512", "kid": "t1"}, {"alg": "RS256", "kid": "t1"},
    {"kid": "t1"}, ["HS256"],
])
def test_only_hs256_with_a_known_kid(header: object) -> None:
    good = jwt.issue("t1", KEY, CLAIMS)
    _, payload, sig = good.split(".")
    assert jwt.verify(f"{_b64(header)}.{payload}.{sig}", {"t1": KEY}, now=1) is None
    assert jwt.verify(f"{_b64(header)}.{payload}.", {"t1": KEY}, now=1) is None


def test_tampered_claims_wrong_audience_and_garbage() -> None:
    header, _, sig = jwt.issue("t1", KEY, CLAIMS).split(".")
    forged = _b64({**CLAIMS, "exp": 10**12})
    assert jwt.verify(f"{header}.{forged}.{sig}", {"t1": KEY}, now=1) is None
    other = jwt.issue("t1", KEY, {**CLAIMS, "aud": "elsewhere"})
    assert jwt.verify(other, {"t1": KEY}, now=1) is None
    no_exp = jwt.issue("t1", KEY, {"aud": "gateway"})
    assert jwt.verify(no_exp, {"t1": KEY}, now=1) is None
    early = jwt.issue("t1", KEY, {**CLAIMS, "nbf": 100})
    assert jwt.verify(early, {"t1": KEY}, now=50) is None
    for junk in ("", "a.b", "a.b.c", "...", "x" * 5000, "é.é.é"):
        assert jwt.verify(junk, {"t1": KEY}, now=1) is None


def _store(tmp_path: Path) -> EncryptedFileStore:
    store = EncryptedFileStore(tmp_path / "s.enc", b"pass", log2_n=14)
    store.create()
    return store


def test_keyset_ensure_rotate_and_grace(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = signing.ensure(store, now=0.0)
    assert signing.ensure(store, now=1.0) == first  # idempotent
    old = first.current("tokens")
    assert old is not None
    rotated = signing.rotate(store, grace=60.0, now=100.0)
    new = rotated.current("tokens")
    assert new is not None and new.kid != old.kid and new.key != old.key
    assert set(rotated.verifying("tokens", now=159.0)) == {old.kid, new.kid}
    assert set(rotated.verifying("tokens", now=160.0)) == {new.kid}
    # No grace: the old keys are gone at once, and with them every token they signed.
    again = signing.rotate(store, grace=0.0, now=200.0)
    assert len(again.keys["tokens"]) == 1 and len(again.keys["audit"]) == 1
    shown = repr(again)
    assert repr(new.key) not in shown and new.key.hex() not in shown


def test_malformed_keyset_is_a_clear_error(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.put(signing.ITEM, Secret("{not json"))
    with pytest.raises(StoreError, match="malformed"):
        signing.load(store)


def _signed(claims_json: str) -> str:
    """A token whose payload is exactly `claims_json`, properly signed."""
    import hashlib
    import hmac

    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "t1"})
    payload = base64.urlsafe_b64encode(claims_json.encode()).rstrip(b"=").decode()
    signature = base64.urlsafe_b64encode(hmac.new(
        KEY, f"{header}.{payload}".encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity", "1e999", "true", '"2000"'])
def test_expiry_must_be_a_finite_number(exp: str) -> None:
    token = _signed(f'{{"aud":"gateway","exp":{exp},"jti":"j","sub":"s"}}')
    assert jwt.verify(token, {"t1": KEY}, now=1) is None
    assert jwt.verify(_signed('{"aud":"gateway","exp":2000,"jti":"j","sub":"s"}'),
                      {"t1": KEY}, now=1) is not None


@pytest.mark.parametrize("nbf", ["NaN", "Infinity", '"0"'])
def test_not_before_must_be_a_finite_number(nbf: str) -> None:
    token = _signed(f'{{"aud":"gateway","exp":2000,"nbf":{nbf},"jti":"j","sub":"s"}}')
    assert jwt.verify(token, {"t1": KEY}, now=1) is None


@pytest.mark.parametrize("tamper", [
    lambda s: s + "=",            # padding
    lambda s: s + "==",
    lambda s: s + "A",            # junk after the signature
    lambda s: s + "!",            # a character outside the alphabet (the decoder skips it)
    lambda s: s[:10] + "\n" + s[10:],
    lambda s: s[:-1] + chr(ord(s[-1]) + 1),  # the same bytes with other trailing bits
])
def test_signature_is_accepted_only_in_its_canonical_spelling(tamper: object) -> None:
    token = jwt.issue("t1", KEY, CLAIMS)
    header, payload, signature = token.split(".")
    assert jwt.verify(token, {"t1": KEY}, now=1) is not None
    spelled = tamper(signature)  # type: ignore[operator]
    assert jwt.verify(f"{header}.{payload}.{spelled}", {"t1": KEY}, now=1) is None
    assert jwt.verify(f"{header}.{payload}=.{signature}", {"t1": KEY}, now=1) is None
