"""Secrets guard, issue 21: the formats people paste, each valid, near-missed and stubbed.

Per format: a value built the way the issuer builds it (checksum, signature,
length, alphabet) is acted on; a near-miss (bad checksum, wrong length or
alphabet) and a placeholder are not. Authorization headers of every scheme,
with the values that are code or examples, not credentials. Values are
generated at test time from a seeded RNG: the repository holds no real-format
secret.
"""

from __future__ import annotations

import base64
import random
import string
import zlib
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.base import mask
from gateway_cli.guards.secrets import ACT_THRESHOLD, scan

RNG = random.Random(21)
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
HEX = "0123456789abcdef"
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def base36(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = (string.digits + string.ascii_lowercase)[r] + out
    return out.rjust(width, "0")


def gitlab_routable(prefix: str = "glpat-", payload: bytes = b"o:1k\nu:2bz") -> str:
    """GitLab's routable token: base64url(random 16 + payload + its size), ".01.",
    the base64 length in base36 (2), CRC32 of all that in base36 (7)."""
    raw = RNG.randbytes(16) + payload + bytes([len(payload)])
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    token = f"{prefix}{body}.01.{base36(len(body), 2)}"
    return token + base36(zlib.crc32(token.encode()), 7)


def ado_pat() -> str:
    """The 84-char Azure DevOps PAT: 52 random, `JQQJ` at 52, `AZDO` at 76, 4 more."""
    return rand(52) + "JQQJ99" + rand(18) + "AZDO" + rand(4)


def acted(text: str) -> list[tuple[str, int, int]]:
    return [(f.kind, f.start, f.end) for f in scan(text) if f.confidence >= ACT_THRESHOLD]


def not_acted(text: str) -> bool:
    return acted(text) == []


def found(text: str, value: str, kind: str) -> None:
    start = text.index(value)
    hits = acted(text)
    assert (kind, start, start + len(value)) in hits, (text, hits)
    preview = next(f.preview for f in scan(text) if f.kind == kind)
    assert preview == mask(value) and value not in preview


# --------------------------------------------------------------------------- GitLab

GITLAB_PLAIN = {
    "glpat": 20, "gldt": 20, "glrt": 20, "glrtr": 20, "glcbt": 20, "glft": 20, "glsoat": 20,
    "glffct": 20, "glimt": 25, "glptt": 40, "glagent": 50, "gloas": 64,
}


@pytest.mark.parametrize("prefix", sorted(GITLAB_PLAIN))
def test_every_documented_gitlab_prefix(prefix: str) -> None:
    token = f"{prefix}-{rand(GITLAB_PLAIN[prefix], B64URL)}"
    found(f"export GITLAB_TOKEN={token}\n", token, "gitlab_token")


def test_gitlab_runner_registration_token() -> None:
    token = "GR1348941" + rand(20, B64URL)
    found(f"gitlab-runner register --registration-token {token}", token,
          "gitlab_runner_registration_token")


@pytest.mark.parametrize("prefix", ["glpat-", "glrt-", "glcbt-"])
def test_gitlab_routable_token_with_its_crc(prefix: str) -> None:
    token = gitlab_routable(prefix)
    found(f"PRIVATE-TOKEN: {token}", token, "gitlab_token")
    assert max(f.confidence for f in scan(token)) >= 0.95


def test_gitlab_routable_near_misses_are_not_acted_on() -> None:
    token = gitlab_routable()
    last = "0" if token[-1] != "0" else "1"
    assert not_acted(token[:-1] + last)  # CRC off by one digit
    length = token[-9:-7]
    other = base36(int(length, 36) + 1, 2)
    assert not_acted(token[:-9] + other + token[-7:])  # length field wrong (and so the CRC)


@pytest.mark.parametrize(
    "text",
    [
        f"glpat-{rand(19, B64URL)}",  # too short
        f"glimt-{rand(24)}",  # glimt is exactly 25
        f"glptt-{rand(39)}",  # glptt is exactly 40
        f"glxyz-{rand(20)}",  # no such prefix
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "glpat-<your-personal-access-token>",
        "GR1348941" + "x" * 20,
        "glpat-11111111111111111111",
    ],
)
def test_gitlab_near_misses_and_placeholders(text: str) -> None:
    assert not_acted(f"see {text} here")


# --------------------------------------------------------------------------- Discord


def discord_id_segment(digits: int) -> str:
    user_id = str(RNG.randrange(10 ** (digits - 1), 10**digits)).encode()
    return base64.b64encode(user_id).decode().rstrip("=")


@pytest.mark.parametrize(("digits", "hmac"), [(17, 27), (18, 27), (18, 38), (19, 38)])
def test_discord_bot_token_shapes(digits: int, hmac: int) -> None:
    token = f"{discord_id_segment(digits)}.{rand(6, B64URL)}.{rand(hmac, B64URL)}"
    for text in (f"client.run('{token}')", f"DISCORD_TOKEN={token}",
                 f"Authorization: Bot {token}"):
        found(text, token, "discord_bot_token")


def test_discord_mfa_user_token() -> None:
    token = "mfa." + rand(84, B64URL)
    found(f'"token": "{token}"', token, "discord_user_token")
    assert not_acted("mfa." + rand(83, B64URL))
    assert not_acted("mfa." + "a" * 84)


def test_discord_near_misses() -> None:
    first = discord_id_segment(18)
    assert not_acted(f"{first}.{rand(5, B64URL)}.{rand(27, B64URL)}")  # short timestamp
    assert not_acted(f"{first}.{rand(6, B64URL)}.{rand(26, B64URL)}")  # short HMAC
    assert not_acted(f"{first}.xxxxxx.{'x' * 27}")


# --------------------------------------------------------------------------- Sourcegraph


@pytest.mark.parametrize(
    "token",
    [
        f"sgp_{rand(16, HEX)}_{rand(40, HEX)}",  # v3 with an instance id
        f"sgp_local_{rand(40, HEX)}",
        f"sgp_{rand(40, HEX)}",  # v2
        f"sgd_{rand(64, HEX)}",
        f"slk_{rand(64, HEX)}",
        f"sgs_{rand(64, HEX)}",
    ],
)
def test_sourcegraph_formats(token: str) -> None:
    found(f"SRC_ACCESS_TOKEN={token}\n", token, "sourcegraph_token")


@pytest.mark.parametrize(
    "text",
    [
        f"sgp_{rand(39, HEX)}",
        f"sgp_{rand(41, HEX)}",
        f"sgp_{rand(39, HEX)}g",  # not hex
        "sgp_" + "0" * 40,
        "sgp_" + "0123456789abcdef" * 2 + "01234567",
        "sgp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        f"sgs_{rand(63, HEX)}",
    ],
)
def test_sourcegraph_near_misses(text: str) -> None:
    assert not_acted(text)


# --------------------------------------------------------------------------- Azure DevOps


def test_azure_devops_pat_new_format() -> None:
    pat = ado_pat()
    found(f"AZURE_DEVOPS_EXT_PAT={pat}\n", pat, "azure_devops_pat")
    found(f"token {pat} done", pat, "azure_devops_pat")  # the signatures prove it


def test_azure_devops_new_format_near_misses() -> None:
    pat = ado_pat()
    assert not_acted(pat[:51] + pat[52:])  # one short: the signatures move
    assert not_acted(pat[:76] + "AZDX" + pat[80:])
    assert not_acted(pat[:52] + "JQQK" + pat[56:])
    assert not_acted("x" * 52 + pat[52:])


@pytest.mark.parametrize(
    "template",
    [
        "AZURE_DEVOPS_EXT_PAT={v}",
        "az devops login --org https://dev.azure.com/contoso  # token {v}",
        "ADO_PAT: {v}",
        "git clone https://pat:{v}@dev.azure.com/org/project/_git/repo",
        "my personal access token for Azure is {v}",
    ],
)
def test_azure_devops_legacy_pat_with_context(template: str) -> None:
    pat = rand(52, BASE32)
    text = template.format(v=pat)
    start = text.index(pat)
    assert any(s <= start and start + len(pat) <= e for _, s, e in acted(text)), text


def test_azure_devops_legacy_pat_near_misses() -> None:
    pat = rand(52, BASE32)
    assert not_acted(f"onion {pat}")  # no context: a base32 run is not a PAT by itself
    assert not_acted(f"azure pat {rand(51, BASE32)}")
    assert not_acted(f"azure pat {rand(53, BASE32)}")
    assert not_acted(f"azure pat {rand(51, BASE32)}1")  # 1 is not base32
    assert not_acted(f"azure pat {rand(52, 'abcdefghijklmnopqrstuvwxyz')}")  # no digit
    assert not_acted("azure pat " + "abcdefghijklmnopqrstuvwxyz234567" + "a" * 20)


# --------------------------------------------------------------------------- Authorization


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


TOKEN = rand(32)


@pytest.mark.parametrize(
    ("template", "value", "kind"),
    [
        ("Authorization: Basic {v}", b64("deploy:" + rand(14)), "basic_auth_credentials"),
        # Azure DevOps and others take a token as the password of an empty user.
        ("Authorization: Basic {v}", b64(":" + rand(52, BASE32)), "basic_auth_credentials"),
        ("Proxy-Authorization: Basic {v}", b64("bob:" + rand(12)), "basic_auth_credentials"),
        ("Authorization: Token {v}", rand(40, HEX), "authorization_token"),
        ("Authorization: Api-Token {v}", TOKEN, "authorization_token"),
        ("Authorization: Bearer {v}", rand(24), "bearer_token"),
        ("Authorization: Bearer {v}", rand(40, B64URL) + "." + rand(20, B64URL), "bearer_token"),
        ("Authorization: {v}", TOKEN, "authorization_token"),
        ("authorization={v}&page=2", TOKEN, "authorization_token"),
        ("curl -H 'Authorization: token {v}' https://api.corp.test", TOKEN,
         "authorization_token"),
        ("curl --header \"Authorization: {v}\" https://api.corp.test", TOKEN,
         "authorization_token"),
        ('headers = {{"Authorization": "Bearer {v}"}}', TOKEN, "bearer_token"),
        ("headers = {{'authorization': 'Token {v}'}}", TOKEN, "authorization_token"),
        ("Proxy-Authorization: {v}", TOKEN, "authorization_token"),
        ("Authorization: {v} (rotated daily)", rand(18), "authorization_token"),
        # A header set by a call: the name and the value as two arguments.
        ('req.header("Authorization", "Bearer {v}")', TOKEN, "bearer_token"),
        ("xhr.setRequestHeader('Authorization', 'Token {v}');", TOKEN, "authorization_token"),
    ],
)
def test_authorization_schemes(template: str, value: str, kind: str) -> None:
    found(template.format(v=value), value, kind)


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Basic dXNlcjo=",  # "user:" with an empty password
        "Authorization: Basic " + b64("user:password"),
        "Authorization: Basic " + b64("admin:admin"),
        "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",  # RFC 2617's example
        "Authorization: Basic " + b64("user:abc"),  # too short to be a password
        "Authorization: Basic " + base64.b64encode(bytes(range(30))).decode(),  # not text
        "Authorization: Basic not-base64-at-all!",
        "Authorization: Bearer ${TOKEN}",
        "Authorization: Bearer $(gcloud auth print-access-token)",
        "Authorization: Bearer <token>",
        "Authorization: Bearer YOUR_ACCESS_TOKEN",
        "Authorization: Bearer ACCESS_TOKEN_GOES_HERE",
        "Authorization: Bearer self.access_token",
        "Authorization: Bearer {{ token }}",
        "Authorization: Bearer " + "abcdefgh" * 4,
        "Authorization: Bearer " + "x" * 40,
        "headers['Authorization'] = 'Bearer ' + token",
        "'Authorization': f'Bearer {token}'",
        "Authorization: Digest username=\"Mufasa\", realm=\"testrealm@host.com\"",
        "Authorization: AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date",
        "Authorization: the user must be an admin",
        "Authorization: Required",
        "authorization = request.headers.get('Authorization')",
        "Authorization: getAuthorizationHeaderValue()",
        "xhr.setRequestHeader('Authorization', 'Basic ' + btoa(user + ':' + pw));",
        "req.headers.set('Authorization', `Bearer ${token}`)",
        "Authorization, as described in RFC 7235, carries credentials",
    ],
)
def test_authorization_values_that_are_not_credentials(text: str) -> None:
    assert not_acted(text), acted(text)


