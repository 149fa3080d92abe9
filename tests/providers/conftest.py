"""Backends for the provider contract suite: a provider factory plus an oracle on the real system.

``test_contract.py`` only talks to a ``ContractBackend``. To run the suite against another adapter
(Xero against a mock server, say), add a ``<platform>_backend`` fixture returning an object with the
same methods and add the platform to ``CONTRACT_PLATFORMS``. A backend whose system has no drafts
(QuickBooks) says so with ``has_drafts = False``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from config.secrets import Credentials
from sandboxes.tryton.sandbox import SandboxInfo, free_port
from providers.base import AccountingProvider
from providers.registry import provider_class
from providers.types import DocumentKind, LineItem, OutgoingDocument
from sandboxes.memory import PASSWORD as MEMORY_PASSWORD
from sandboxes.memory import MemoryBooks, MemoryProvider
from sandboxes.memory.books import TAX_RATES as MEMORY_TAX_RATES
from tests.conftest_tryton import TrytonRaw, tryton_raw, tryton_sandbox, tryton_template  # noqa: F401
from sandboxes.xero.sandbox import SandboxInfo as XeroSandboxInfo
from tests.conftest_xero import XeroRaw
from tests.providers.contract_support import ContractBackend, HeldDocument, HeldLine, HeldPayment, HeldProduct
from tests.providers.quickbooks_backend import QuickBooksBackend
from tests.providers.xero_backend import XeroBackend
from sandboxes.quickbooks.sandbox import SandboxInfo as QuickBooksSandboxInfo
from tests.conftest_quickbooks import QuickBooksRaw

CONTRACT_PLATFORMS = ["tryton", "memory", "xero", "quickbooks_online"]


class TrytonBackend:
    platform = "tryton"

    def __init__(self, info: SandboxInfo, raw: TrytonRaw) -> None:
        self.info = info
        self.raw = raw
        self.seed = info.seed()

    def provider(
        self,
        *,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
        post_documents: bool = False,
    ) -> AccountingProvider:
        cls = provider_class("tryton")
        settings = {**self.info.settings, "post_documents": post_documents}
        credentials = Credentials(self.info.credentials)
        return cls(settings, credentials, page_size=page_size, transport=transport)  # type: ignore[call-arg]

    def provider_with_wrong_credentials(self) -> AccountingProvider:
        return provider_class("tryton")(
            self.info.settings, Credentials(username=self.info.username, password="not-the-password")
        )

    def provider_unreachable(self) -> AccountingProvider:
        settings = {"url": f"http://127.0.0.1:{free_port()}", "database": self.info.database}
        return provider_class("tryton")(settings, Credentials(self.info.credentials))

    def held_documents(self, kind: DocumentKind) -> dict[str, HeldDocument]:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        invoices = self.raw.search_read(
            "account.invoice",
            [["type", "=", invoice_type]],
            ["id", "number", "reference", "party", "party.name", "currency.code", "currency.digits",
             "untaxed_amount", "tax_amount", "total_amount", "invoice_date"],
        )
        rates = {t["id"]: t["rate"] for t in self.raw.search_read("account.tax", [], ["rate"])}
        lines = self.raw.search_read(
            "account.invoice.line",
            [["invoice", "in", [i["id"] for i in invoices]]],
            ["invoice", "description", "amount", "taxes"],
            [["invoice", "ASC"], ["sequence", "ASC NULLS FIRST"], ["id", "ASC"]],
        )
        held = {}
        for invoice in invoices:
            scale = Decimal(10) ** invoice["currency."]["digits"]
            own = [
                HeldLine(
                    line["description"],
                    int(line["amount"] * scale),
                    int(sum(rates[t] for t in line["taxes"]) * 10000) if line["taxes"] else None,
                )
                for line in lines
                if line["invoice"] == invoice["id"]
            ]
            number, reference = invoice["number"], invoice["reference"]
            held[str(invoice["id"])] = HeldDocument(
                platform_id=str(invoice["id"]),
                document_number=reference if invoice_type == "in" else number,
                reference=number if invoice_type == "in" else reference,
                counterpart_platform_id=str(invoice["party"]),
                counterpart_name=invoice["party."]["name"],
                currency=invoice["currency."]["code"],
                total_amount=int(invoice["total_amount"] * scale),
                subtotal=int(invoice["untaxed_amount"] * scale),
                tax_amount=int(invoice["tax_amount"] * scale),
                issue_date=invoice["invoice_date"],
                lines=tuple(own),
            )
        return held

    def held_tax_rates(self) -> dict[str, int]:
        taxes = self.raw.search_read("account.tax", [["parent", "=", None]], ["rate", "type"])
        return {str(t["id"]): int((t["rate"] or 0) * 10000) for t in taxes if t["type"] == "percentage"}

    def seeded_numbers(self, kind: DocumentKind) -> set[str]:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        return {invoice["reference"] for invoice in self.seed["invoices"][invoice_type]}

    def count_with_number(self, kind: DocumentKind, number: str) -> int:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        return int(
            self.raw.model("account.invoice", "search_count", [["type", "=", invoice_type], ["reference", "=", number]])
        )

    def document_count(self) -> int:
        return int(self.raw.model("account.invoice", "search_count", []))

    def counterpart_count(self) -> int:
        return int(self.raw.model("party.party", "search_count", []))

    def changeable_document(self, kind: DocumentKind) -> str:
        invoice_type = "in" if kind is DocumentKind.PAYABLE else "out"
        draft = next(i for i in self.seed["invoices"][invoice_type] if not i["posted"])
        return str(draft["id"])

    def change_document(self, kind: DocumentKind, platform_id: str) -> None:
        self.raw.model("account.invoice", "write", [int(platform_id)], {"description": f"changed {platform_id}"})

    def counterpart_for(self, kind: DocumentKind) -> str:
        return str(self.seed["supplier" if kind is DocumentKind.PAYABLE else "customer"]["id"])

    def existing_tax_rate(self) -> int:
        return 2000

    def missing_tax_rate(self) -> int:
        return 1900

    def network_transport(self) -> httpx.BaseTransport:
        return httpx.HTTPTransport()

    def is_document_create(self, request: httpx.Request) -> bool:
        try:
            return json.loads(request.content)["method"] == "model.account.invoice.create"
        except (ValueError, KeyError):
            return False

    # -- products and payments (tests/providers/test_payments_products.py) ---------------------------
    def held_products(self) -> dict[str, HeldProduct]:
        products = self.raw.search_read("product.product", [], ["id", "template", "template.name", "template.type",
                                                                "template.list_price"])
        return {
            str(p["id"]): HeldProduct(
                str(p["id"]), p["template."]["name"], "product" if p["template."]["type"] == "goods" else "service",
                int(p["template."]["list_price"] * 100) if p["template."].get("list_price") is not None else None,
            )
            for p in products
        }

    def held_line_products(self, kind: DocumentKind, platform_id: str) -> list[str | None]:
        lines = self.raw.search_read("account.invoice.line", [["invoice", "=", int(platform_id)]], ["product"],
                                     [["sequence", "ASC NULLS FIRST"], ["id", "ASC"]])
        return [str(line["product"]) if line["product"] else None for line in lines]

    def held_payments(self, kind: DocumentKind, platform_id: str) -> list[HeldPayment]:
        """Moves whose origin is the invoice and that were not cancelled, with the line on the invoice's account."""
        (invoice,) = self.raw.search_read("account.invoice", [["id", "=", int(platform_id)]], ["account"])
        moves = self.raw.search_read("account.move", [["origin", "=", f"account.invoice,{platform_id}"],
                                                      ["journal.type", "=", "cash"]], ["id"])
        cancelled = {int(str(m["origin"]).split(",")[1]) for m in self.raw.search_read(
            "account.move", [["origin", "like", "account.move,%"]], ["origin"])}
        held = []
        for move in moves:
            if move["id"] in cancelled:
                continue
            lines = self.raw.search_read("account.move.line", [["move", "=", move["id"]]], ["account", "debit", "credit"])
            paid = next(line for line in lines if line["account"] == invoice["account"])
            other = next(line for line in lines if line["account"] != invoice["account"])
            held.append(HeldPayment(str(move["id"]), int((paid["debit"] + paid["credit"]) * 100), str(other["account"])))
        return held

    def held_amount_due(self, kind: DocumentKind, platform_id: str) -> int:
        (invoice,) = self.raw.search_read("account.invoice", [["id", "=", int(platform_id)]], ["amount_to_pay", "state"])
        return 0 if invoice["state"] == "paid" else int(invoice["amount_to_pay"] * 100)

    def payment_account(self) -> str:
        (account,) = self.raw.search_read("account.account", [["code", "=", "1.1.3"]], ["id"])
        return str(account["id"])

    def other_currency(self) -> str:
        return "EUR"

    def is_payment_record(self, request: httpx.Request) -> bool:
        """The pay wizard's state that records the payment: ``choice`` (the whole rest) or ``pay`` (partial)."""
        try:
            body = json.loads(request.content)
        except ValueError:
            return False
        return body.get("method") == "wizard.account.invoice.pay.execute" and body["params"][2] in ("choice", "pay")


