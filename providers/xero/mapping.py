"""Xero objects <-> the typed values of ``providers.types``; statuses; where keys live; the pull cursor.

Statuses (Xero's invoice status codes, developer.xero.com/documentation/api/accounting/types#invoices)
map onto booksync's pulled-document statuses as Tryton's do:

=============  ======================================================================
Xero           booksync
=============  ======================================================================
DRAFT          ``draft``
SUBMITTED      ``draft`` (awaiting approval: not in the ledger yet, like Tryton's validated)
AUTHORISED     ``open``, or ``partially_paid`` once ``AmountPaid`` > 0 and ``AmountDue`` > 0
PAID           ``paid``
VOIDED         ``void`` (an approved invoice cancelled)
DELETED        ``void`` (a draft or submitted invoice removed; Xero keeps it, listed as DELETED)
=============  ======================================================================

A DELETED invoice still comes in pulls (so the change reaches booksync at once) but is not among
``iter_document_ids``, so a full reconcile marks it deleted as well.

Numbers: ``document_number`` is ``InvoiceNumber`` (on a bill the supplier's number, on an invoice the
organisation's), ``reference`` is ``Reference`` (empty → None).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from providers import money
from providers.errors import ProviderError
from providers.types import (
    Document,
    DocumentKind,
    DocumentTotals,
    LedgerAccount,
    LineItem,
    OutgoingCounterpart,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    TaxComponent,
    TaxRate,
)
from providers.xero import models

INVOICE_TYPE = {DocumentKind.PAYABLE: "ACCPAY", DocumentKind.RECEIVABLE: "ACCREC"}
KIND_OF_TYPE = {value: key for key, value in INVOICE_TYPE.items()}
CHANGEABLE = frozenset({"DRAFT", "SUBMITTED"})
KEY_PREFIX = "booksync:"
#: Xero's ContactNumber holds at most 50 characters.
CONTACT_NUMBER_MAX = 50
#: Xero's item Code holds at most 30 characters, its Name 50.
ITEM_CODE_MAX, ITEM_NAME_MAX = 30, 50
#: What booksync lets a payment's Reference grow to (the definition gives no limit; Xero's screens take 255).
PAYMENT_REFERENCE_MAX = 255
_PAYMENT_MARKER = re.compile(r"\[booksync:([^\]\s]+)\]")
ACCOUNT_CLASS = {"ASSET": "Asset", "LIABILITY": "Liability", "EQUITY": "Equity", "REVENUE": "Income",
                 "EXPENSE": "Expense"}


# -- where idempotency keys live --------------------------------------------------------------------


def contact_number(key: str) -> str:
    """A pushed contact's ``ContactNumber``: ``booksync:<key>`` (hashed when it would pass 50 characters)."""
    marker = KEY_PREFIX + key
    if len(marker) <= CONTACT_NUMBER_MAX:
        return marker
    return KEY_PREFIX + hashlib.sha256(key.encode()).hexdigest()[: CONTACT_NUMBER_MAX - len(KEY_PREFIX)]


def source_url(base: str, key: str) -> str:
    """A pushed invoice's ``Url``: the link back to its source that Xero shows as "Go to booksync"."""
    return f"{base.rstrip('/')}/pushed/{key}"


def payment_reference(reference: str | None, key: str) -> str:
    """A pushed payment's ``Reference``: the platform's own reference, then ``[booksync:<key>]``.

    A payment has no ``Url`` and no field for another system's id; ``Reference`` is the one free text Xero keeps
    on it and also lists on the invoice (``Invoice.Payments``), which the push reads anyway, so finding the key
    costs no call. The platform's reference stays first: it is what a person matches a bank line against."""
    marker = f"[{KEY_PREFIX}{key}]"
    text = _PAYMENT_MARKER.sub("", reference or "").strip()
    room = PAYMENT_REFERENCE_MAX - len(marker) - 1
    if len(text) > room:
        text = text[: max(room - 1, 0)].rstrip() + "…"
    return f"{text} {marker}" if text else marker


def payment_keys(reference: str | None) -> set[str]:
    return set(_PAYMENT_MARKER.findall(reference or ""))


def item_code(key: str) -> str:
    """A pushed item's ``Code`` (30 characters at most, unique in the organisation): ``booksync-`` and 21 hex digits
    of the key's SHA-256, so ``POST /Items`` (Xero's update-or-create by ``Code``) is idempotent by itself."""
    return f"booksync-{hashlib.sha256(key.encode()).hexdigest()[:ITEM_CODE_MAX - len('booksync-')]}"


