"""``emit``: an event is written in the same transaction as the change it reports, and delivered after.

Where something happens that subscribers hear about (a record pushed, a connection deauthorized, a
sync ended), the code says so with one line, ``emit(subject)``. The event is not built there: when
the session commits, its pending subjects are described from their state at that moment
(``webhooks.events``) and written to ``outbox_events``, with one ``webhook_deliveries`` row per
subscription that wants the event, in that same transaction. A worker killed after the commit loses
nothing: the rows are there for the sweep (``webhooks.delivery.sweep``). Right after the commit the
deliveries are handed to the workers (``webhooks.kick``) so they go out at once.

Call ``emit`` where the change is made, just before it. The rules:

- an event about a row (a connection, a synced record) is dropped when the transaction it was
  emitted in rolls back: the change it reports did not happen;
- a connection's event is written only if its status at the commit differs from its status when
  ``emit`` was called (before the change), so reporting a disconnect twice is harmless;
- a sync's summary lives in memory, not in the database: it is written with the session's next
  commit, whatever was rolled back before (the engine emits it as the sync ends, and the commit that
  releases the sync's lease carries it);
- two emits of one object before a commit are one event, with the object's state at the commit;
- no subscription wanting an event: nothing is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, insert, inspect, or_, select
from sqlalchemy.orm import Session, SessionTransaction, object_session
from sqlalchemy.orm.base import NO_VALUE

from models import AccountingConnection, OutboxEvent, WebhookDelivery, WebhookSubscription, utcnow
from webhooks.events import Draft, Subject, describe, event_body, subject_key

PENDING = "booksync.webhooks.pending"
KICKS = "booksync.webhooks.kicks"


@dataclass(slots=True)
class _Pending:
    subject: Subject
    #: the transaction the emit happened in (None: none was open yet, so the next one)
    transaction: SessionTransaction | None
    #: in memory, not a row: survives rollbacks until the next commit
    durable: bool
    #: a connection's status before the change (None: a new connection)
    status_before: str | None = None


def emit(subject: Subject, session: Session | None = None) -> None:
    """Report ``subject``'s change to the subscribers, with the commit of ``session`` (by default the
    session the object belongs to). Call it just before the change: a connection's event is written only
    if its status at the commit differs from its status now. An OAuth callback reports the consent with
    ``emit(connection)`` on the line before ``connection.status = "connected"``."""
    from tasks.engine.summary import SyncSummary

    session = session if session is not None else object_session(subject)
    if session is None:
        raise ValueError(f"emit needs the session that commits the change: this {type(subject).__name__} has none")
    pending: dict[tuple[str, int], _Pending] = session.info.setdefault(PENDING, {})
    key = subject_key(subject)
    if key not in pending:
        transaction = session.get_nested_transaction() or session.get_transaction()
        before = _status_before(subject) if isinstance(subject, AccountingConnection) else None
        pending[key] = _Pending(subject, transaction, durable=isinstance(subject, SyncSummary), status_before=before)


def _status_before(connection: AccountingConnection) -> str | None:
    state = inspect(connection)
    if state.transient or state.pending:
        return None
    attribute = state.attrs.status
    if attribute.history.deleted:
        return str(attribute.history.deleted[0])
    value = attribute.loaded_value
    return None if value is NO_VALUE else str(value)


def _unchanged(item: _Pending) -> bool:
    subject = item.subject
    return isinstance(subject, AccountingConnection) and item.status_before == subject.status


@dataclass(frozen=True, slots=True)
class Written:
    """An event written with deliveries, as (event id, subscription id) pairs to kick after the commit."""

    event_id: uuid.UUID
    deliveries: tuple[uuid.UUID, ...]


_events = OutboxEvent.__table__
_deliveries = WebhookDelivery.__table__
_subscriptions = WebhookSubscription.__table__
#: Who wants events of an organization: its own subscriptions and the platform-wide ones.
_WANTED_BY = (
    select(_subscriptions.c.id, _subscriptions.c.organization_id, _subscriptions.c.event_types)
    .where(or_(_subscriptions.c.organization_id.in_(bindparam("organizations", expanding=True)),
               _subscriptions.c.organization_id.is_(None)))
    .order_by(_subscriptions.c.created_at, _subscriptions.c.id)
)


def write_events(session: Session, drafts: Iterable[Draft], now: datetime) -> list[Written]:
    """Add each draft as an event with a delivery per subscription that wants it (nothing when none does).

    Core statements, not the ORM's unit of work: this runs in every commit that reports something."""
    drafts = list(drafts)
    if not drafts:
        return []
    rows = session.execute(_WANTED_BY, {"organizations": list({draft.organization_id for draft in drafts})}).all()
    written: list[Written] = []
    for draft in drafts:
        wanted = [
            subscription_id for subscription_id, organization_id, event_types in rows
            if (organization_id is None or organization_id == draft.organization_id)
            and draft.type.value in (event_types or [])
        ]
        if not wanted:
            continue
        event_id = uuid.uuid4()
        inserted = session.execute(insert(_events).values(
            id=event_id, type=draft.type.value, organization_id=draft.organization_id,
            ordering_key=draft.ordering_key, created_at=now, body=event_body(event_id, draft, now),
        ))
        sequence = inserted.inserted_primary_key[0]  # orders the event's deliveries
        session.execute(insert(_deliveries), [
            {"id": uuid.uuid4(), "event_id": event_id, "subscription_id": subscription_id, "sequence": sequence,
             "ordering_key": draft.ordering_key, "event_type": draft.type.value, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now, "updated_at": now}
            for subscription_id in wanted
        ])
        written.append(Written(event_id, tuple(wanted)))
    return written


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: dict[tuple[str, int], _Pending] | None = session.info.get(PENDING)
    if not pending:
        return
    session.flush()  # the rows' defaults (ids, timestamps) are what the events show
    now = utcnow()
    drafts = [
        draft for item in list(pending.values())
        if not _unchanged(item) and (draft := describe(item.subject, session, now)) is not None
    ]
    pending.clear()
    written = write_events(session, drafts, now)
    if written:
        session.info.setdefault(KICKS, []).extend(written)


@event.listens_for(Session, "after_commit")
def _kick(session: Session) -> None:
    written: list[Written] | None = session.info.pop(KICKS, None)
    if written:
        from webhooks.kick import kick_deliveries

        kick_deliveries([(item.event_id, subscription) for item in written for subscription in item.deliveries])


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    session.info.pop(KICKS, None)
    pending: dict[tuple[str, int], _Pending] | None = session.info.get(PENDING)
    if not pending:
        return
    whole = not previous_transaction.nested
    for key, item in list(pending.items()):
        if item.durable:
            continue
        if whole or item.transaction is previous_transaction:
            del pending[key]


def pending_subjects(session: Session) -> list[Any]:
    """What ``session`` will report at its next commit (for tests and the shell)."""
    return [item.subject for item in (session.info.get(PENDING) or {}).values()]