class MemoryBackend:
    """The in-memory books (``sandboxes.memory``), seeded like the Tryton sandbox: a supplier and a
    customer, three bills and three invoices, one of each still a draft."""

    platform = "memory"

    def __init__(self) -> None:
        self.name = f"contract-{uuid.uuid4().hex[:8]}"
        self.books = MemoryBooks.named(self.name)
        supplier = self.books.save_contact("Globex Supplier", None)
        customer = self.books.save_contact("Acme Customer", None)
        self.parties = {DocumentKind.PAYABLE: supplier.id, DocumentKind.RECEIVABLE: customer.id}
        self.numbers: dict[DocumentKind, set[str]] = {DocumentKind.PAYABLE: set(), DocumentKind.RECEIVABLE: set()}
        self.drafts: dict[DocumentKind, str] = {}
        for kind, prefix in ((DocumentKind.PAYABLE, "BILL"), (DocumentKind.RECEIVABLE, "CUST")):
            for index in range(1, 4):
                number = f"{prefix}-000{index}"
                invoice = self.books.save_invoice(OutgoingDocument(
                    kind=kind, id=str(uuid.uuid4()), counterpart_platform_id=self.parties[kind], currency="USD",
                    document_number=number, issue_date=dt.date.today(),
                    lines=(LineItem("Seeded", Decimal(index), 10_000, tax_rate_value=2000),),
                ), None)
                if index < 3:
                    invoice.status = "posted"
                else:
                    self.drafts[kind] = invoice.id
                self.numbers[kind].add(number)

    def provider(
        self,
        *,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
        post_documents: bool = False,
    ) -> AccountingProvider:
        settings = {"books": self.name, "post_documents": post_documents}
        return MemoryProvider(settings, Credentials(password=MEMORY_PASSWORD), page_size=page_size, transport=transport)

    def provider_with_wrong_credentials(self) -> AccountingProvider:
        return MemoryProvider({"books": self.name}, Credentials(password="not-the-password"))

    def provider_unreachable(self) -> AccountingProvider:
        provider = MemoryProvider({"books": f"{self.name}-down"}, Credentials(password=MEMORY_PASSWORD))
        provider.books.faults.failing_calls = 1_000_000
        return provider

    def held_documents(self, kind: DocumentKind) -> dict[str, HeldDocument]:
        held = {}
        for invoice in self.books.invoices.values():
            if invoice.kind is not kind or invoice.deleted:
                continue
            subtotal, tax, total, amounts = MemoryBooks.totals(invoice)
            held[invoice.id] = HeldDocument(
                platform_id=invoice.id, document_number=invoice.number, reference=None,
                counterpart_platform_id=invoice.counterpart_id,
                counterpart_name=self.books.contacts[invoice.counterpart_id].name, currency=invoice.currency,
                total_amount=total, subtotal=subtotal, tax_amount=tax, issue_date=invoice.issue_date,
                lines=tuple(HeldLine(line.description, amount, line.tax_rate_value)
                            for line, amount in zip(invoice.lines, amounts, strict=True)),
            )
        return held

    def held_tax_rates(self) -> dict[str, int]:
        return {platform_id: rate for platform_id, (_, rate) in MEMORY_TAX_RATES.items()}

    def seeded_numbers(self, kind: DocumentKind) -> set[str]:
        return set(self.numbers[kind])

    def count_with_number(self, kind: DocumentKind, number: str) -> int:
        return sum(1 for i in self.books.invoices.values() if i.kind is kind and i.number == number)

    def document_count(self) -> int:
        return len(self.books.invoices)

    def counterpart_count(self) -> int:
        return len(self.books.contacts)

    def change_document(self, kind: DocumentKind, platform_id: str) -> None:
        invoice = self.books.invoices[platform_id]
        invoice.memo, invoice.updated_at = f"changed {platform_id}", self.books.now()

    def changeable_document(self, kind: DocumentKind) -> str:
        return self.drafts[kind]

    def counterpart_for(self, kind: DocumentKind) -> str:
        return self.parties[kind]

    def existing_tax_rate(self) -> int:
        return 2000

    def missing_tax_rate(self) -> int:
        return 1900

    def network_transport(self) -> httpx.BaseTransport:
        return httpx.MockTransport(lambda request: httpx.Response(200, json={}))

    def is_document_create(self, request: httpx.Request) -> bool:
        return request.url.path == "/invoices"

    # -- products and payments (tests/providers/test_payments_products.py) ---------------------------
    def held_products(self) -> dict[str, HeldProduct]:
        return {item.id: HeldProduct(item.id, item.product.name, item.product.type.value, item.product.unit_price)
                for item in self.books.items.values()}

    def held_line_products(self, kind: DocumentKind, platform_id: str) -> list[str | None]:
        return [line.product_platform_id for line in self.books.invoices[platform_id].lines]

    def held_payments(self, kind: DocumentKind, platform_id: str) -> list[HeldPayment]:
        return [HeldPayment(p.id, p.amount, p.account) for p in self.books.payments.values()
                if p.invoice_id == platform_id and not p.deleted]

    def held_amount_due(self, kind: DocumentKind, platform_id: str) -> int:
        return self.books.due(self.books.invoices[platform_id])

    def payment_account(self) -> str:
        return "200"

    def other_currency(self) -> str:
        return "EUR"

    def is_payment_record(self, request: httpx.Request) -> bool:
        return request.url.path == "/payments"