def test_authorization_previews_never_reveal_the_value() -> None:
    pw = rand(16)
    text = f"Authorization: Basic {b64('deploy:' + pw)}"
    for f in scan(text):
        assert pw not in f.preview and b64("deploy:" + pw) not in f.preview


# --------------------------------------------------------------------------- auth pairs in code


@pytest.mark.parametrize(
    "template",
    [
        "requests.get(url, auth=('deploy', '{v}'))",
        'httpx.Client(auth = ("svc-build", "{v}"))',
        "session.auth = HTTPBasicAuth('admin', '{v}')",
        'aiohttp.BasicAuth("ci", "{v}")',
    ],
)
def test_basic_auth_pairs_in_code(template: str) -> None:
    pw = rand(14)
    found(template.format(v=pw), pw, "basic_auth_credentials")


@pytest.mark.parametrize(
    "text",
    [
        "auth=('user', 'password')",
        "auth=('admin', 'admin123')",
        "auth=(username, password)",
        "auth = ('u', '${PASSWORD}')",
        "HTTPBasicAuth('user', '<password>')",
        "auth=('same-name', 'same-name')",
    ],
)
def test_auth_pairs_that_are_not_credentials(text: str) -> None:
    assert not_acted(text), acted(text)


# --------------------------------------------------------------------------- name/value pairs


