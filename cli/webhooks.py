"""``webhooks create|list|show|update|rotate-secret|delete|deliveries|redeliver``.

The same rules as ``/webhook-subscriptions`` (``webhooks.subscriptions``): a URL that is not allowed
(not https, a private address...) is bad usage (exit status 2); an unknown id exits 1. Signing secrets
are printed once, by create and rotate-secret.
"""

from __future__ import annotations

import enum
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.database import require
from cli.enqueue import require_broker
from cli.output import JsonOption, fail, format_fields, note, print_json, print_object, print_rows

if TYPE_CHECKING:
    from models import WebhookDelivery, WebhookSubscription

app = typer.Typer(help="Webhook subscriptions and their deliveries.", no_args_is_help=True)


class EventTypeChoice(enum.StrEnum):
    """``webhooks.events.EventType``, repeated so that --help needs no database code (a test keeps them equal)."""

    connected = "accounting_connection.connected"
    disconnected = "accounting_connection.disconnected"
    deauthorized = "accounting_connection.deauthorized"
    pending_auth = "accounting_connection.pending_auth"
    record_done = "accounting_synced_record.done"
    record_error = "accounting_synced_record.error"
    sync_finished = "accounting_sync.finished"


class DeliveryStatusChoice(enum.StrEnum):
    pending = "pending"
    retrying = "retrying"
    delivered = "delivered"
    failed = "failed"


SubscriptionArgument = Annotated[uuid.UUID, typer.Argument(metavar="SUBSCRIPTION_ID", help="The subscription's id.")]
EventsOption = Annotated[
    list[EventTypeChoice] | None,
    typer.Option("--event", metavar="EVENT_TYPE", show_choices=False, help=(
        "An event type to receive; repeat for several. One of: " + ", ".join(choice.value for choice in EventTypeChoice)
    )),
]
COLUMNS = (
    ("id", "ID"), ("scope", "SCOPE"), ("status", "STATUS"), ("host", "HOST"), ("event_types", "EVENTS"),
    ("created_at", "CREATED"),
)
DELIVERY_COLUMNS = (
    ("id", "ID"), ("event_type", "EVENT"), ("status", "STATUS"), ("attempts", "ATTEMPTS"),
    ("last_response_code", "CODE"), ("last_attempt_at", "LAST ATTEMPT"), ("event_id", "EVENT ID"),
    ("last_error", "ERROR"),
)


def _row(subscription: WebhookSubscription) -> dict[str, Any]:
    from urllib.parse import urlsplit

    return {
        "id": subscription.id,
        "organization_id": subscription.organization_id,
        "scope": "platform" if subscription.organization_id is None else str(subscription.organization_id),
        "url": subscription.url,
        "host": urlsplit(subscription.url).hostname,
        "description": subscription.description,
        "event_types": list(subscription.event_types),
        "status": subscription.status,
        "failing_since": subscription.failing_since,
        "last_success_at": subscription.last_success_at,
        "last_failure_at": subscription.last_failure_at,
        "previous_secret_expires_at": subscription.previous_secret_expires_at,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "subscription_id": delivery.subscription_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_response_code": delivery.last_response_code,
        "last_error": delivery.last_error,
        "last_attempt_at": delivery.last_attempt_at,
        "next_attempt_at": delivery.next_attempt_at if delivery.status in ("pending", "retrying") else None,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
    }


def _bad(exc: Any) -> typer.BadParameter:
    return typer.BadParameter(exc.message, param_hint=f"'--{exc.field.replace('_', '-').replace('event-types', 'event')}'")


