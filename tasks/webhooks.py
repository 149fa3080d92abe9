"""The webhook tasks: deliver one event to one subscription, and the sweep beat runs.

Both go to their own queue (``booksync.webhooks``, see worker/config.py). Arguments are ids only:
Flower lists a delivery as ``tasks.deliver_webhook('<event id>', '<subscription id>')``. The database
is the truth about a delivery (``webhooks.delivery``); these tasks are only how workers get to it, so
a message lost or run twice costs nothing: the sweep sends what is due, and a delivery claimed by one
worker is skipped by another.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from sqlalchemy.exc import SQLAlchemyError

from config import get_settings
from models.db import get_sessionmaker, is_outage
from tasks.definitions import BooksyncTask, backoff, parse_id
from tasks.publish import publish_many
from webhooks import delivery
from webhooks.kick import kick_deliveries
from worker import app
from worker.config import WEBHOOK_QUEUE
from worker.metrics import record_webhook_delivery


@app.task(name="tasks.deliver_webhook", base=BooksyncTask, bind=True, ignore_result=True)
def deliver_webhook(self: Task, event_id: str, subscription_id: str) -> dict[str, Any]:
    """One attempt of one delivery (if it is due and first in line for its object); schedules what follows."""
    event_uuid = parse_id(event_id, "event_id")
    subscription_uuid = parse_id(subscription_id, "subscription_id")
    settings = get_settings()
    try:
        outcome = delivery.deliver(get_sessionmaker(), event_uuid, subscription_uuid)
    except SQLAlchemyError as exc:
        if not is_outage(exc):
            raise
        # the delivery's row is intact; retry soon, and the sweep sends it anyway once the database is back
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, None) // 4 + 1,
                         max_retries=settings.task_max_retries) from None
    record_webhook_delivery(outcome.status, outcome.duration_ms)
    if outcome.next is not None:
        kick_deliveries([outcome.next])
    if outcome.retry_in is not None and outcome.retry_in < settings.webhook_sweep_seconds:
        kick_deliveries([(event_uuid, subscription_uuid)], countdown=outcome.retry_in)
    return outcome.as_dict()


def waiting_deliveries() -> int:
    """Delivery messages waiting in the webhooks queue (0 when the broker cannot say)."""
    try:
        with app.connection_for_read() as connection:
            return int(connection.default_channel.queue_declare(queue=WEBHOOK_QUEUE, passive=True).message_count)
    except Exception:  # noqa: BLE001  (then the sweep sends what is due, as if the queue were empty)
        return 0


@app.task(name="tasks.sweep_webhooks", base=BooksyncTask, ignore_result=True)
def sweep_webhooks() -> dict[str, int]:
    """Beat, every ``BOOKSYNC_WEBHOOK_SWEEP_SECONDS``: enqueue the deliveries that are due (retries, kicks
    that were lost, claims left by dead workers) and delete old finished events.

    While the workers are behind (the queue already holds a sweep's worth), it enqueues only what fits:
    what is due is reached anyway, and copies of it would only lengthen the queue.
    """
    settings = get_settings()
    room = max(0, delivery.SWEEP_LIMIT - waiting_deliveries())
    swept = delivery.sweep(get_sessionmaker(), limit=room)
    sent = publish_many(deliver_webhook, ([str(event_id), str(subscription_id)] for event_id, subscription_id in swept.due),
                        expires=settings.webhook_sweep_seconds * 4)
    return {"enqueued": sent, "purged_events": swept.purged_events, "waiting": delivery.SWEEP_LIMIT - room}
