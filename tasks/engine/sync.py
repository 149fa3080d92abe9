"""One sync of one connection, one push-retry, one disconnect: plain functions, no broker needed.

Retryable provider errors propagate to the caller (the task retries them); data errors become
``error`` records and the sync goes on; an authentication error deauthorizes the connection.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus, Counterpart, SyncStatus
from providers.errors import AuthenticationError, ProviderError, RetryableError
from tasks.engine import lease
from tasks.engine.connections import ProviderFactory, open_provider
from tasks.engine.pull import pull_all
from tasks.engine.push import SPEC_BY_OBJECT_TYPE, COUNTERPART_TYPES, Pusher
from tasks.engine.summary import SyncSummary
from tasks.scheduling import next_slot

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ConnectionBusy(Exception):
    """Another sync holds the connection's lease."""


def _deauthorize(connection: AccountingConnection, exc: AuthenticationError, now: datetime) -> None:
    connection.status = ConnectionStatus.DEAUTHORIZED.value
    connection.next_sync_at = None
    connection.errors = [{"message": f"the accounting system refused booksync's credentials: {exc.message}; "
                          "reconnect to resume syncing", "kind": exc.kind, "at": now.isoformat()}]


def run_sync(
    sessions: sessionmaker[Session],
    connection_id: uuid.UUID,
    trigger: str,
    *,
    provider_factory: ProviderFactory = open_provider,
    now: Clock = utc_now,
    holder: str | None = None,
) -> SyncSummary:
    """Pull then push one connection under its lease; returns what happened."""
    settings = get_settings()
    started, started_clock = now(), time.monotonic()
    summary = SyncSummary(connection_id=str(connection_id), trigger=trigger)
    holder = holder or lease_holder()
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is None:
            summary.status, summary.message = "skipped", "no such connection"
            return summary
        summary.organization_id, summary.platform = str(connection.organization_id), connection.platform
        structlog.contextvars.bind_contextvars(
            connection_id=str(connection_id), organization_id=summary.organization_id, platform=connection.platform
        )
        if connection.status != ConnectionStatus.CONNECTED:
            summary.status, summary.message = "skipped", f"connection is {connection.status}, not connected"
            return summary
        if not lease.acquire(session, connection_id, holder, started, settings.lease_seconds):
            summary.status = "busy"
            summary.message = "another sync of this connection is running; this one did nothing"
            log.info("sync.busy", trigger=trigger)
            return summary
        try:
            session.refresh(connection)
            summary.full_reconcile = connection.sync_count % settings.full_reconcile_every == 0 and connection.sync_count > 0
            connection.last_sync_started_at = started

            def keep_lease() -> None:
                lease.renew(session, connection_id, holder, now(), settings.lease_seconds)

            with provider_factory(connection) as provider:
                pull_all(session, connection, provider, summary, reconcile=summary.full_reconcile, now=started,
                         on_page=keep_lease)
                Pusher(session, connection, provider, summary, now).push_all(on_batch=keep_lease)
            connection.last_pull = started
            connection.errors = []
            connection.sync_count += 1
            connection.retry_count = 0
            session.commit()
        except AuthenticationError as exc:
            session.rollback()
            _deauthorize(connection, exc, now())
            session.commit()
            summary.status, summary.message = "failed", connection.errors[0]["message"]
        except RetryableError as exc:
            connection.retry_count += 1
            session.commit()
            summary.status, summary.message = "failed", exc.message
            raise
        except ProviderError as exc:
            session.rollback()
            connection.errors = [{"message": f"sync failed: {exc.message}", "kind": exc.kind, "at": now().isoformat()}]
            session.commit()
            summary.status, summary.message = "failed", connection.errors[0]["message"]
        except BaseException:
            session.rollback()
            summary.status, summary.message = "failed", "unexpected error; see the worker's log"
            raise
        finally:
            lease.release(session, connection_id, holder)
            summary.duration_ms = int((time.monotonic() - started_clock) * 1000)
            log.info("sync.finished", **{k: v for k, v in summary.as_dict().items() if k != "connection_id"})
    return summary


