"""`gateway keys test`: one cheap authenticated call to tell whether a key works.

Listing models costs no tokens at any of the supported providers and needs
the same credentials as a completion, so it answers "does this key work"
without spending money. The standard library's HTTP client is enough for
one request and keeps this command free of the server's machinery.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from gateway_cli.keys.refs import Secret

CONSOLES = {
    "openai": "https://platform.openai.com/api-keys",
    "anthropic": "https://console.anthropic.com/settings/keys",
    "azure": "https://portal.azure.com (your Azure OpenAI resource > Keys and Endpoint)",
    "google": "https://aistudio.google.com/app/apikey",
    "mistral": "https://console.mistral.ai/api-keys",
    "groq": "https://console.groq.com/keys",
    "huggingface": "https://huggingface.co/settings/tokens",
    "openrouter": "https://openrouter.ai/settings/keys",
    "deepseek": "https://platform.deepseek.com/api_keys",
    "cohere": "https://dashboard.cohere.com/api-keys",
    "together": "https://api.together.ai/settings/api-keys",
    "xai": "https://console.x.ai",
}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: int | None
    message: str


def models_request(kind: str, base_url: str, secret: Secret, *, api_version: str | None,
                   anthropic_version: str) -> tuple[str, dict[str, str]]:
    base = base_url.rstrip("/")
    if kind == "anthropic":
        return base + "/v1/models?limit=1", {"x-api-key": secret.reveal(),
                                             "anthropic-version": anthropic_version}
    if kind == "azure":
        return (f"{base}/openai/models?api-version={quote(api_version or '', safe='')}",
                {"api-key": secret.reveal()})
    return base + "/models", {"authorization": "Bearer " + secret.reveal()}


def _provider_message(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return None


def probe(kind: str, base_url: str, secret: Secret, *, api_version: str | None = None,
          anthropic_version: str = "2023-06-01", timeout: float = 15.0) -> ProbeResult:
    url, headers = models_request(kind, base_url, secret, api_version=api_version,
                                  anthropic_version=anthropic_version)
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target, headers={**headers, "accept": "application/json"})
        response = connection.getresponse()
        body = response.read(1 << 20)
    except (OSError, http.client.HTTPException) as err:
        return ProbeResult(False, None, f"cannot reach {parts.scheme}://{parts.netloc} "
                           f"({type(err).__name__}: {getattr(err, 'strerror', None) or err})")
    finally:
        connection.close()
    if 200 <= response.status < 300:
        try:
            count = len(json.loads(body).get("data", []))
            return ProbeResult(True, response.status, f"ok: the key works ({count} model(s) "
                               "listed)")
        except (ValueError, AttributeError):
            return ProbeResult(True, response.status, "ok: the key works")
    said = _provider_message(body) or "no error message"
    # The provider's message may quote part of the key (OpenAI does): mask anything long.
    value = secret.reveal()
    if len(value) >= 8:
        said = said.replace(value, "****").replace(value[:8], "****")
    return ProbeResult(False, response.status, f"HTTP {response.status}: {said}")