def where_any(field_name: str, values: Sequence[str]) -> str:
    """Xero's ``where`` for ``field == one of values`` (values never contain a double quote)."""
    return " OR ".join(f'{field_name}=="{value}"' for value in values)


def quotable(value: str) -> bool:
    return '"' not in value and "\\" not in value


# -- statuses ---------------------------------------------------------------------------------------


def document_status(invoice: models.Invoice) -> str:
    status = (invoice.Status or "").upper()
    if status in ("DRAFT", "SUBMITTED"):
        return "draft"
    if status in ("VOIDED", "DELETED"):
        return "void"
    if status == "PAID":
        return "paid"
    if status == "AUTHORISED":
        paid, due = invoice.AmountPaid or Decimal(0), invoice.AmountDue
        if paid > 0 and due is not None and due > 0:
            return "partially_paid"
        return "open"
    return "unknown"


# -- amounts -----------------------------------------------------------------------------------------


def minor(amount: Decimal | None, currency: str, *, what: str) -> int | None:
    if amount is None:
        return None
    try:
        return money.to_minor(amount, currency)
    except money.InexactAmount:
        # Xero keeps amounts in the currency's decimals; more is an answer booksync cannot hold exactly.
        raise ProviderError(f"Xero reported {what} {amount} {currency}, finer than {currency}'s minor unit") from None
    except money.UnknownCurrency:
        raise ProviderError(f"Xero reported a {what} in {currency!r}, not an ISO 4217 currency") from None


def rate_value(rate: Decimal) -> int:
    """Xero's EffectiveRate (percent, e.g. 20.0000) → minor units of a percent (2000)."""
    return int((rate * 100).quantize(Decimal(1)))


def format_rate(value: int) -> str:
    return f"{(Decimal(value) / 100).normalize():f}%"


# -- pulled objects ---------------------------------------------------------------------------------


def tax_rate(rate: models.TaxRate) -> TaxRate:
    return TaxRate(
        platform_id=rate.TaxType,
        name=rate.Name,
        effective_tax_rate=rate_value(rate.EffectiveRate),
        code=rate.ReportTaxType,
        components=tuple(
            TaxComponent(name=c.Name or rate.Name, rate=rate_value(c.Rate), is_compound=c.IsCompound)
            for c in rate.TaxComponents
        ),
        status="active" if (rate.Status or "ACTIVE") == "ACTIVE" else "archived",
    )


def ledger_account(account: models.Account) -> LedgerAccount:
    return LedgerAccount(
        platform_id=account.AccountID,
        name=account.Name,
        type=ACCOUNT_CLASS.get((account.Class or "").upper(), "Unknown"),
        nominal_code=account.Code,
        subtype=account.Type,
        status="active" if (account.Status or "ACTIVE") == "ACTIVE" else "archived",
        currency=account.CurrencyCode,
        description=account.Description,
        is_bank_account=(account.Type or "").upper() == "BANK",
    )


def document(invoice: models.Invoice, rates: Mapping[str, int], account_ids: Mapping[str, str]) -> Document:
    """``rates``: TaxType → rate value; ``account_ids``: account Code (upper case) → AccountID."""
    if not invoice.InvoiceID or invoice.Type not in KIND_OF_TYPE:
        raise ProviderError("Xero listed an invoice without an InvoiceID or with an unexpected Type")
    currency = invoice.CurrencyCode or ""
    what = f"invoice {invoice.InvoiceNumber or invoice.InvoiceID}"
    lines = []
    for line in invoice.LineItems:
        account = line.AccountID or (account_ids.get(line.AccountCode.upper()) if line.AccountCode else None)
        lines.append(LineItem(
            description=line.Description or "",
            quantity=line.Quantity if line.Quantity is not None else Decimal(0),
            unit_price=money.round_minor(line.UnitAmount or Decimal(0), currency),
            total=minor(line.LineAmount, currency, what=f"a line amount of {what}"),
            tax_rate_value=rates.get(line.TaxType) if line.TaxType else None,
            tax_rate_platform_id=line.TaxType or None,
            ledger_account_id=account,
        ))
    total = minor(invoice.Total, currency, what=f"the total of {what}") or 0
    status = (invoice.Status or "").upper()
    due = 0 if status in ("VOIDED", "DELETED", "PAID") else minor(invoice.AmountDue, currency, what=f"the due of {what}")
    contact = invoice.Contact or models.ContactRef()
    return Document(
        kind=KIND_OF_TYPE[str(invoice.Type)],
        platform_id=invoice.InvoiceID,
        currency=currency,
        total_amount=total,
        status=document_status(invoice),
        document_number=invoice.InvoiceNumber or None,
        reference=invoice.Reference or None,
        counterpart_platform_id=contact.ContactID,
        counterpart_name=contact.Name,
        subtotal=minor(invoice.SubTotal, currency, what=f"the subtotal of {what}"),
        tax_amount=minor(invoice.TotalTax, currency, what=f"the tax of {what}"),
        amount_due=due,
        issue_date=invoice.Date,
        due_date=invoice.DueDate,
        memo=None,
        lines=tuple(lines),
        updated_at=invoice.UpdatedDateUTC,
        currency_rate=invoice.CurrencyRate,
    )


