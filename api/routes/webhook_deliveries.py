"""``/webhook-deliveries``: each event's delivery to each subscription, and sending one again.

Scoped as ``/webhook-subscriptions`` is: the deliveries of the subscriptions the call may see.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.db import DbSession
from api.errors import ApiError, error_responses, not_found
from api.pagination import Position, fetch_page, start_page
from api.routes.webhook_subscriptions import Scope, WebhookScope
from api.schemas.webhooks import DeliveryList, DeliveryQuery, DeliveryResource
from models import WebhookDelivery, WebhookSubscription
from models.webhooks import UNFINISHED_DELIVERY
from webhooks.kick import kick_deliveries
from webhooks.subscriptions import SubscriptionError, redeliver

SCOPE = "webhook_deliveries"
#: Pagination tokens are bound to an organization; platform-wide lists use this one.
PLATFORM = uuid.UUID(int=0)
Delivery = WebhookDelivery

router = APIRouter(prefix="/webhook-deliveries", tags=["Webhooks"], responses=error_responses(401, 403, 404, 422))


def delivery_resource(delivery: WebhookDelivery) -> DeliveryResource:
    return DeliveryResource(
        id=delivery.id,
        event_id=delivery.event_id,
        subscription_id=delivery.subscription_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        last_response_code=delivery.last_response_code,
        last_error=delivery.last_error,
        last_attempt_at=delivery.last_attempt_at,
        next_attempt_at=delivery.next_attempt_at if delivery.status in UNFINISHED_DELIVERY else None,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
    )


def _in_scope(scope: WebhookScope) -> Any:
    owner = WebhookSubscription.organization_id
    mine = owner.is_(None) if scope.organization_id is None else owner == scope.organization_id
    return Delivery.subscription_id.in_(select(WebhookSubscription.id).where(mine))


def _statement(scope: WebhookScope, query: DeliveryQuery) -> Select[tuple[WebhookDelivery]]:
    statement = select(Delivery).where(_in_scope(scope))
    for name in ("subscription_id", "event_id", "event_type", "status"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(getattr(Delivery, name) == value)
    if query.created_at__gte is not None:
        statement = statement.where(Delivery.created_at >= query.created_at__gte)
    if query.created_at__lte is not None:
        statement = statement.where(Delivery.created_at <= query.created_at__lte)
    return statement


@router.get(
    "",
    response_model=DeliveryList,
    summary="List deliveries, newest first",
    description="Each with its status (pending, retrying, delivered, failed: given up), attempts, and the "
    "receiver's last answer. Keyset-paginated on (created_at, id).",
)
def list_webhook_deliveries(
    params: Annotated[DeliveryQuery, Query()], scope: Scope, session: DbSession
) -> DeliveryList:
    query, request = start_page(params, scope=SCOPE, organization_id=scope.organization_id or PLATFORM)
    page = fetch_page(
        session, _statement(scope, query), request, sort=Delivery.created_at, ident=Delivery.id,
        descending=query.order == "desc", position_of=lambda row: Position(row.created_at, row.id),
    )
    return DeliveryList(data=[delivery_resource(row) for row in page.rows], next_pagination_token=page.next_token,
                        prev_pagination_token=page.prev_token)


def _owned(session: Session, scope: WebhookScope, delivery_id: uuid.UUID) -> WebhookDelivery:
    delivery = session.scalar(select(Delivery).where(Delivery.id == delivery_id, _in_scope(scope)))
    if delivery is None:
        raise not_found("webhook delivery", delivery_id)
    return delivery


@router.get("/{delivery_id}", response_model=DeliveryResource, summary="Get a delivery")
def get_webhook_delivery(delivery_id: uuid.UUID, scope: Scope, session: DbSession) -> DeliveryResource:
    return delivery_resource(_owned(session, scope, delivery_id))


@router.post(
    "/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryResource,
    summary="Send a delivery again",
    description="Delivered or given up alike: it goes again now, with a new retry window, the same event id and "
    "body (receivers de-duplicate by the id). 409 while an attempt is under way.",
    responses=error_responses(409),
)
def redeliver_webhook(delivery_id: uuid.UUID, scope: Scope, session: DbSession) -> DeliveryResource:
    delivery = _owned(session, scope, delivery_id)
    try:
        redeliver(delivery)
    except SubscriptionError as exc:
        raise ApiError(409, f"webhook delivery {delivery_id} {exc.message}") from None
    session.commit()
    kick_deliveries([(delivery.event_id, delivery.subscription_id)])
    return delivery_resource(delivery)
