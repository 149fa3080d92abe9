"""Building QuickBooks providers for the adapter's tests: the local QuickBooks, a shared credential store per
company, every body validated on the way (``ValidatingTransport``)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from providers.http import NoRateLimit
from providers.oauth import LocalCredentialStore
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind, LineItem, OutgoingDocument
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.conftest_quickbooks import QuickBooksCompany, ValidatingTransport, quickbooks_app


class Books:
    """One company on the local QuickBooks and how to reach it."""

    def __init__(self, info: SandboxInfo, company: QuickBooksCompany) -> None:
        self.info = info
        self.company = company
        self.store = LocalCredentialStore(company.credentials)

    @property
    def realm_id(self) -> str:
        return self.company.realm_id

    def provider(self, *, transport: httpx.BaseTransport | None = None, settings: dict[str, Any] | None = None,
                 **options: Any) -> QuickBooksProvider:
        assert self.store.current is not None
        options.setdefault("rate_limiter", NoRateLimit())
        options.setdefault("batch_rate_limiter", NoRateLimit())
        return QuickBooksProvider(
            {**self.company.settings, **(settings or {})}, self.store.current, credential_store=self.store,
            transport=transport or ValidatingTransport(), app=quickbooks_app(self.info), api_url=self.info.url,
            **options,
        )

    def vendor(self, index: int = 0) -> str:
        return str(self.company.seeded["vendors"][index])

    def customer(self, index: int = 0) -> str:
        return str(self.company.seeded["customers"][index])


def document(kind: DocumentKind, counterpart: str, *lines: LineItem, currency: str = "USD",
             number: str | None = "auto", memo: str | None = None) -> OutgoingDocument:
    return OutgoingDocument(
        kind=kind, id=str(uuid.uuid4()), counterpart_platform_id=counterpart, currency=currency,
        document_number=f"Q-{uuid.uuid4().hex[:10]}" if number == "auto" else number, issue_date=dt.date.today(),
        memo=memo, lines=lines or (line(),),
    )


def line(price: int = 10_000, quantity: str = "1", rate: int | None = None, **fields: Any) -> LineItem:
    return LineItem(description=fields.pop("description", "Consulting"), quantity=Decimal(quantity), unit_price=price,
                    tax_rate_value=rate, **fields)


def key() -> str:
    return uuid.uuid4().hex


class Recording(httpx.BaseTransport):
    """Keeps every request the adapter sends (after ``before``, if any, and the validating transport)."""

    def __init__(self, before: Callable[[httpx.Request], None] | None = None) -> None:
        self.inner = ValidatingTransport()
        self.before = before
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if self.before is not None:
            self.before(request)
        return self.inner.handle_request(request)

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and not r.url.path.endswith("/query")]

    def close(self) -> None:
        self.inner.close()
