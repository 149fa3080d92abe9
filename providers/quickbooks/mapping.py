"""QuickBooks Online objects <-> the typed values of ``providers.types``: statuses, tax, money, the pull cursor.

Statuses (QuickBooks has no document status field; it is read off the amounts, as its own screens do):

| QuickBooks                                                  | booksync          |
| ----------------------------------------------------------- | ----------------- |
| ``TotalAmt`` 0 and ``PrivateNote`` starting "Voided" (Intuit writes it on void) | ``void`` |
| ``Balance`` 0 of a non-zero ``TotalAmt``                    | ``paid``          |
| ``Balance`` between 0 and ``TotalAmt``                      | ``partially_paid``|
| ``Balance`` = ``TotalAmt`` (or a zero document)             | ``open``          |

There are no drafts: a bill or invoice is in the ledger from the moment it is created (``open``).

Tax models, chosen by the company's country (``CompanyInfo.Country``), as Intuit's "Manage sales tax" and
"global tax model" guides describe them:

- **US**: a sales line is taxable or not (``TaxCodeRef`` ``TAX``/``NON``) and the invoice names one sales tax
  code for all its taxable lines (``TxnTaxDetail.TxnTaxCodeRef``, e.g. a combined state+county+city code);
  bills carry no sales tax.
- **global** (every other country): each line names its own ``TaxCode``, whose ``SalesTaxRateList`` (invoices)
  or ``PurchaseTaxRateList`` (bills) gives its rates; ``GlobalTaxCalculation`` says whether amounts exclude
  tax (booksync always sends ``TaxExcluded``) or carry none (``NotApplicable``).

booksync's tax rates are QuickBooks' tax codes (what a line or an invoice names), each with the rates of its
list as components; ``TAX`` and ``NON`` are not rates and are not listed. A rate of 9.975% (Quebec's QST) is
997.5 minor units of a percent and is rounded half up to 998: booksync's rates have two decimals.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from providers import money
from providers.quickbooks import models
from providers.types import (
    Document,
    DocumentKind,
    DocumentTotals,
    LedgerAccount,
    LineItem,
    TaxComponent,
    TaxRate,
)

ENTITY = {DocumentKind.PAYABLE: "Bill", DocumentKind.RECEIVABLE: "Invoice"}
PARTY = {DocumentKind.PAYABLE: "Vendor", DocumentKind.RECEIVABLE: "Customer"}
PARTY_REF = {DocumentKind.PAYABLE: "VendorRef", DocumentKind.RECEIVABLE: "CustomerRef"}
LINE_DETAIL = {DocumentKind.PAYABLE: "AccountBasedExpenseLineDetail", DocumentKind.RECEIVABLE: "SalesItemLineDetail"}
US_TAXABLE, US_NOT_TAXABLE = "TAX", "NON"
KEY_PREFIX = "booksync:"
_MARKER = re.compile(r"\[booksync:([^\]\s]+)(?: ([0-9a-f]{12}))?\]")
#: Lines booksync reads as the document's lines (subtotals, discounts, groups and text lines are not).
ITEM_LINES = ("SalesItemLineDetail", "AccountBasedExpenseLineDetail", "ItemBasedExpenseLineDetail")
CLASSIFICATION = {"Asset": "Asset", "Liability": "Liability", "Equity": "Equity", "Revenue": "Income",
                  "Expense": "Expense"}
#: Intuit's account types by classification, for accounts that answer without one.
TYPE_CLASS = {
    "Bank": "Asset", "Accounts Receivable": "Asset", "Other Current Asset": "Asset", "Fixed Asset": "Asset",
    "Other Asset": "Asset", "Accounts Payable": "Liability", "Credit Card": "Liability",
    "Other Current Liability": "Liability", "Long Term Liability": "Liability", "Equity": "Equity",
    "Income": "Income", "Other Income": "Income", "Cost of Goods Sold": "Expense", "Expense": "Expense",
    "Other Expense": "Expense",
}


def label(kind: DocumentKind) -> str:
    return "bill" if kind is DocumentKind.PAYABLE else "invoice"


# -- where the keys live ------------------------------------------------------------------------------


def key_marker(key: str, tag: str | None = None) -> str:
    """What a pushed document's ``PrivateNote`` (or a pushed vendor's/customer's ``Notes``) ends with; ``tag``
    fingerprints what booksync sent, so a retry that finds the document knows whether it must update it."""
    return f"[{KEY_PREFIX}{key}{' ' + tag if tag else ''}]"


def keys_in(text: str | None) -> set[str]:
    return {key for key, _ in _MARKER.findall(text or "")}


def tag_in(text: str | None, key: str) -> str | None:
    return next((tag or None for found, tag in _MARKER.findall(text or "") if found == key), None)


def with_marker(text: str | None, key: str, *, limit: int = 4000, tag: str | None = None) -> str:
    """``text`` followed by the key's marker line (the text shortened when both would not fit ``limit``)."""
    marker = key_marker(key, tag)
    body = _MARKER.sub("", text or "").strip()
    room = limit - len(marker) - 1
    if len(body) > room:
        body = body[: max(room - 1, 0)].rstrip() + "…"
    return f"{body}\n{marker}" if body else marker