def totals(invoice: models.Invoice) -> DocumentTotals:
    currency = invoice.CurrencyCode or ""
    what = f"invoice {invoice.InvoiceNumber or invoice.InvoiceID}"
    return DocumentTotals(
        subtotal=minor(invoice.SubTotal, currency, what=f"the subtotal of {what}") or 0,
        tax_amount=minor(invoice.TotalTax, currency, what=f"the tax of {what}") or 0,
        total_amount=minor(invoice.Total, currency, what=f"the total of {what}") or 0,
        line_totals=tuple(minor(line.LineAmount, currency, what=f"a line of {what}") or 0
                          for line in invoice.LineItems),
    )


# -- what is pushed ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedLine:
    """A line with Xero's codes resolved: the account's ``Code`` and the ``TaxType``."""

    description: str
    quantity: Decimal
    unit_amount: Decimal
    account_code: str | None
    tax_type: str | None
    #: The ``Code`` of the item the line sells (``LineItem.product_platform_id``), sent as ``ItemCode``.
    item_code: str | None = None


def invoice_payload(
    document: OutgoingDocument, lines: Sequence[ResolvedLine], *, url: str, status: str,
    invoice_id: str | None = None,
) -> dict[str, Any]:
    """One element of ``POST /Invoices``. Amounts exclusive of tax; Xero computes line, tax and totals."""
    element: dict[str, Any] = {
        "Type": INVOICE_TYPE[document.kind],
        "Contact": {"ContactID": document.counterpart_platform_id},
        "CurrencyCode": document.currency,
        "LineAmountTypes": "Exclusive",
        "Status": status,
        "Url": url,
        "LineItems": [
            {
                **({"ItemCode": line.item_code} if line.item_code else {}),
                "Description": line.description or "-",
                "Quantity": line.quantity,
                "UnitAmount": line.unit_amount,
                **({"AccountCode": line.account_code} if line.account_code else {}),
                **({"TaxType": line.tax_type} if line.tax_type else {}),
            }
            for line in lines
        ],
    }
    if invoice_id is not None:
        element["InvoiceID"] = invoice_id
    if document.document_number:
        element["InvoiceNumber"] = document.document_number
    if document.issue_date:
        element["Date"] = document.issue_date.isoformat()
    if document.due_date:
        element["DueDate"] = document.due_date.isoformat()
    return element


def payment_payload(payment: OutgoingPayment, key: str, *, account_id: str) -> dict[str, Any]:
    """One element of ``PUT /Payments``: the amount in the invoice's currency against one invoice or bill."""
    return {
        "Invoice": {"InvoiceID": payment.document_platform_id},
        "Account": {"AccountID": account_id},
        "Date": payment.paid_date.isoformat(),
        "Amount": money.to_decimal(payment.amount, payment.currency),
        "Reference": payment_reference(payment.reference, key),
    }


def item_payload(product: OutgoingProduct, code: str, *, side: str, details: dict[str, Any],
                 item_id: str | None = None) -> dict[str, Any]:
    """One element of ``POST /Items``; ``side`` is ``SalesDetails`` or ``PurchaseDetails`` (what ``details`` are)."""
    name = product.name.strip()
    element: dict[str, Any] = {
        "Code": code,
        "Name": name if len(name) <= ITEM_NAME_MAX else name[: ITEM_NAME_MAX - 1].rstrip() + "…",
        side: details,
    }
    if item_id is not None:
        element["ItemID"] = item_id
    description = (product.description or "").strip() or name
    element["Description" if side == "SalesDetails" else "PurchaseDescription"] = description[:4000]
    return element


def contact_payload(counterpart: OutgoingCounterpart, key: str, contact_id: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"Name": counterpart.name, "ContactNumber": contact_number(key)}
    if contact_id is not None:
        element["ContactID"] = contact_id
    if counterpart.email:
        element["EmailAddress"] = counterpart.email
    if counterpart.tax_id:
        element["TaxNumber"] = counterpart.tax_id[:50]
    return element


