"""Subscriptions: create, change, rotate the signing secret, delete; and redelivering one delivery.

The API (``/webhook-subscriptions``, ``/webhook-deliveries``) and the CLI (``booksync webhooks``) both
go through here. A subscription's secret is shown once, when it is made or rotated; it is stored
encrypted (``EncryptedJSON``). Rotating keeps the old secret signing alongside the new one for a grace
period, so a receiver can switch without refusing a delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import get_settings
from models import DeliveryStatus, WebhookDelivery, WebhookSubscription, utcnow
from webhooks.events import EVENT_TYPES
from webhooks.signing import new_secret
from webhooks.urls import InvalidWebhookUrl, check_url


class SubscriptionError(ValueError):
    """A request the subscription cannot take; ``field`` names what to fix."""

    def __init__(self, field: str, message: str, *, conflict: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.conflict = conflict


def event_types(values: Iterable[str]) -> list[str]:
    """The event types asked for, known ones only, each once, in the order given."""
    chosen: list[str] = []
    for value in values:
        if value not in EVENT_TYPES:
            raise SubscriptionError("event_types", f"unknown event type {value!r}; known: {', '.join(EVENT_TYPES)}")
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise SubscriptionError("event_types", "give at least one event type")
    return chosen


def receiver_url(url: str) -> str:
    try:
        return check_url(url, get_settings())
    except InvalidWebhookUrl as exc:
        raise SubscriptionError("url", str(exc)) from None


@dataclass(frozen=True, slots=True)
class WithSecret:
    """A subscription and its new signing secret (shown this once)."""

    subscription: WebhookSubscription
    secret: str


def create_subscription(
    session: Session, organization_id: uuid.UUID | None, url: str, types: Sequence[str], description: str = ""
) -> WithSecret:
    """A new subscription (not committed). ``organization_id`` None: every organization's events."""
    secret = new_secret()
    now = utcnow()
    subscription = WebhookSubscription(
        id=uuid.uuid4(), organization_id=organization_id, url=receiver_url(url), event_types=event_types(types),
        description=description, secrets={"current": secret, "previous": None}, status="active",
        created_at=now, updated_at=now,
    )
    session.add(subscription)
    return WithSecret(subscription, secret)


def update_subscription(
    subscription: WebhookSubscription, *, url: str | None = None, types: Sequence[str] | None = None,
    description: str | None = None,
) -> bool:
    """Change what is given; returns whether anything changed. Events already written keep their deliveries."""
    changes: dict[str, object] = {}
    if url is not None:
        changes["url"] = receiver_url(url)
    if types is not None:
        changes["event_types"] = event_types(types)
    if description is not None:
        changes["description"] = description
    changed = {name: value for name, value in changes.items() if getattr(subscription, name) != value}
    for name, value in changed.items():
        setattr(subscription, name, value)
    if changed:
        subscription.updated_at = utcnow()
    return bool(changed)


def rotate_secret(subscription: WebhookSubscription, grace_seconds: int | None = None, *,
                  now: datetime | None = None) -> str:
    """A new signing secret; the current one keeps signing for ``grace_seconds`` (default
    ``BOOKSYNC_WEBHOOK_SECRET_GRACE_SECONDS``; 0 retires it at once). Returns the new secret."""
    now = now or utcnow()
    grace = get_settings().webhook_secret_grace_seconds if grace_seconds is None else grace_seconds
    if grace < 0:
        raise SubscriptionError("grace_period_seconds", "must be 0 or more")
    secret = new_secret()
    previous = (subscription.secrets or {}).get("current") if grace > 0 else None
    subscription.secrets = {"current": secret, "previous": previous}
    subscription.previous_secret_expires_at = now + timedelta(seconds=grace) if previous else None
    subscription.updated_at = now
    return secret


def signing_secrets(stored: Mapping[str, str | None], previous_expires_at: datetime | None, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now (a subscription's ``secrets`` and
    ``previous_secret_expires_at``): the current one, and the previous one during its grace."""
    found = [str(stored["current"])]
    previous = stored.get("previous")
    if previous and previous_expires_at is not None and now < previous_expires_at:
        found.append(previous)
    return found


def subscriptions_of(session: Session, organization_id: uuid.UUID | None) -> list[WebhookSubscription]:
    """One organization's subscriptions, or (None) the platform-wide ones; oldest first."""
    scope = (WebhookSubscription.organization_id.is_(None) if organization_id is None
             else WebhookSubscription.organization_id == organization_id)
    return list(session.scalars(select(WebhookSubscription).where(scope)
                                .order_by(WebhookSubscription.created_at, WebhookSubscription.id)))


def redeliver(delivery: WebhookDelivery, now: datetime | None = None) -> None:
    """Send the delivery again from now (delivered or given up alike), with a new retry window; the
    caller commits and kicks it. The receiver gets the same event id and body."""
    if delivery.claimed_until is not None and delivery.claimed_until > (now or utcnow()):
        raise SubscriptionError("delivery", "is being delivered right now; ask again in a moment", conflict=True)
    now = now or utcnow()
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = now
    delivery.first_attempt_at = None
    delivery.delivered_at = None
    delivery.updated_at = now
