"""One sync of one connection, one push-retry, one disconnect: plain functions, no broker needed.

Retryable provider errors propagate to the caller (the task retries them); data errors become
``error`` records and the sync goes on; an authentication error deauthorizes the connection. A
database that cannot be reached raises ``DatabaseUnavailable`` (the task retries with backoff). Text
that comes from a provider is scrubbed of the connection's secrets before it is stored or logged.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from config.secrets import Credentials, scrub
from models import AccountingConnection, AccountingSyncedRecord, ConnectionStatus
from models.db import is_outage
from providers import http
from providers.errors import AuthenticationError, ProviderError, RateLimited, RetryableError
from tasks.engine import lease
from tasks.engine.connections import ProviderFactory, open_provider
from tasks.engine.pull import pull_all
from tasks.engine.push import Pusher
from tasks.engine.summary import SyncSummary
from tasks.scheduling import next_slot
from webhooks import emit
from worker.config import MAX_COUNTDOWN_SECONDS

log = structlog.get_logger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def lease_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ConnectionBusy(Exception):
    """Another sync holds the connection's lease."""


class SyncContinues(RateLimited):
    """The sync stopped at its time or rate budget; a new run continues it after ``retry_after``.

    ``read_past_lag``: the document kinds this sync has read past their lag window, which the continuation
    reads from their cursor alone (``run_sync(resumed=...)``)."""

    def __init__(self, stopped: RateLimited, read_past_lag: frozenset[str]) -> None:
        super().__init__(stopped.message, retry_after=stopped.retry_after, details=stopped.details)
        self.read_past_lag = read_past_lag


