"""Typed values that cross the provider boundary. Never provider JSON.

Amounts are integers in minor units of the ISO 4217 ``currency``; tax rates are in minor units of a
percent (20% = 2000); timestamps are timezone-aware UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, TypeVar

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
    total_amount: int | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    platform_id: str
    platform_updated_at: datetime | None
    created: bool


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of a pull. ``next_cursor`` is what to resume from after this page is stored."""

    items: Sequence[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What a test call found: who the connection belongs to in the accounting system."""

    organization_name: str
    details: dict[str, str] = field(default_factory=dict)


PageIterator = Iterator[Page[T]]
