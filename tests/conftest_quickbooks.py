"""Fixtures for tests that need the local QuickBooks Online (``sandboxes.quickbooks``), a raw client to check it
with, and the transport that validates every body the adapter sends and gets against Intuit's XSD.

One local QuickBooks serves the whole test session (started on first use, stopped at the end, validating in
``both`` mode: xmlschema and libxml2 judge every body); each test module makes its own companies on it with
``QuickBooksRaw.new_company`` and gets tokens for them through the real OAuth flow (consent page, code
exchange). Adapters built by the tests talk through ``ValidatingTransport``, which checks each request body
(an entity, a batch) and each answer (an ``IntuitResponse``) with ``sandboxes.quickbooks.validation`` before
it goes on, and fails the test on the first that Intuit's schema refuses. At the end the run prints how many
bodies the transport validated and what the server itself counted, and fails if the server sent an answer
that breaks the schema.

``tests/conftest.py`` imports ``quickbooks_sandbox`` and ``quickbooks_raw`` once (the line is summed over
the test processes, ``tests/support/report.py``), so
every test module shares the one server and the line is printed once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from config.secrets import Credentials
from providers.oauth import OAuthApp, TokenSet
from providers.quickbooks import app as qb_app
from sandboxes.quickbooks import validation
from sandboxes.quickbooks.consent import consent, exchange_code
from sandboxes.quickbooks.sandbox import SandboxInfo, start_sandbox, stop_sandbox
from tests.support import report

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
_STATS: dict[str, Any] = {}
_ENTITY_PATH = re.compile(r"^/v3/company/[^/]+/([A-Za-z]+)$")


def quickbooks_app(info: SandboxInfo, *, redirect_uri: str = REDIRECT_URI) -> OAuthApp:
    """booksync's Intuit app as the settings would build it, pointed at the local QuickBooks."""
    return OAuthApp(
        name=qb_app.NAME, authorize_url=info.authorization_endpoint, token_url=info.token_endpoint,
        revoke_url=info.revocation_endpoint, client_id=info.client_id, client_secret=info.client_secret,
        scopes=qb_app.SCOPES, redirect_uri=redirect_uri, refresh_token_lifetime=qb_app.REFRESH_TOKEN_LIFETIME,
        token_headers=((qb_app.HARD_EXPIRY_HEADER, "true"),),
    )


def quickbooks_settings(info: SandboxInfo) -> dict[str, str]:
    """``booksync_env`` values that point booksync's QuickBooks settings at the local QuickBooks."""
    return {
        "quickbooks_client_id": info.client_id, "quickbooks_client_secret": info.client_secret,
        "quickbooks_authorize_url": info.authorization_endpoint, "quickbooks_token_url": info.token_endpoint,
        "quickbooks_revocation_url": info.revocation_endpoint, "quickbooks_api_url": info.api_base_url,
        "quickbooks_sandbox_api_url": info.api_base_url,
    }


# -- validating every body ---------------------------------------------------------------------------------


@dataclass
class ValidationCounts:
    requests: int = 0
    responses: int = 0
    elements: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, element: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            self.elements[element] = self.elements.get(element, 0) + 1


COUNTS = ValidationCounts()
_ANSWERS = validation.CachedEntityValidator()