#: Xero's validation messages → the field of the pushed document they are about (first match wins).
FIELD_OF_MESSAGE: tuple[tuple[str, str], ...] = (
    ("taxtype", "tax_rate_platform_id"),
    ("tax rate", "tax_rate_platform_id"),
    ("account code", "ledger_account_id"),
    ("account", "ledger_account_id"),
    ("contact", "counterpart_platform_id"),
    ("invoice #", "document_number"),
    ("invoice number", "document_number"),
    ("currency", "currency"),
    ("quantity", "lines"),
    ("line", "lines"),
    ("date", "issue_date"),
    ("status", "status"),
)


def field_of(message: str) -> str:
    lowered = message.lower()
    for needle, name in FIELD_OF_MESSAGE:
        if needle in lowered:
            return name
    return "document"


# -- the pull cursor --------------------------------------------------------------------------------


def floor_second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def if_modified_since(moment: dt.datetime) -> str:
    """The header's value (RFC 3339, UTC, whole seconds: Xero compares at that resolution)."""
    return floor_second(moment.astimezone(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental pull of one kind stands.

    Xero lists what changed after ``If-Modified-Since`` (whole seconds), ``order=UpdatedDateUTC``, in
    numbered pages. The cursor keeps the exact mark (``after``, ms) and the ids stamped exactly at it
    (``seen``), so documents of the same second are neither lost nor returned twice; each full page moves
    the header up to the last document's second (``since``) and starts again at page 1, so a document
    changed during a pull (it moves to the end) shifts at most the page it is on.

    A finished pull's cursor is ``after`` = the latest ``UpdatedDateUTC`` read, ``seen`` = its ids.
    """

    after: dt.datetime | None = None
    seen: tuple[str, ...] = ()
    since: dt.datetime | None = None
    page: int = 1
    high: dt.datetime | None = None
    high_ids: tuple[str, ...] = ()
    running: bool = False

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 1, "after": _iso(self.after), "seen": list(self.seen)}
        if self.running:
            data.update(since=_iso(self.since), page=self.page, high=_iso(self.high), high_ids=list(self.high_ids))
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError("version")
            running = "page" in data
            return cls(
                after=_parse(data.get("after")), seen=tuple(str(i) for i in data.get("seen") or ()),
                since=_parse(data.get("since")), page=int(data.get("page") or 1), high=_parse(data.get("high")),
                high_ids=tuple(str(i) for i in data.get("high_ids") or ()), running=running,
            )
        except (ValueError, TypeError, AttributeError):
            raise ValueError(f"not a Xero pull cursor: {text[:80]!r}") from None

    def started(self, lag_seconds: float) -> Cursor:
        """The cursor a pull starts from: ``lag_seconds`` before a finished pull's mark."""
        if self.running:
            return self
        if self.after is None:
            return Cursor(running=True)
        after, seen = self.after, self.seen
        if lag_seconds > 0:
            after, seen = after - dt.timedelta(seconds=lag_seconds), ()
        return Cursor(after=after, seen=seen, since=after, page=1, high=self.after, high_ids=self.seen, running=True)

    def keeps(self, invoice: models.Invoice) -> bool:
        stamp = invoice.UpdatedDateUTC
        if self.after is None or stamp is None:
            return True
        return stamp > self.after or (stamp == self.after and invoice.InvoiceID not in self.seen)

    def advanced(self, page: Sequence[models.Invoice], *, full: bool) -> Cursor:
        high, high_ids = self.high, set(self.high_ids)
        for invoice in page:
            stamp, ident = invoice.UpdatedDateUTC, invoice.InvoiceID or ""
            if stamp is None:
                continue
            if high is None or stamp > high:
                high, high_ids = stamp, {ident}
            elif stamp == high:
                high_ids.add(ident)
        ordered_ids = tuple(sorted(high_ids))
        if not full:
            return Cursor(after=high if high is not None else self.after,
                          seen=ordered_ids if high is not None else self.seen)
        last = next((i.UpdatedDateUTC for i in reversed(page) if i.UpdatedDateUTC is not None), None)
        if last is not None and (self.since is None or floor_second(last) > floor_second(self.since)):
            at_last = tuple(sorted(i.InvoiceID or "" for i in page if i.UpdatedDateUTC == last))
            return Cursor(after=last, seen=at_last, since=last, page=1, high=high, high_ids=ordered_ids, running=True)
        return Cursor(after=self.after, seen=self.seen, since=self.since, page=self.page + 1, high=high,
                      high_ids=ordered_ids, running=True)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


