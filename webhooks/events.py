"""The events booksync sends, and how a changed object becomes one.

Every event has the same envelope — ``id``, ``type``, ``created_at``, ``organization_id`` and
``object`` — and the object is what the API serves for it: a connection as
``GET /accounting-connections/{id}`` shows it (``api.routes.connections.connection_resource``), a
synced record as ``GET /accounting-synced-records/{id}`` does (``record_resource``), a sync as its
summary. The connection event types are the reference's connection statuses; booksync adds synced
records and syncs, as unified accounting APIs (Merge, Codat, Nango) do.

An event is described when its transaction commits (``webhooks.outbox``), from the object's state
then: the type of a connection's event is its status at that moment, a synced record's its
``sync_status`` (``pending`` is no event).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from models import AccountingConnection, AccountingSyncedRecord, SyncStatus

if TYPE_CHECKING:  # importing tasks.* at load time would import the engine, which imports this
    from tasks.engine.summary import SyncSummary


class EventType(enum.StrEnum):
    CONNECTION_CONNECTED = "accounting_connection.connected"
    CONNECTION_DISCONNECTED = "accounting_connection.disconnected"
    CONNECTION_DEAUTHORIZED = "accounting_connection.deauthorized"
    CONNECTION_PENDING_AUTH = "accounting_connection.pending_auth"
    SYNCED_RECORD_DONE = "accounting_synced_record.done"
    SYNCED_RECORD_ERROR = "accounting_synced_record.error"
    SYNC_FINISHED = "accounting_sync.finished"


EVENT_TYPES: tuple[str, ...] = tuple(item.value for item in EventType)
#: What an event can be about; ``emit`` accepts these.
Subject: TypeAlias = "AccountingConnection | AccountingSyncedRecord | SyncSummary"


class Event(BaseModel):
    """The body of every delivery (``POST`` to the subscription's URL, JSON)."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    type: EventType
    created_at: datetime
    organization_id: uuid.UUID
    object: dict[str, Any]


class SyncCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pulled: int
    pushed: int
    failed: int


class SyncFinishedObject(BaseModel):
    """``accounting_sync.finished``: what one sync of one connection did (its ``SyncSummary``)."""

    model_config = ConfigDict(extra="forbid")

    connection_id: uuid.UUID
    platform: str | None
    trigger: str
    status: str
    message: str
    full_reconcile: bool
    started_at: datetime | None
    finished_at: datetime
    pulled: dict[str, int]
    pushed: dict[str, int]
    failed: dict[str, int]
    deleted: dict[str, int]
    totals: SyncCounts


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before it is written: ``ordering_key`` names the object whose events keep their order."""

    type: EventType
    organization_id: uuid.UUID
    ordering_key: str
    object: dict[str, Any]


def subject_key(subject: Subject) -> tuple[str, int]:
    """Two emits of one object in one transaction are one event (with the state at commit)."""
    return type(subject).__name__, id(subject)


def describe(subject: Subject, session: Session, now: datetime) -> Draft | None:
    """The event ``subject`` stands for now, or None when its state is no event (a pending record)."""
    from tasks.engine.summary import SyncSummary

    if isinstance(subject, AccountingSyncedRecord):
        return _synced_record(subject)
    if isinstance(subject, AccountingConnection):
        return _connection(subject)
    if isinstance(subject, SyncSummary):
        return _sync(subject, session, now)
    raise TypeError(f"no event for a {type(subject).__name__}")


def _synced_record(record: AccountingSyncedRecord) -> Draft | None:
    from api.routes.synced_records import record_resource

    kinds = {SyncStatus.DONE.value: EventType.SYNCED_RECORD_DONE, SyncStatus.ERROR.value: EventType.SYNCED_RECORD_ERROR}
    kind = kinds.get(record.sync_status)
    if kind is None:
        return None
    return Draft(kind, record.organization_id, f"accounting_synced_record:{record.id}",
                 record_resource(record).model_dump(mode="json"))


def _connection(connection: AccountingConnection) -> Draft:
    from api.routes.connections import connection_resource

    return Draft(EventType(f"accounting_connection.{connection.status}"), connection.organization_id,
                 f"accounting_connection:{connection.id}", connection_resource(connection).model_dump(mode="json"))


def _sync(summary: SyncSummary, session: Session, now: datetime) -> Draft | None:
    if summary.organization_id is None:
        return None
    connection_id = uuid.UUID(summary.connection_id)
    connection = session.get(AccountingConnection, connection_id)  # in the identity map: no query
    body = SyncFinishedObject(
        connection_id=connection_id,
        platform=summary.platform,
        trigger=summary.trigger,
        status=summary.status,
        message=summary.message,
        full_reconcile=summary.full_reconcile,
        started_at=connection.last_sync_started_at if connection is not None else None,
        finished_at=now,
        pulled=dict(summary.pulled),
        pushed=dict(summary.pushed),
        failed=dict(summary.errors),
        deleted=dict(summary.deleted),
        totals=SyncCounts(pulled=sum(summary.pulled.values()), pushed=sum(summary.pushed.values()),
                          failed=sum(summary.errors.values())),
    )
    return Draft(EventType.SYNC_FINISHED, uuid.UUID(summary.organization_id), f"accounting_sync:{connection_id}",
                 body.model_dump(mode="json"))


def event_body(event_id: uuid.UUID, draft: Draft, created_at: datetime) -> str:
    """The exact JSON a delivery sends (every attempt sends the same bytes)."""
    return Event(id=event_id, type=draft.type, created_at=created_at, organization_id=draft.organization_id,
                 object=draft.object).model_dump_json()
