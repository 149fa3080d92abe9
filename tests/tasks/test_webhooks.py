"""The webhook tasks in a real prefork worker (PostgreSQL, Redis) delivering to a real receiver on 127.0.0.1:
a change committed by a task arrives signed, a receiver answering 500 then 200 gets the event twice at most
and in order, and a receiver that hangs does not hold up syncs."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from models import AccountingConnection, Organization, session_scope
from tests.support.processes import celery_worker_args, running, wait_for
from tests.tasks.conftest import connect_memory, make_bill, make_counterpart
from tests.webhooks.conftest import (  # noqa: F401  (fixtures)
    _empty_webhook_queue,
    deliveries,
    env_vars,
    events,
    pg_hooks_env,
    receiver,
    sessions,
    subscribe,
)
from tests.webhooks.receiver import Receiver
from webhooks import emit
from webhooks.signing import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def webhook_worker(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One prefork worker (2 processes) taking both queues, with the in-memory books for syncs; returns its name."""
    name = f"hooks-{uuid.uuid4().hex[:6]}"
    env = {"BOOKSYNC_DATABASE_URL": postgres_url, "BOOKSYNC_BROKER_URL": redis_url,
           "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"], **env_vars()}
    log = tmp_path_factory.mktemp("webhook-worker") / "worker.log"
    with running(celery_worker_args("-I", "sandboxes.memory", concurrency=2, hostname=f"{name}@%h"), env, log):
        wait_for(lambda: "ready." in log.read_text(), timeout=60, what="the webhook tests' worker")
        yield name


def _organization(name: str = "Acme") -> uuid.UUID:
    with session_scope() as session:
        organization = Organization(id=uuid.uuid4(), name=name)
        session.add(organization)
    return organization.id


def _connection(organization_id: uuid.UUID) -> uuid.UUID:
    with session_scope() as session:
        connection = AccountingConnection(id=uuid.uuid4(), organization_id=organization_id, platform="tryton",
                                          status="connected", settings={}, errors=[], cursors={})
        session.add(connection)
    return connection.id


def _delivered_count(worker: str) -> float:
    from worker.metrics import FilesCollector, metrics_root

    directories = [d for d in metrics_root().glob(f"{worker}@*") if d.is_dir()]
    registry = CollectorRegistry(auto_describe=False)
    for directory in directories:
        registry.register(FilesCollector(directory))
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith('booksync_webhook_deliveries_total{outcome="delivered"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_change_a_task_commits_arrives_signed(
    webhook_worker: str, pg_hooks_env: str, receiver: Receiver
) -> None:
    from worker import app

    org = _organization()
    connection_id = _connection(org)
    url = receiver.route()
    subscribed = subscribe(url, org, "accounting_connection.disconnected")
    app.send_task("tasks.disconnect_connection", args=[str(connection_id)])

    [request] = receiver.wait_for(url, 1)
    assert verify(request.body, request.headers[SIGNATURE_HEADER.lower()], subscribed.secret)
    assert request.event["type"] == "accounting_connection.disconnected"
    assert request.event["object"]["id"] == str(connection_id)
    wait_for(lambda: [d.status for d in deliveries()] == ["delivered"], timeout=10, what="the delivery recorded")
    wait_for(lambda: _delivered_count(webhook_worker) >= 1, timeout=10, what="the worker to count the delivery")


def test_a_receiver_answering_500_then_200_gets_the_event_twice_at_most_and_in_order(
    webhook_worker: str, pg_hooks_env: str, receiver: Receiver
) -> None:
    org = _organization()
    connection_id = _connection(org)
    url = receiver.route([500])  # the first request is the first event: the second waits behind it
    subscribe(url, org, "accounting_connection.deauthorized", "accounting_connection.disconnected")
    with session_scope() as session:
        connection = session.get(AccountingConnection, connection_id)
        emit(connection, session)
        connection.status = "deauthorized"  # type: ignore[union-attr]
    with session_scope() as session:
        connection = session.get(AccountingConnection, connection_id)
        emit(connection, session)
        connection.status = "disconnected"  # type: ignore[union-attr]
    first, second = events()

    received = receiver.wait_for(url, 3)
    assert [(r.headers["booksync-event-id"], r.answered) for r in received] == [
        (str(first.id), 500), (str(first.id), 200), (str(second.id), 200)
    ]
    assert [r.headers["booksync-delivery-attempt"] for r in received] == ["1", "2", "1"]
    wait_for(lambda: [d.status for d in deliveries()] == ["delivered", "delivered"], timeout=10,
             what="both deliveries recorded")
    assert len(receiver.received(url)) == 3


def _memory_connection(books: str, bills: int) -> tuple[uuid.UUID, uuid.UUID]:
    with sessions()() as session:
        org = Organization(name=f"Books {books}")
        session.add(org)
        session.flush()
        vendor = make_counterpart(session, org, "Vandelay Industries", vendor=True)
        for index in range(bills):
            make_bill(session, org, vendor, f"B-{index:03d}")
        connection = connect_memory(session, org, books)
        return org.id, connection.id


def test_a_receiver_that_hangs_does_not_hold_up_syncs(
    webhook_worker: str, pg_hooks_env: str, receiver: Receiver
) -> None:
    """Every delivery to the receiver takes the whole timeout (2 s) and fails; with dozens of them queued, a
    sync enqueued behind them still runs at once, and finishes while most deliveries are still to go."""
    from sqlalchemy import func, select

    from models import WebhookDelivery
    from worker import app

    hold = threading.Event()
    try:
        url = receiver.route(hold=hold)
        busy_org, busy = _memory_connection(f"busy-{uuid.uuid4().hex[:6]}", bills=60)
        subscribe(url, busy_org, "accounting_synced_record.done")
        first: Any = app.send_task("tasks.sync_connection", args=[str(busy), "manual"])
        assert first.get(timeout=60)["status"] == "done"
        receiver.wait_arrived(url, 2, timeout=20)  # both worker processes are stuck on the receiver

        other_org, other = _memory_connection(f"other-{uuid.uuid4().hex[:6]}", bills=5)
        subscribe(url, other_org, "accounting_synced_record.done")
        second: Any = app.send_task("tasks.sync_connection", args=[str(other), "manual"])
        summary = second.get(timeout=30)
        assert summary["status"] == "done" and summary["pushed"] == {"bill": 5, "vendor": 1}
        with sessions()() as session:
            unfinished = session.scalar(select(func.count()).select_from(WebhookDelivery)
                                        .where(WebhookDelivery.status.in_(["pending", "retrying"])))
        assert unfinished is not None and unfinished >= 50, "the sync finished while the deliveries were still queued"
        assert not any(request.answered for request in receiver.received(url))
    finally:
        hold.set()


__all__ = ["Path"]
