"""Edges of the gateway's JWTs found by mutation testing (bench/mutation/README.md)."""

from __future__ import annotations

import base64

from gateway_cli.keys import jwt

KEY = b"k" * 32
CLAIMS = {"aud": "gateway", "exp": 2000, "jti": "j1", "sub": "run:x"}


def test_issue_is_deterministic_whatever_the_order_of_the_claims() -> None:
    reordered = dict(reversed(list(CLAIMS.items())))
    assert list(reordered) != list(CLAIMS)
    assert jwt.issue("t1", KEY, reordered) == jwt.issue("t1", KEY, CLAIMS)
    payload = jwt.issue("t1", KEY, reordered).split(".")[1]
    assert base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)) == \
        b'{"aud":"gateway","exp":2000,"jti":"j1","sub":"run:x"}'


def _token_of_length(length: int) -> tuple[str, str]:
    """(kid, token): a valid token exactly `length` characters long."""
    for kid in ("k", "kk", "kkk", "kkkk"):
        for pad in range(length):
            token = jwt.issue(kid, KEY, {**CLAIMS, "pad": "p" * pad})
            if len(token) == length:
                return kid, token
            if len(token) > length:
                break
    raise AssertionError(f"no token of {length} characters")


def test_tokens_up_to_4096_characters_are_read_and_longer_ones_refused() -> None:
    for length in (4095, 4096):
        kid, token = _token_of_length(length)
        assert jwt.verify(token, {kid: KEY}, now=1) is not None, length
    kid, token = _token_of_length(4097)
    assert jwt.verify(token, {kid: KEY}, now=1) is None
