"""The Celery tasks. Their names are the public interface (ops shell, Flower, the API).

Tasks are thin: they check their arguments, call the engine, and turn its outcomes into Celery's
(retry with backoff and jitter, failure with a message a person can read). Arguments are ids only,
never a secret: Flower shows them.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from sqlalchemy.exc import SQLAlchemyError

from config import get_settings
from models.db import get_sessionmaker
from providers.errors import RateLimited, RetryableError
from providers.http import call_deadline
from providers.types import DocumentKind
from tasks.deliveries import count_delivery
from tasks.engine import schedule, sync
from tasks.publish import publish_many
from worker import app
from worker.config import MAX_COUNTDOWN_SECONDS

log = structlog.get_logger(__name__)
TRIGGERS = ("schedule", "manual")
#: As many fan-out parts as ``BOOKSYNC_SCHEDULE_PARTITIONS`` allows.
MAX_PARTITIONS = 256
#: New provider calls stop this long before the soft time limit, leaving time to record what happened.
DEADLINE_MARGIN_SECONDS = 30.0
#: A call already under way then may go on until this long before the soft limit. Cut off at once, it would
#: leave the accounting system working on a call nobody waits for, and the next run (a second later) would
#: look for what it did too early: a push found half done (a draft still being posted), or not yet (made twice).
IN_FLIGHT_MARGIN_SECONDS = 5.0


def provider_time(soft_time_limit: float) -> tuple[float, float]:
    """Seconds into a task after which no new provider call starts, and at which one under way is cut off."""
    new_calls = max(5.0, soft_time_limit - DEADLINE_MARGIN_SECONDS)
    return new_calls, max(new_calls, soft_time_limit - IN_FLIGHT_MARGIN_SECONDS)


class InvalidTaskArguments(ValueError):
    """A task was called with arguments it cannot use; it is not retried."""


def _resumed_kinds(resume: Any) -> frozenset[str]:
    if resume is None:
        return frozenset()
    kinds = {kind.value for kind in DocumentKind}
    if not isinstance(resume, list) or not all(isinstance(kind, str) and kind in kinds for kind in resume):
        raise InvalidTaskArguments(f"resume must be a list of document kinds ({', '.join(sorted(kinds))}), "
                                   f"got {resume!r}")
    return frozenset(resume)


def parse_id(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidTaskArguments(f"{name} must be a UUID, got {value!r}") from None


def backoff(retries: int, retry_after: float | None) -> int:
    """Exponential backoff with full jitter, never shorter than the provider's Retry-After."""
    base = min(MAX_COUNTDOWN_SECONDS, 30 * 2**retries)
    countdown = random.uniform(base / 2, base)
    if retry_after is not None:
        countdown = max(countdown, retry_after)
    return int(min(MAX_COUNTDOWN_SECONDS, countdown))


