"""The scoped-token verifier: every way a token can be wrong, each refused for its reason.

Tokens are built by hand where the issuer would never write them (other
algorithms, duplicate keys, padded base64), properly signed where the point
is that a valid signature alone is not enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.keys import clients, issued, jwt
from gateway_cli.keys.principal import Principal
from gateway_cli.server.auth import Authenticator, Denied

KEY = b"q" * 32
KID = "tk1"
NOW = 1_000_000.0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(**over: Any) -> dict[str, Any]:
    base = issued.claims_for("agent", ("mcp:fs:read_*",), None, 600, NOW, "jti0001")
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _raw(header: str, payload: str, key: bytes = KEY) -> str:
    """A token of exactly these JSON texts, signed properly (base64 canonical)."""
    head, body = _b64(header.encode()), _b64(payload.encode())
    sig = _b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def _header(**over: Any) -> str:
    return json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID, **over})


def _check(token: str, now: float = NOW) -> dict[str, Any]:
    return jwt.check(token, {KID: KEY}, audiences=("gateway", issued.AUDIENCE),
                     issuer=None, now=now)


def _reason(token: str, now: float = NOW) -> str:
    with pytest.raises(jwt.TokenRejected) as caught:
        claims = _check(token, now)
        issued.principal_of(claims)
    return caught.value.reason


def test_a_good_token_yields_its_scopes_and_no_models() -> None:
    token = jwt.issue(KID, KEY, _claims())
    principal = issued.principal_of(_check(token))
    assert principal == Principal(id="tok:jti0001", name="agent", kind="token", models=(),
                                  scopes=("mcp:fs:read_*",))
    assert not principal.may_use("mock/echo")  # scopes are for tools, not models
    granted = issued.principal_of(_check(jwt.issue(KID, KEY, _claims(models=["m1"]))))
    assert granted.may_use("m1") and not granted.may_use("m2")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS512", "HS384", "RS256", "ES256",
                                 "hs256", "PS256", "EdDSA", "", None, 256])
def test_any_algorithm_but_hs256_is_refused(alg: object) -> None:
    payload = json.dumps(_claims())
    header = json.dumps({"alg": alg, "typ": "JWT", "kid": KID})
    assert _reason(_raw(header, payload)) == "algorithm other than HS256"
    # alg none as an attacker sends it: no signature at all.
    unsigned = f"{_b64(header.encode())}.{_b64(payload.encode())}."
    assert _reason(unsigned) == "algorithm other than HS256"


def test_header_parameters_we_do_not_write_are_refused() -> None:
    payload = json.dumps(_claims())
    for extra in ({"crit": ["exp"]}, {"jku": "http://127.0.0.1/k"}, {"jwk": {"k": "x"}},
                  {"x5u": "http://127.0.0.1/c"}, {"b64": False}):
        assert _reason(_raw(_header(**extra), payload)) == \
            "header parameter the gateway does not write"
    assert _reason(_raw(_header(typ="JWS"), payload)) == "typ other than JWT"
    assert _reason(_raw(json.dumps({"alg": "HS256", "kid": 7}), payload)) == "no key id"
    assert _reason(_raw(json.dumps({"alg": "HS256"}), payload)) == "no key id"
    _check(_raw(json.dumps({"alg": "HS256", "kid": KID}), payload))  # typ is optional


def test_unknown_kid_is_refused() -> None:
    token = jwt.issue("rotated-out", KEY, _claims())
    assert _reason(token) == "unknown key id (rotated out, or never ours)"


def test_expired_and_not_yet_valid() -> None:
    token = jwt.issue(KID, KEY, _claims())
    _check(token, now=NOW + 599)
    assert _reason(token, now=NOW + 600) == "expired"
    assert _reason(token, now=NOW + 10**6) == "expired"
    # Issued in the future: a little clock skew passes, more does not.
    _check(token, now=NOW - jwt.LEEWAY)
    assert _reason(token, now=NOW - jwt.LEEWAY - 1) == "not yet valid (nbf in the future)"
    late_iat = jwt.issue(KID, KEY, _claims(nbf=None, iat=NOW + 3600))
    assert _reason(late_iat) == "not yet valid (iat in the future)"
    assert _reason(jwt.issue(KID, KEY, _claims(exp=None))) == "no usable exp"
    assert _reason(jwt.issue(KID, KEY, _claims(exp="9999999999"))) == "no usable exp"
    assert _reason(jwt.issue(KID, KEY, _claims(nbf=True))) == "nbf is not a number"


def test_wrong_audience_and_wrong_issuer() -> None:
    assert _reason(jwt.issue(KID, KEY, _claims(aud="elsewhere"))) == "wrong audience"
    assert _reason(jwt.issue(KID, KEY, _claims(aud=["gateway:token"]))) == "wrong audience"
    assert _reason(jwt.issue(KID, KEY, _claims(aud=None))) == "wrong audience"
    assert _reason(jwt.issue(KID, KEY, _claims(iss="someone-else"))) == "not a scoped token"
    with pytest.raises(jwt.TokenRejected, match="wrong issuer"):
        jwt.check(jwt.issue(KID, KEY, _claims(iss="x")), {KID: KEY},
                  audiences=(issued.AUDIENCE,), issuer=issued.ISSUER, now=NOW)


_Tamper = Callable[[str, str, str], str]
_TYPLESS = _b64(b'{"alg":"HS256","kid":"tk1"}')  # another header: the same claims, re-headed


def _flip(text: str) -> str:
    """The same length, one character changed in the middle."""
    mid = len(text) // 2
    return text[:mid] + ("A" if text[mid] != "A" else "B") + text[mid + 1:]


@pytest.mark.parametrize(("tamper", "reason"), [
    (lambda h, p, s: f"{h}.{_b64(json.dumps(_claims(scopes=['mcp:*:*'])).encode())}.{s}",
     "bad signature"),
    (lambda h, p, s: f"{h}.{_b64(json.dumps(_claims(exp=NOW + 10**8)).encode())}.{s}",
     "bad signature"),
    (lambda h, p, s: f"{_TYPLESS}.{p}.{s}", "bad signature"),
    (lambda h, p, s: f"{h}.{p}.{_flip(s)}", "bad signature"),
    (lambda h, p, s: f"{h}.{p}.", "bad signature"),
    (lambda h, p, s: f"{h}.{p}.{s}=", "signature is not canonical base64url"),
    (lambda h, p, s: f"{h}.{p}=.{s}", "bad signature"),  # signature first
    (lambda h, p, s: f"{h}=.{p}.{s}", "header is not canonical base64url"),
    (lambda h, p, s: f"{h}.{p}.{s[:-1]}{chr(ord(s[-1]) + 1)}",
     "signature is not canonical base64url"),
    (lambda h, p, s: f"{h}.{p[:5]}\n{p[5:]}.{s}", "bad signature"),
    (lambda h, p, s: f"{h}.{p}", "not a compact JWT"),
    (lambda h, p, s: f"{h}.{p}.{s}.{s}", "not a compact JWT"),
])
def test_tampered_tokens_are_refused(tamper: _Tamper, reason: str) -> None:
    head, payload, sig = jwt.issue(KID, KEY, _claims()).split(".")
    assert _reason(tamper(head, payload, sig)) == reason


def _signed_parts(head: str, body: str) -> str:
    sig = _b64(hmac.new(KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def test_non_canonical_base64_is_refused_even_when_signed() -> None:
    """Another spelling of the same bytes, signed as spelled: still refused (a token has
    one spelling, so a revocation or a log entry can name it)."""
    head, body, _ = jwt.issue(KID, KEY, _claims()).split(".")
    for spelled in (body + "=", body + "==", body[:7] + "!" + body[7:]):
        assert _reason(_signed_parts(head, spelled)) == "payload is not canonical base64url"
    assert _reason(_signed_parts(head + "=", body)) == "header is not canonical base64url"
    standard = base64.b64encode(json.dumps(_claims(sub="a>?b")).encode()).decode()
    assert _reason(_signed_parts(head, standard)) == "payload is not canonical base64url"


def test_duplicate_keys_in_header_or_payload_are_refused() -> None:
    good = json.dumps(_claims())
    dup_header = '{"alg":"HS256","kid":"tk1","kid":"other"}'
    assert _reason(_raw(dup_header, good)) == "header is not strict JSON (or repeats a key)"
    dup_alg = '{"alg":"none","alg":"HS256","kid":"tk1"}'
    assert _reason(_raw(dup_alg, good)) == "header is not strict JSON (or repeats a key)"
    # A second "scopes" that a last-wins parser would read as everything.
    dup_claims = good[:-1] + ', "scopes": ["mcp:*:*"]}'
    assert _reason(_raw(_header(), dup_claims)) == \
        "payload is not strict JSON (or repeats a key)"
    nested = good[:-1] + ', "x": {"a": 1, "a": 2}}'
    assert _reason(_raw(_header(), nested)) == "payload is not strict JSON (or repeats a key)"


@pytest.mark.parametrize("over", [
    {"scopes": "mcp:*:*"}, {"scopes": ["mcp:fs"]}, {"scopes": ["mcp:fs:read x"]},
    {"scopes": [7]}, {"scopes": None}, {"models": "m1"}, {"models": [1]}, {"models": [""]},
    {"jti": ""}, {"jti": 5}, {"sub": None}, {"sub": ["a"]},
    {"scopes": [f"mcp:s{i}:*" for i in range(issued.MAX_SCOPES + 1)]},
])
def test_claims_of_the_wrong_shape_are_refused(over: dict[str, Any]) -> None:
    claims = _claims()
    claims.update(over)
    with pytest.raises(jwt.TokenRejected):
        issued.principal_of(_check(jwt.issue(KID, KEY, claims)))


def _auth(home: Path, revoked: frozenset[str] = frozenset()) -> Authenticator:
    if not clients.list_clients(home):
        clients.create(home, "app")  # enforcing: a refused token is not let in as "open"
    return Authenticator(clients.load_table(home), jwt_keys={KID: (KEY, None)},
                         revoked_jtis=revoked)


def _bearer(token: str, header: bytes = b"authorization") -> list[tuple[bytes, bytes]]:
    value = f"Bearer {token}" if header == b"authorization" else token
    return [(header, value.encode())]


def test_the_front_door_accepts_scoped_tokens_and_refuses_revoked_ones(tmp_path: Path) -> None:
    token = jwt.issue(KID, KEY, _claims())
    auth = _auth(tmp_path)
    for header in (b"authorization", b"x-api-key", b"api-key"):
        who = auth.check(_bearer(token, header), now=NOW + 1)
        assert isinstance(who, Principal) and who.kind == "token"
        assert who.scopes == ("mcp:fs:read_*",) and who.id == "tok:jti0001"
    refused = _auth(tmp_path, frozenset({"jti0001"})).check(_bearer(token), now=NOW + 1)
    assert isinstance(refused, Denied) and refused.status == 401
    assert refused.code == "invalid_api_key" and token not in refused.message
    # No lease needed (that is for run tokens), but the same kid grace rules apply.
    retiring = Authenticator(clients.load_table(tmp_path), jwt_keys={KID: (KEY, NOW + 5)})
    assert isinstance(retiring.check(_bearer(token), now=NOW + 4), Principal)
    assert isinstance(retiring.check(_bearer(token), now=NOW + 5), Denied)


def test_run_and_scoped_tokens_cannot_pass_for_each_other(tmp_path: Path) -> None:
    auth = _auth(tmp_path)
    # A run token (aud "gateway") that carries a scopes claim: it stays a run token, and
    # run tokens grant no MCP scope whatever their claims say.
    run = jwt.issue(KID, KEY, {"aud": "gateway", "exp": NOW + 600, "jti": "r1",
                               "sub": "run:x", "scopes": ["mcp:*:*"]})
    who = auth.check(_bearer(run), now=NOW)
    assert isinstance(who, Principal) and who.kind == "run" and who.scopes == ()
    # A scoped token is never read by the run rules (where no models means every model).
    scoped = jwt.issue(KID, KEY, _claims())
    assert jwt.verify(scoped, {KID: KEY}, audience="gateway", now=NOW + 1) is None
    who = auth.check(_bearer(scoped), now=NOW + 1)
    assert isinstance(who, Principal) and who.kind == "token" and not who.may_use("m")
    wrong_iss = jwt.issue(KID, KEY, _claims(iss="other-gateway"))
    assert isinstance(auth.check(_bearer(wrong_iss), now=NOW + 1), Denied)


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_no_edit_of_a_valid_token_is_accepted(data: st.DataObject) -> None:
    """Any change at all (a character replaced, inserted or deleted, anywhere) is refused,
    and refused as TokenRejected, never another exception."""
    token = jwt.issue(KID, KEY, _claims(models=["m1"]))
    at = data.draw(st.integers(0, len(token) - 1))
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    char = data.draw(st.sampled_from(_ALPHABET))
    if how == "replace":
        edited = token[:at] + char + token[at + 1:]
    elif how == "insert":
        edited = token[:at] + char + token[at:]
    else:
        edited = token[:at] + token[at + 1:]
    if edited == token:
        return
    with pytest.raises(jwt.TokenRejected):
        issued.principal_of(_check(edited))