@app.command("create")
def create(
    url: Annotated[str, typer.Option("--url", metavar="URL", help="Where to POST events (https://).")],
    events: EventsOption = None,
    organization: Annotated[
        uuid.UUID | None,
        typer.Option("--organization", metavar="ORGANIZATION_ID", help="Only this organization's events."),
    ] = None,
    platform: Annotated[bool, typer.Option("--platform", help="Every organization's events.")] = False,
    description: Annotated[str, typer.Option(help="What the subscription is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Subscribe a URL to events and print its signing secret: this is the only time it is shown."""
    if (organization is None) == (not platform):
        raise typer.BadParameter("give exactly one of --organization ORGANIZATION_ID or --platform",
                                 param_hint="'--organization' / '--platform'")
    if not events:
        raise typer.BadParameter("give at least one --event", param_hint="'--event'")
    from models import Organization, session_scope
    from webhooks.subscriptions import SubscriptionError, create_subscription

    with session_scope() as session:
        if organization is not None:
            require(session, Organization, organization, "organization")
        try:
            created = create_subscription(session, organization, url, [e.value for e in events], description)
        except SubscriptionError as exc:
            raise _bad(exc) from None
        session.flush()
        row = _row(created.subscription)
    if as_json:
        print_json({**row, "secret": created.secret})
        return
    typer.echo(created.secret)
    note(f"webhook subscription {row['id']} ({row['scope']}, {', '.join(row['event_types'])}); its signing "
         "secret is not shown again, store it now")


@app.command("list")
def list_subscriptions(
    organization: Annotated[
        uuid.UUID | None, typer.Option("--organization", metavar="ORGANIZATION_ID", help="Only this organization's.")
    ] = None,
    platform: Annotated[bool, typer.Option("--platform", help="Only the platform-wide ones.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Subscriptions, oldest first (never their secret)."""
    from sqlalchemy import select

    from models import WebhookSubscription, session_scope

    query = select(WebhookSubscription).order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    if organization is not None:
        query = query.where(WebhookSubscription.organization_id == organization)
    if platform:
        query = query.where(WebhookSubscription.organization_id.is_(None))
    with session_scope() as session:
        rows = [_row(subscription) for subscription in session.scalars(query)]
    print_rows(rows, COLUMNS, as_json=as_json, empty="no webhook subscriptions")


@app.command("show")
def show(subscription_id: SubscriptionArgument, as_json: JsonOption = False) -> None:
    """One subscription, with its deliveries counted by status."""
    from sqlalchemy import func, select

    from models import WebhookDelivery, WebhookSubscription, session_scope

    with session_scope() as session:
        row = _row(require(session, WebhookSubscription, subscription_id, "webhook subscription"))
        counts = dict(session.execute(
            select(WebhookDelivery.status, func.count()).where(WebhookDelivery.subscription_id == subscription_id)
            .group_by(WebhookDelivery.status)
        ).all())
    row["deliveries"] = {status.value: counts.get(status.value, 0) for status in DeliveryStatusChoice}
    print_object(row, as_json=as_json)


@app.command("update")
def update(
    subscription_id: SubscriptionArgument,
    url: Annotated[str | None, typer.Option("--url", metavar="URL", help="A new URL.")] = None,
    events: EventsOption = None,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a subscription's URL, event types (--event replaces them all) or description."""
    from models import WebhookSubscription, session_scope
    from webhooks.subscriptions import SubscriptionError, update_subscription

    with session_scope() as session:
        subscription = require(session, WebhookSubscription, subscription_id, "webhook subscription")
        try:
            changed = update_subscription(subscription, url=url, description=description,
                                          types=[e.value for e in events] if events else None)
        except SubscriptionError as exc:
            raise _bad(exc) from None
        session.flush()
        row = _row(subscription)
    if as_json:
        print_json({**row, "changed": changed})
    else:
        typer.echo(f"webhook subscription {subscription_id} {'updated' if changed else 'unchanged'}")


@app.command("rotate-secret")
def rotate(
    subscription_id: SubscriptionArgument,
    grace: Annotated[int | None, typer.Option(
        "--grace", min=0, max=30 * 86_400, metavar="SECONDS",
        help="Keep signing with the old secret this long too (default BOOKSYNC_WEBHOOK_SECRET_GRACE_SECONDS; 0: not).",
    )] = None,
    as_json: JsonOption = False,
) -> None:
    """Give a subscription a new signing secret and print it (shown this once)."""
    from models import WebhookSubscription, session_scope
    from webhooks.subscriptions import rotate_secret

    with session_scope() as session:
        subscription = require(session, WebhookSubscription, subscription_id, "webhook subscription")
        secret = rotate_secret(subscription, grace)
        session.flush()
        row = _row(subscription)
    if as_json:
        print_json({**row, "secret": secret})
        return
    typer.echo(secret)
    until = row["previous_secret_expires_at"]
    note(f"webhook subscription {subscription_id}: new signing secret (not shown again); "
         + (f"the old one also signs until {until:%Y-%m-%d %H:%M:%S} UTC" if until else "the old one no longer signs"))


@app.command("delete")
def delete(subscription_id: SubscriptionArgument, as_json: JsonOption = False) -> None:
    """Delete a subscription; its deliveries not sent yet are dropped with it."""
    from models import WebhookSubscription, session_scope

    with session_scope() as session:
        session.delete(require(session, WebhookSubscription, subscription_id, "webhook subscription"))
    if as_json:
        print_json({"id": str(subscription_id), "deleted": True})
    else:
        typer.echo(f"webhook subscription {subscription_id} deleted")


@app.command("deliveries")
def deliveries(
    subscription: Annotated[
        uuid.UUID | None, typer.Option("--subscription", metavar="SUBSCRIPTION_ID", help="Only this subscription's.")
    ] = None,
    event: Annotated[uuid.UUID | None, typer.Option("--event", metavar="EVENT_ID", help="Only this event's.")] = None,
    status: Annotated[DeliveryStatusChoice | None, typer.Option("--status", help="Only in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many (1-1000).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Deliveries, newest first: status, attempts, the receiver's last answer."""
    from sqlalchemy import select

    from models import WebhookDelivery, session_scope

    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit)
    if subscription is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription)
    if event is not None:
        query = query.where(WebhookDelivery.event_id == event)
    if status is not None:
        query = query.where(WebhookDelivery.status == status.value)
    with session_scope() as session:
        rows = [delivery_row(delivery) for delivery in session.scalars(query)]
    print_rows(rows, DELIVERY_COLUMNS, as_json=as_json, empty="no webhook deliveries")


@app.command("redeliver")
def redeliver(
    delivery_id: Annotated[uuid.UUID, typer.Argument(metavar="DELIVERY_ID", help="The delivery's id.")],
    as_json: JsonOption = False,
) -> None:
    """Send a delivery again now (delivered or given up alike), with the same event id and body."""
    from models import WebhookDelivery, session_scope
    from webhooks.kick import kick_deliveries
    from webhooks.subscriptions import SubscriptionError
    from webhooks.subscriptions import redeliver as send_again

    require_broker()
    with session_scope() as session:
        delivery = require(session, WebhookDelivery, delivery_id, "webhook delivery")
        try:
            send_again(delivery)
        except SubscriptionError as exc:
            fail(f"webhook delivery {delivery_id} {exc.message}")
        session.flush()
        row = delivery_row(delivery)
    kick_deliveries([(row["event_id"], row["subscription_id"])])
    if as_json:
        print_json(row)
    else:
        typer.echo(format_fields({"delivery": row["id"], "event": row["event_id"], "status": "pending (sent again now)"}))