@pytest.mark.parametrize(
    ("template", "value", "kind"),
    [
        ('{{"name": "Authorization", "value": "Bearer {v}"}}', TOKEN, "bearer_token"),
        ('{{"key": "Authorization", "value": "Basic {v}", "type": "text"}}',
         b64("deploy:" + rand(14)), "basic_auth_credentials"),
        ('{{"key": "token", "value": "{v}", "type": "string"}}', TOKEN, "secret_assignment"),
        ('{{"name": "X-Api-Key", "value": "{v}"}}', TOKEN, "secret_assignment"),
        ("env:\n  - name: DB_PASSWORD\n    value: \"{v}\"\n", "Zq8" + rand(12),
         "password_assignment"),
        ("env:\n- name: API_TOKEN\n  value: {v}\n", TOKEN, "secret_assignment"),
    ],
)
def test_name_value_pairs_of_har_postman_and_kubernetes(template: str, value: str,
                                                        kind: str) -> None:
    found(template.format(v=value), value, kind)


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Authorization", "value": "Bearer {{token}}"}',
        '{"key": "Authorization", "value": "Basic dXNlcjo="}',
        '{"name": "password", "value": "password"}',
        '{"name": "token_type", "value": "' + TOKEN + '"}',
        '{"name": "public_key", "value": "' + TOKEN + '"}',
        '{"name": "content-type", "value": "application/json"}',
        "- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef:\n      name: db\n",
        "- name: PASSWORD\n  value: ${DB_PASSWORD}\n",
        "- name: API_TOKEN\n  value: get_token()\n",
    ],
)
def test_name_value_pairs_that_are_not_credentials(text: str) -> None:
    assert not_acted(text), acted(text)