@pytest.fixture(scope="module")
def memory_backend() -> Iterator[MemoryBackend]:
    backend = MemoryBackend()
    yield backend
    MemoryBooks.forget(backend.name)


@pytest.fixture(scope="module")
def tryton_backend(tryton_sandbox: SandboxInfo, tryton_raw: TrytonRaw) -> TrytonBackend:
    return TrytonBackend(tryton_sandbox, tryton_raw)


@pytest.fixture(scope="module")
def xero_backend(xero_sandbox: XeroSandboxInfo, xero_raw: XeroRaw) -> XeroBackend:
    return XeroBackend(xero_sandbox, xero_raw)


@pytest.fixture(scope="module")
def quickbooks_online_backend(quickbooks_sandbox: QuickBooksSandboxInfo, quickbooks_raw: QuickBooksRaw
                              ) -> QuickBooksBackend:
    return QuickBooksBackend(quickbooks_sandbox, quickbooks_raw)


@pytest.fixture(params=CONTRACT_PLATFORMS)
def backend(request: pytest.FixtureRequest) -> ContractBackend:
    return request.getfixturevalue(f"{request.param}_backend")


@pytest.fixture
def provider(backend: ContractBackend) -> Iterator[AccountingProvider]:
    with backend.provider() as instance:
        yield instance