def memo_of(note: str | None) -> str | None:
    """The memo a person wrote (``PrivateNote`` without booksync's marker)."""
    text = _MARKER.sub("", note or "").strip()
    return text or None


# -- money --------------------------------------------------------------------------------------------


def minor(amount: Decimal | int | None, currency: str) -> int | None:
    """QuickBooks amounts in minor units of ``currency``; one with more decimals (a unit price) rounds half-even."""
    if amount is None:
        return None
    value = Decimal(amount)
    try:
        return money.to_minor(value, currency)
    except money.InexactAmount:
        return money.round_minor(value, currency)


def line_amount(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """``Qty × UnitPrice`` as QuickBooks wants a line's ``Amount``: in the currency's decimals, half up (what its
    own "Amount is not equal to UnitPrice * Qty" check computes)."""
    step = Decimal(1).scaleb(-money.exponent(currency))
    return (quantity * unit_price).quantize(step, rounding=ROUND_HALF_UP)


def rate_minor(percent: Decimal) -> int:
    """A percent (``7.75``) in minor units of a percent (``775``), half up."""
    return int((percent * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_rate(value: int) -> str:
    percent = (Decimal(value) / 100).normalize()
    return f"{percent:f}%"


# -- tax ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaxTable:
    """A company's tax codes and rates, and which model it taxes by."""

    codes: Mapping[str, models.TaxCode]
    rates: Mapping[str, models.TaxRate]
    us: bool

    def rate_list(self, code: models.TaxCode, purchase: bool) -> list[models.RateDetail]:
        own = code.PurchaseTaxRateList if purchase else code.SalesTaxRateList
        return list(own.TaxRateDetail) if own else []

    def percent(self, code: models.TaxCode, purchase: bool) -> Decimal:
        """The code's effective percent for bills (``purchase``) or invoices: its rates added, a ``TaxOnTax``
        rate applied to the amount plus the simple rates' tax."""
        details = self.rate_list(code, purchase)
        simple = Decimal(0)
        on_tax = Decimal(0)
        for detail in details:
            rate = self.rates.get(detail.TaxRateRef.value)
            value = rate.RateValue if rate is not None and rate.RateValue is not None else Decimal(0)
            if (detail.TaxTypeApplicable or "").lower() == "taxontax":
                on_tax += value
            else:
                simple += value
        return simple + on_tax * (1 + simple / 100)

    def value(self, code: models.TaxCode, purchase: bool) -> int:
        return rate_minor(self.percent(code, purchase))

    def has_rates(self, code: models.TaxCode, purchase: bool) -> bool:
        return bool(self.rate_list(code, purchase))

    def listed(self) -> list[models.TaxCode]:
        """The codes booksync shows as tax rates: all but the US pseudo-codes TAX and NON."""
        return sorted(
            (code for code in self.codes.values() if code.Id not in (US_TAXABLE, US_NOT_TAXABLE)),
            key=_id_order,
        )

    def tax_rate(self, code: models.TaxCode) -> TaxRate:
        purchase = not self.has_rates(code, False) and self.has_rates(code, True)
        components = []
        for detail in self.rate_list(code, purchase):
            rate = self.rates.get(detail.TaxRateRef.value)
            percent = rate.RateValue if rate is not None and rate.RateValue is not None else Decimal(0)
            components.append(TaxComponent(
                name=(rate.Name if rate is not None else detail.TaxRateRef.name) or detail.TaxRateRef.value,
                rate=rate_minor(percent),
                is_compound=(detail.TaxTypeApplicable or "").lower() == "taxontax",
            ))
        return TaxRate(
            platform_id=code.Id,
            name=code.Name,
            code=code.Name,
            effective_tax_rate=self.value(code, purchase),
            components=tuple(components),
            status="active" if code.Active else "archived",
        )


def _id_order(code: Any) -> tuple[int, int | str]:
    return (0, int(code.Id)) if str(code.Id).isdigit() else (1, str(code.Id))


def line_tax(kind: DocumentKind, txn: models.Transaction, line: models.TxnLine, table: TaxTable
             ) -> tuple[int | None, str | None]:
    """A pulled line's tax: (``tax_rate_value``, ``tax_rate_platform_id``)."""
    detail = line.SalesItemLineDetail or line.AccountBasedExpenseLineDetail or line.ItemBasedExpenseLineDetail
    ref = detail.TaxCodeRef if detail is not None else None
    purchase = kind is DocumentKind.PAYABLE
    if table.us:
        if purchase:
            return None, None
        if ref is None or ref.value == US_NOT_TAXABLE:
            return 0, None
        code_ref = txn.TxnTaxDetail.TxnTaxCodeRef if txn.TxnTaxDetail else None
        code = table.codes.get(code_ref.value) if code_ref else None
        return (table.value(code, False), code.Id) if code is not None else (None, None)
    if txn.GlobalTaxCalculation == "NotApplicable" or ref is None:
        return None, None
    code = table.codes.get(ref.value)
    if code is None:
        return None, ref.value
    return table.value(code, purchase), code.Id


# -- documents ------------------------------------------------------------------------------------------


def is_voided(txn: models.Transaction) -> bool:
    return txn.TotalAmt == 0 and (txn.PrivateNote or "").startswith("Voided")


def status(txn: models.Transaction) -> str:
    if is_voided(txn):
        return "void"
    total, balance = txn.TotalAmt, txn.Balance
    if balance is None or total == 0:
        return "open"
    if balance == 0:
        return "paid"
    if 0 < abs(balance) < abs(total):
        return "partially_paid"
    return "open"


def item_lines(txn: models.Transaction) -> list[models.TxnLine]:
    return [line for line in txn.Line if line.DetailType in ITEM_LINES]


def totals(txn: models.Transaction, currency: str) -> DocumentTotals:
    tax = txn.TxnTaxDetail.TotalTax if txn.TxnTaxDetail and txn.TxnTaxDetail.TotalTax is not None else Decimal(0)
    return DocumentTotals(
        subtotal=minor(txn.TotalAmt - tax, currency) or 0,
        tax_amount=minor(tax, currency) or 0,
        total_amount=minor(txn.TotalAmt, currency) or 0,
        line_totals=tuple(minor(line.Amount or Decimal(0), currency) or 0 for line in item_lines(txn)),
    )


def document(kind: DocumentKind, txn: models.Transaction, table: TaxTable, home_currency: str,
             item_accounts: Mapping[str, str]) -> Document:
    """``item_accounts``: the income account each item posts to (an invoice line's ledger account)."""
    currency = txn.CurrencyRef.value if txn.CurrencyRef else home_currency
    figures = totals(txn, currency)
    party = txn.VendorRef if kind is DocumentKind.PAYABLE else txn.CustomerRef
    lines = []
    for line in item_lines(txn):
        value, platform_id = line_tax(kind, txn, line, table)
        amount = line.Amount or Decimal(0)
        if line.AccountBasedExpenseLineDetail is not None:
            quantity, unit_price = Decimal(1), amount
            ref = line.AccountBasedExpenseLineDetail.AccountRef
            account = ref.value if ref else None
        else:
            detail = line.SalesItemLineDetail or line.ItemBasedExpenseLineDetail
            assert detail is not None
            quantity = detail.Qty if detail.Qty is not None else Decimal(1)
            unit_price = detail.UnitPrice if detail.UnitPrice is not None else amount
            account = item_accounts.get(detail.ItemRef.value) if detail.ItemRef else None
        lines.append(LineItem(
            description=line.Description or "",
            quantity=quantity,
            unit_price=minor(unit_price, currency) or 0,
            total=minor(amount, currency),
            tax_rate_value=value,
            tax_rate_platform_id=platform_id,
            ledger_account_id=account,
        ))
    rate = txn.ExchangeRate if txn.ExchangeRate is not None else (Decimal(1) if currency == home_currency else None)
    return Document(
        kind=kind,
        platform_id=txn.Id,
        currency=currency,
        total_amount=figures.total_amount,
        status=status(txn),
        document_number=txn.DocNumber or None,
        counterpart_platform_id=party.value if party else None,
        counterpart_name=party.name if party else None,
        subtotal=figures.subtotal,
        tax_amount=figures.tax_amount,
        amount_due=minor(txn.Balance, currency) if txn.Balance is not None else figures.total_amount,
        issue_date=txn.TxnDate,
        due_date=txn.DueDate,
        memo=memo_of(txn.PrivateNote),
        lines=tuple(lines),
        updated_at=txn.MetaData.updated.astimezone(dt.UTC),
        currency_rate=rate,
    )


# -- lists ----------------------------------------------------------------------------------------------


def ledger_account(account: models.Account) -> LedgerAccount:
    kind = CLASSIFICATION.get(account.Classification or "") or TYPE_CLASS.get(account.AccountType or "", "Unknown")
    return LedgerAccount(
        platform_id=account.Id,
        name=account.Name,
        type=kind,
        nominal_code=account.AcctNum or None,
        subtype=account.AccountSubType or account.AccountType,
        status="active" if account.Active else "archived",
        currency=account.CurrencyRef.value if account.CurrencyRef else None,
        description=account.Description or None,
        is_bank_account=account.AccountType == "Bank",
    )


# -- counterparts: one booksync counterpart may be a QuickBooks vendor and a customer ---------------------


@dataclass(frozen=True, slots=True)
class PartyIds:
    """Where one counterpart lives: its ``Vendor`` and/or its ``Customer`` (``vendor:12,customer:34``)."""

    vendor: str | None = None
    customer: str | None = None

    def encode(self) -> str:
        parts = [f"vendor:{self.vendor}" if self.vendor else "", f"customer:{self.customer}" if self.customer else ""]
        return ",".join(part for part in parts if part)

    @classmethod
    def decode(cls, text: str, *, plain: str | None = None) -> PartyIds:
        """``plain`` says which entity a bare id (``"12"``, as pulled documents carry) is: Vendor or Customer."""
        found: dict[str, str] = {}
        for part in (text or "").split(","):
            entity, sep, value = part.strip().partition(":")
            if sep and entity in ("vendor", "customer") and value.strip():
                found[entity] = value.strip()
            elif not sep and entity and plain in ("Vendor", "Customer"):
                found[plain.lower()] = entity
        return cls(found.get("vendor"), found.get("customer"))

    def of(self, entity: str) -> str | None:
        return self.vendor if entity == "Vendor" else self.customer


def display_name(name: str, entity: str, *, suffixed: bool) -> str:
    """QuickBooks wants a display name unique across vendors and customers: a counterpart that is both is
    "<name>" in one list and "<name> (vendor)" (or "(customer)") in the other."""
    return f"{name} ({entity.lower()})" if suffixed else name


# -- the pull cursor ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental pull stands, on ``MetaData.LastUpdatedTime`` (whole seconds at QuickBooks).

    ``mark`` is the ``LastUpdatedTime`` of the last record read (QuickBooks' own text of it) and ``seen`` the
    (``Id``, ``SyncToken``) of every record read at exactly that second: the next query asks for
    ``LastUpdatedTime >= mark`` and drops those exact versions, so a record changed again within the same
    second (a new ``SyncToken``) is read again and one read once is not read twice. Records are read in
    ``LastUpdatedTime`` order, so one changed during the pull moves ahead of the reader and is read again,
    never skipped. ``cdc`` is the server time since which deletions were last asked for (``/cdc``).
    """

    mark: str | None = None
    seen: tuple[tuple[str, str], ...] = ()
    cdc: str | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 1, "mark": self.mark, "seen": [list(pair) for pair in self.seen], "cdc": self.cdc}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            if data.get("v") != 1:
                raise ValueError("version")
            mark, cdc = data.get("mark"), data.get("cdc")
            for stamp in (mark, cdc):
                if stamp is not None:
                    models.parse_time(str(stamp))
            seen = tuple((str(pair[0]), str(pair[1])) for pair in data.get("seen") or ())
            return cls(mark=str(mark) if mark else None, seen=seen, cdc=str(cdc) if cdc else None)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            raise ValueError(f"not a QuickBooks Online pull cursor: {text[:80]!r}") from None

    def after(self, records: Sequence[tuple[str, str, str]]) -> Cursor:
        """The cursor once ``records`` (``Id``, ``SyncToken``, ``LastUpdatedTime``, in time order) are stored."""
        if not records:
            return self
        last = records[-1][2]
        last_time = models.parse_time(last)
        same = [(rid, token) for rid, token, stamp in records if models.parse_time(stamp) == last_time]
        if self.mark is not None and models.parse_time(self.mark) == last_time:
            same = list(dict.fromkeys([*self.seen, *same]))
        return Cursor(mark=last, seen=tuple(same), cdc=self.cdc)

    def skips(self, record_id: str, token: str, stamp: str) -> bool:
        return (self.mark is not None and (record_id, token) in self.seen
                and models.parse_time(stamp) == models.parse_time(self.mark))


@dataclass(slots=True)
class KeysetState:
    """A listing on a time field (``MetaData.CreateTime`` for ids): the same technique as ``Cursor``."""

    since: str | None = None
    seen: set[str] = field(default_factory=set)

    def advance(self, records: Iterable[tuple[str, str]]) -> None:
        for record_id, stamp in records:
            if self.since is None or models.parse_time(stamp) > models.parse_time(self.since):
                self.since, self.seen = stamp, {record_id}
            elif models.parse_time(stamp) == models.parse_time(self.since):
                self.seen.add(record_id)
