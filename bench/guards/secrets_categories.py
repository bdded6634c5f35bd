"""Secrets guard on generated texts of the categories issue 21 names: act rate per category.

    .venv/bin/python bench/guards/secrets_categories.py [--n 40] [--seed 21]
    PYTHONPATH=/path/to/an/older/checkout .venv/bin/python bench/guards/secrets_categories.py

The development split has no GitLab routable token, Azure DevOps PAT,
Sourcegraph token or non-Bearer Authorization header, and few of the false
positives the held-out split found, so this script builds them: per category,
`--n` values made the way the issuer makes them (checksums, signatures,
lengths, alphabets; seeded RNG, nothing stored) in contexts drawn at random
(a shell export, JSON, YAML, a curl line, code, prose). Three groups:

- secret: each must be acted on (a finding at ACT_THRESHOLD or more) -> recall;
- clean: placeholders, code that names a value, default passwords, hashes,
  public Google web keys, Authorization values that are no credential ->
  false-positive rate;
- near-miss: a bad checksum, a wrong length or alphabet; neutral, reported
  only (the held-out split counts them neither way).

This measures the categories as the guard's authors understand them, not how
it generalises: it was written with the detectors. The held-out split is the
test of that. `gateway_cli` is imported from PYTHONPATH when set, so the same
script measures an older checkout (the before/after in README.md).
"""

from __future__ import annotations

import argparse
import base64
import random
import string
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2]))  # after PYTHONPATH: see above

from gateway_cli.guards.secrets import ACT_THRESHOLD, scan

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
HEX = "0123456789abcdef"
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
GITLAB = {"glpat": 20, "gldt": 20, "glrt": 20, "glcbt": 20, "glft": 20, "glsoat": 20,
          "glffct": 20, "glimt": 25, "glptt": 40, "glagent": 50, "gloas": 64}

