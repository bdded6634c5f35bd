"""Fetching PEP 740 provenance from a package index (PyPI's Integrity API).

`GET {index}/integrity/{project}/{version}/{filename}/provenance` answers a
provenance object (JSON, `application/vnd.pypi.integrity.v1+json`) or 404
when the file was uploaded without one (https://docs.pypi.org/api/integrity/).
A hash-pinned requirements file names artifacts only by sha256, so the
filenames come from the index's JSON Simple API (PEP 691) first.

Fetching is kept apart from verifying: nothing fetched here is trusted, it
is only handed to `provenance.verify_entry`, which checks it offline against
the pinned Sigstore root. So the transport matters only for availability:
an index (or a proxy) that hides provenance makes a pinned project fail
closed. Still, only https is allowed (plain http only to this machine, for
tests and local mirrors), redirects may not leave https, answers are capped
in size, and every call has a timeout.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from packaging.utils import canonicalize_name

from gateway_cli import __version__
from gateway_cli.errors import GatewayError

DEFAULT_INDEX_URL = "https://pypi.org"
INTEGRITY_MEDIA_TYPE = "application/vnd.pypi.integrity.v1+json"
SIMPLE_MEDIA_TYPE = "application/vnd.pypi.simple.v1+json"
TIMEOUT = 20.0
MAX_PROVENANCE_BYTES = 4 * 1024 * 1024  # one file's bundles: a few tens of KiB in practice
MAX_SIMPLE_BYTES = 64 * 1024 * 1024  # a project's file list: several MiB for the biggest


class IndexAPIError(GatewayError):
    """The index could not be reached or answered something unusable."""


def index_base(url: str) -> str:
    """The index's root URL, from either `https://host` or a pip-style `https://host/simple`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise IndexAPIError(f"index URL '{url}' must be an https:// URL, e.g. {DEFAULT_INDEX_URL}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise IndexAPIError(f"index URL '{url}' uses plain http; use https (plain http is "
                         "allowed only to this machine)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise IndexAPIError(f"index URL '{url}' must not carry a query, fragment or credentials")
    path = parts.path.rstrip("/").removesuffix("/simple").rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def provenance_url(base: str, project: str, version: str, filename: str) -> str:
    segments = (str(canonicalize_name(project)), version, filename)
    return f"{base}/integrity/" + "/".join(quote(s, safe="") for s in segments) + "/provenance"


def simple_url(base: str, project: str) -> str:
    return f"{base}/simple/{quote(str(canonicalize_name(project)), safe='')}/"


def fetch_provenance(base: str, project: str, version: str, filename: str, *,
                     timeout: float = TIMEOUT) -> dict[str, Any] | None:
    """The provenance object the index serves for this file, or None if it has none (404)."""
    url = provenance_url(base, project, version, filename)
    document = _get_json(url, INTEGRITY_MEDIA_TYPE, MAX_PROVENANCE_BYTES, timeout)
    if document is None:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("attestation_bundles"),
                                                        list):
        raise IndexAPIError(f"{url} answered JSON that is not a PEP 740 provenance object; "
                         "check that --index-url points at an index with the Integrity API")
    return document


def fetch_file_digests(base: str, project: str, *,
                       timeout: float = TIMEOUT) -> dict[str, str]:
    """Every file of a project the index lists, as sha256 -> filename."""
    url = simple_url(base, project)
    document = _get_json(url, SIMPLE_MEDIA_TYPE, MAX_SIMPLE_BYTES, timeout)
    if document is None:
        raise IndexAPIError(f"{url}: the index has no project '{project}'; check the lockfile's "
                         "package name and --index-url")
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise IndexAPIError(f"{url} did not answer a PEP 691 JSON project page; use an index "
                         "that serves the JSON Simple API (PyPI does)")
    digests: dict[str, str] = {}
    for file in files:
        if not isinstance(file, Mapping):
            continue
        digest = (file.get("hashes") or {}).get("sha256")
        if isinstance(digest, str) and isinstance(file.get("filename"), str):
            digests[digest.lower()] = file["filename"]
    return digests


def serves_provenance(base: str, project: str, *, timeout: float = TIMEOUT) -> bool:
    """Whether the index implements PEP 740 at all, judged from one project's JSON page.

    An index with PEP 740 support gives each file a `provenance` key (null when
    that file has none). A mirror without it answers 404 on every integrity URL,
    which would otherwise read as "this file has no provenance".
    """
    document = _get_json(simple_url(base, project), SIMPLE_MEDIA_TYPE, MAX_SIMPLE_BYTES, timeout)
    files = document.get("files") if isinstance(document, dict) else None
    return isinstance(files, list) and any(
        isinstance(f, Mapping) and "provenance" in f for f in files)


def _get_json(url: str, accept: str, limit: int, timeout: float) -> Any:
    """GET a JSON document; None on 404; IndexAPIError with the URL on anything else."""
    request = urllib.request.Request(url, headers={  # noqa: S310 - scheme checked in index_base
        "Accept": f"{accept}, application/json;q=0.5",
        "User-Agent": f"gateway/{__version__} (provenance check)",
    })
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise IndexAPIError(f"{url} answered {declared} bytes, over the {limit}-byte "
                                 "limit; check --index-url")
            body = response.read(limit + 1)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        hint = ("wait and retry" if err.code in (429, 502, 503, 504)
                else "check --index-url and the lockfile's names and versions")
        raise IndexAPIError(f"{url} answered HTTP {err.code} {err.reason}; {hint}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise IndexAPIError(f"cannot reach {url} ({reason}); check the network and --index-url, "
                         "or run `gateway provenance check --offline`") from err
    if len(body) > limit:
        raise IndexAPIError(f"{url} answered more than {limit} bytes; check --index-url")
    try:
        return json.loads(body)
    except ValueError as err:
        raise IndexAPIError(f"{url} answered something that is not JSON ({err}); check "
                         "--index-url") from err


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to https, or to http on this machine."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        target = urlsplit(newurl)
        if target.scheme != "https" and not (target.scheme == "http" and target.hostname
                                             and _loopback(target.hostname)):
            raise IndexAPIError(f"{req.full_url} redirected to {newurl}, which is not https; "
                             "refusing it")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(url: str) -> urllib.request.OpenerDirector:
    handlers: list[urllib.request.BaseHandler] = [_NoDowngrade()]
    host = urlsplit(url).hostname or ""
    if _loopback(host):
        handlers.append(urllib.request.ProxyHandler({}))  # never send local traffic to a proxy
    return urllib.request.build_opener(*handlers)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
