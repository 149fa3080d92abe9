"""Webhook subscriptions and deliveries (booksync's extension: the reference has no webhook endpoints)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import RequestModel, ResponseModel, Text, UtcDatetime
from models import DeliveryStatus, SubscriptionStatus
from webhooks.events import EventType

Url = Annotated[Text, Field(min_length=1, max_length=2048, description="Where events are POSTed (https://).")]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]
Description = Annotated[Text, Field(max_length=255)]
GRACE_MAX_SECONDS = 30 * 86_400


class SubscriptionCreate(RequestModel):
    url: Url
    event_types: EventTypes
    description: Description = ""


class SubscriptionUpdate(RequestModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None


class SecretRotation(RequestModel):
    grace_period_seconds: Annotated[int, Field(ge=0, le=GRACE_MAX_SECONDS)] | None = Field(
        default=None,
        description="How long deliveries are also signed with the old secret (default: "
        "BOOKSYNC_WEBHOOK_SECRET_GRACE_SECONDS, a day); 0 retires it at once.",
    )


class SubscriptionResource(ResponseModel):
    id: uuid.UUID
    organization_id: uuid.UUID | None = Field(description="Empty for a platform-wide subscription (every organization).")
    url: str
    description: str
    event_types: list[EventType]
    status: SubscriptionStatus = Field(
        description="`failing` once a delivery was given up after its retry window, until one succeeds again."
    )
    failing_since: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then, deliveries are signed with the previous secret as well."
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionWithSecret(SubscriptionResource):
    secret: str = Field(description="The signing secret: shown only in this answer. Store it now.")


class SubscriptionList(ResponseModel):
    data: list[SubscriptionResource]


class DeliveryResource(ResponseModel):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The event's id, also in the body and the Booksync-Event-Id header.")
    subscription_id: uuid.UUID
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    last_response_code: int | None = Field(description="The receiver's last HTTP status; empty if it never answered.")
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When it goes again (empty once delivered or given up).")
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeliveryQuery(RequestModel):
    subscription_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    event_type: EventType | None = None
    status: DeliveryStatus | None = None
    created_at__gte: UtcDatetime | None = None
    created_at__lte: UtcDatetime | None = None
    order: Literal["asc", "desc"] = "desc"
    limit: Annotated[int, Field(ge=1, le=250)] = 100
    pagination_token: str | None = None


class DeliveryList(ResponseModel):
    data: list[DeliveryResource]
    next_pagination_token: str | None = None
    prev_pagination_token: str | None = None
