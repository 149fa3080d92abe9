"""After a commit the deliveries are queued by their ids (what Flower shows), on their own queue; the sweep
that beat runs queues whatever is due; the worker's configuration routes and schedules them."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from config import get_settings
from models import AccountingConnection, WebhookDelivery, session_scope, utcnow
from tests.conftest import TEST_BROKER_URL
from tests.webhooks.conftest import events, make_organization, purge_webhook_queue, subscribe
from webhooks import emit
from worker.config import DEFAULT_QUEUE, WEBHOOK_QUEUE, celery_config
from worker.metrics import redis_queue_keys

URL = "http://127.0.0.1:9/hook"  # never called: no worker here


def _queued(queue: str = WEBHOOK_QUEUE) -> list[dict[str, Any]]:
    import redis

    client = redis.Redis.from_url(TEST_BROKER_URL)
    try:
        raw = [m for key in redis_queue_keys(queue) for m in client.lrange(key, 0, -1)]
    finally:
        client.close()
    messages = []
    for message in raw:
        envelope = json.loads(message)
        headers = envelope["headers"]
        messages.append({"task": headers["task"], "argsrepr": headers["argsrepr"],
                         "args": json.loads(base64.b64decode(envelope["body"]))[0]})
    return messages


def _deauthorize(organization_id: Any) -> None:
    with session_scope() as session:
        connection = AccountingConnection(organization_id=organization_id, platform="tryton", status="connected",
                                          settings={}, errors=[], cursors={})
        session.add(connection)
        session.flush()
        emit(connection, session)
        connection.status = "deauthorized"


def test_a_commit_queues_its_deliveries_by_event_and_subscription_id(pg_hooks_env: str) -> None:
    org = make_organization()
    subscribed = subscribe(URL, org, "accounting_connection.deauthorized")
    purge_webhook_queue()
    _deauthorize(org)
    [event] = events()
    assert _queued() == [{
        "task": "tasks.deliver_webhook",
        "argsrepr": f"['{event.id}', '{subscribed.id}']",  # what Flower lists
        "args": [str(event.id), str(subscribed.id)],
    }]
    assert not [m for m in _queued(DEFAULT_QUEUE) if m["task"] == "tasks.deliver_webhook"]
    assert subscribed.secret not in json.dumps(_queued())


def test_the_sweep_queues_what_is_due_and_nothing_else(pg_hooks_env: str) -> None:
    from tasks.webhooks import sweep_webhooks

    subscribed = subscribe(URL, None, "accounting_connection.deauthorized")  # every organization's
    for _ in range(3):
        _deauthorize(make_organization())
    due, later, lapsed = events()
    with session_scope() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.event_id == later.id)
                        .values(next_attempt_at=utcnow() + timedelta(hours=1), status="retrying"))
        session.execute(update(WebhookDelivery).where(WebhookDelivery.event_id == lapsed.id)
                        .values(claimed_until=utcnow() - timedelta(seconds=1), claimed_by="a-dead-worker"))
    purge_webhook_queue()
    assert sweep_webhooks.apply().get() == {"enqueued": 2, "purged_events": 0, "waiting": 0}
    assert sorted(m["args"][0] for m in _queued()) == sorted([str(due.id), str(lapsed.id)])
    assert {m["args"][1] for m in _queued()} == {str(subscribed.id)}


def test_while_the_workers_are_behind_the_sweep_adds_only_what_fits(pg_hooks_env: str, monkeypatch: Any) -> None:
    from tasks import webhooks as tasks_webhooks
    from webhooks import delivery

    subscribe(URL, None, "accounting_connection.deauthorized")
    for _ in range(3):
        _deauthorize(make_organization())
    purge_webhook_queue()
    monkeypatch.setattr(delivery, "SWEEP_LIMIT", 4)
    assert tasks_webhooks.waiting_deliveries() == 0
    tasks_webhooks.kick_deliveries([(event.id, uuid.uuid4()) for event in events()[:2]])  # two already waiting
    assert tasks_webhooks.waiting_deliveries() == 2
    assert tasks_webhooks.sweep_webhooks.apply().get() == {"enqueued": 2, "purged_events": 0, "waiting": 2}
    assert tasks_webhooks.sweep_webhooks.apply().get()["enqueued"] == 0, "the queue is full: nothing more"


def test_the_worker_routes_webhook_tasks_to_their_queue_and_beat_sweeps(pg_hooks_env: str) -> None:
    config = celery_config(get_settings())
    assert [queue.name for queue in config["task_queues"]] == [DEFAULT_QUEUE, WEBHOOK_QUEUE]
    assert config["task_routes"]["tasks.deliver_webhook"] == {"queue": WEBHOOK_QUEUE}
    assert config["beat_schedule"]["sweep-webhooks"]["task"] == "tasks.sweep_webhooks"
    assert config["beat_schedule"]["sweep-webhooks"]["schedule"] == 1.0  # BOOKSYNC_WEBHOOK_SWEEP_SECONDS