# --------------------------------------------------------------------------- properties

_PIECES = ["Authorization", "authorization", "Proxy-", ":", "=", " ", "\t", "\n", '"', "'",
           "Basic ", "Bearer ", "Token ", "Bot ", "name", "value", "key", ",", "- ", "auth=(",
           "HTTPBasicAuth(", "JQQJ", "AZDO", "sgp_", "glpat-", ".01.", "azure pat ", "mfa.",
           "dXNlcjo=", "QWxhZGRpbjpvcGVu", "password", "token", rand(12), rand(24, B64URL),
           rand(52, BASE32), rand(40, HEX), "é", "\u200b"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_new_detectors_never_raise_and_findings_are_disjoint_and_masked(text: str) -> None:
    findings = scan(text)
    spans = sorted((f.start, f.end) for f in findings)
    for (_, end), (start, _) in pairwise(spans):
        assert end <= start
    for f in findings:
        assert 0 <= f.start < f.end <= len(text)
        value = text[f.start : f.end]
        assert f.preview == mask(value)
        if len(value) > 8:
            assert value not in f.preview


def test_basic_credentials_with_the_padding_stripped() -> None:
    value = b64("deploy:" + rand(12)).rstrip("=")  # 19 bytes: two padding characters
    found(f"Authorization: Basic {value}", value, "basic_auth_credentials")
    assert not_acted("Authorization: Basic dXNlcjo")  # "user:" again, unpadded