def record_retry_exhausted(sessions: sessionmaker[Session], connection_id: uuid.UUID, error: ProviderError, now: Clock = utc_now) -> None:
    """After the last retry, the connection shows the error (a person sees it in the API)."""
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is not None:
            connection.errors = [{"message": f"sync failed after retries: {error.message}", "kind": error.kind,
                                  "at": now().isoformat()}]
            session.commit()


def record_interrupted(sessions: sessionmaker[Session], connection_id: uuid.UUID, seconds: int, now: Clock = utc_now) -> None:
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is not None:
            connection.errors = [{"message": f"sync interrupted: it ran past its {seconds}s time limit; it resumes "
                                  "from its last stored page at the next sync", "kind": "interrupted",
                                  "at": now().isoformat()}]
            session.commit()


def push_record(
    sessions: sessionmaker[Session],
    record_id: uuid.UUID,
    *,
    provider_factory: ProviderFactory = open_provider,
    now: Clock = utc_now,
) -> AccountingSyncedRecord | None:
    """Push one record again (push-retry). Raises ConnectionBusy while a sync holds the connection."""
    settings = get_settings()
    holder = lease_holder()
    with sessions() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        if record is None:
            return None
        connection = session.get(AccountingConnection, record.connection_id)
        assert connection is not None
        if connection.status != ConnectionStatus.CONNECTED:
            record.errors = {"kind": "connection", "message": f"not pushed: the connection is {connection.status}"}
            session.commit()
            return record
        if not lease.acquire(session, connection.id, holder, now(), settings.lease_seconds):
            raise ConnectionBusy(str(connection.id))
        summary = SyncSummary(connection_id=str(connection.id), trigger="push")
        try:
            session.refresh(record)
            with provider_factory(connection) as provider:
                pusher = Pusher(session, connection, provider, summary, now)
                if record.object_type in COUNTERPART_TYPES:
                    counterpart = session.get(Counterpart, record.object_id)
                    if counterpart is not None:
                        record.sync_status = SyncStatus.PENDING.value
                        pusher.counterpart_platform_id(counterpart, record.object_type)
                else:
                    spec = SPEC_BY_OBJECT_TYPE[record.object_type]
                    document = session.get(spec.model, record.object_id)
                    if document is None:
                        record.sync_status = SyncStatus.ERROR.value
                        record.errors = {"kind": "not_found", "message": f"the {record.object_type} no longer exists in booksync"}
                    else:
                        record.sync_status = SyncStatus.PENDING.value
                        pusher.push_document(spec, document)
            session.commit()
        except AuthenticationError as exc:
            session.rollback()
            _deauthorize(connection, exc, now())
            session.commit()
        except RetryableError:
            session.commit()
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            lease.release(session, connection.id, holder)
        session.refresh(record)
        return record


def disconnect(
    sessions: sessionmaker[Session], connection_id: uuid.UUID, *, provider_factory: ProviderFactory = open_provider
) -> AccountingConnection | None:
    """Revoke at the provider where it can, forget the credentials, stop syncing. Safe to repeat."""
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is None:
            return None
        if connection.credentials:
            try:
                with provider_factory(connection) as provider:
                    if provider.supports_revoke:
                        provider.revoke()
            except ProviderError as exc:
                log.warning("disconnect.revoke_failed", connection_id=str(connection_id), error=exc.message)
        connection.credentials = None
        connection.status = ConnectionStatus.DISCONNECTED.value
        connection.next_sync_at = None
        session.commit()
        return connection


def schedule_first_sync(connection: AccountingConnection, now: datetime) -> None:
    connection.next_sync_at = next_slot(connection.id, now, get_settings().sync_period_seconds)
