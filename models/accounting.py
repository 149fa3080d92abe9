"""What booksync knows of the accounting system's own objects, as of the last pull."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, new_id


class AccountingTaxRate(TimestampMixin, Base):
    """A tax rate: external (pulled, keyed by the platform's id) or internal (the organization's own)."""

    __tablename__ = "accounting_tax_rates"
    __table_args__ = (
        UniqueConstraint("organization_id", "books_id", "platform_id"),
        Index("ix_accounting_tax_rates_org_external_name", "organization_id", "is_external", "name", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounting_connections.id", ondelete="CASCADE")
    )
    #: The books an external rate was pulled from; its id stays the same across reconnects to them.
    books_id: Mapped[str | None] = mapped_column(String(255))
    is_external: Mapped[bool] = mapped_column(default=False)
    platform_id: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(64))
    effective_tax_rate: Mapped[int] = mapped_column(default=0)
    components: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(32), default="active")
    pulled_at: Mapped[datetime | None]


class LedgerAccount(TimestampMixin, Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("organization_id", "books_id", "platform_id"),
        Index("ix_ledger_accounts_org_name", "organization_id", "name", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounting_connections.id", ondelete="CASCADE")
    )
    books_id: Mapped[str] = mapped_column(String(255))
    platform_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    nominal_code: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(255), default="other")
    subtype: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default="active")
    currency: Mapped[str | None] = mapped_column(String(3))
    description: Mapped[str | None] = mapped_column(Text)
    is_bank_account: Mapped[bool] = mapped_column(default=False)
    current_balance: Mapped[int | None] = mapped_column(BigInteger)
    pulled_at: Mapped[datetime | None]


class AccountingDocument(TimestampMixin, Base):
    """A payable or receivable as the accounting system holds it (``GET /accounting/payables``).

    ``deleted_at`` is set by a full reconcile when the document is gone from the accounting system.
    """

    __tablename__ = "accounting_documents"
    __table_args__ = (
        # Listing goes through the organization's connection, so this one index serves pulls and the API.
        UniqueConstraint("connection_id", "kind", "platform_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounting_connections.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[str] = mapped_column(String(128))
    document_number: Mapped[str | None] = mapped_column(String(128))
    reference: Mapped[str | None] = mapped_column(String(255))
    counterpart_platform_id: Mapped[str | None] = mapped_column(String(128))
    counterpart_name: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    subtotal: Mapped[int | None] = mapped_column(BigInteger)
    tax_amount: Mapped[int | None] = mapped_column(BigInteger)
    total_amount: Mapped[int | None] = mapped_column(BigInteger)
    amount_due: Mapped[int | None] = mapped_column(BigInteger)
    currency_rate: Mapped[Decimal | None] = mapped_column(Numeric(24, 12))
    status: Mapped[str | None] = mapped_column(String(32))
    issue_date: Mapped[date | None]
    due_date: Mapped[date | None]
    memo: Mapped[str | None] = mapped_column(Text)
    lines: Mapped[list[Any]] = mapped_column(default=list)
    platform_updated_at: Mapped[datetime | None]
    pulled_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
