"""Fixtures for tests that need the local Xero (``sandboxes.xero``), and a raw client to check it with.

One local Xero serves the whole test session (started on first use, stopped at the end); each test
module makes its own tenant (organisation) on it with ``XeroRaw.new_tenant`` and gets tokens for it
through the real OAuth flow (consent page, code exchange). At the end the run prints how many requests
and answers the local Xero checked against Xero's official definition, and fails if any answer broke it.

``tests/conftest.py`` imports ``xero_sandbox`` and ``xero_raw`` once, so every test module of a process
shares the one server; the line is summed over pytest-xdist's processes (``tests/support/report.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.secrets import Credentials
from providers.oauth import OAuthApp, TokenSet
from providers.xero.app import REFRESH_TOKEN_LIFETIME, SCOPES
from sandboxes.xero.sandbox import SandboxInfo, authorize, start_sandbox, stop_sandbox
from tests.support import report

REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
SOURCE_URL = "http://127.0.0.1:8080"
TIME_SCALE = 120.0
_STATS: dict[str, Any] = {}


def xero_app(info: SandboxInfo, *, redirect_uri: str = REDIRECT_URI) -> OAuthApp:
    return OAuthApp(
        name="Xero", authorize_url=info.authorize_url, token_url=info.token_url, revoke_url=info.revocation_url,
        client_id=info.client_id, client_secret=info.client_secret, scopes=SCOPES, redirect_uri=redirect_uri,
        refresh_token_lifetime=REFRESH_TOKEN_LIFETIME,
    )


def xero_settings(info: SandboxInfo) -> dict[str, str]:
    """``booksync_env`` values that point booksync's Xero settings at the local Xero."""
    return {
        "xero_client_id": info.client_id, "xero_client_secret": info.client_secret,
        "xero_authorize_url": info.authorize_url, "xero_token_url": info.token_url,
        "xero_revocation_url": info.revocation_url, "xero_connections_url": info.connections_url,
        "xero_api_url": info.api_url, "rate_limit_time_scale": str(TIME_SCALE),
    }


def xero_limiter() -> Any:
    """The shared limiter with Xero's limits scaled as the test server's are."""
    from dataclasses import replace

    from providers.ratelimit import rate_limiter
    from providers.xero.limits import XERO_LIMITS

    return rate_limiter(replace(XERO_LIMITS, time_scale=TIME_SCALE))


@dataclass
class XeroTenant:
    tenant_id: str
    token: TokenSet

    @property
    def credentials(self) -> Credentials:
        return self.token.to_credentials()

    @property
    def settings(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id}


class XeroRaw:
    """The local Xero's own controls and raw state: the oracle adapters are checked against."""

    def __init__(self, info: SandboxInfo) -> None:
        self.info = info
        self.http = httpx.Client(base_url=info.url, timeout=30.0)

    def new_tenant(self, name: str, *, seed: bool = True, base_currency: str | None = None) -> XeroTenant:
        body: dict[str, Any] = {"name": name, "seed": seed}
        if base_currency:
            body["base_currency"] = base_currency
        tenant_id = self.http.post("/_sandbox/tenants", json=body).raise_for_status().json()["tenant_id"]
        return XeroTenant(tenant_id, self.consent([tenant_id]))

    def consent(self, tenant_ids: list[str]) -> TokenSet:
        app = xero_app(self.info)
        answer = authorize(self.info, redirect_uri=app.redirect_uri, scopes=app.scopes, tenant_ids=tenant_ids)
        return TokenSet.from_response(answer, app)

    def state(self, tenant_id: str, collection: str) -> list[dict[str, Any]]:
        return self.info.state(tenant_id, collection)

    def stats(self) -> dict[str, Any]:
        return self.info.stats()

    def fault(self, **fault: Any) -> None:
        self.http.post("/_sandbox/faults", json=fault).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults").raise_for_status()

    def api(self, tenant: XeroTenant, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the Accounting API with ``tenant``'s access token (for changing what the oracle holds)."""
        headers = {"Authorization": f"Bearer {tenant.token.access_token}", "xero-tenant-id": tenant.tenant_id,
                   "Accept": "application/json", **kwargs.pop("headers", {})}
        return self.http.request(method, f"/api.xro/2.0{path}", headers=headers, **kwargs)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def xero_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    directory: Path = tmp_path_factory.mktemp("xero-sandbox")
    # Xero's limits (60 calls a minute per tenant...) with windows 120 times shorter: the suite makes more
    # than 60 calls a minute per tenant, and limits are the shared rate limiter's tests, not these.
    info = start_sandbox(directory, tenants=0, time_scale=TIME_SCALE)
    try:
        yield info
        _STATS.update(info.stats())
        report.add("xero", **{name: _STATS.get(name, 0) for name in (
            "requests_validated", "responses_validated", "requests_rejected", "responses_invalid",
            "responses_outside_spec")})
    finally:
        stop_sandbox(directory)
    invalid = _STATS.get("responses_invalid", 0)
    assert not invalid, f"the local Xero gave {invalid} answers that break Xero's definition (see its xero.log)"


@pytest.fixture(scope="session")
def xero_raw(xero_sandbox: SandboxInfo) -> Iterator[XeroRaw]:
    raw = XeroRaw(xero_sandbox)
    yield raw
    raw.close()


def expired(token: TokenSet) -> TokenSet:
    """The same tokens, stored as if the access token had lapsed (so the provider refreshes first)."""
    return TokenSet(token.access_token, token.refresh_token, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
                    token.refresh_expires_at, token.token_type, token.scope, token.extra)


@report.line("xero")
def _validated_line(stats: Mapping[str, int]) -> str:
    return (
        f"local Xero: {stats.get('requests_validated', 0)} requests and {stats.get('responses_validated', 0)} "
        f"answers validated against Xero's OpenAPI definition (requests rejected: "
        f"{stats.get('requests_rejected', 0)}, answers invalid: {stats.get('responses_invalid', 0)}, answers "
        f"outside the definition (401/403/429/5xx): {stats.get('responses_outside_spec', 0)})"
    )
