"""Tryton records <-> the typed values of ``providers.types``, and the pull cursor.

Which number is which: a supplier bill's meaningful number is the supplier's (Tryton ``reference``),
a customer invoice's is the one Tryton assigns when posting (``number``). So ``document_number`` is
``reference`` for payables and ``number`` for receivables, and ``Document.reference`` is the other.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from providers import money
from providers.types import Document, DocumentKind, LedgerAccount, LineItem, TaxComponent, TaxRate

INVOICE_TYPE = {DocumentKind.PAYABLE: "in", DocumentKind.RECEIVABLE: "out"}
#: Tax group kinds a tax may have to be usable on an invoice of each type (Tryton's line domain).
TAX_GROUP_KINDS = {"in": ("purchase", "both"), "out": ("sale", "both")}
KEY_PREFIX = "booksync:"

INVOICE_FIELDS = [
    "id", "type", "number", "reference", "state", "invoice_date", "currency_date", "party", "party.name",
    "party.write_date", "party.create_date", "currency", "currency.code", "currency.digits", "untaxed_amount",
    "tax_amount", "total_amount", "amount_to_pay", "description", "lines_to_pay.maturity_date", "write_date",
    "create_date",
]
LINE_FIELDS = [
    "invoice", "type", "description", "quantity", "unit_price", "amount", "account", "taxes", "product", "write_date",
    "create_date",
]
TAX_FIELDS = ["id", "name", "description", "type", "rate", "parent", "childs", "group.kind", "active", "sequence"]
ACCOUNT_FIELDS = [
    "id", "code", "name", "note", "active", "closed", "currency.code", "type.name", "type.rec_name",
    "type.statement", "type.assets", "type.receivable", "type.payable", "type.revenue", "type.expense",
    "type.debt",
]


def key_marker(key: str) -> str:
    """What a pushed invoice's ``comment`` carries so that ``find_pushed`` can find it."""
    return f"[{KEY_PREFIX}{key}]"


