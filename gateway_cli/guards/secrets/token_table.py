"""The prefixed tokens: one row per format, in the order their findings win.

A row is data: the kind reported, the regex, the confidence, the characters
that must not follow a match (`body_chars`), an optional validator (see
validators.py), the group reported and redacted (`span_group`: 0, or the
value after a name), the group checked for placeholders (`check_group`; None
when the validator does it), and two prefilter fields:

- `needle`: a literal every match contains, looked for among the text's long
  words before the regex runs (engine.py). Left out, it is the regex's literal
  prefix, derived by `scripts/generate-secret-tables` into needles.py. A row
  names one only to share it with other formats (each needle costs a pass over
  the long words: `sk-` arms five formats, `gl` two, `EAA` two), or because
  the prefix is no literal (`[sr]k_`, an alternation) or a common one
  (`https://`, `BUNDLE_`).
- `gate`: a separator every match contains when the needle has none (a
  needle's own separator is its gate).

After editing this table, run `scripts/generate-secret-tables` (a unit test
fails until needles.py matches it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway_cli.guards.secrets import validators as v
from gateway_cli.guards.secrets.validators import Validator
from gateway_cli.guards.secrets.values import ALNUM, TOKEN_CHARS

# The separators a needle's gate can be: one missing from the long words rules
# out every needle gated by it without a pass.
GATE_CHARS = "_-.="


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    regex: str
    confidence: float
    body_chars: frozenset[str] = TOKEN_CHARS  # chars that must not follow the match
    validate: Validator | None = None
    span_group: int = 0  # the group reported (and redacted): 0, or the value after a name
    check_group: int | None = 0  # the group checked for placeholders (None: validate does it)
    gate: str = ""  # a separator every match contains, when the needle has none
    needle: str | tuple[str, ...] = ""  # one must occur (case-sensitive); "": the prefix
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.regex))


TOKENS: tuple[Token, ...] = (
    Token("anthropic_api_key", r"sk-ant-(?:api03|admin01)-([A-Za-z0-9_-]{80,120})", 0.97,
          validate=v.anthropic, needle="sk-"),
    Token("anthropic_oauth_token", r"sk-ant-o[ar]t01-[A-Za-z0-9_-]{40,400}", 0.95, needle="sk-"),
    Token("openrouter_api_key", r"sk-or-v1-[a-f0-9]{64}", 0.95, needle="sk-"),
    Token("openai_api_key", r"sk-(?:proj-|svcacct-|admin-|None-)?([A-Za-z0-9_-]{20,250})", 0.95,
          validate=v.openai),
    # DeepSeek's shape (DashScope's too): `sk-` and 32 lowercase hex digits.
    Token("deepseek_api_key", r"sk-([a-f0-9]{32})", 0.9, validate=v.deepseek),
    Token("aws_access_key_id", r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}", 0.9, ALNUM,
          v.aws_id, needle=("AKIA", "ASIA", "ABIA", "ACCA", "A3T")),
    Token("google_api_key", r"AIza[0-9A-Za-z_-]{35}", 0.85, validate=v.google),
    Token("google_oauth_client_secret", r"GOCSPX-[A-Za-z0-9_-]{28}", 0.95),
    Token("github_token", r"gh[pousr]_([A-Za-z0-9]{36})", 0.97, validate=v.github),
    Token("github_fine_grained_pat", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", 0.97),
    # Routable tokens (GitLab 17.x+) end in ".01." (the version), the body's length in
    # base36 (2) and CRC32 of everything before it in base36 (7); an earlier build
    # wrote ".01" and the CRC with no length: both are checked (validators.gitlab).
    Token("gitlab_token",
          r"(gl[a-z]{2,7})-([A-Za-z0-9_-]{20,1024})(\.[0-9a-z]{2}(?:\.[0-9a-z]{2})?[0-9a-z]{7})?",
          0.9, validate=v.gitlab),
    Token("gitlab_runner_registration_token", r"GR1348941([A-Za-z0-9_-]{20})", 0.9,
          validate=v.varied_body),
    Token("gitlab_session_cookie", r"_gitlab_session=([0-9a-z]{32})", 0.85, span_group=1),
    Token("slack_token",
          r"xox[abposre]-(?:[0-9]-)?((?:[0-9]{6,13}-){1,3})([A-Za-z0-9]{10,64})", 0.9,
          validate=v.slack, check_group=None),
    Token("slack_config_token", r"xoxe(?:\.xox[bp])?-[0-9]-[A-Za-z0-9]{146,166}", 0.9,
          needle="xox"),
    Token("slack_app_token", r"xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,16}-[a-f0-9]{64}", 0.95),
    Token("slack_webhook",
          r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,160}",
          0.95, frozenset(), needle="hooks.slack.com"),
    Token("discord_webhook",
          r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/"
          r"[A-Za-z0-9_-]{60,80}", 0.95, gate=".", needle="discord"),
    Token("teams_webhook",
          r"https://[a-z0-9-]{1,60}\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_-]{60,300}",
          0.9, frozenset(), needle="webhook.office.com"),
    Token("stripe_secret_key", r"[sr]k_(live|test)_[A-Za-z0-9]{20,247}", 0.95,
          validate=v.stripe, needle="k_"),
    Token("twilio_api_key", r"SK[0-9a-fA-F]{32}", 0.8, ALNUM),
    Token("twilio_account_sid", r"AC[0-9a-f]{32}", 0.4, ALNUM),
    Token("sendgrid_api_key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", 0.97),
    Token("brevo_api_key", r"x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}", 0.95,
          needle="sib-"),
    Token("huggingface_token", r"hf_[A-Za-z]{34}", 0.9),
    Token("huggingface_org_token", r"api_org_[A-Za-z]{34}", 0.9),
    Token("npm_token", r"npm_([A-Za-z0-9]{36})", 0.97, validate=v.npm),
    Token("pypi_upload_token",
          r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}", 0.97,
          validate=v.pypi),
    Token("rubygems_api_key", r"rubygems_[a-f0-9]{48}", 0.95),
    Token("nuget_api_key", r"oy2([a-z0-9]{43})", 0.9, ALNUM, v.varied_body),
    Token("gateway_client_key", r"gwk_([A-Za-z0-9]{1,32})_([A-Za-z0-9_-]{43})", 0.99,
          validate=v.gateway_key),
    Token("azure_storage_account_key", r"AccountKey=([A-Za-z0-9+/]{86}==)", 0.97, frozenset(),
          v.azure_storage),
    Token("hashicorp_vault_token", r"hv[sb]\.[A-Za-z0-9_-]{90,200}", 0.9),
    Token("square_secret", r"sq0(?:csp|atp)-[A-Za-z0-9_-]{22,43}", 0.9),
    Token("square_access_token", r"EAAA[A-Za-z0-9_+=-]{60}", 0.85, ALNUM, v.square_access,
          needle="EAA"),
    # Sourcegraph's documented formats: v3 `sgp_<16 hex instance id or local>_<40 hex>`,
    # v2 `sgp_<40 hex>`; the backend tokens `sgd_`, `slk_`, `sgs_` with 64 hex. (v1, 40
    # bare hex, is left to the names: `SRC_ACCESS_TOKEN=...`.)
    Token("sourcegraph_token", r"sgp_(?:[a-fA-F0-9]{16}_|local_)?([a-fA-F0-9]{40})", 0.9,
          validate=v.hex_body),
    Token("sourcegraph_token", r"(?:sgd|slk|sgs)_([a-fA-F0-9]{64})", 0.9, validate=v.hex_body,
          needle=("sgd_", "slk_", "sgs_")),
    Token("onepassword_service_token", r"ops_eyJ[A-Za-z0-9+/=_-]{100,4000}", 0.9, frozenset()),
    Token("onepassword_secret_key",
          r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}"
          r"-[A-Z0-9]{5}", 0.9),
    Token("facebook_access_token", r"EAA[A-Za-z0-9]{90,400}", 0.7, ALNUM),
    # Discord user tokens of accounts with two-factor auth (bot tokens are in detectors.py).
    Token("discord_user_token", r"mfa\.([A-Za-z0-9_-]{84})", 0.9, validate=v.mixed_body),
    Token("notion_token", r"ntn_[0-9]{11}[A-Za-z0-9]{35}", 0.9),
    Token("atlassian_api_token", r"ATATT3[A-Za-z0-9_=-]{186}", 0.95),
    Token("airtable_token", r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}", 0.9, gate="."),
    # Other LLM providers a gateway's users hold keys for.
    Token("groq_api_key", r"gsk_[A-Za-z0-9]{52}", 0.95),
    Token("perplexity_api_key", r"pplx-[A-Za-z0-9]{48}", 0.95),
    Token("xai_api_key", r"xai-[A-Za-z0-9]{80}", 0.95),
    Token("replicate_api_token", r"r8_[A-Za-z0-9]{37}", 0.9),
    Token("nvidia_api_key", r"nvapi-[A-Za-z0-9_-]{64}", 0.95),
    Token("tavily_api_key", r"tvly-(?:dev-|prod-)?([A-Za-z0-9]{32})", 0.9, ALNUM, v.varied_body),
    Token("pinecone_api_key", r"pcsk_[A-Za-z0-9]{4,8}_[A-Za-z0-9]{40,90}", 0.9),
    Token("langsmith_api_key", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}", 0.95),
    # Other services with a distinctive, documented prefix.
    Token("digitalocean_token", r"do[por]_v1_[a-f0-9]{64}", 0.95, needle="_v1_"),
    Token("shopify_token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", 0.95),
    Token("databricks_token", r"dapi[a-f0-9]{32}(?:-[0-9])?", 0.85),
    Token("postman_api_key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}", 0.95),
    Token("linear_api_key", r"lin_api_[A-Za-z0-9]{40}", 0.95),
    Token("doppler_token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}", 0.95),
    Token("pulumi_access_token", r"pul-[a-f0-9]{40}", 0.9),
    Token("planetscale_token", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}", 0.9),
    Token("newrelic_api_key", r"NR(?:AK-[A-Z0-9]{27}|II-[A-Za-z0-9_-]{32})", 0.9,
          needle=("NRAK-", "NRII-")),
    Token("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}", 0.97),
    Token("grafana_token",
          r"gl(?:c_[A-Za-z0-9+/]{32,400}={0,2}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})", 0.9,
          frozenset()),
    Token("flyio_token", r"fo1_[A-Za-z0-9_-]{43}", 0.9),
    Token("prefect_api_key", r"pnu_[A-Za-z0-9]{36}", 0.9),
    Token("readme_api_key", r"rdme_[a-z0-9]{70}", 0.9),
    Token("intra42_client_secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}", 0.9),
    Token("aws_bedrock_api_key", r"ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{80,300}={0,2}", 0.95,
          frozenset()),
    # A presigned request, base64: "bedrock.amazonaws.com/?Action=CallWithBearerToken&...".
    Token("aws_bedrock_api_key",
          r"bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%]{40,4000}", 0.95,
          frozenset()),
    Token("openshift_token", r"sha256~[A-Za-z0-9_-]{43}", 0.9),
    Token("artifactory_token", r"AKCp[A-Za-z0-9]{69}", 0.9),
    # Reference tokens are base64 of "reftkn:01:<expiry>:<random>".
    Token("artifactory_token", r"cmVmdGtuOj[A-Za-z0-9]{54}", 0.9),
    Token("dynatrace_token", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}", 0.95),
    Token("easypost_api_key", r"EZ[AT]K[A-Za-z0-9]{54}", 0.9),
    Token("heroku_api_key", r"HRKU-AA[A-Za-z0-9_-]{58}", 0.95),
    Token("sentry_token", r"sntry(?:s_eyJ[A-Za-z0-9+/=_-]{80,2000}|u_[a-f0-9]{64})", 0.95,
          frozenset()),
    Token("mailgun_api_key", r"key-[a-f0-9]{32}", 0.7),
    Token("adobe_client_secret", r"p8e-([A-Za-z0-9]{32})", 0.85, validate=v.mixed_body),
    Token("alibaba_access_key_id", r"LTAI([A-Za-z0-9]{20})", 0.85, ALNUM, v.mixed_body),
    Token("contentful_token", r"CFPAT-[A-Za-z0-9_-]{43}", 0.9),
    Token("dropbox_token", r"sl\.(?:u\.)?([A-Za-z0-9_-]{130,1500})", 0.85, validate=v.mixed_body),
    Token("infracost_api_key", r"ico-([A-Za-z0-9]{32})", 0.85, validate=v.mixed_body),
    Token("mapbox_secret_token", r"sk\.eyJ[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{20,100}", 0.9),
    Token("sidekiq_secret",
          r"BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM[ \t]{0,5}=[ \t]{0,5}[\"']?"
          r"([a-f0-9]{8}:[a-f0-9]{8})", 0.9, span_group=1, check_group=1,
          needle="CONTRIBSYS__COM"),
)
