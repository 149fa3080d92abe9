"""``/webhook-subscriptions``: who receives which events (booksync's extension).

Scope: with ``X-Organization-Id``, that organization's subscriptions (its events only). Without it, a
platform-wide key manages platform-wide subscriptions (every organization's events), and an
organization's key its own organization's. The signing secret is in the answer to create and to
rotate-secret only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response
from sqlalchemy.orm import Session

from api.auth import CurrentPrincipal, organization_scope
from api.db import DbSession
from api.errors import ApiError, body_error_responses, error_responses, invalid, not_found
from api.schemas.webhooks import (
    SecretRotation,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionResource,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)
from models import WebhookSubscription
from webhooks.subscriptions import (
    SubscriptionError,
    create_subscription,
    rotate_secret,
    subscriptions_of,
    update_subscription,
)

router = APIRouter(
    prefix="/webhook-subscriptions", tags=["Webhooks"], responses=error_responses(401, 403, 404, 422)
)


@dataclass(frozen=True, slots=True)
class WebhookScope:
    """Whose subscriptions a call acts on: one organization's, or (None) the platform-wide ones."""

    organization_id: uuid.UUID | None

    def owns(self, subscription: WebhookSubscription) -> bool:
        return subscription.organization_id == self.organization_id


def webhook_scope(
    principal: CurrentPrincipal,
    session: DbSession,
    x_organization_id: Annotated[
        uuid.UUID | None,
        Header(alias="X-Organization-Id", description="The organization whose subscriptions these are; without it, "
               "a platform-wide key acts on platform-wide subscriptions."),
    ] = None,
) -> WebhookScope:
    if x_organization_id is None:
        return WebhookScope(principal.organization_id)
    return WebhookScope(organization_scope(principal, session, x_organization_id))


Scope = Annotated[WebhookScope, Depends(webhook_scope)]


def subscription_resource(subscription: WebhookSubscription) -> SubscriptionResource:
    return SubscriptionResource(
        id=subscription.id,
        organization_id=subscription.organization_id,
        url=subscription.url,
        description=subscription.description,
        event_types=subscription.event_types,
        status=subscription.status,
        failing_since=subscription.failing_since,
        last_success_at=subscription.last_success_at,
        last_failure_at=subscription.last_failure_at,
        previous_secret_expires_at=subscription.previous_secret_expires_at,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
    )


def _with_secret(subscription: WebhookSubscription, secret: str) -> SubscriptionWithSecret:
    return SubscriptionWithSecret(**subscription_resource(subscription).model_dump(), secret=secret)


def _refused(exc: SubscriptionError) -> ApiError:
    return ApiError(409, exc.message) if exc.conflict else invalid(exc.field, exc.message)


def owned_subscription(session: Session, scope: WebhookScope, subscription_id: uuid.UUID) -> WebhookSubscription:
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or not scope.owns(subscription):
        raise not_found("webhook subscription", subscription_id)
    return subscription


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionWithSecret,
    summary="Subscribe a URL to events",
    description="The URL must be https:// and reach a public address (loopback, private, link-local and cloud "
    "metadata addresses are refused unless BOOKSYNC_WEBHOOK_ALLOWED_ADDRESSES allows them). The answer holds the "
    "signing secret; it is not shown again.",
    responses=body_error_responses(),
)
def create_webhook_subscription(body: SubscriptionCreate, scope: Scope, session: DbSession) -> SubscriptionWithSecret:
    try:
        created = create_subscription(session, scope.organization_id, body.url,
                                      [kind.value for kind in body.event_types], body.description)
    except SubscriptionError as exc:
        raise _refused(exc) from None
    session.commit()
    return _with_secret(created.subscription, created.secret)


@router.get("", response_model=SubscriptionList, summary="List subscriptions, oldest first")
def list_webhook_subscriptions(scope: Scope, session: DbSession) -> SubscriptionList:
    return SubscriptionList(data=[subscription_resource(s) for s in subscriptions_of(session, scope.organization_id)])


@router.get("/{subscription_id}", response_model=SubscriptionResource, summary="Get a subscription")
def get_webhook_subscription(subscription_id: uuid.UUID, scope: Scope, session: DbSession) -> SubscriptionResource:
    return subscription_resource(owned_subscription(session, scope, subscription_id))


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionResource,
    summary="Change a subscription's URL, event types or description",
    description="Applies to events from now on; deliveries already queued go to the URL as it is when they are sent.",
    responses=body_error_responses(),
)
def update_webhook_subscription(
    subscription_id: uuid.UUID, body: SubscriptionUpdate, scope: Scope, session: DbSession
) -> SubscriptionResource:
    subscription = owned_subscription(session, scope, subscription_id)
    for name in body.model_fields_set:
        if getattr(body, name) is None:
            raise invalid(name, "may not be null")
    try:
        update_subscription(
            subscription, url=body.url,
            types=[kind.value for kind in body.event_types] if body.event_types is not None else None,
            description=body.description,
        )
    except SubscriptionError as exc:
        raise _refused(exc) from None
    session.commit()
    return subscription_resource(subscription)


@router.post(
    "/{subscription_id}/rotate-secret",
    response_model=SubscriptionWithSecret,
    summary="Rotate the signing secret",
    description="Returns the new secret (shown once). Until `previous_secret_expires_at`, deliveries carry a "
    "signature with the old secret too, so the receiver can switch without refusing any.",
    responses=body_error_responses(),
)
def rotate_webhook_secret(
    subscription_id: uuid.UUID, scope: Scope, session: DbSession, body: SecretRotation | None = None
) -> SubscriptionWithSecret:
    subscription = owned_subscription(session, scope, subscription_id)
    try:
        secret = rotate_secret(subscription, body.grace_period_seconds if body else None)
    except SubscriptionError as exc:
        raise _refused(exc) from None
    session.commit()
    return _with_secret(subscription, secret)


@router.delete(
    "/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a subscription",
    description="Its deliveries not sent yet are dropped with it.",
)
def delete_webhook_subscription(subscription_id: uuid.UUID, scope: Scope, session: DbSession) -> Response:
    session.delete(owned_subscription(session, scope, subscription_id))
    session.commit()
    return Response(status_code=204)
