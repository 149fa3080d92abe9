"""The contract suite's Xero backend: the Xero adapter against the local Xero, its raw state as the oracle.

The backend's tenant is a fresh organisation on the session's local Xero, seeded like a UK company, and
its tokens come from the real OAuth flow (consent page, code exchange); every provider it builds shares
one in-memory credential store, so a rotated refresh token reaches them all.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import httpx

from config.secrets import Credentials
from providers import money
from providers.base import AccountingProvider
from providers.oauth import LocalCredentialStore, TokenSet
from providers.types import DocumentKind
from providers.xero import XeroProvider
from providers.xero.mapping import rate_value
from sandboxes.tryton.sandbox import free_port
from sandboxes.xero.sandbox import SandboxInfo
from tests.conftest_xero import SOURCE_URL, xero_limiter, XeroRaw, xero_app
from tests.providers.contract_support import HeldDocument, HeldLine

TYPE = {DocumentKind.PAYABLE: "ACCPAY", DocumentKind.RECEIVABLE: "ACCREC"}
_MS = re.compile(r"/Date\((-?\d+)")


def ms_date(value: str | None) -> dt.date | None:
    match = _MS.match(value or "")
    return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, dt.UTC).date() if match else None


def minor(value: Any, currency: str) -> int:
    return money.to_minor(Decimal(str(value)), currency)


class XeroBackend:
    platform = "xero"

    def __init__(self, info: SandboxInfo, raw: XeroRaw) -> None:
        self.info = info
        self.raw = raw
        self.tenant = raw.new_tenant("Contract Organisation")
        self.store = LocalCredentialStore(self.tenant.credentials)
        self.seed = {kind: [i for i in self.invoices(kind)] for kind in DocumentKind}

    def provider(self, *, page_size: int | None = None, transport: httpx.BaseTransport | None = None,
                 post_documents: bool = False, credentials: Credentials | None = None) -> AccountingProvider:
        settings = {**self.tenant.settings, "post_documents": post_documents}
        assert self.store.current is not None
        return XeroProvider(
            settings, credentials or self.store.current, credential_store=self.store,
            transport=transport or self.network_transport(), rate_limiter=xero_limiter(), app=xero_app(self.info), api_url=self.info.api_url,
            source_url=SOURCE_URL, page_size=page_size,
        )

    def provider_with_wrong_credentials(self) -> AccountingProvider:
        wrong = TokenSet("not-the-password", "not-the-refresh-token",
                         dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)).to_credentials()
        return XeroProvider(self.tenant.settings, wrong, credential_store=LocalCredentialStore(wrong),
                            rate_limiter=xero_limiter(), app=xero_app(self.info), api_url=self.info.api_url, source_url=SOURCE_URL)

    def provider_unreachable(self) -> AccountingProvider:
        assert self.store.current is not None
        return XeroProvider(self.tenant.settings, self.store.current, rate_limiter=xero_limiter(), app=xero_app(self.info),
                            api_url=f"http://127.0.0.1:{free_port()}/api.xro/2.0", source_url=SOURCE_URL)

    # -- the oracle -------------------------------------------------------------------------------
    def invoices(self, kind: DocumentKind | None = None) -> list[dict[str, Any]]:
        found = self.raw.state(self.tenant.tenant_id, "invoices")
        return [i for i in found if kind is None or i["Type"] == TYPE[kind]]

    def rates(self) -> dict[str, int]:
        return {r["TaxType"]: rate_value(Decimal(str(r["EffectiveRate"])))
                for r in self.raw.state(self.tenant.tenant_id, "taxrates")}

    def held_documents(self, kind: DocumentKind) -> dict[str, HeldDocument]:
        rates = self.rates()
        held = {}
        for invoice in self.invoices(kind):
            if invoice["Status"] == "DELETED":
                continue
            currency = invoice["CurrencyCode"]
            held[invoice["InvoiceID"]] = HeldDocument(
                platform_id=invoice["InvoiceID"],
                document_number=invoice.get("InvoiceNumber") or None,
                reference=invoice.get("Reference") or None,
                counterpart_platform_id=invoice["Contact"]["ContactID"],
                counterpart_name=invoice["Contact"]["Name"],
                currency=currency,
                total_amount=minor(invoice["Total"], currency),
                subtotal=minor(invoice["SubTotal"], currency),
                tax_amount=minor(invoice["TotalTax"], currency),
                issue_date=ms_date(invoice.get("Date")),
                lines=tuple(
                    HeldLine(line.get("Description") or "", minor(line["LineAmount"], currency),
                             rates.get(line["TaxType"]) if line.get("TaxType") else None)
                    for line in invoice.get("LineItems") or []
                ),
            )
        return held

    def held_tax_rates(self) -> dict[str, int]:
        return self.rates()

    def seeded_numbers(self, kind: DocumentKind) -> set[str]:
        return {i.get("InvoiceNumber") or i.get("Reference") for i in self.seed[kind]}

    def count_with_number(self, kind: DocumentKind, number: str) -> int:
        return sum(1 for i in self.invoices(kind) if i.get("InvoiceNumber") == number and i["Status"] != "DELETED")

    def document_count(self) -> int:
        return len(self.invoices())

    def counterpart_count(self) -> int:
        return len(self.raw.state(self.tenant.tenant_id, "contacts"))

    def changeable_document(self, kind: DocumentKind) -> str:
        return next(i["InvoiceID"] for i in self.seed[kind] if i["Status"] in ("DRAFT", "SUBMITTED", "AUTHORISED"))

    def change_document(self, kind: DocumentKind, platform_id: str) -> None:
        body = {"Invoices": [{"InvoiceID": platform_id, "Reference": f"changed {platform_id[:8]}"}]}
        self.raw.api(self.tenant, "POST", f"/Invoices/{platform_id}", json=body).raise_for_status()

    def counterpart_for(self, kind: DocumentKind) -> str:
        return next(i["Contact"]["ContactID"] for i in self.seed[kind])

    def existing_tax_rate(self) -> int:
        return 2000

    def missing_tax_rate(self) -> int:
        return 1900

    def network_transport(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()

    # -- payments and products (tests/providers/test_payments_contract.py) ------------------------
    def held_payments(self, kind: DocumentKind, document_id: str) -> list[int]:
        """The amounts of the payments Xero holds against the document (deleted ones left out)."""
        invoice = self.invoice(document_id)
        return [minor(p["Amount"], invoice["CurrencyCode"]) for p in self.raw.state(self.tenant.tenant_id, "payments")
                if p["Invoice"]["InvoiceID"] == document_id and p["Status"] != "DELETED"]

    def held_due(self, kind: DocumentKind, document_id: str) -> int:
        invoice = self.invoice(document_id)
        return minor(invoice["AmountDue"], invoice["CurrencyCode"])

    def payment_count(self) -> int:
        return sum(1 for p in self.raw.state(self.tenant.tenant_id, "payments") if p["Status"] != "DELETED")

    def is_payment_create(self, request: httpx.Request) -> bool:
        return request.method == "PUT" and request.url.path.lower().endswith("/payments")

    def held_products(self) -> dict[str, dict[str, Any]]:
        return {i["ItemID"]: {"name": i["Name"], "unit_price": (i.get("SalesDetails") or {}).get("UnitPrice")}
                for i in self.raw.state(self.tenant.tenant_id, "items")}

    def held_line_products(self, kind: DocumentKind, document_id: str) -> list[str | None]:
        """The product (ItemID) each line of the document sells, as Xero holds it (lines name an ItemCode)."""
        by_code = {i["Code"].lower(): i["ItemID"] for i in self.raw.state(self.tenant.tenant_id, "items")}
        return [by_code.get(str(line.get("ItemCode") or "").lower()) for line in self.invoice(document_id)["LineItems"]]

    def invoice(self, document_id: str) -> dict[str, Any]:
        return next(i for i in self.invoices() if i["InvoiceID"] == document_id)

    def is_document_create(self, request: httpx.Request) -> bool:
        return request.method in ("PUT", "POST") and request.url.path.lower().endswith("/invoices")
