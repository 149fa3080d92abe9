"""The Celery tasks. Their names are the public interface (ops shell, Flower, the API).

Tasks are thin: they check their arguments, call the engine, and turn its outcomes into Celery's
(retry with backoff and jitter, failure with a message a person can read). Arguments are ids only,
never a secret: Flower shows them.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded

from config import get_settings
from models.db import get_sessionmaker
from providers.errors import RetryableError
from tasks.deliveries import count_delivery
from tasks.engine import schedule, sync
from tasks.publish import publish_many
from worker import app
from worker.config import MAX_COUNTDOWN_SECONDS, SCHEDULE_INTERVAL_SECONDS

log = structlog.get_logger(__name__)
TRIGGERS = ("schedule", "manual")


class InvalidTaskArguments(ValueError):
    """A task was called with arguments it cannot use; it is not retried."""


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
        parts = partitions or settings.schedule_partitions
        if parts > 1:
            publish_many(schedule_due_syncs, ([k, parts] for k in range(parts)), expires=SCHEDULE_INTERVAL_SECONDS)
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
def sync_connection(self: Task, connection_id: str, trigger: str = "manual") -> dict[str, Any]:
    """Pull and push one connection. A second sync of it while one runs ends at once, saying so."""
    connection_uuid = parse_id(connection_id, "connection_id")
    if trigger not in TRIGGERS:
        raise InvalidTaskArguments(f"trigger must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
    settings = get_settings()
    sessions = get_sessionmaker()
    try:
        return sync.run_sync(sessions, connection_uuid, trigger).as_dict()
    except RetryableError as exc:
        if self.request.retries >= settings.task_max_retries:
            sync.record_retry_exhausted(sessions, connection_uuid, exc)
            raise
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, exc.retry_after),
                         max_retries=settings.task_max_retries) from None
    except SoftTimeLimitExceeded:
        sync.record_interrupted(sessions, connection_uuid, settings.task_soft_time_limit)
        raise


@app.task(name="tasks.push_synced_record", base=BooksyncTask, bind=True)
def push_synced_record(self: Task, synced_record_id: str) -> dict[str, Any]:
    """Push one synced record again (what ``POST /accounting-synced-records/{id}/push`` enqueues)."""
    record_uuid = parse_id(synced_record_id, "synced_record_id")
    settings = get_settings()
    try:
        record = sync.push_record(get_sessionmaker(), record_uuid)
    except sync.ConnectionBusy:
        raise self.retry(countdown=backoff(0, None) // 4 + 5, max_retries=settings.task_max_retries) from None
    except RetryableError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, exc.retry_after),
                         max_retries=settings.task_max_retries) from None
    if record is None:
        raise InvalidTaskArguments(f"no synced record {synced_record_id}")
    return {"synced_record_id": str(record.id), "sync_status": record.sync_status, "errors": record.errors}


@app.task(name="tasks.disconnect_connection", base=BooksyncTask)
def disconnect_connection(connection_id: str) -> dict[str, Any]:
    """Revoke access where the provider can, mark the connection disconnected, stop its syncs."""
    connection = sync.disconnect(get_sessionmaker(), parse_id(connection_id, "connection_id"))
    if connection is None:
        raise InvalidTaskArguments(f"no connection {connection_id}")
    return {"connection_id": str(connection.id), "status": connection.status}
