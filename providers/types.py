"""Typed values that cross the provider boundary. Never provider JSON.

Amounts are integers in minor units of the ISO 4217 ``currency`` (its ISO exponent: JPY 0, EUR 2, KWD 3;
see ``providers.money``); tax rates are in minor units of a percent (20% = 2000); timestamps are
timezone-aware UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from providers.errors import ProviderError

T = TypeVar("T")


class DocumentKind(enum.StrEnum):
    PAYABLE = "payable"
    RECEIVABLE = "receivable"


@dataclass(frozen=True, slots=True)
class TaxComponent:
    name: str
    rate: int
    is_compound: bool = False


@dataclass(frozen=True, slots=True)
class TaxRate:
    platform_id: str
    name: str
    effective_tax_rate: int
    code: str | None = None
    components: tuple[TaxComponent, ...] = ()
    status: str = "active"


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    platform_id: str
    name: str
    type: str
    nominal_code: str | None = None
    subtype: str | None = None
    status: str = "active"
    currency: str | None = None
    description: str | None = None
    is_bank_account: bool = False


@dataclass(frozen=True, slots=True)
class LineItem:
    description: str
    quantity: Decimal
    unit_price: int
    total: int | None = None
    tax_rate_value: int | None = None
    tax_rate_platform_id: str | None = None
    ledger_account_id: str | None = None
    #: The product the line sells, by its id in the accounting system (pushed before the document).
    product_platform_id: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A payable or receivable as the accounting system holds it."""

    kind: DocumentKind
    platform_id: str
    currency: str
    total_amount: int
    status: str
    document_number: str | None = None
    reference: str | None = None
    counterpart_platform_id: str | None = None
    counterpart_name: str | None = None
    subtotal: int | None = None
    tax_amount: int | None = None
    amount_due: int | None = None
    issue_date: date | None = None
    due_date: date | None = None
    memo: str | None = None
    lines: tuple[LineItem, ...] = ()
    updated_at: datetime | None = None
    #: Units of the company's (home) currency per unit of ``currency``, where the system applied one.
    currency_rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OutgoingCounterpart:
    """One of the platform's counterparts, to push."""

    id: str
    name: str
    is_customer: bool
    is_vendor: bool
    email: str | None = None
    tax_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingDocument:
    """One of the platform's bills or invoices, to push. ``id`` is the platform's own id."""

    kind: DocumentKind
    id: str
    counterpart_platform_id: str
    currency: str
    lines: tuple[LineItem, ...]
    document_number: str | None = None
    issue_date: date | None = None
    due_date: date | None = None
    memo: str | None = None
    #: The platform's own totals, which the accounting system's computed ones are checked against.
    subtotal: int | None = None
    tax_amount: int | None = None
    total_amount: int | None = None


@dataclass(frozen=True, slots=True)
class DocumentTotals:
    """What the accounting system computed for a pushed document, in minor units of its currency."""

    subtotal: int
    tax_amount: int
    total_amount: int
    line_totals: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PushResult:
    platform_id: str
    platform_updated_at: datetime | None
    created: bool
    #: The provider's own totals after the push (documents only), so the engine can check them.
    totals: DocumentTotals | None = None


class ProductType(enum.StrEnum):
    PRODUCT = "product"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class OutgoingProduct:
    """One of the platform's products (what invoice lines sell), to push. ``id`` is the platform's own.

    ``ledger_account_id`` and ``tax_rate_platform_id`` are already the accounting system's ids (the
    engine resolves booksync's, and puts the connection's default product account when it has none).
    """

    id: str
    name: str
    type: ProductType
    description: str | None = None
    unit_price: int | None = None
    currency: str | None = None
    unit: str | None = None
    ledger_account_id: str | None = None
    tax_rate_value: int | None = None
    tax_rate_platform_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingPayment:
    """One of the platform's payment records, to push: an amount paid against one bill (``kind``
    payable: the organization paid it) or one invoice (receivable: its customer paid it).

    ``document_platform_id`` is the settled document's id in the accounting system (the engine pushes a
    payment only once its document is there); ``account_id`` the ledger account the money left or
    reached (the connection's payment account setting, resolved to the system's id).
    """

    id: str
    kind: DocumentKind
    document_platform_id: str
    amount: int
    currency: str
    paid_date: date
    counterpart_platform_id: str | None = None
    account_id: str | None = None
    method: str | None = None
    reference: str | None = None


Pushable = TypeVar("Pushable", OutgoingCounterpart, OutgoingDocument, OutgoingProduct, OutgoingPayment)


@dataclass(frozen=True, slots=True)
class PushRequest(Generic[Pushable]):
    """One object to push under its idempotency ``key``.

    ``platform_id`` is set when the object exists in the accounting system already (update it).
    ``may_exist`` is set when an earlier attempt may have reached the provider without its answer
    reaching booksync: the adapter looks the key up before creating anything. A first push leaves it
    unset and pays for no lookup.
    """

    item: Pushable
    key: str
    platform_id: str | None = None
    may_exist: bool = False


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """The outcome of one ``PushRequest``: a result, or the error that concerns this object alone."""

    key: str
    result: PushResult | None = None
    error: ProviderError | None = None


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of a pull. ``next_cursor`` is what to resume from after this page is stored.

    ``deleted`` names documents of the pull's kind deleted in the accounting system since the cursor, where the
    provider can tell (QuickBooks' change data capture). ``reconcile`` says the provider cannot tell what was
    deleted since then (the cursor is older than the provider keeps deletions): the engine lists every id
    (``iter_document_ids``) after this pull, as a full reconcile does.
    """

    items: Sequence[T]
    next_cursor: str | None
    deleted: Sequence[str] = ()
    reconcile: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What a test call found: who the connection belongs to in the accounting system.

    ``books_id`` names the set of books the credentials reach (Tryton: server, database and company;
    Xero: the tenant; QuickBooks: the realm). Synced records and idempotency keys belong to the books,
    so a new connection to the same books finds what earlier ones pushed.
    """

    organization_name: str
    books_id: str = ""
    details: dict[str, str] = field(default_factory=dict)
    #: Settings the check resolved that pin the connection to these books (Tryton: the company id).
    pinned_settings: dict[str, object] = field(default_factory=dict)


PageIterator = Iterator[Page[T]]
