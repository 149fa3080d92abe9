from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class PushDefaults:
    """The organization's choices for what a connection pushes, as booksync's ledger account ids
    (``GET /ledger-accounts``): where payments are pushed to, and the account of products without their own."""

    payment_ledger_account_id: uuid.UUID | None = None
    product_ledger_account_id: uuid.UUID | None = None

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> PushDefaults:
        stored = stored or {}
        return cls(**{name: uuid.UUID(str(stored[name])) for name in cls.__dataclass_fields__ if stored.get(name)})

    def stored(self) -> dict[str, Any]:
        return {name: str(value) for name in self.__dataclass_fields__ if (value := getattr(self, name)) is not None}


ACTIVE_STATUSES = (ConnectionStatus.PENDING_AUTH, ConnectionStatus.CONNECTED, ConnectionStatus.DEAUTHORIZED)


class AccountingConnection(TimestampMixin, Base):
    """An organization's link to its accounting system.

    ``settings`` holds what is not secret (server URL, database, whether to post); ``credentials`` is
    encrypted at rest. ``cursors`` maps an object type to the provider's opaque pull cursor.
    ``books_id`` names the books the connection reaches (``ConnectionCheck.books_id``); synced records
    belong to the books, so a later connection to the same books carries on where this one stopped.
    The sync lease is short and renewed by a heartbeat; the refresh lease makes one worker at a time
    refresh OAuth tokens. ``oauth_state_hash`` is the hash of the one ``state`` a pending consent may
    come back with (single use).
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
        Index("ix_accounting_connections_lease", "lease_expires_at"),
        Index("ix_accounting_connections_books", "organization_id", "books_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(64))
    books_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.PENDING_AUTH.value)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON())
    errors: Mapped[list[Any]] = mapped_column(default=list)
    business_info: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    last_pull: Mapped[datetime | None]
    last_sync_started_at: Mapped[datetime | None]
    last_sync_finished_at: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    next_sync_at: Mapped[datetime | None]
    backfill: Mapped[bool] = mapped_column(default=False)
    lease_holder: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None]
    refresh_lease_holder: Mapped[str | None] = mapped_column(String(255))
    refresh_lease_expires_at: Mapped[datetime | None]
    oauth_state_hash: Mapped[str | None] = mapped_column(String(64))
    pending_tenants: Mapped[list[Any] | None] = mapped_column(default=None)
    cursors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The organization's defaults for what it pushes (``PushDefaults``): booksync's ledger account ids.
    defaults: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    sync_count: Mapped[int] = mapped_column(Integer, default=0)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def push_defaults(self) -> PushDefaults:
        return PushDefaults.from_stored(self.defaults)

    @property
    def books(self) -> str:
        """The books this connection's records belong to; a connection never checked has its own."""
        return self.books_id or f"connection:{self.id}"
