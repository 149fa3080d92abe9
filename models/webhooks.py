"""Webhooks: who wants which events (subscriptions), the events themselves (the outbox), and each
event's delivery to each subscription.

An event row is written in the same transaction as the change it reports (``webhooks.outbox``), with
one delivery row per subscription that wants it; a delivery is retried until it succeeds or its
retry window closes. ``outbox_events.sequence`` orders events: deliveries of one object
(``ordering_key``) to one subscription go out in that order.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, EncryptedJSON, TimestampMixin, new_id

#: SQLite gives an autoincrementing key only to an INTEGER PRIMARY KEY (the rowid).
SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    #: a delivery was given up after its retry window; the next success makes it active again
    FAILING = "failing"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    #: given up after the retry window
    FAILED = "failed"


UNFINISHED_DELIVERY = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)


class WebhookSubscription(TimestampMixin, Base):
    """A receiver's URL and the event types it wants: one organization's events, or every organization's
    (``organization_id`` empty: created with a platform-wide key).

    ``secrets`` is encrypted at rest: ``{"current": ..., "previous": ...}``; deliveries are signed with
    the previous secret too until ``previous_secret_expires_at``.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(255), default="")
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    secrets: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())
    previous_secret_expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=SubscriptionStatus.ACTIVE.value)
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]


class OutboxEvent(Base):
    """One event, as its receivers get it: ``body`` is the exact JSON every attempt sends."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_created", "created_at"),)

    sequence: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    ordering_key: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookDelivery(TimestampMixin, Base):
    """One event to one subscription: its state, attempts and last answer.

    A worker claims a delivery (``claimed_until``) for the length of one attempt; a claim left by a
    worker that died lapses, and the sweep sends the delivery again.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_webhook_deliveries_order", "subscription_id", "ordering_key", "sequence"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_list", "subscription_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(BigInteger)
    ordering_key: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    first_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_response_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_duration_ms: Mapped[int | None]
    delivered_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(255))
