"""Secrets guard, issue 21: values assigned to a credential's name that are no credential.

Each category (code that fetches the value, annotations, empty and null
values, templates and placeholders, passwords that are defaults or examples,
stored hashes, counting, public web configuration of Google keys) is never
acted on, and a real credential in the same place still is: the rule is the
category, not a list of values.
"""

from __future__ import annotations

import base64
import random
import string

import pytest

from gateway_cli.guards.secrets import ACT_THRESHOLD, scan
from gateway_cli.guards.secrets.passwords import is_trivial
from gateway_cli.guards.secrets.values import is_counting

RNG = random.Random(2121)
ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def acted(text: str) -> list[str]:
    return [f.kind for f in scan(text) if f.confidence >= ACT_THRESHOLD]


@pytest.mark.parametrize(
    "text",
    [
        # Code that fetches or names the value.
        "password = None",
        "token = get_token()",
        "secret_key = os.environ['SECRET_KEY']",
        "api_key = settings.API_KEY",
        "api_key = process.env.OPENAI_API_KEY",
        "token = this.authService.getAccessToken",
        "password = request.POST.get('new_password_confirmation')",
        "token = os.environ.get('GITHUB_TOKEN', '')",
        "self.token = token",
        "this.password = password;",
        # Annotations, empty and null values.
        "password: str",
        "password: Optional[str] = None",
        "token: str = Field(...)",
        'token = ""',
        "token = 'undefined'",
        "password = 'null'",
        # Templates and placeholders.
        'key = "example"',
        'token = f"{prefix}{self.token_value_suffix}"',
        "TOKEN=${TOKEN}",
        "secret: {{ secret }}",
        "api_key: <your-key>",
        "password: ${{ secrets.DB_PASSWORD }}",
        "token = '%(token)s'",
        "api_key = '{api_key}'",
        "password = '[REDACTED]'",
        # Passwords that are the word itself, a default, the field's name or a count.
        'password = "password"',
        'password = "secret"',
        'password: "P@ssw0rd"',
        'password = "password123"',
        "MYSQL_ROOT_PASSWORD: rootpassword123",
        "password = 'test_password_123'",
        "password=MyS3cretPassw0rd!",
        'db_password = "admin123"',
        'password = "123456789"',
        # Stored password hashes (what a server keeps instead of the password).
        "password = 'pbkdf2_sha256$260000$abc$def'",
        "password = 'argon2$argon2id$v=19$m=102400'",
        # Counting in pieces, typed by a person.
        "token=abc123def456ghi789jkl012",
        "API_SECRET=abcd1234efgh5678ijkl9012mnop3456qrst",
    ],
)
def test_assignments_that_are_not_credentials(text: str) -> None:
    assert acted(text) == [], text


@pytest.mark.parametrize(
    "text",
    [
        'password = "Tr0ub4dor&3x!Q"',
        "password = 'hunter2hunter'",
        'db_password = "deploy-2024-Kx9"',
        f"token = '{rand(32)}'",
        f"API_SECRET={rand(40)}",
    ],
)
def test_real_credentials_in_the_same_places_are_still_found(text: str) -> None:
    assert acted(text) != [], text


def test_trivial_passwords_by_category() -> None:
    for pw in ("password", "P@ssw0rd", "s3cr3t", "qwerty123", "admin", "rootpassword",
               "my_db_password_1", "123456", "abcdefgh", "$2b$12$abcdefghijk"):
        assert is_trivial(pw), pw
    for pw in ("Tr0ub4dor&3x!Q", "hunter2hunter", "correcthorse", "Summer2024!x", rand(12)):
        assert not is_trivial(pw), pw


def test_counting_in_pieces() -> None:
    assert is_counting("abc123def456ghi789")
    assert is_counting("1234abcd5678efgh")
    assert not is_counting(rand(32))
    assert not is_counting("abc123")  # too short to say


def test_public_google_keys_in_web_configuration_are_reported_not_acted_on() -> None:
    key = "AIza" + rand(35, ALNUM + "_-")
    firebase = (
        "const firebaseConfig = {\n"
        f'  apiKey: "{key}",\n'
        '  authDomain: "demo-app.firebaseapp.com",\n'
        '  projectId: "demo-app",\n'
        '  messagingSenderId: "1234567890",\n'
        "};"
    )
    maps = f'<script src="https://maps.googleapis.com/maps/api/js?key={key}&callback=init">'
    for text in (firebase, maps, key, f"see {key} in the page"):
        findings = [f for f in scan(text) if f.kind == "google_api_key"]
        assert findings and all(f.confidence < ACT_THRESHOLD for f in findings), text
    # The same key named for the AI APIs is acted on, even beside a web config.
    for text in (f"GEMINI_API_KEY={key}", f"genai.configure(api_key='{key}')",
                 firebase + f"\n// generativelanguage: use key {key}"):
        assert "google_api_key" in acted(text), text


def test_ssh_public_keys_are_published_not_secret() -> None:
    ed25519 = "AAAAC3NzaC1lZDI1NTE5AAAAI" + base64.b64encode(RNG.randbytes(32)).decode()
    rsa = "AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + base64.b64encode(RNG.randbytes(90)).decode()
    for text in (f"key: {ed25519}", f"ssh_key = '{ed25519}'", f"authorized_key = \"{rsa}\"",
                 f"DEPLOY_KEY_PUB={ed25519}\n"):
        assert acted(text) == [], text
    # A random base64 value under the same names is still a secret.
    assert acted(f"ssh_key = '{base64.b64encode(RNG.randbytes(32)).decode()}'") != []


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_base64_of_a_stub_is_a_stub() -> None:
    # Kubernetes Secret data is base64 of the value: the decoded text decides.
    for text in (f"data:\n  password: {b64('password')}\n", f"password: {b64('admin123')}",
                 f"token: {b64('<your-token-here>')}",
                 f"secret = '{b64('foobarbazqux123456789')}'"):
        assert acted(text) == [], text
    real = b64("Zq8" + rand(13))
    assert acted(f"data:\n  password: {real}\n") != []
    assert acted(f"secret_key: {base64.b64encode(RNG.randbytes(32)).decode()}") != []
