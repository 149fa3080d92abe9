from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin, new_id


class SyncStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    ERROR = "error"


class ObjectType(enum.StrEnum):
    BILL = "bill"
    RECEIVABLE = "receivable"
    CUSTOMER = "customer"
    VENDOR = "vendor"
    PRODUCT = "product"
    PAYMENT_RECORD = "payment_record"
    TAX_RATE = "tax_rate"


class AccountingSyncedRecord(TimestampMixin, Base):
    """The outcome of syncing one of the platform's objects over one connection.

    ``idempotency_key`` is fixed when the record is created and sent with every push of it, so a
    retried push finds what an earlier attempt created instead of creating it again.
    ``content_hash`` is of what was last pushed: a changed document is pushed again, an unchanged one
    is not.

    A record belongs to the organization's *books* (``books_id``), not to one connection: a new
    connection to the same books finds it, and ``connection_id`` follows the connection that last
    pushed it. ``push_started_at`` is set (committed) before a push call and cleared when its outcome
    is known, so a record found with it set was interrupted mid-call and is looked up before being
    created again; ``push_failures`` counts attempts in a row that ended without an outcome.
    """

    __tablename__ = "accounting_synced_records"
    __table_args__ = (
        UniqueConstraint("organization_id", "books_id", "object_type", "object_id"),
        Index("ix_synced_records_list_created", "organization_id", "object_type", "created_at", "id"),
        Index("ix_synced_records_list_updated", "organization_id", "object_type", "updated_at", "id"),
        Index("ix_synced_records_connection_status", "connection_id", "sync_status"),
        Index("ix_synced_records_platform_object", "organization_id", "books_id", "object_type", "platform_object_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounting_connections.id", ondelete="CASCADE")
    )
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID]
    object_updated_at: Mapped[datetime | None]
    books_id: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(64))
    platform_object_id: Mapped[str | None] = mapped_column(String(128))
    platform_updated_at: Mapped[datetime | None]
    platform_deleted_at: Mapped[datetime | None]
    sync_status: Mapped[str] = mapped_column(String(16), default=SyncStatus.PENDING.value)
    errors: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    last_pulled_at: Mapped[datetime | None]
    last_pushed_at: Mapped[datetime | None]
    push_attempts: Mapped[int] = mapped_column(Integer, default=0)
    push_failures: Mapped[int] = mapped_column(Integer, default=0)
    push_started_at: Mapped[datetime | None]
    idempotency_key: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex)
    content_hash: Mapped[str | None] = mapped_column(String(64))