def to_minor(amount: Decimal | int | float | None, currency: str, digits: int = 2) -> int | None:
    """Minor units in the currency's ISO 4217 exponent (Tryton's own ``digits`` only for a code ISO lacks);
    an amount with more decimals than that (a Tryton currency set up with more digits) rounds half-even."""
    if amount is None:
        return None
    value = Decimal(str(amount))
    if not money.is_currency(currency):
        return int(value.scaleb(digits).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    try:
        return money.to_minor(value, currency)
    except money.InexactAmount:
        return money.round_minor(value, currency)


def rate_to_minor(rate: Decimal | None) -> int:
    """Tryton rate 0.20 -> 2000 (minor units of a percent)."""
    return int((Decimal(rate or 0) * 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_rate(value: int) -> str:
    percent = (Decimal(value) / 100).normalize()
    return f"{percent:f}%"


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def changed_at(record: Mapping[str, Any]) -> dt.datetime:
    """Tryton leaves ``write_date`` empty until a record's first write."""
    return record.get("write_date") or record["create_date"]


def last_change(record: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> dt.datetime:
    """When an invoice as booksync pulls it last changed: itself, one of its lines, or its party's name."""
    stamps = [changed_at(record), *(changed_at(line) for line in lines if line.get("create_date"))]
    party = record.get("party.")
    if isinstance(party, Mapping) and party.get("create_date"):
        stamps.append(changed_at(party))
    return max(stamps)


@dataclass(frozen=True, slots=True)
class Tax:
    id: int
    name: str
    type: str
    rate: Decimal | None
    parent: int | None
    children: tuple[int, ...]
    group_kind: str | None
    active: bool
    sequence: int | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Tax:
        group = record.get("group.")
        return cls(
            id=record["id"],
            name=record["name"],
            type=record["type"],
            rate=record.get("rate"),
            parent=record.get("parent"),
            children=tuple(record.get("childs") or ()),
            group_kind=group.get("kind") if isinstance(group, Mapping) else None,
            active=bool(record.get("active", True)),
            sequence=record.get("sequence"),
        )

    def usable_on(self, invoice_type: str) -> bool:
        return (
            self.active and self.parent is None
            and (self.group_kind is None or self.group_kind in TAX_GROUP_KINDS[invoice_type])
        )


def tax_components(tax: Tax, taxes: Mapping[int, Tax]) -> tuple[TaxComponent, ...]:
    parts = [taxes[child] for child in tax.children if child in taxes] or [tax]
    return tuple(TaxComponent(name=part.name, rate=rate_of(part, taxes)) for part in parts)


def rate_of(tax: Tax, taxes: Mapping[int, Tax]) -> int:
    """Effective rate of a tax in minor units of a percent; fixed amounts count as 0."""
    if tax.type == "percentage":
        own = rate_to_minor(tax.rate)
    else:
        own = 0
    return own + sum(rate_of(taxes[child], taxes) for child in tax.children if child in taxes)


def tax_rate(tax: Tax, taxes: Mapping[int, Tax]) -> TaxRate:
    return TaxRate(
        platform_id=str(tax.id),
        name=tax.name,
        effective_tax_rate=rate_of(tax, taxes),
        components=tax_components(tax, taxes),
        status="active" if tax.active else "archived",
    )


def ledger_account(record: Mapping[str, Any]) -> LedgerAccount:
    account_type = record.get("type.") or {}
    path = str(account_type.get("rec_name") or "")
    currency = record.get("currency.") or {}
    return LedgerAccount(
        platform_id=str(record["id"]),
        name=record["name"],
        type=_account_class(account_type, path),
        nominal_code=record.get("code"),
        subtype=account_type.get("name"),
        status="active" if record.get("active", True) and not record.get("closed") else "archived",
        currency=currency.get("code"),
        description=record.get("note"),
        is_bank_account="cash" in path.lower() or "bank" in path.lower(),
    )


def _account_class(account_type: Mapping[str, Any], path: str) -> str:
    """Tryton has account *type* flags and a type tree, no Asset/Liability/... class: derive one."""
    lowered = path.lower()
    if account_type.get("revenue"):
        return "Income"
    if account_type.get("expense"):
        return "Expense"
    statement = account_type.get("statement")
    if statement == "income":
        leaf = lowered.rsplit("\\", 1)[-1]
        return "Income" if ("revenue" in leaf or "gain" in leaf) and "expense" not in leaf else "Expense"
    if statement == "balance":
        if account_type.get("receivable") or account_type.get("assets") or "\\assets" in lowered:
            return "Asset"
        if account_type.get("payable") or account_type.get("debt") or "\\liabilities" in lowered:
            return "Liability"
        if "equity" in lowered:
            return "Equity"
    return "Unknown"


def _status(state: str, total: int | None, due: int | None) -> str:
    if state in ("draft", "validated"):
        return "draft"
    if state == "cancelled":
        return "void"
    if state == "paid":
        return "paid"
    if state == "posted":
        # Payments lower ``amount_to_pay``; Tryton says ``paid`` once they are reconciled with the invoice,
        # and a posted invoice with nothing left to pay (a payment not reconciled yet) is paid all the same.
        if due is not None and total and 0 < abs(due) < abs(total):
            return "partially_paid"
        if due == 0 and total:
            return "paid"
        return "open"
    return "unknown"


def line_item(record: Mapping[str, Any], currency: str, digits: int, taxes: Mapping[int, Tax]) -> LineItem:
    tax_ids = [tax_id for tax_id in record.get("taxes") or () if tax_id in taxes]
    quantity = record.get("quantity")
    return LineItem(
        description=record.get("description") or "",
        quantity=Decimal(str(quantity)) if quantity is not None else Decimal(0),
        unit_price=to_minor(record.get("unit_price") or Decimal(0), currency, digits) or 0,
        total=to_minor(record.get("amount"), currency, digits),
        tax_rate_value=sum(rate_of(taxes[tax_id], taxes) for tax_id in tax_ids) if tax_ids else None,
        tax_rate_platform_id=str(tax_ids[0]) if len(tax_ids) == 1 else None,
        ledger_account_id=str(record["account"]) if record.get("account") is not None else None,
        product_platform_id=str(record["product"]) if record.get("product") is not None else None,
    )


def document(
    record: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    taxes: Mapping[int, Tax],
    currency_rate: Decimal | None = None,
) -> Document:
    currency = record.get("currency.") or {}
    code = currency.get("code") or ""
    digits = int(currency.get("digits") if currency.get("digits") is not None else 2)
    kind = DocumentKind.PAYABLE if record["type"] == "in" else DocumentKind.RECEIVABLE
    total = to_minor(record.get("total_amount"), code, digits) or 0
    state = record["state"]
    if state == "posted":
        due = to_minor(record.get("amount_to_pay"), code, digits)
    elif state in ("paid", "cancelled"):
        due = 0
    else:
        due = total
    maturities = [line["maturity_date"] for line in record.get("lines_to_pay.") or () if line.get("maturity_date")]
    party = record.get("party.") or {}
    number, reference = record.get("number"), record.get("reference")
    return Document(
        kind=kind,
        platform_id=str(record["id"]),
        currency=code,
        total_amount=total,
        status=_status(state, total, due),
        document_number=reference if kind is DocumentKind.PAYABLE else number,
        reference=number if kind is DocumentKind.PAYABLE else reference,
        counterpart_platform_id=str(record["party"]) if record.get("party") is not None else None,
        counterpart_name=party.get("name"),
        subtotal=to_minor(record.get("untaxed_amount"), code, digits),
        tax_amount=to_minor(record.get("tax_amount"), code, digits),
        amount_due=due,
        issue_date=record.get("invoice_date"),
        due_date=min(maturities) if maturities else None,
        memo=record.get("description"),
        lines=tuple(line_item(line, code, digits, taxes) for line in lines if line.get("type", "line") == "line"),
        updated_at=as_utc(last_change(record, lines)),
        currency_rate=currency_rate,
    )


# -- the pull cursor ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental pull stands.

    Records are read in the order ``write_date NULLS FIRST, create_date, id``: never-written records
    (by creation time) and then written ones (by write time). A record changed during a pull gets a
    later ``write_date`` and so moves *ahead* of the reader: it is read again, never skipped.

    ``after`` is the mark the pull started from (``changed_at > after``); ``position`` is the last
    record read (``write_date``, ``create_date``, ``id``); ``high`` the latest ``changed_at`` read so
    far. A finished pull's cursor is just ``after = high``.
    """

    after: dt.datetime | None = None
    position: tuple[dt.datetime | None, dt.datetime, int] | None = None
    high: dt.datetime | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"v": 1, "after": _iso(self.after)}
        if self.position is not None:
            write, create, last_id = self.position
            data["pos"] = [_iso(write), _iso(create), last_id]
            data["high"] = _iso(self.high)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            after = _parse(data.get("after"))
            position = None
            if data.get("pos"):
                write, create, last_id = data["pos"]
                position = (_parse(write), _parse(create), int(last_id))
            return cls(after=after, position=position, high=_parse(data.get("high")))  # type: ignore[arg-type]
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError(f"not a Tryton pull cursor: {text[:80]!r}") from None

    def domain(self, lag: dt.timedelta = dt.timedelta(0)) -> list[Any]:
        """The Tryton domain of what is left to read: changed after the mark (less ``lag``), the
        invoice itself, one of its lines, or its party."""
        clauses: list[Any] = []
        if self.after is not None:
            since = self.after - lag
            clauses.append([
                "OR",
                ("write_date", ">", since),
                [("write_date", "=", None), ("create_date", ">", since)],
                ("lines.write_date", ">", since),
                ("lines.create_date", ">", since),
                ("party.write_date", ">", since),
            ])
        if self.position is not None:
            write, create, last_id = self.position
            later_in_section = [
                "OR", ("create_date", ">", create), [("create_date", "=", create), ("id", ">", last_id)],
            ]
            if write is None:
                after_position: list[Any] = [
                    "OR", ("write_date", "!=", None), [("write_date", "=", None), later_in_section],
                ]
            else:
                after_position = [
                    "OR",
                    ("write_date", ">", write),
                    [("write_date", "=", write), later_in_section],
                    # created after everything read, while the reader was already past that section
                    [("write_date", "=", None), ("create_date", ">", self.high or create)],
                ]
            clauses.append(after_position)
        return clauses

    def advanced(
        self, records: Iterable[Mapping[str, Any]], *, finished: bool, stamps: Iterable[dt.datetime] = ()
    ) -> Cursor:
        """``stamps``: the other changes read with the records (their lines', their parties')."""
        high = self.high
        last: Mapping[str, Any] | None = None
        for record in records:
            stamp = changed_at(record)
            high = stamp if high is None or stamp > high else high
            last = record
        for stamp in stamps:
            high = stamp if high is None or stamp > high else high
        if finished:
            return Cursor(after=high if high is not None else self.after)
        if last is None:
            return self
        return Cursor(
            after=self.after, position=(last.get("write_date"), last["create_date"], last["id"]), high=high
        )


ORDER = [["write_date", "ASC NULLS FIRST"], ["create_date", "ASC"], ["id", "ASC"]]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