class BooksyncTask(Task):
    """Gives up on a message redelivered more often than the setting allows."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = self.request
        if request.id and not request.called_directly:
            deliveries = count_delivery(request.id, request.retries or 0)
            if deliveries > get_settings().task_max_deliveries:
                log.error("task.gave_up", deliveries=deliveries,
                          reason="delivered too often; it probably kills its worker")
                raise Reject(f"gave up after {deliveries - 1} deliveries", requeue=False)
        return super().__call__(*args, **kwargs)


@app.task(name="tasks.ping")
def ping() -> str:
    return "pong"


@app.task(name="tasks.schedule_due_syncs", base=BooksyncTask)
def schedule_due_syncs(partition: int | None = None, partitions: int | None = None) -> dict[str, int]:
    """Enqueue a sync for every connection whose hour has come (run by beat every minute).

    Called without a partition and with ``BOOKSYNC_SCHEDULE_PARTITIONS`` above 1, it splits the
    connections' id space and enqueues one ``schedule_due_syncs(partition, partitions)`` per part, so
    that many workers fan out in parallel; otherwise it does the whole fan-out itself.
    """
    settings = get_settings()
    if partition is None:
        parts = settings.schedule_partitions if partitions is None else partitions
        if not isinstance(parts, int) or isinstance(parts, bool) or not 1 <= parts <= MAX_PARTITIONS:
            raise InvalidTaskArguments(f"partitions must be from 1 to {MAX_PARTITIONS}, got {parts!r}")
        if parts > 1:
            publish_many(schedule_due_syncs, ([k, parts] for k in range(parts)), expires=settings.schedule_interval_seconds)
            return {"enqueued": 0, "partitions": parts}
        partition, partitions = 0, 1
    if not isinstance(partition, int) or not isinstance(partitions, int) or not 0 <= partition < partitions:
        raise InvalidTaskArguments(f"partition must be from 0 to partitions - 1, got {partition!r} of {partitions!r}")

    def publish(connection_ids: Any) -> None:
        publish_many(sync_connection, ([connection_id, "schedule"] for connection_id in connection_ids),
                     expires=settings.sync_period_seconds)

    enqueued = schedule.enqueue_due(get_sessionmaker(), datetime.now(UTC), settings.sync_period_seconds, publish,
                                    partition=partition, partitions=partitions)
    return {"enqueued": enqueued, "partition": partition, "partitions": partitions}


@app.task(name="tasks.sync_connection", base=BooksyncTask, bind=True)
def sync_connection(
    self: Task, connection_id: str, trigger: str = "manual", full_reconcile: bool = False,
    resume: list[str] | None = None,
) -> dict[str, Any]:
    """Pull and push one connection. A second sync of it while one runs ends at once, saying so.

    ``full_reconcile`` also lists every document id in the accounting system to find deletions (every
    ``BOOKSYNC_FULL_RECONCILE_EVERY``-th sync does anyway). ``resume`` is set by a sync that stopped at its
    time or rate budget on the task continuing it: the document kinds (``payable``, ``receivable``) it read
    past their lag window, which the continuation reads from their cursor alone.
    """
    connection_uuid = parse_id(connection_id, "connection_id")
    if trigger not in TRIGGERS:
        raise InvalidTaskArguments(f"trigger must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
    if not isinstance(full_reconcile, bool):
        raise InvalidTaskArguments(f"full_reconcile must be true or false, got {full_reconcile!r}")
    resumed = _resumed_kinds(resume)
    settings = get_settings()
    sessions = get_sessionmaker()
    new_calls, in_flight = provider_time(settings.task_soft_time_limit)
    try:
        # the sync stops at a clean point, and provider calls end, before Celery's soft limit interrupts one
        with call_deadline(in_flight):
            return sync.run_sync(sessions, connection_uuid, trigger, full_reconcile=full_reconcile,
                                 calls_until=time.monotonic() + new_calls, resumed=resumed).as_dict()
    except RateLimited as exc:
        # Not a failure: the budget is spent. A new sync starts when it returns; this one ends cleanly.
        countdown = sync.continuation_countdown(exc.retry_after)
        read = exc.read_past_lag if isinstance(exc, sync.SyncContinues) else resumed
        continuation = ((connection_id, trigger, full_reconcile), {"resume": sorted(read)})
        try:
            sync_connection.apply_async(*continuation, countdown=countdown)
        except SoftTimeLimitExceeded:
            # The soft limit landed while the continuation was sent (a process stalled after the sync's own
            # stop): sent again, or the rest of the sync would wait for the connection's next slot.
            sync_connection.apply_async(*continuation, countdown=countdown)
        return {"connection_id": connection_id, "status": "rescheduled", "countdown": countdown}
    except (RetryableError, sync.DatabaseUnavailable) as exc:
        if self.request.retries >= settings.task_max_retries:
            try:
                sync.record_retry_exhausted(sessions, connection_uuid, exc)
            except sync.DatabaseUnavailable:
                pass
            raise
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, retry_after),
                         max_retries=settings.task_max_retries) from None
    except SoftTimeLimitExceeded as exc:
        # Something that is not a provider call (those stop in time) held the sync past its soft limit: a
        # stalled process, a slow database. What it stored stays (pages, outcomes, calls in flight marked);
        # the rest continues in a retry with backoff, without waiting for the connection's next hour.
        try:
            sync.record_interrupted(sessions, connection_uuid, settings.task_soft_time_limit)
        except SQLAlchemyError as error:
            log.warning("sync.interruption_not_recorded", error=type(error).__name__)
        if self.request.retries >= settings.task_max_retries:
            raise
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, None),
                         max_retries=settings.task_max_retries) from None


@app.task(name="tasks.push_synced_record", base=BooksyncTask, bind=True)
def push_synced_record(self: Task, synced_record_id: str) -> dict[str, Any]:
    """Push one synced record again (what ``POST /accounting-synced-records/{id}/push`` enqueues)."""
    record_uuid = parse_id(synced_record_id, "synced_record_id")
    settings = get_settings()
    try:
        with call_deadline(provider_time(settings.task_soft_time_limit)[1]):
            record = sync.push_record(get_sessionmaker(), record_uuid)
    except sync.ConnectionBusy:
        raise self.retry(countdown=backoff(0, None) // 4 + 5, max_retries=settings.task_max_retries) from None
    except (RetryableError, sync.DatabaseUnavailable) as exc:
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, retry_after),
                         max_retries=settings.task_max_retries) from None
    if record is None:
        raise InvalidTaskArguments(f"no synced record {synced_record_id}")
    return {"synced_record_id": str(record.id), "sync_status": record.sync_status, "errors": record.errors}


@app.task(name="tasks.disconnect_connection", base=BooksyncTask, bind=True)
def disconnect_connection(self: Task, connection_id: str) -> dict[str, Any]:
    """Revoke access where the provider can, mark the connection disconnected, stop its syncs."""
    try:
        connection = sync.disconnect(get_sessionmaker(), parse_id(connection_id, "connection_id"))
    except sync.DatabaseUnavailable as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, None),
                         max_retries=get_settings().task_max_retries) from None
    if connection is None:
        raise InvalidTaskArguments(f"no connection {connection_id}")
    return {"connection_id": str(connection.id), "status": connection.status}
