"""Building Xero providers for the payment and product tests, and reading the local Xero's raw state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from providers.oauth import LocalCredentialStore
from providers.xero import XeroProvider
from sandboxes.xero.sandbox import SandboxInfo
from tests.conftest_xero import SOURCE_URL, XeroRaw, XeroTenant, xero_app, xero_limiter


class Recorder(httpx.BaseTransport):
    """Forwards every request (after ``before``, if any) and keeps (method, path, query) of each."""

    def __init__(self, before: Callable[[httpx.Request], None] | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.before = before
        self.requests: list[tuple[str, str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path.rsplit("/2.0", 1)[-1], request.url.query.decode()))
        if self.before is not None:
            self.before(request)
        return self.inner.handle_request(request)

    def calls(self, method: str, path: str) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if r[0] == method and r[1].lower() == path.lower()]


def make_provider(info: SandboxInfo, tenant: XeroTenant, store: LocalCredentialStore, *,
                  transport: httpx.BaseTransport | None = None, **settings: object) -> XeroProvider:
    """Documents are created approved unless ``post_documents=False``: Xero records payments on approved ones only."""
    assert store.current is not None
    return XeroProvider({**tenant.settings, "post_documents": True, **settings}, store.current,
                        credential_store=store, transport=transport or httpx.HTTPTransport(),
                        rate_limiter=xero_limiter(), app=xero_app(info), api_url=info.api_url, source_url=SOURCE_URL)


def contact(raw: XeroRaw, tenant: XeroTenant) -> str:
    return next(c["ContactID"] for c in raw.state(tenant.tenant_id, "contacts") if c["ContactStatus"] == "ACTIVE")


def held_payment(raw: XeroRaw, tenant: XeroTenant, payment_id: str) -> dict[str, Any]:
    return next(p for p in raw.state(tenant.tenant_id, "payments") if p["PaymentID"] == payment_id)


def held_invoice(raw: XeroRaw, tenant: XeroTenant, invoice_id: str) -> dict[str, Any]:
    return next(i for i in raw.state(tenant.tenant_id, "invoices") if i["InvoiceID"] == invoice_id)
