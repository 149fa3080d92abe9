from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, EncryptedJSON, TimestampMixin, new_id


class ConnectionStatus(enum.StrEnum):
    PENDING_AUTH = "pending_auth"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    DEAUTHORIZED = "deauthorized"


ACTIVE_STATUSES = (ConnectionStatus.PENDING_AUTH, ConnectionStatus.CONNECTED, ConnectionStatus.DEAUTHORIZED)


class AccountingConnection(TimestampMixin, Base):
    """An organization's link to its accounting system.

    ``settings`` holds what is not secret (server URL, database, whether to post); ``credentials`` is
    encrypted at rest. ``cursors`` maps an object type to the provider's opaque pull cursor.
    """

    __tablename__ = "accounting_connections"
    __table_args__ = (
        Index(
            "uq_accounting_connections_one_active_per_org",
            "organization_id",
            unique=True,
            postgresql_where=text("status <> 'disconnected'"),
            sqlite_where=text("status <> 'disconnected'"),
        ),
        Index("ix_accounting_connections_due", "status", "next_sync_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.PENDING_AUTH.value)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    errors: Mapped[list[Any]] = mapped_column(default=list)
    business_info: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    last_pull: Mapped[datetime | None]
    last_sync_started_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    next_sync_at: Mapped[datetime | None]
    backfill: Mapped[bool] = mapped_column(default=False)
    lease_holder: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    cursors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sync_count: Mapped[int] = mapped_column(Integer, default=0)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