class ValidatingTransport(httpx.BaseTransport):
    """Checks every Accounting API body against Intuit's XSD on the way out and on the way back.

    A request body goes as the entity its path names (``POST .../bill`` → ``Bill``) or as an
    ``IntuitBatchRequest`` (``/batch``); a query's text is not JSON and has nothing to check. An answer with a
    JSON body is an ``IntuitResponse``. A body the schema refuses raises ``SchemaValidationError`` (the test
    fails) before the request leaves or the answer reaches the adapter.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None, counts: ValidationCounts = COUNTS) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.counts = counts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        match = _ENTITY_PATH.match(request.url.path)
        api = request.url.path.startswith("/v3/company/")
        if match and request.method == "POST" and match.group(1).lower() != "query":
            body = json.loads(request.content)
            segment = match.group(1).lower()
            if segment == "batch":
                validation.validate_batch_request(body)
                self.counts.add("requests", "IntuitBatchRequest")
            else:
                element = next(name for name in validation.entity_names() if name.lower() == segment)
                validation.validate_entity(element, body)
                self.counts.add("requests", element)
        response = self.inner.handle_request(request)
        if not api:
            return response
        response.read()
        if response.content and "json" in response.headers.get("content-type", ""):
            _ANSWERS.response(json.loads(response.content))
            self.counts.add("responses", "IntuitResponse")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-encoding", "content-length")}
        return httpx.Response(response.status_code, headers=headers, content=response.content, request=request,
                              extensions=response.extensions)

    def close(self) -> None:
        self.inner.close()


# -- the raw oracle ----------------------------------------------------------------------------------------


@dataclass
class QuickBooksCompany:
    realm_id: str
    token: TokenSet
    seeded: dict[str, Any]

    @property
    def credentials(self) -> Credentials:
        return self.token.to_credentials()

    @property
    def settings(self) -> dict[str, Any]:
        return {"realm_id": self.realm_id}


class QuickBooksRaw:
    """The local QuickBooks' own controls and raw state: the oracle adapters are checked against."""

    def __init__(self, info: SandboxInfo) -> None:
        self.info = info
        self.http = httpx.Client(base_url=info.url, timeout=30.0)

    def new_company(self, name: str, *, country: str = "US", currency: str | None = None,
                    multicurrency: bool = False, seed: bool = True) -> QuickBooksCompany:
        spec: dict[str, Any] = {"name": name, "country": country, "multicurrency": multicurrency, "seed": seed}
        if currency:
            spec["currency"] = currency
        created = self.http.post("/_sandbox/companies", json=spec)
        assert created.status_code == 201, created.text
        body = created.json()
        return QuickBooksCompany(body["realm_id"], self.consent(body["realm_id"]), body.get("seeded", {}))

    def consent(self, realm_id: str, *, redirect_uri: str = REDIRECT_URI) -> TokenSet:
        """The person clicks Allow for ``realm_id``; the code is exchanged as booksync's callback does."""
        app = quickbooks_app(self.info, redirect_uri=redirect_uri)
        code = consent(self.info, realm_id, redirect_uri=redirect_uri)
        answer = exchange_code(self.info, code["code"], redirect_uri=redirect_uri)
        return qb_app.with_expiries(TokenSet.from_response(answer, app))

    def state(self, realm_id: str, entity: str) -> list[dict[str, Any]]:
        answer = self.http.get(f"/_sandbox/companies/{realm_id}/{entity}")
        assert answer.status_code == 200, answer.text
        return list(json.loads(answer.content, parse_float=Decimal)["objects"])

    def deleted(self, realm_id: str, entity: str) -> list[str]:
        return list(self.http.get(f"/_sandbox/companies/{realm_id}/{entity}").json()["deleted"])

    def stats(self) -> dict[str, Any]:
        return dict(self.http.get("/_sandbox/stats").json())

    def calls(self, realm_id: str | None = None) -> list[dict[str, Any]]:
        params = {"realm_id": realm_id} if realm_id else {}
        return list(self.http.get("/_sandbox/calls", params=params).json()["calls"])

    def fault(self, **spec: Any) -> dict[str, Any]:
        answer = self.http.post("/_sandbox/faults", json=spec)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults").raise_for_status()

    def now(self) -> float:
        """The local QuickBooks' clock (epoch seconds)."""
        return float(self.http.get("/_sandbox/clock").json()["now"])

    def advance_clock(self, seconds: float) -> None:
        self.http.post("/_sandbox/clock", json={"advance_seconds": seconds}).raise_for_status()

    def api(self, company: QuickBooksCompany, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the Accounting API with ``company``'s own token (for changing what the oracle holds)."""
        headers = {"Authorization": f"Bearer {company.token.access_token}", "Accept": "application/json",
                   **kwargs.pop("headers", {})}
        params = {"minorversion": "75", **kwargs.pop("params", {})}
        return self.http.request(method, f"/v3/company/{company.realm_id}{path}", headers=headers, params=params,
                                 **kwargs)

    def update(self, company: QuickBooksCompany, entity: str, entity_id: str, **fields: Any) -> dict[str, Any]:
        """A sparse update made by someone else (a person in QuickBooks)."""
        current = next(o for o in self.state(company.realm_id, entity) if o["Id"] == entity_id)
        body = {"Id": entity_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        answer = self.api(company, "POST", f"/{entity.lower()}", json=body)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()[entity])

    def delete(self, company: QuickBooksCompany, entity: str, entity_id: str) -> None:
        current = next(o for o in self.state(company.realm_id, entity) if o["Id"] == entity_id)
        answer = self.api(company, "POST", f"/{entity.lower()}", params={"operation": "delete"},
                          json={"Id": entity_id, "SyncToken": current["SyncToken"]})
        assert answer.status_code == 200, answer.text

    def close(self) -> None:
        self.http.close()


def refresh_tokens_issued(info: SandboxInfo, realm_id: str) -> int:
    """How many refresh tokens the local QuickBooks issued for ``realm_id``'s grants (its own store, read only):
    one per consent, then one per refresh."""
    path = Path(info.directory) / "quickbooks.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM oauth_tokens t JOIN oauth_grants g USING (grant_id) "
            "WHERE t.kind = 'refresh' AND g.realm_id = ?", (realm_id,)).fetchone()
    return int(count)


