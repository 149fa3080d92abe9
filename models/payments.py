"""The platform's products (what invoice lines sell) and payment records (a bill the organization paid, an
invoice its customer paid): pushed like the documents, object types ``product`` and ``payment_record``.

Ids are the platform's (PUT by id). Amounts are integers in minor units of ``currency`` (ISO 4217). A payment
record settles exactly one payable or one receivable, in that document's currency; several may settle one
document (partial payments). A payment deleted on the platform keeps its row with status ``deleted``, so the
engine can delete (or void) what it pushed; ``deleted`` is final.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, TimestampMixin, new_id
from models.documents import Payable, Receivable


class ProductKind(enum.StrEnum):
    PRODUCT = "product"
    SERVICE = "service"


class PaymentRecordStatus(enum.StrEnum):
    RECORDED = "recorded"
    DELETED = "deleted"


class Product(TimestampMixin, Base):
    """Something the organization sells. ``ledger_account_id`` is booksync's ledger account id (or the
    accounting system's own), as on lines; without one the connection's default product account applies."""

    __tablename__ = "products"
    __table_args__ = (Index("ix_products_organization_id_updated_at", "organization_id", "updated_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default=ProductKind.SERVICE.value)
    unit_price: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    unit: Mapped[str | None] = mapped_column(String(64))
    ledger_account_id: Mapped[str | None] = mapped_column(String(128))
    tax_rate_value: Mapped[int | None] = mapped_column(Integer)
    accounting_tax_rate_id: Mapped[uuid.UUID | None]


class PaymentRecord(TimestampMixin, Base):
    """An amount paid against one payable (the organization paid its vendor) or one receivable (its
    customer paid it)."""

    __tablename__ = "payment_records"
    __table_args__ = (
        CheckConstraint("(payable_id IS NULL) <> (receivable_id IS NULL)", name="settles_one_document"),
        Index("ix_payment_records_organization_id_updated_at", "organization_id", "updated_at"),
        Index("ix_payment_records_payable_id", "payable_id"),
        Index("ix_payment_records_receivable_id", "receivable_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    payable_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payables.id", ondelete="CASCADE"))
    receivable_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("receivables.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_date: Mapped[date]
    payment_method: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=PaymentRecordStatus.RECORDED.value)

    payable: Mapped[Payable | None] = relationship(lazy="joined")
    receivable: Mapped[Receivable | None] = relationship(lazy="joined")

    @property
    def document(self) -> Payable | Receivable:
        document = self.payable if self.payable_id is not None else self.receivable
        assert document is not None
        return document

    @property
    def document_type(self) -> str:
        """``payable`` or ``receivable``: what the platform calls the settled document."""
        return "payable" if self.payable_id is not None else "receivable"