# Contexts a value is pasted in; {v} is the value.
CONTEXTS = (
    "export TOKEN={v}\n",
    '{{"credentials": {{"value": "{v}"}}}}',
    "auth:\n  value: {v}\n",
    "curl -s -H 'X-Value: {v}' https://api.corp.test/v1/me",
    'client = Client("{v}")',
    "here is what I have: {v} - why does the call fail?",
    "{v}",
)


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def ctx(self, value: str) -> str:
        return self.rng.choice(CONTEXTS).format(v=value)

    # ----------------------------------------------------------------- values
    def gitlab(self) -> str:
        prefix = self.rng.choice(sorted(GITLAB))
        return f"{prefix}-{self.s(GITLAB[prefix], B64URL)}"

    def gitlab_routable(self, crc_ok: bool = True) -> str:
        payload = f"o:{self.s(3, HEX)}\nu:{self.s(4, HEX)}".encode()
        raw = self.rng.randbytes(16) + payload + bytes([len(payload)])
        body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        token = f"{self.rng.choice(['glpat', 'glrt', 'glcbt'])}-{body}.01.{b36(len(body), 2)}"
        crc = zlib.crc32(token.encode()) + (0 if crc_ok else 1)
        return token + b36(crc, 7)

    def discord(self, digits: int | None = None, hmac: int | None = None) -> str:
        d = digits or self.rng.choice([17, 18, 19])
        uid = str(self.rng.randrange(10 ** (d - 1), 10**d)).encode()
        first = base64.b64encode(uid).decode().rstrip("=")
        return f"{first}.{self.s(6, B64URL)}.{self.s(hmac or self.rng.choice([27, 38]), B64URL)}"

    def sourcegraph(self) -> str:
        return self.rng.choice([
            f"sgp_{self.s(16, HEX)}_{self.s(40, HEX)}", f"sgp_local_{self.s(40, HEX)}",
            f"sgp_{self.s(40, HEX)}", f"sgd_{self.s(64, HEX)}", f"sgs_{self.s(64, HEX)}",
        ])

    def ado(self) -> str:
        return self.s(52) + "JQQJ9" + self.rng.choice("9DH") + self.s(18) + "AZDO" + self.s(4)

    def b64(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode()


def b36(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = (string.digits + string.ascii_lowercase)[r] + out
    return out.rjust(width, "0")


def categories(g: Gen) -> dict[str, tuple[str, Callable[[], str]]]:
    """name -> (group, a function making one text)."""
    user = lambda: g.rng.choice(["deploy", "ci", "svc-build", "admin", ""])  # noqa: E731
    ado_words = ["AZURE_DEVOPS_EXT_PAT={v}", "ADO_PAT: {v}", "my Azure DevOps PAT is {v}",
                 "git clone https://{v}@dev.azure.com/org/p/_git/r", "az devops login  # {v}"]
    return {
        # --- secret
        "gitlab (every prefix)": ("secret", lambda: g.ctx(g.gitlab())),
        "gitlab routable": ("secret", lambda: g.ctx(g.gitlab_routable())),
        "gitlab runner registration": ("secret", lambda: g.ctx("GR1348941" + g.s(20, B64URL))),
        "discord bot token": ("secret", lambda: g.ctx(g.discord())),
        "discord mfa token": ("secret", lambda: g.ctx("mfa." + g.s(84, B64URL))),
        "sourcegraph": ("secret", lambda: g.ctx(g.sourcegraph())),
        "azure devops pat (84)": ("secret", lambda: g.ctx(g.ado())),
        "azure devops pat (52, context)": (
            "secret", lambda: g.rng.choice(ado_words).format(v=g.s(52, BASE32))),
        "authorization basic": ("secret", lambda: f"Authorization: Basic "
                                f"{g.b64(user() + ':' + g.s(g.rng.randint(10, 24)))}"),
        "authorization bearer (any shape)": ("secret", lambda: "Authorization: Bearer "
                                             + g.s(g.rng.randint(20, 60), B64URL + ".")),
        "authorization token/api-token": ("secret", lambda: "Authorization: "
                                          + g.rng.choice(["Token ", "token ", "Api-Token "])
                                          + g.s(40, g.rng.choice([HEX, ALNUM]))),
        "authorization bare": ("secret", lambda: g.rng.choice(
            ["Authorization: {v}", "authorization={v}", '"Authorization": "{v}"'])
            .format(v=g.s(32))),
        "proxy-authorization": ("secret", lambda: "Proxy-Authorization: "
                                + g.rng.choice(["Basic " + g.b64("u:" + g.s(14)),
                                                "Bearer " + g.s(32)])),
        "curl -H": ("secret", lambda: f"curl -H \"Authorization: {g.rng.choice(['', 'Bearer '])}"
                    f"{g.s(36)}\" https://api.corp.test"),
        "basic auth pair in code": ("secret", lambda: g.rng.choice([
            "requests.get(url, auth=('{u}', '{p}'))", "HTTPBasicAuth('{u}', '{p}')",
            'aiohttp.BasicAuth("{u}", "{p}")']).format(u=user() or "svc", p=g.s(14))),
        "authorization set by a call": ("secret", lambda: g.rng.choice([
            'req.header("Authorization", "Bearer {t}")',
            "xhr.setRequestHeader('Authorization', 'Token {t}')"]).format(t=g.s(32))),
        "har/postman/k8s name-value pair": ("secret", lambda: g.rng.choice([
            '{{"name": "Authorization", "value": "Bearer {t}"}}',
            '{{"key": "token", "value": "{t}", "type": "string"}}',
            "env:\n  - name: DB_PASSWORD\n    value: \"{p}\"\n"]).format(t=g.s(32), p=g.s(14))),
        # --- clean
        "placeholders": ("clean", lambda: g.rng.choice([
            "glpat-xxxxxxxxxxxxxxxxxxxx", "GITLAB_TOKEN=<your-token>", "sgp_" + "x" * 40,
            "Authorization: Bearer <token>", "Authorization: Bearer ${TOKEN}",
            "Authorization: Basic {{ basic_auth }}", "AZURE_DEVOPS_EXT_PAT=$(PAT)",
            "DISCORD_TOKEN=your-bot-token-here", "Authorization: Bearer YOUR_API_KEY"])),
        "code naming a value": ("clean", lambda: g.rng.choice([
            "token = get_token()", "api_key = settings.API_KEY", "password = None",
            "secret_key = os.environ['SECRET_KEY']", "password: str", 'token = ""',
            "headers['Authorization'] = 'Bearer ' + token", "'Authorization': f'Bearer {tok}'",
            "authorization = request.headers.get('Authorization')",
            "token = this.auth.getAccessToken", "password: Optional[str] = None"])),
        "default and example passwords": ("clean", lambda: g.rng.choice([
            'password = "password"', 'password: "P@ssw0rd"', "POSTGRES_PASSWORD: postgres123",
            'db_password = "admin123"', "password = 'test_password_1'",
            "Authorization: Basic " + g.b64("user:password"), "Authorization: Basic dXNlcjo=",
            'password = "123456789"', "password = 'pbkdf2_sha256$600000$" + g.s(12) + "'"])),
        "counting and repeats": ("clean", lambda: g.rng.choice([
            "token=abc123def456ghi789jkl012", "API_SECRET=abcd1234efgh5678ijkl9012mnop",
            "Authorization: Bearer " + "abcd1234" * 4])),
        "public google web key": ("clean", lambda: g.rng.choice([
            f'const firebaseConfig = {{ apiKey: "AIza{g.s(35, B64URL)}", '
            'authDomain: "app.firebaseapp.com" }',
            f'<script src="https://maps.googleapis.com/maps/api/js?key=AIza{g.s(35, B64URL)}">',
            f"AIza{g.s(35, B64URL)}"])),
        "authorization, no credential": ("clean", lambda: g.rng.choice([
            'Authorization: Digest username="Mufasa", realm="x"',
            "Authorization: AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date",
            "Authorization: the caller must be an admin", "Authorization: Required"])),
        "base32 without context": ("clean", lambda: f"see {g.s(52, BASE32)} in the log"),
        "name-value pair, no credential": ("clean", lambda: g.rng.choice([
            '{{"name": "token_type", "value": "{t}"}}',
            '{{"name": "password", "value": "password"}}',
            "- name: PASSWORD\n  valueFrom:\n    secretKeyRef:\n      name: db\n",
            '{{"name": "Authorization", "value": "Bearer {{{{token}}}}"}}']).format(t=g.s(32))),
        "ssh public key body": ("clean", lambda: g.rng.choice(["key: {v}", "ssh_key = '{v}'"])
                                .format(v="AAAAC3NzaC1lZDI1NTE5AAAAI"
                                        + base64.b64encode(g.rng.randbytes(32)).decode())),
        # --- near-miss (neutral)
        "near: gitlab routable bad crc": ("near", lambda: g.ctx(g.gitlab_routable(False))),
        "near: gitlab wrong length": ("near", lambda: g.ctx("glptt-" + g.s(39))),
        "near: sourcegraph 39 hex": ("near", lambda: g.ctx("sgp_" + g.s(39, HEX))),
        "near: ado signature moved": ("near", lambda: g.ctx(g.ado()[1:] + "a")),
        "near: discord short hmac": ("near", lambda: g.ctx(g.discord(18, 26))),
    }


def acted(text: str) -> bool:
    return any(f.confidence >= ACT_THRESHOLD for f in scan(text))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    g = Gen(args.seed)
    totals = {"secret": [0, 0], "clean": [0, 0], "near": [0, 0]}
    print("| category | group | acted on / n |\n|---|---|---|")
    for name, (group, make) in categories(g).items():
        hits = sum(acted(make()) for _ in range(args.n))
        totals[group][0] += hits
        totals[group][1] += args.n
        print(f"| {name} | {group} | {hits}/{args.n} |")
    tp, pos = totals["secret"]
    fp, neg = totals["clean"]
    near, nn = totals["near"]
    print(f"\nrecall {tp / pos:.3f} ({tp}/{pos}), false-positive rate {fp / neg:.3f} ({fp}/{neg}),"
          f" near-misses acted on {near}/{nn} (neutral)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
