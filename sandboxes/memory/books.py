"""The state of one set of in-memory books, and the knobs that make it slow, failing or forgetful.

Books are process-wide and named (``MemoryBooks.named("acme")``): every provider built on the same name
in this process sees the same contacts, items, invoices and payments, as workers see one accounting system.
Money is computed as an accounting system would: a line's amount is quantity × unit price, its tax the line
amount × the rate, each rounded half-even to the currency's ISO 4217 exponent; totals are sums. Payments
are recorded only against posted invoices (as Tryton and Xero do), in the invoice's currency, never more
than is due; an invoice's amount due is its total less its payments.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from providers import money
from providers.errors import DataError, ProviderError, RetryableError
from providers.types import DocumentKind, LineItem, OutgoingDocument, OutgoingPayment, OutgoingProduct

TAX_RATES = {"1": ("VAT 20%", 2000), "2": ("VAT 10%", 1000), "3": ("Zero rated", 0)}
ACCOUNTS = {
    "100": ("Bank", "Asset"), "200": ("Accounts payable", "Liability"), "400": ("Sales", "Income"),
    "600": ("Purchases", "Expense"),
}


@dataclass(slots=True)
class Contact:
    id: str
    name: str
    key: str | None
    updated_at: datetime


@dataclass(slots=True)
class Invoice:
    kind: DocumentKind
    id: str
    key: str | None
    counterpart_id: str
    currency: str
    number: str | None
    memo: str | None
    issue_date: object
    lines: tuple[LineItem, ...]
    status: str
    updated_at: datetime
    deleted: bool = False


@dataclass(slots=True)
class Item:
    """A product or service the books sell."""

    id: str
    key: str | None
    product: OutgoingProduct
    updated_at: datetime


@dataclass(slots=True)
class Payment:
    id: str
    key: str | None
    invoice_id: str
    amount: int
    currency: str
    account: str
    reference: str | None
    updated_at: datetime
    deleted: bool = False


@dataclass(slots=True)
class Faults:
    """What the books do wrong, set by tests: each knob is consumed as it fires."""

    latency: float = 0.0
    #: the next N calls raise this (e.g. RetryableError("down")) before doing anything
    failing_calls: int = 0
    failure: Callable[[], ProviderError] = lambda: RetryableError("the memory books are unavailable")
    #: documents this predicate refuses get a DataError (a poison document), or an unexpected error
    refuse: Callable[[OutgoingDocument], ProviderError | None] = lambda document: None
    #: contacts whose name is here are refused with this message
    refused_contacts: dict[str, str] = field(default_factory=dict)
    #: the next N writes commit and then lose their answer (RetryableError after the change is made)
    lost_answers: int = 0
    #: only writes of this kind lose their answer ("contacts", "invoices", "items", "payments"); None: any
    lost_answers_of: str | None = None
    #: payments cannot be deleted (a system that keeps them for good)
    undeletable_payments: bool = False
    #: runs at the start of every call (tests look at the database from here, mid-call)
    on_call: Callable[[], None] | None = None


class MemoryBooks:
    _all: ClassVar[dict[str, MemoryBooks]] = {}
    _all_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.RLock()
        self.contacts: dict[str, Contact] = {}
        self.invoices: dict[str, Invoice] = {}
        self.items: dict[str, Item] = {}
        self.payments: dict[str, Payment] = {}
        self.faults = Faults()
        self.calls = 0
        self.writes = 0
        self.lookups = 0
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    @classmethod
    def named(cls, name: str) -> MemoryBooks:
        with cls._all_lock:
            if name not in cls._all:
                cls._all[name] = cls(name)
            return cls._all[name]

    @classmethod
    def forget(cls, name: str) -> None:
        with cls._all_lock:
            cls._all.pop(name, None)

    # -- time and ids ------------------------------------------------------------------------
    def now(self) -> datetime:
        """Strictly increasing timestamps (a real clock, never going back or repeating)."""
        with self.lock:
            wall = datetime.now(UTC)
            self._clock = max(wall, self._clock + timedelta(microseconds=1))
            return self._clock

    def new_id(self) -> str:
        return str(next(self._ids))

    # -- the faults ----------------------------------------------------------------------------
    def call(self) -> None:
        """Every provider call goes through here: latency, then a failure if one is armed."""
        faults = self.faults
        if faults.on_call is not None:
            faults.on_call()
        if faults.latency:
            time.sleep(faults.latency)
        with self.lock:
            self.calls += 1
            if faults.failing_calls > 0:
                faults.failing_calls -= 1
                raise faults.failure()

    def answer_lost(self, what: str) -> bool:
        with self.lock:
            self.writes += 1
            if self.faults.lost_answers > 0 and self.faults.lost_answers_of in (None, what):
                self.faults.lost_answers -= 1
                return True
            return False

    # -- writes --------------------------------------------------------------------------------
    def save_contact(self, name: str, key: str | None, contact_id: str | None = None) -> Contact:
        with self.lock:
            refusal = self.faults.refused_contacts.get(name)
            if refusal is not None:
                raise DataError(refusal, field="name", value=name)
            if contact_id is None:
                contact = Contact(self.new_id(), name, key, self.now())
                self.contacts[contact.id] = contact
                return contact
            contact = self.contacts[contact_id]
            contact.name, contact.updated_at = name, self.now()
            return contact

    def save_invoice(self, document: OutgoingDocument, key: str | None, invoice_id: str | None = None) -> Invoice:
        refusal = self.faults.refuse(document)
        if refusal is not None:
            raise refusal
        for index, line in enumerate(document.lines):
            if line.tax_rate_value is not None and not any(r == line.tax_rate_value for _, r in TAX_RATES.values()):
                raise DataError(
                    f"tax rate {Decimal(line.tax_rate_value) / 100:f}".rstrip("0").rstrip(".")
                    + "% does not exist in the accounting system",
                    field=f"lines[{index}].tax_rate_value", value=line.tax_rate_value,
                )
        money.exponent(document.currency)
        with self.lock:
            for index, line in enumerate(document.lines):
                if line.product_platform_id is not None and line.product_platform_id not in self.items:
                    raise DataError(f"item {line.product_platform_id} does not exist in the accounting system",
                                    field=f"lines[{index}].product_platform_id", value=line.product_platform_id)
            if document.counterpart_platform_id not in self.contacts:
                raise DataError(f"contact {document.counterpart_platform_id} does not exist",
                                field="counterpart_platform_id", value=document.counterpart_platform_id)
            if invoice_id is None:
                invoice = Invoice(document.kind, self.new_id(), key, document.counterpart_platform_id, document.currency,
                                  document.document_number, document.memo, document.issue_date, document.lines,
                                  "draft", self.now())
                self.invoices[invoice.id] = invoice
                return invoice
            invoice = self.invoices[invoice_id]
            if invoice.status != "draft":
                raise DataError(f"invoice {invoice.number or invoice.id} is {invoice.status} and cannot be changed",
                                field="status", value=invoice.status)
            changed = replace(invoice, counterpart_id=document.counterpart_platform_id, currency=document.currency,
                              number=document.document_number, memo=document.memo, issue_date=document.issue_date,
                              lines=document.lines, updated_at=self.now())
            self.invoices[invoice_id] = changed
            return changed

    # -- what an accounting system computes ----------------------------------------------------
    @staticmethod
    def line_amount(line: LineItem, currency: str) -> int:
        return money.round_minor(line.quantity * money.to_decimal(line.unit_price, currency), currency)

    @classmethod
    def line_tax(cls, line: LineItem, currency: str) -> int:
        rate = Decimal(line.tax_rate_value or 0) / 10_000
        return money.round_minor(money.to_decimal(cls.line_amount(line, currency), currency) * rate, currency)

    @classmethod
    def totals(cls, invoice: Invoice) -> tuple[int, int, int, tuple[int, ...]]:
        amounts = tuple(cls.line_amount(line, invoice.currency) for line in invoice.lines)
        tax = sum(cls.line_tax(line, invoice.currency) for line in invoice.lines)
        return sum(amounts), tax, sum(amounts) + tax, amounts

    # -- items and payments ----------------------------------------------------------------------
    def save_item(self, product: OutgoingProduct, key: str | None, item_id: str | None = None) -> Item:
        if product.ledger_account_id is not None and product.ledger_account_id not in ACCOUNTS:
            raise DataError(f"ledger account {product.ledger_account_id} does not exist in the accounting system",
                            field="ledger_account_id", value=product.ledger_account_id)
        if product.tax_rate_value is not None and not any(r == product.tax_rate_value for _, r in TAX_RATES.values()):
            raise DataError(f"tax rate {Decimal(product.tax_rate_value) / 100:f}".rstrip("0").rstrip(".")
                            + "% does not exist in the accounting system", field="tax_rate_value",
                            value=product.tax_rate_value)
        with self.lock:
            if item_id is None:
                item = Item(self.new_id(), key, product, self.now())
                self.items[item.id] = item
                return item
            item = self.items[item_id]
            item.product, item.updated_at = product, self.now()
            return item

    def paid(self, invoice_id: str) -> int:
        return sum(p.amount for p in self.payments.values() if p.invoice_id == invoice_id and not p.deleted)

    def due(self, invoice: Invoice) -> int:
        if invoice.status == "void":
            return 0
        return self.totals(invoice)[2] - self.paid(invoice.id)

    def save_payment(self, payment: OutgoingPayment, key: str | None) -> Payment:
        from providers.errors import NotFoundError, NotReadyError

        with self.lock:
            invoice = self.invoices.get(payment.document_platform_id)
            if invoice is None or invoice.deleted or invoice.kind is not payment.kind:
                raise NotFoundError(f"the memory books have no {payment.kind.value} {payment.document_platform_id}")
            name = invoice.number or invoice.id
            if invoice.status == "draft":
                raise NotReadyError(f"invoice {name} is a draft; the memory books pay only posted invoices: post it")
            if invoice.status == "void":
                raise DataError(f"invoice {name} is void and cannot be paid", field="document_platform_id")
            if payment.currency != invoice.currency:
                raise DataError(f"the payment is in {payment.currency} but invoice {name} is in {invoice.currency}",
                                field="currency", value=payment.currency)
            due = self.due(invoice)
            if payment.amount > due:
                raise DataError(f"{money.format_amount(payment.amount, payment.currency)} would overpay invoice {name}: "
                                f"{money.format_amount(due, invoice.currency)} is due", field="amount",
                                value=payment.amount)
            account = payment.account_id or "100"
            if account not in ACCOUNTS:
                raise DataError(f"ledger account {account} does not exist in the accounting system",
                                field="account_id", value=account)
            recorded = Payment(self.new_id(), key, invoice.id, payment.amount, payment.currency, account,
                               payment.reference, self.now())
            self.payments[recorded.id] = recorded
            invoice.updated_at = self.now()
            return recorded

    def delete_payment(self, payment_id: str) -> None:
        from providers.errors import NotFoundError

        with self.lock:
            payment = self.payments.get(payment_id)
            if payment is None or payment.deleted:
                raise NotFoundError(f"the memory books have no payment {payment_id}")
            if self.faults.undeletable_payments:
                raise DataError("the memory books keep payments for good: reverse this one by hand",
                                field="payment", value=payment_id)
            payment.deleted, payment.updated_at = True, self.now()
            self.invoices[payment.invoice_id].updated_at = self.now()