def consent_redirect(info: SandboxInfo, connection_url: str, realm_id: str, *, allow: bool = True) -> str:
    """Play the person on the local QuickBooks' consent page reached from booksync's ``connection_url``: where
    their browser is sent back to (the redirect's full URL)."""
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        page = client.get(connection_url)
        assert page.status_code == 200, page.text
        assert f'value="{realm_id}"' in page.text, "the company is on the consent page"
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        answer = client.post(f"{info.url}/connect/oauth2/consent",
                             data={**fields, "realm_id": realm_id, "action": "allow" if allow else "deny"})
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def expired(token: TokenSet) -> TokenSet:
    """The same tokens, stored as if the access token had lapsed (so the provider refreshes first)."""
    return TokenSet(token.access_token, token.refresh_token, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
                    token.refresh_expires_at, token.token_type, token.scope, token.extra)


# -- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def quickbooks_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    directory: Path = tmp_path_factory.mktemp("quickbooks-sandbox")
    info = start_sandbox(directory, companies=0, validation="both")
    try:
        yield info
        _STATS.update(httpx.get(f"{info.url}/_sandbox/stats", timeout=10).json())
        report.add("quickbooks", adapter_requests=COUNTS.requests, adapter_responses=COUNTS.responses,
                   **{name: int(_STATS.get(name, 0) or 0) for name in (
                       "requests_validated", "requests_rejected", "responses_validated", "responses_invalid")})
    finally:
        stop_sandbox(directory)
    for counter in ("responses_invalid", "validator_disagreements", "server_errors"):
        assert not _STATS.get(counter), (f"the local QuickBooks counted {counter}: {_STATS.get('response_errors')} "
                                         f"(see its quickbooks.log)")


@pytest.fixture(scope="session")
def quickbooks_raw(quickbooks_sandbox: SandboxInfo) -> Iterator[QuickBooksRaw]:
    raw = QuickBooksRaw(quickbooks_sandbox)
    yield raw
    raw.close()


@report.line("quickbooks")
def _validated_line(counts: Mapping[str, int]) -> str:
    return (
        f"local QuickBooks: the adapter's transport validated {counts.get('adapter_requests', 0)} request bodies and "
        f"{counts.get('adapter_responses', 0)} answers against Intuit's XSD (every one it sent and got; none refused); "
        f"the server validated {counts.get('requests_validated', 0)} requests (rejected: "
        f"{counts.get('requests_rejected', 0)}) and {counts.get('responses_validated', 0)} answers (invalid: "
        f"{counts.get('responses_invalid', 0)})"
    )
