"""Asking an OSV-compatible advisory service about exact PyPI releases.

Why a client of our own rather than pip-audit as a library: importing
pip-audit's service layer (`pip_audit._service`) imports `pip_audit._cache`,
which imports `pip_api`, whose import runs `sys.executable -m pip --version`.
Inside the single-file gateway binary `sys.executable` is the gateway itself,
so that import would start a second gateway (or fail) before any advisory is
fetched, and pip-audit's requirement source builds virtual environments with
pip on top. A lock needs none of that: its versions are already exact, so
nothing has to be resolved. This module therefore speaks the OSV API directly
with the standard library (urllib, ssl) and decodes every answer into typed
msgspec structs, so that a malformed answer is an error and never an empty,
"clean" result.

It uses the same endpoint pip-audit does, POST /v1/query once per release
(so one `--osv-url` value works for both tools), follows `next_page_token`,
refuses redirects (a POST silently turned into a GET would come back empty)
and honours the usual proxy variables, as CI machines often need them.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from http.client import HTTPException
from typing import Annotated, Any

import msgspec

from gateway_cli import __version__
from gateway_cli.errors import GatewayError

DEFAULT_URL = "https://api.osv.dev/v1/query"
MAX_ANSWER_BYTES = 32 * 1024 * 1024
MAX_PAGES = 100

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class OsvError(GatewayError):
    """The advisory service could not be asked, or its answer cannot be trusted.

    Exit code 2, like a usage error: the audit did not happen, which must
    never read as "no findings" (0) or as "findings" (1).
    """

    exit_code = 2


class Event(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None


class Range(msgspec.Struct, frozen=True):
    type: str
    events: tuple[Event, ...] = ()


class Package(msgspec.Struct, frozen=True):
    name: NonEmpty
    ecosystem: NonEmpty
    purl: str | None = None


class Affected(msgspec.Struct, frozen=True):
    package: Package | None = None
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    database_specific: dict[str, Any] | None = None


class Vulnerability(msgspec.Struct, frozen=True):
    """The fields of an OSV record that the audit reads; others are ignored."""

    id: NonEmpty
    summary: str | None = None
    details: str | None = None
    aliases: tuple[str, ...] | None = None
    withdrawn: str | None = None
    affected: tuple[Affected, ...] | None = None
    database_specific: dict[str, Any] | None = None


class _Answer(msgspec.Struct, frozen=True):
    vulns: tuple[Vulnerability, ...] = ()
    next_page_token: str | None = None


@dataclass(frozen=True, order=True)
class Release:
    """One exact PyPI release: a canonical project name and a version."""

    name: str
    version: str


def check_url(url: str) -> str:
    """The endpoint, or a ValueError saying what a usable one looks like."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"'{url}' is not an http(s) URL; pass the full query endpoint, "
                         f"e.g. {DEFAULT_URL}")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turns every redirect into an HTTPError, reported with its Location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect())


class Client:
    """Queries one OSV endpoint; safe to share between threads."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = check_url(url)
        self.timeout = timeout
        self._opener = _opener()

    def query(self, release: Release) -> tuple[Vulnerability, ...]:
        """Every advisory the service lists for this release, all pages."""
        found: list[Vulnerability] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            answer = self._page(release, token)
            found.extend(answer.vulns)
            token = answer.next_page_token
            if not token:
                return tuple(found)
        raise OsvError(f"{self.url} kept paging past {MAX_PAGES} pages for "
                       f"{release.name}=={release.version}; check --osv-url")

    def _page(self, release: Release, token: str | None) -> _Answer:
        query: dict[str, Any] = {"package": {"name": release.name, "ecosystem": "PyPI"},
                                 "version": release.version}
        if token:
            query["page_token"] = token
        body = self._post(msgspec.json.encode(query), release)
        try:
            return msgspec.json.decode(body, type=_Answer)
        except msgspec.DecodeError as err:
            raise OsvError(
                f"{self.url} answered for {release.name}=={release.version} with something "
                f"that is not an OSV query result ({err}); check that --osv-url is an "
                f"OSV /v1/query endpoint") from None

    def _post(self, data: bytes, release: Release) -> bytes:
        request = urllib.request.Request(  # noqa: S310 (scheme checked in check_url)
            self.url, data=data, method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "User-Agent": f"gateway/{__version__} (audit)"})
        what = f"{release.name}=={release.version}"
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body: bytes = response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as err:
            raise OsvError(_http_error(self.url, what, err)) from None
        except (urllib.error.URLError, OSError, HTTPException) as err:
            reason = getattr(err, "reason", None) or err
            raise OsvError(f"cannot reach the advisory service at {self.url} ({reason}); "
                           "check the network or --osv-url, then run the audit again") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise OsvError(f"{self.url} answered for {what} with more than "
                           f"{MAX_ANSWER_BYTES // 2**20} MiB; check --osv-url")
        return body


def _http_error(url: str, what: str, err: urllib.error.HTTPError) -> str:
    if 300 <= err.code < 400:
        where = err.headers.get("Location", "elsewhere")
        return (f"{url} redirects (HTTP {err.code}) to {where}; pass the final URL "
                "with --osv-url")
    detail = ""
    try:
        message = msgspec.json.decode(err.read(4096)).get("message")
        if isinstance(message, str) and message:
            detail = f": {message[:200]}"
    except (msgspec.DecodeError, AttributeError, OSError):
        pass
    return (f"the advisory service at {url} answered HTTP {err.code} for {what}{detail}; "
            "try again later, or check --osv-url")


def query_all(client: Client, releases: Iterable[Release],
              workers: int = 8) -> Mapping[Release, tuple[Vulnerability, ...]]:
    """Advisories for every release; the first failure cancels the rest and is raised."""
    ordered = sorted(set(releases))
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {release: pool.submit(client.query, release) for release in ordered}
        done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
        for future in done:
            if (error := future.exception()) is not None:
                raise error
        return {release: future.result() for release, future in futures.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
