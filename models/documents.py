"""The platform's own documents: what booksync pushes to accounting systems.

Ids are the platform's (PUT by id). Amounts are integers in minor units of ``currency`` (ISO 4217).
``eligible_at`` is when a document first reached a pushable status; a new connection pushes only
documents that became eligible after it connected, unless it asks for a backfill.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from models.base import Base, TimestampMixin, new_id


class ReceivableStatus(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    UNCOLLECTIBLE = "uncollectible"
    CANCELED = "canceled"


class PayableStatus(enum.StrEnum):
    DRAFT = "draft"
    NEW = "new"
    APPROVE_IN_PROGRESS = "approve_in_progress"
    WAITING_TO_BE_PAID = "waiting_to_be_paid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELED = "canceled"
    REJECTED = "rejected"


RECEIVABLE_PUSHABLE = frozenset(
    {"issued", "partially_paid", "paid", "overdue", "uncollectible"}
)
PAYABLE_PUSHABLE = frozenset({"waiting_to_be_paid", "partially_paid", "paid"})
RECEIVABLE_VOIDING = frozenset({"canceled"})
PAYABLE_VOIDING = frozenset({"canceled", "rejected"})


class Counterpart(TimestampMixin, Base):
    __tablename__ = "counterparts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32), default="organization")
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    tax_id: Mapped[str | None] = mapped_column(String(64))
    is_customer: Mapped[bool] = mapped_column(default=False)
    is_vendor: Mapped[bool] = mapped_column(default=False)


class _DocumentColumns(TimestampMixin):
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    document_number: Mapped[str | None] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(32))
    issue_date: Mapped[date | None]
    due_date: Mapped[date | None]
    memo: Mapped[str | None] = mapped_column(Text)
    eligible_at: Mapped[datetime | None]

    @declared_attr
    def organization_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))

    @declared_attr
    def counterpart_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("counterparts.id"))


class _LineItemColumns:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal(1))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    tax_rate_value: Mapped[int | None] = mapped_column(Integer)
    accounting_tax_rate_id: Mapped[uuid.UUID | None]
    ledger_account_id: Mapped[str | None] = mapped_column(String(128))

    @declared_attr
    def product_id(cls) -> Mapped[uuid.UUID | None]:
        """The product the line sells (``PUT /products/{id}``), pushed before the document."""
        return mapped_column(ForeignKey("products.id"))


class Payable(_DocumentColumns, Base):
    """A bill the organization received."""

    __tablename__ = "payables"
    __table_args__ = (Index("ix_payables_organization_id_updated_at", "organization_id", "updated_at"),)

    lines: Mapped[list[PayableLineItem]] = relationship(
        order_by="PayableLineItem.position", cascade="all, delete-orphan", lazy="selectin"
    )
    counterpart: Mapped[Counterpart] = relationship(lazy="joined")


class PayableLineItem(_LineItemColumns, Base):
    __tablename__ = "payable_line_items"

    payable_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payables.id", ondelete="CASCADE"), index=True)


class Receivable(_DocumentColumns, Base):
    """An invoice the organization issued."""

    __tablename__ = "receivables"
    __table_args__ = (
        Index("ix_receivables_organization_id_updated_at", "organization_id", "updated_at"),
    )

    lines: Mapped[list[ReceivableLineItem]] = relationship(
        order_by="ReceivableLineItem.position", cascade="all, delete-orphan", lazy="selectin"
    )
    counterpart: Mapped[Counterpart] = relationship(lazy="joined")


class ReceivableLineItem(_LineItemColumns, Base):
    __tablename__ = "receivable_line_items"

    receivable_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("receivables.id", ondelete="CASCADE"), index=True
    )
