"""No event is lost when a worker is killed (``kill -9``): after the change committed and before delivery,
or in the middle of a delivery. A second worker with beat (the sweep) delivers it, even with every queued
message gone too."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from models import AccountingConnection, Organization, session_scope
from tests.support.processes import celery_worker_args, running, wait_for
from tests.webhooks.conftest import (  # noqa: F401  (fixtures)
    _empty_webhook_queue,
    deliveries,
    env_vars,
    pg_hooks_env,
    receiver,
    subscribe,
)
from tests.webhooks.receiver import Receiver
from webhooks import emit
from webhooks.signing import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.slow


def _env(postgres_url: str, redis_url: str, **settings: str) -> dict[str, str]:
    return {"BOOKSYNC_DATABASE_URL": postgres_url, "BOOKSYNC_BROKER_URL": redis_url,
            "BOOKSYNC_HOME": os.environ["BOOKSYNC_HOME"], **env_vars(**settings)}


def _ready(log: Path) -> None:
    wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=60, what=f"the worker logging to {log}")


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _lose_every_queued_message(redis_url: str) -> None:
    """What a broker that lost its data would leave: no task waiting, none delivered-but-unacknowledged."""
    import redis

    from worker.config import DEFAULT_QUEUE, WEBHOOK_QUEUE
    from worker.metrics import redis_queue_keys

    client = redis.Redis.from_url(redis_url)
    client.delete(*redis_queue_keys(DEFAULT_QUEUE), *redis_queue_keys(WEBHOOK_QUEUE), "unacked", "unacked_index")
    client.close()


def _connection() -> tuple[uuid.UUID, uuid.UUID]:
    with session_scope() as session:
        organization = Organization(id=uuid.uuid4(), name="Acme")
        session.add(organization)
        session.flush()
        connection = AccountingConnection(id=uuid.uuid4(), organization_id=organization.id, platform="tryton",
                                          status="connected", settings={}, errors=[], cursors={})
        session.add(connection)
    return organization.id, connection.id


def test_a_worker_killed_after_the_change_committed_and_before_delivery_loses_nothing(
    postgres_url: str, redis_url: str, pg_hooks_env: str, receiver: Receiver, tmp_path: Path
) -> None:
    from worker import app

    org, connection_id = _connection()
    url = receiver.route()
    subscribed = subscribe(url, org, "accounting_connection.disconnected")
    env = _env(postgres_url, redis_url)
    sync_only = celery_worker_args("-Q", "booksync", concurrency=1, hostname=f"doomed-{uuid.uuid4().hex[:6]}@%h")
    with running(sync_only, env, tmp_path / "doomed.log") as doomed:
        _ready(tmp_path / "doomed.log")
        app.send_task("tasks.disconnect_connection", args=[str(connection_id)])
        wait_for(lambda: len(deliveries()) == 1, timeout=30, what="the change and its event to commit")
        _kill(doomed)
    _lose_every_queued_message(redis_url)  # the kick the worker published after its commit is gone too
    assert receiver.received(url) == [] and deliveries()[0].status == "pending"

    with running(celery_worker_args("-B", concurrency=1, hostname=f"heir-{uuid.uuid4().hex[:6]}@%h"), env,
                 tmp_path / "heir.log"):
        [request] = receiver.wait_for(url, 1, timeout=60)
        wait_for(lambda: deliveries()[0].status == "delivered", timeout=15, what="the delivery recorded")
    assert verify(request.body, request.headers[SIGNATURE_HEADER.lower()], subscribed.secret)
    assert request.event["type"] == "accounting_connection.disconnected"
    assert request.event["object"]["id"] == str(connection_id)


def test_a_worker_killed_in_the_middle_of_a_delivery_is_replaced_and_the_event_still_arrives(
    postgres_url: str, redis_url: str, pg_hooks_env: str, receiver: Receiver, tmp_path: Path
) -> None:
    hold = threading.Event()
    org, connection_id = _connection()
    url = receiver.route(hold=hold)
    subscribed = subscribe(url, org, "accounting_connection.deauthorized")
    env = _env(postgres_url, redis_url, webhook_timeout_seconds="1")  # an attempt's claim lapses after 7 s
    try:
        doomed_args = celery_worker_args(concurrency=1, hostname=f"doomed-{uuid.uuid4().hex[:6]}@%h")
        with running(doomed_args, env, tmp_path / "doomed.log") as doomed:
            _ready(tmp_path / "doomed.log")
            with session_scope() as session:
                connection = session.get(AccountingConnection, connection_id)
                emit(connection, session)
                connection.status = "deauthorized"  # type: ignore[union-attr]
            [event_id] = receiver.wait_arrived(url, 1)  # the worker is sending it, the receiver holds the answer
            _kill(doomed)
    finally:
        hold.set()
        receiver.plans[url.removeprefix(receiver.base_url)].hold = None
    _lose_every_queued_message(redis_url)
    assert deliveries()[0].status == "pending" and deliveries()[0].claimed_until is not None, "claimed, never recorded"

    with running(celery_worker_args("-B", concurrency=1, hostname=f"heir-{uuid.uuid4().hex[:6]}@%h"), env,
                 tmp_path / "heir.log"):
        wait_for(lambda: deliveries()[0].status == "delivered", timeout=60, what="the event delivered again")
    answered = [request for request in receiver.received(url) if request.headers["booksync-event-id"] == event_id]
    assert answered, "the receiver answered the second attempt"
    assert verify(answered[-1].body, answered[-1].headers[SIGNATURE_HEADER.lower()], subscribed.secret)
    assert [arrived for path, arrived in receiver.arrivals if url.endswith(path)] == [event_id, event_id]
