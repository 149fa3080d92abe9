"""The contract suite's QuickBooks backend: the QuickBooks adapter against the local QuickBooks, its raw state as
the oracle, every body validated against Intuit's XSD on the way.

The backend's company is a fresh one on the session's local QuickBooks: a UK company (the global tax model, a
20% standard VAT code) keeping its books in US dollars, as the suite's documents are in USD. Its tokens come
from the real OAuth flow (consent page, code exchange); every provider it builds shares one in-memory credential
store, so a rotated refresh token reaches them all, and talks through ``ValidatingTransport``.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from config.secrets import Credentials
from providers import money
from providers.base import AccountingProvider
from providers.http import NoRateLimit
from providers.oauth import LocalCredentialStore, TokenSet
from providers.quickbooks import QuickBooksProvider
from providers.types import DocumentKind
from sandboxes.quickbooks.sandbox import SandboxInfo
from sandboxes.tryton.sandbox import free_port
from tests.conftest_quickbooks import QuickBooksRaw, ValidatingTransport, quickbooks_app
from tests.providers.contract_support import HeldDocument, HeldLine

ENTITY = {DocumentKind.PAYABLE: "Bill", DocumentKind.RECEIVABLE: "Invoice"}
PAYMENT_ENTITY = {DocumentKind.PAYABLE: "BillPayment", DocumentKind.RECEIVABLE: "Payment"}
LINE_DETAILS = ("AccountBasedExpenseLineDetail", "SalesItemLineDetail")


def minor(value: Any, currency: str) -> int:
    return money.to_minor(Decimal(str(value)), currency)


class QuickBooksBackend:
    platform = "quickbooks_online"
    #: QuickBooks has no drafts: a pushed bill or invoice is in the ledger at once and stays changeable.
    has_drafts = False

    def __init__(self, info: SandboxInfo, raw: QuickBooksRaw) -> None:
        self.info = info
        self.raw = raw
        self.company = raw.new_company("Contract Company Ltd", country="GB", currency="USD")
        self.store = LocalCredentialStore(self.company.credentials)
        customer = self.company.seeded["customers"][0]
        for number in range(4):  # more invoices than bills: an invoice id that is no bill's exists
            raw.api(self.company, "POST", "/invoice", json={
                "CustomerRef": {"value": customer}, "DocNumber": f"EXTRA-{number}",
                "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail",
                          "SalesItemLineDetail": {"ItemRef": {"value": self.company.seeded["items"]["services"]},
                                                  "TaxCodeRef": {"value": self.company.seeded["tax_codes"]["zero"]}}}],
            }).raise_for_status()
        self.seed = {kind: self.documents(kind) for kind in DocumentKind}

    def provider(self, *, page_size: int | None = None, transport: httpx.BaseTransport | None = None,
                 post_documents: bool = False, credentials: Credentials | None = None) -> AccountingProvider:
        assert self.store.current is not None
        return QuickBooksProvider(
            self.company.settings, credentials or self.store.current, credential_store=self.store,
            transport=transport or self.network_transport(), app=quickbooks_app(self.info), api_url=self.info.url,
            page_size=page_size, rate_limiter=NoRateLimit(), batch_rate_limiter=NoRateLimit(),
        )

    def provider_with_wrong_credentials(self) -> AccountingProvider:
        wrong = TokenSet("not-the-password", "not-the-refresh-token",
                         dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)).to_credentials()
        return QuickBooksProvider(self.company.settings, wrong, credential_store=LocalCredentialStore(wrong),
                                  transport=self.network_transport(), app=quickbooks_app(self.info),
                                  api_url=self.info.url, rate_limiter=NoRateLimit(), batch_rate_limiter=NoRateLimit())

    def provider_unreachable(self) -> AccountingProvider:
        assert self.store.current is not None
        return QuickBooksProvider(self.company.settings, self.store.current, app=quickbooks_app(self.info),
                                  api_url=f"http://127.0.0.1:{free_port()}", rate_limiter=NoRateLimit(),
                                  batch_rate_limiter=NoRateLimit())

    # -- the oracle -------------------------------------------------------------------------------------
    def documents(self, kind: DocumentKind) -> list[dict[str, Any]]:
        return self.raw.state(self.company.realm_id, ENTITY[kind])

    def code_rates(self, purchase: bool) -> dict[str, int]:
        """Each tax code's rate as the raw lists add up (purchase list for bills, sales list for invoices)."""
        rates = {r["Id"]: Decimal(str(r["RateValue"])) for r in self.raw.state(self.company.realm_id, "TaxRate")}
        found = {}
        for code in self.raw.state(self.company.realm_id, "TaxCode"):
            lists = [code.get("PurchaseTaxRateList" if purchase else "SalesTaxRateList") or {},
                     code.get("SalesTaxRateList" if purchase else "PurchaseTaxRateList") or {}]
            details = next((lst["TaxRateDetail"] for lst in lists if lst.get("TaxRateDetail")), [])
            percent = sum((rates[d["TaxRateRef"]["value"]] for d in details), Decimal(0))
            found[code["Id"]] = int((percent * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return found

    def held_documents(self, kind: DocumentKind) -> dict[str, HeldDocument]:
        rates = self.code_rates(kind is DocumentKind.PAYABLE)
        held = {}
        for txn in self.documents(kind):
            currency = txn["CurrencyRef"]["value"]
            party = txn["VendorRef" if kind is DocumentKind.PAYABLE else "CustomerRef"]
            tax = Decimal(str((txn.get("TxnTaxDetail") or {}).get("TotalTax", 0)))
            lines = []
            for line in txn["Line"]:
                detail = next((line[name] for name in LINE_DETAILS if name in line), None)
                if detail is None:
                    continue
                code = (detail.get("TaxCodeRef") or {}).get("value")
                value = rates.get(code) if code and txn.get("GlobalTaxCalculation") != "NotApplicable" else None
                lines.append(HeldLine(line.get("Description") or "", minor(line["Amount"], currency), value))
            held[txn["Id"]] = HeldDocument(
                platform_id=txn["Id"],
                document_number=txn.get("DocNumber") or None,
                reference=None,
                counterpart_platform_id=party["value"],
                counterpart_name=party["name"],
                currency=currency,
                total_amount=minor(txn["TotalAmt"], currency),
                subtotal=minor(Decimal(str(txn["TotalAmt"])) - tax, currency),
                tax_amount=minor(tax, currency),
                issue_date=dt.date.fromisoformat(txn["TxnDate"]),
                lines=tuple(lines),
            )
        return held

    def held_tax_rates(self) -> dict[str, int]:
        sales, purchase = self.code_rates(False), self.code_rates(True)
        codes = self.raw.state(self.company.realm_id, "TaxCode")
        return {c["Id"]: sales[c["Id"]] if (c.get("SalesTaxRateList") or {}).get("TaxRateDetail") else purchase[c["Id"]]
                for c in codes if c["Id"] not in ("TAX", "NON")}

    def seeded_numbers(self, kind: DocumentKind) -> set[str]:
        return {d["DocNumber"] for d in self.seed[kind] if d.get("DocNumber")}

    def count_with_number(self, kind: DocumentKind, number: str) -> int:
        return sum(1 for d in self.documents(kind) if d.get("DocNumber") == number)

    def document_count(self) -> int:
        return sum(len(self.documents(kind)) for kind in DocumentKind)

    def counterpart_count(self) -> int:
        return sum(len(self.raw.state(self.company.realm_id, entity)) for entity in ("Vendor", "Customer"))

    def changeable_document(self, kind: DocumentKind) -> str:
        return str(self.seed[kind][-1]["Id"])

    def change_document(self, kind: DocumentKind, platform_id: str) -> None:
        self.raw.update(self.company, ENTITY[kind], platform_id, PrivateNote=f"changed {platform_id}")

    def counterpart_for(self, kind: DocumentKind) -> str:
        ref = "VendorRef" if kind is DocumentKind.PAYABLE else "CustomerRef"
        return str(self.seed[kind][0][ref]["value"])

    def existing_tax_rate(self) -> int:
        return 2000

    def missing_tax_rate(self) -> int:
        return 1900

    def network_transport(self) -> httpx.BaseTransport:
        return ValidatingTransport(httpx.HTTPTransport())

    # -- payments and products (tests/providers/test_payments_contract.py) ------------------------
    def held_payments(self, kind: DocumentKind, document_id: str) -> list[int]:
        """The amounts QuickBooks' payments apply to the document (deleted ones are gone from the raw state)."""
        entity, target = PAYMENT_ENTITY[kind], ENTITY[kind]
        amounts = []
        for payment in self.raw.state(self.company.realm_id, entity):
            for line in payment.get("Line") or []:
                if any(link["TxnId"] == document_id and link["TxnType"] == target for link in line["LinkedTxn"]):
                    amounts.append(minor(line["Amount"], payment["CurrencyRef"]["value"]))
        return amounts

    def held_due(self, kind: DocumentKind, document_id: str) -> int:
        document = next(d for d in self.documents(kind) if d["Id"] == document_id)
        return minor(document["Balance"], document["CurrencyRef"]["value"])

    def payment_count(self) -> int:
        return sum(len(self.raw.state(self.company.realm_id, entity)) for entity in PAYMENT_ENTITY.values())

    def is_payment_create(self, request: httpx.Request) -> bool:
        path = request.url.path.lower()
        return request.method == "POST" and (path.endswith("/payment") or path.endswith("/billpayment")
                                             or path.endswith("/batch")) and b'"Id"' not in request.content

    def held_products(self) -> dict[str, dict[str, Any]]:
        return {i["Id"]: {"name": i["Name"], "unit_price": i.get("UnitPrice")}
                for i in self.raw.state(self.company.realm_id, "Item")}

    def held_line_products(self, kind: DocumentKind, document_id: str) -> list[str | None]:
        document = next(d for d in self.documents(kind) if d["Id"] == document_id)
        return [line["SalesItemLineDetail"]["ItemRef"]["value"] for line in document["Line"]
                if "SalesItemLineDetail" in line]

    def is_document_create(self, request: httpx.Request) -> bool:
        path = request.url.path.lower()
        return request.method == "POST" and (path.endswith("/bill") or path.endswith("/invoice")
                                             or path.endswith("/batch")) and b'"Id"' not in request.content