class DatabaseUnavailable(Exception):
    """booksync's database could not be reached (or dropped the connection): try again later."""


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database that is away into ``DatabaseUnavailable``; other errors pass unchanged."""
    try:
        yield
    except SQLAlchemyError as exc:
        if is_outage(exc):
            raise DatabaseUnavailable(f"the database is unavailable ({type(exc.orig or exc).__name__})") from exc
        raise


def _secrets(connection: AccountingConnection) -> list[str]:
    return Credentials(connection.credentials or {}).secret_values()


def _deauthorize(connection: AccountingConnection, exc: AuthenticationError, now: datetime, secrets: list[str]) -> None:
    emit(connection)
    connection.status = ConnectionStatus.DEAUTHORIZED.value
    connection.next_sync_at = None
    connection.errors = [scrub({"message": f"the accounting system refused booksync's credentials: {exc.message}; "
                                "reconnect (or give new credentials) to resume syncing", "kind": exc.kind,
                                "at": now.isoformat()}, secrets)]


def _finished(summary: SyncSummary, started_clock: float) -> SyncSummary:
    summary.duration_ms = int((time.monotonic() - started_clock) * 1000)
    log.info("sync.finished", **{k: v for k, v in summary.as_dict().items() if k != "connection_id"})
    return summary


def run_sync(
    sessions: sessionmaker[Session],
    connection_id: uuid.UUID,
    trigger: str,
    *,
    full_reconcile: bool = False,
    provider_factory: ProviderFactory = open_provider,
    now: Clock = utc_now,
    holder: str | None = None,
    calls_until: float | None = None,
    resumed: frozenset[str] = frozenset(),
) -> SyncSummary:
    """Pull then push one connection under its lease; returns what happened (and logs ``sync.finished``).

    ``calls_until`` (a ``time.monotonic()`` value): no provider call starts after it; the sync stops at its
    next clean point and what is left continues in a new sync. By default, the HTTP layer's call deadline.
    Stopped so (or at a rate limit), it raises ``SyncContinues``; ``resumed`` is then the continuation's
    ``read_past_lag``.
    """
    started_clock = time.monotonic()
    summary = SyncSummary(connection_id=str(connection_id), trigger=trigger)
    try:
        with database_errors():
            _run_sync(sessions, connection_id, summary, full_reconcile=full_reconcile,
                      provider_factory=provider_factory, now=now, holder=holder or lease_holder(),
                      calls_until=calls_until, resumed=resumed)
    except DatabaseUnavailable as exc:
        summary.status, summary.message = "failed", str(exc)
        _finished(summary, started_clock)
        raise
    except BaseException:
        _finished(summary, started_clock)
        raise
    return _finished(summary, started_clock)


def _run_sync(
    sessions: sessionmaker[Session],
    connection_id: uuid.UUID,
    summary: SyncSummary,
    *,
    full_reconcile: bool,
    provider_factory: ProviderFactory,
    now: Clock,
    holder: str,
    calls_until: float | None,
    resumed: frozenset[str],
) -> None:
    settings = get_settings()
    started = now()
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is None:
            summary.status, summary.message = "skipped", "no such connection"
            return
        summary.organization_id, summary.platform = str(connection.organization_id), connection.platform
        structlog.contextvars.bind_contextvars(
            connection_id=str(connection_id), organization_id=summary.organization_id, platform=connection.platform
        )
        if connection.status != ConnectionStatus.CONNECTED:
            summary.status, summary.message = "skipped", f"connection is {connection.status}, not connected"
            return
        if not lease.acquire(session, connection_id, holder, started, settings.lease_seconds):
            summary.status = "busy"
            summary.message = "another sync of this connection is running; this one did nothing"
            return
        secrets = _secrets(connection)
        heartbeat = lease.Heartbeat(sessions, connection_id, holder, settings.lease_seconds, now)
        checkpoint = _checkpoint(heartbeat, calls_until)
        released = finished = False
        try:
            with heartbeat:
                session.refresh(connection)
                summary.full_reconcile = full_reconcile or (
                    connection.sync_count % settings.full_reconcile_every == 0 and connection.sync_count > 0
                )
                connection.last_sync_started_at = started
                session.commit()
                with provider_factory(connection) as provider:
                    pull_all(session, connection, provider, summary, reconcile=summary.full_reconcile, now=started,
                             lag_seconds=settings.pull_lag_seconds, checkpoint=checkpoint, resumed=resumed)
                    Pusher(session, connection, provider, summary, now, checkpoint=checkpoint,
                           secrets=secrets).push_all()
                    warnings = provider.warnings()
            connection.last_pull = started
            connection.last_sync_finished_at = now()
            connection.errors = [scrub({"message": warning, "kind": "warning", "at": now().isoformat()}, secrets)
                                 for warning in warnings]
            connection.sync_count += 1
            connection.retry_count = 0
            _back_to_regular_slot(connection, now())
            finished = True  # committed with the lease's release, in one durable commit
        except AuthenticationError as exc:
            session.rollback()
            _deauthorize(connection, exc, now(), secrets)
            session.commit()
            summary.status, summary.message = "failed", connection.errors[0]["message"]
        except RateLimited as exc:
            session.rollback()
            try:
                _due_unless_continued(connection, now(), continuation_countdown(exc.retry_after), settings.lease_seconds)
                session.commit()
            except SQLAlchemyError:  # the database is away: the continuation message alone carries the rest
                session.rollback()
            summary.status = "rescheduled"
            summary.message = scrub(f"stopped at the rate limit ({exc.message}); continues in {exc.retry_after or 0:.0f}s",
                                    secrets)
            raise SyncContinues(exc, frozenset(summary.read_past_lag)) from exc
        except RetryableError as exc:
            session.rollback()
            connection.retry_count += 1
            session.commit()
            summary.status, summary.message = "failed", scrub(exc.message, secrets)
            raise
        except lease.LeaseLost as exc:
            session.rollback()
            released = True  # someone else holds it now
            summary.status, summary.message = "interrupted", str(exc)
        except ProviderError as exc:
            session.rollback()
            connection.errors = [scrub({"message": f"sync failed: {exc.message}", "kind": exc.kind,
                                        "at": now().isoformat()}, secrets)]
            session.commit()
            summary.status, summary.message = "failed", connection.errors[0]["message"]
        except BaseException:
            session.rollback()
            summary.status, summary.message = "failed", "unexpected error; see the worker's log"
            raise
        finally:
            emit(summary, session)
            if not released:
                _release_quietly(session, connection_id, holder, keep=finished)


def continuation_countdown(retry_after: float | None) -> int:
    """Seconds until the new task that carries on a sync stopped at its time or rate budget."""
    return int(min(MAX_COUNTDOWN_SECONDS, max(1.0, retry_after or 60.0)))


def _due_unless_continued(connection: AccountingConnection, at: datetime, countdown: float, grace: float) -> None:
    """A sync that stops to go on in a new task is also made due a little after that task should have begun.

    The continuation is a message sent after the lease is released; a worker killed or frozen in between
    would leave the rest of the sync to the connection's next hourly slot. Committed before the stop, this
    due time lets beat start it instead; a continuation that does run finishes first and moves the
    connection back to its regular slot."""
    due = at + timedelta(seconds=countdown + grace)
    if connection.next_sync_at is not None and connection.next_sync_at > due:
        connection.next_sync_at = due


def _back_to_regular_slot(connection: AccountingConnection, at: datetime) -> None:
    """After a finished sync, the connection is next due at its regular slot (not at a continuation's due time)."""
    if connection.next_sync_at is not None:
        connection.next_sync_at = next_slot(connection.id, at, get_settings().sync_period_seconds)


def _checkpoint(heartbeat: lease.Heartbeat, calls_until: float | None = None) -> Callable[[], None]:
    """Run before every provider call: stop if the lease was lost, or at a clean point when the task's
    time for new provider calls (``calls_until``, else ``providers.http.call_deadline``) is spent — the
    rest is a new sync's. A call under way then is not cut off here: it ends by the call deadline."""

    def check() -> None:
        heartbeat.check()
        left = http.remaining() if calls_until is None else calls_until - time.monotonic()
        if left is not None and left <= 0:
            raise RateLimited("the sync used the time its task has; what is left continues in a new sync",
                              retry_after=1.0, details={"reason": "time"})

    return check


def _release_quietly(session: Session, connection_id: uuid.UUID, holder: str, *, keep: bool = False) -> None:
    """Release the lease; if the database is away, the lease lapses on its own within a minute.

    ``keep``: commit what the session holds with the release (a finished sync's stamps), else drop it.
    A release interrupted by something other than an outage (Celery's soft time limit landing in the
    statement) is tried once more, without the stamps: a lease left held would make the continuation of
    this sync find the connection busy until the lease lapsed."""
    for attempt in (1, 2):
        try:
            if not keep or attempt > 1:
                session.rollback()
            lease.release(session, connection_id, holder)
            return
        except SQLAlchemyError as exc:
            if attempt > 1 or is_outage(exc):
                log.warning("sync.lease_release_failed", connection_id=str(connection_id), error=type(exc).__name__)
                return


def record_retry_exhausted(sessions: sessionmaker[Session], connection_id: uuid.UUID, error: BaseException,
                           now: Clock = utc_now) -> None:
    """After the last retry, the connection shows the error (a person sees it in the API)."""
    message = error.message if isinstance(error, ProviderError) else str(error)
    kind = error.kind if isinstance(error, ProviderError) else "database"
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is not None:
            connection.errors = [scrub({"message": f"sync failed after retries: {message}", "kind": kind,
                                        "at": now().isoformat()}, _secrets(connection))]
            session.commit()


def record_interrupted(sessions: sessionmaker[Session], connection_id: uuid.UUID, seconds: int, now: Clock = utc_now) -> None:
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is not None:
            connection.errors = [{"message": f"sync interrupted: it ran past its {seconds}s time limit; it resumes "
                                  "from its last stored page in a retry shortly", "kind": "interrupted",
                                  "at": now().isoformat()}]
            session.commit()


def connection_for_record(session: Session, record: AccountingSyncedRecord) -> AccountingConnection | None:
    """The connection a record's push goes through: the organization's connected one to the same books."""
    return session.scalar(
        select(AccountingConnection)
        .where(
            AccountingConnection.organization_id == record.organization_id,
            AccountingConnection.books_id == record.books_id
            if not record.books_id.startswith("connection:")
            else AccountingConnection.id == record.connection_id,
            AccountingConnection.status == ConnectionStatus.CONNECTED.value,
        )
        .order_by(AccountingConnection.created_at.desc())
        .limit(1)
    )


def push_record(
    sessions: sessionmaker[Session],
    record_id: uuid.UUID,
    *,
    provider_factory: ProviderFactory = open_provider,
    now: Clock = utc_now,
) -> AccountingSyncedRecord | None:
    """Push one record again (push-retry). Raises ConnectionBusy while a sync holds the connection."""
    with database_errors():
        return _push_record(sessions, record_id, provider_factory=provider_factory, now=now)


def _push_record(
    sessions: sessionmaker[Session], record_id: uuid.UUID, *, provider_factory: ProviderFactory, now: Clock
) -> AccountingSyncedRecord | None:
    settings = get_settings()
    holder = lease_holder()
    with sessions() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        if record is None:
            return None
        connection = connection_for_record(session, record)
        if connection is None:
            last = session.get(AccountingConnection, record.connection_id)
            status = last.status if last is not None else "gone"
            record.errors = {"kind": "connection", "message": f"not pushed: the connection is {status}; connect "
                             "the organization to these books again (or give the connection new credentials) first"}
            session.commit()
            return record
        if not lease.acquire(session, connection.id, holder, now(), settings.lease_seconds):
            raise ConnectionBusy(str(connection.id))
        secrets = _secrets(connection)
        summary = SyncSummary(connection_id=str(connection.id), trigger="push")
        try:
            with lease.Heartbeat(sessions, connection.id, holder, settings.lease_seconds, now) as heartbeat:
                session.refresh(record)
                session.commit()
                with provider_factory(connection) as provider:
                    Pusher(session, connection, provider, summary, now, checkpoint=heartbeat.check,
                           secrets=secrets).push_record(record)
            session.commit()
        except AuthenticationError as exc:
            session.rollback()
            _deauthorize(connection, exc, now(), secrets)
            session.commit()
        except lease.LeaseLost:
            session.rollback()
        except RetryableError:
            session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            _release_quietly(session, connection.id, holder)
        session.refresh(record)
        session.commit()
        return record


def disconnect(
    sessions: sessionmaker[Session], connection_id: uuid.UUID, *, provider_factory: ProviderFactory = open_provider
) -> AccountingConnection | None:
    """Revoke at the provider where it can, forget the credentials, stop syncing. Safe to repeat."""
    with database_errors(), sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is None:
            return None
        emit(connection, session)
        connection.status = ConnectionStatus.DISCONNECTED.value
        connection.next_sync_at = None
        session.commit()  # syncing stops now, and no transaction is open during the revocation call
        if connection.credentials:
            try:
                with provider_factory(connection) as provider:
                    if provider.supports_revoke:
                        provider.revoke()
            except ProviderError as exc:
                log.warning("disconnect.revoke_failed", connection_id=str(connection_id),
                            error=scrub(exc.message, _secrets(connection)))
        connection.credentials = None
        session.commit()
        return connection


def schedule_first_sync(connection: AccountingConnection, now: datetime) -> None:
    connection.next_sync_at = next_slot(connection.id, now, get_settings().sync_period_seconds)
