"""Deliveries to a real receiver on 127.0.0.1, run in this process (``deliver`` is what the task runs): every
event type signed, retries in order, giving up, secret rotation, refused addresses, redirects, timeouts,
redelivery and the sweep. Clocks are moved by hand where a retry would otherwise be waited for."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import update

from models import (
    AccountingConnection,
    AccountingSyncedRecord,
    OutboxEvent,
    WebhookDelivery,
    WebhookSubscription,
    session_scope,
    utcnow,
)
from tasks.engine.summary import SyncSummary
from tests.webhooks.conftest import (
    Clock,
    deliver_due,
    deliveries,
    events,
    make_organization,
    sessions,
    settings,
    subscribe,
)
from tests.webhooks.receiver import Receiver
from webhooks import emit
from webhooks.delivery import backoff, deliver, due_deliveries, purge
from webhooks.events import EVENT_TYPES, Event
from webhooks.signing import SIGNATURE_HEADER, verify
from webhooks.subscriptions import redeliver, rotate_secret


def _connection(organization_id: uuid.UUID, status: str) -> uuid.UUID:
    with session_scope() as session:
        connection = AccountingConnection(id=uuid.uuid4(), organization_id=organization_id, platform="tryton",
                                          status=status, settings={}, errors=[], cursors={})
        session.add(connection)
        emit(connection, session)
    return connection.id


def _set_status(connection_id: uuid.UUID, status: str) -> None:
    with session_scope() as session:
        connection = session.get(AccountingConnection, connection_id)
        emit(connection, session)  # type: ignore[arg-type]
        connection.status = status  # type: ignore[union-attr]


def _record(connection_id: uuid.UUID, organization_id: uuid.UUID, object_id: uuid.UUID | None = None) -> uuid.UUID:
    with session_scope() as session:
        record = AccountingSyncedRecord(
            id=uuid.uuid4(), organization_id=organization_id, connection_id=connection_id, books_id="books-1",
            object_type="bill", object_id=object_id or uuid.uuid4(), platform="tryton", sync_status="pending",
        )
        session.add(record)
    return record.id


def _record_status(record_id: uuid.UUID, status: str, **values: object) -> None:
    with session_scope() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        emit(record, session)  # type: ignore[arg-type]
        record.sync_status = status  # type: ignore[union-attr]
        for name, value in values.items():
            setattr(record, name, value)


def _summary(connection_id: uuid.UUID, organization_id: uuid.UUID) -> None:
    with session_scope() as session:
        summary = SyncSummary(connection_id=str(connection_id), trigger="manual", organization_id=str(organization_id),
                              platform="tryton")
        summary.pushed["bill"] = 2
        summary.errors["bill"] = 1
        emit(summary, session)


def test_each_event_type_arrives_signed_with_its_envelope(hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    url = receiver.route()
    subscribed = subscribe(url, org)
    pending = _connection(org, "pending_auth")
    _set_status(pending, "disconnected")  # one active connection per organization
    connected = _connection(org, "connected")
    _set_status(connected, "deauthorized")
    done, failed = _record(connected, org), _record(connected, org)
    _record_status(done, "done", platform_object_id="P-1")
    _record_status(failed, "error", errors={"message": "tax rate 7% does not exist in the accounting system"})
    _summary(connected, org)

    outcomes = deliver_due()
    assert [o.status for o in outcomes] == ["delivered"] * 7
    received = receiver.wait_for(url, 7)
    assert sorted(r.headers["booksync-event-type"] for r in received) == sorted(EVENT_TYPES)
    for request in received:
        event = Event.model_validate_json(request.body)
        assert verify(request.body, request.headers[SIGNATURE_HEADER.lower()], subscribed.secret)
        assert request.headers["booksync-event-id"] == str(event.id)
        assert request.headers["booksync-event-type"] == event.type.value
        assert request.headers["booksync-delivery-attempt"] == "1"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("booksync-webhooks/")
        assert event.organization_id == org
    by_type = {r.headers["booksync-event-type"]: r.event["object"] for r in received}
    assert by_type["accounting_connection.pending_auth"]["id"] == str(pending)
    assert by_type["accounting_connection.disconnected"]["status"] == "disconnected"
    assert by_type["accounting_synced_record.done"]["platform_object_id"] == "P-1"
    assert "7%" in by_type["accounting_synced_record.error"]["errors"]["message"]
    assert by_type["accounting_sync.finished"]["totals"] == {"pulled": 0, "pushed": 2, "failed": 1}
    assert {d.status for d in deliveries()} == {"delivered"}


def test_a_receiver_answering_500_then_200_gets_the_event_twice_at_most_and_in_order(
    pg_hooks_env: str, receiver: Receiver
) -> None:
    org = make_organization()
    url = receiver.route()
    subscribe(url, org, "accounting_synced_record.done", "accounting_synced_record.error")
    connection_id = _connection(org, "connected")
    first, other = _record(connection_id, org), _record(connection_id, org)
    _record_status(first, "error", errors={"message": "refused"})  # event A1
    _record_status(other, "done")  # event B, another object
    _record_status(first, "done")  # event A2: must reach the receiver after A1
    a1, b, a2 = events()
    receiver.answer_event(url, a1.id, [500])
    clock = Clock()

    assert sorted(o.status for o in deliver_due(clock)) == ["delivered", "retrying"], "A1 failed, B went; A2 waits"
    assert [r.headers["booksync-event-id"] for r in receiver.received(url)] in (
        [str(a1.id), str(b.id)], [str(b.id), str(a1.id)])
    [retry] = deliveries(event_id=a1.id)
    assert retry.status == "retrying" and retry.last_response_code == 500 and retry.attempts == 1
    assert deliver_due(clock) == [], "not due yet, and A2 is behind A1"

    clock.advance(2)
    deliver_due(clock)
    ids = [r.headers["booksync-event-id"] for r in receiver.received(url)]
    assert ids.count(str(a1.id)) == 2 and ids.count(str(a2.id)) == 1 and ids.count(str(b.id)) == 1
    assert ids.index(str(a2.id)) > len(ids) - 1 - ids[::-1].index(str(a1.id)), "A2 after A1's last attempt"
    attempts = [r.headers["booksync-delivery-attempt"] for r in receiver.received(url)
                if r.headers["booksync-event-id"] == str(a1.id)]
    assert attempts == ["1", "2"]
    assert {d.status for d in deliveries()} == {"delivered"}


def test_a_delivery_failing_for_its_whole_window_is_given_up_and_its_subscription_marked_failing(
    pg_url: str, receiver: Receiver
) -> None:
    from worker.metrics import WebhookCollector

    with settings(pg_url, webhook_retry_window_seconds="3"):
        org = make_organization()
        url = receiver.route([500] * 20)
        subscribed = subscribe(url, org, "accounting_connection.deauthorized", "accounting_connection.disconnected")
        connection_id = _connection(org, "connected")
        _set_status(connection_id, "deauthorized")  # given up below
        _set_status(connection_id, "disconnected")  # waits behind it, then goes
        clock = Clock()
        statuses: list[str] = []
        for _ in range(10):
            statuses += [o.status for o in deliver_due(clock)]
            if "failed" in statuses:
                break
            clock.advance(1)
        given_up = statuses.index("failed")
        assert given_up >= 3 and set(statuses[:given_up]) == {"retrying"}
        assert statuses[given_up + 1:] == ["retrying"], "the next event of the object went at once (and failed too)"
        failed, waiting = deliveries()
        assert failed.status == "failed" and failed.attempts == given_up + 1
        assert failed.first_attempt_at is not None and failed.last_attempt_at - failed.first_attempt_at >= timedelta(seconds=3)
        with sessions()() as session:
            subscription = session.get(WebhookSubscription, subscribed.id)
            assert subscription.status == "failing" and subscription.failing_since is not None  # type: ignore[union-attr]
        registry = CollectorRegistry(auto_describe=False)
        registry.register(WebhookCollector())
        scraped = generate_latest(registry).decode()
        assert f'booksync_webhook_subscription_failing{{organization_id="{org}",subscription_id="{subscribed.id}"}} 1.0' \
            in scraped
        assert 'booksync_webhook_subscriptions{status="failing"} 1.0' in scraped

        receiver.plans[url.removeprefix(receiver.base_url)].answers.clear()  # the receiver is fixed
        clock.advance(1)
        assert [o.status for o in deliver_due(clock)] == ["delivered"]
        assert deliveries(id=waiting.id)[0].status == "delivered"
        with sessions()() as session:
            assert session.get(WebhookSubscription, subscribed.id).status == "active"  # type: ignore[union-attr]


def test_backoff_doubles_with_jitter_up_to_its_ceiling(hooks_env: str) -> None:
    from config import get_settings

    config = get_settings()  # base 0.2 s, ceiling 1 s
    highest = [backoff(n, config, uniform=lambda low, high: high) for n in range(1, 6)]
    lowest = [backoff(n, config, uniform=lambda low, high: low) for n in range(1, 6)]
    assert highest == [0.2, 0.4, 0.8, 1.0, 1.0] and lowest == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert 0.1 <= backoff(1, config) <= 0.2


def test_a_rotated_secret_signs_alongside_the_old_one_during_its_grace(pg_hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    url = receiver.route()
    subscribed = subscribe(url, org, "accounting_connection.deauthorized", "accounting_connection.disconnected")
    with session_scope() as session:
        new_secret = rotate_secret(session.get(WebhookSubscription, subscribed.id), 3600)  # type: ignore[arg-type]
    connection_id = _connection(org, "connected")
    _set_status(connection_id, "deauthorized")
    deliver_due()
    [during] = receiver.wait_for(url, 1)
    header = during.headers[SIGNATURE_HEADER.lower()]
    assert header.count("v1=") == 2
    assert verify(during.body, header, subscribed.secret), "the old secret is still accepted"
    assert verify(during.body, header, new_secret)

    later = Clock(utcnow() + timedelta(seconds=3601))
    _set_status(connection_id, "disconnected")
    with session_scope() as session:  # the event was written now; it is due whenever the clock says
        session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
    deliver_due(later)
    after = receiver.wait_for(url, 2)[1]
    header = after.headers[SIGNATURE_HEADER.lower()]
    assert header.count("v1=") == 1
    assert verify(after.body, header, new_secret) and not verify(after.body, header, subscribed.secret)


def test_an_address_refused_at_delivery_time_is_not_connected_to(pg_url: str, receiver: Receiver) -> None:
    """The URL was allowed when the subscription was made; at delivery the address is checked again, and the
    guard refuses loopback before any connection (the receiver sees nothing)."""
    with settings(pg_url):
        org = make_organization()
        by_ip, by_name = receiver.route(), receiver.route().replace("127.0.0.1", "localhost")
        subscribe(by_ip, org, "accounting_connection.deauthorized")
        subscribe(by_name, org, "accounting_connection.deauthorized")
        _set_status(_connection(org, "connected"), "deauthorized")
    with settings(pg_url, webhook_allowed_addresses=""):
        outcomes = deliver_due()
    assert [o.status for o in outcomes] == ["retrying", "retrying"]
    errors = sorted(d.last_error for d in deliveries())
    assert errors[0].startswith("127.0.0.1 is a loopback address") and "BOOKSYNC_WEBHOOK_ALLOWED_ADDRESSES" in errors[0]
    assert errors[1].startswith("localhost (127.0.0.1) is a loopback address")
    assert all(d.last_response_code is None for d in deliveries())
    assert receiver.received(by_ip) == [] and receiver.received(by_name.replace("localhost", "127.0.0.1")) == []


def test_a_redirect_is_not_followed(pg_hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    elsewhere = receiver.route()
    url = receiver.route([307], location=elsewhere)
    subscribe(url, org, "accounting_connection.deauthorized")
    _set_status(_connection(org, "connected"), "deauthorized")
    [outcome] = deliver_due()
    assert outcome.status == "retrying" and outcome.status_code == 307 and outcome.error == "HTTP 307"
    assert receiver.received(elsewhere) == []


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(pg_url: str, receiver: Receiver) -> None:
    hold = threading.Event()
    try:
        with settings(pg_url, webhook_timeout_seconds="0.5"):
            org = make_organization()
            url = receiver.route(hold=hold)
            subscribe(url, org, "accounting_connection.deauthorized")
            _set_status(_connection(org, "connected"), "deauthorized")
            [outcome] = deliver_due()
    finally:
        hold.set()
    assert outcome.status == "retrying" and outcome.error == "no answer within 0.5 s"
    assert outcome.duration_ms is not None and outcome.duration_ms < 2000


def test_redelivery_sends_the_same_event_again(pg_hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    url = receiver.route()
    subscribe(url, org, "accounting_connection.deauthorized")
    _set_status(_connection(org, "connected"), "deauthorized")
    deliver_due()
    [delivery] = deliveries()
    with session_scope() as session:
        redeliver(session.get(WebhookDelivery, delivery.id))  # type: ignore[arg-type]
    deliver_due()
    first, second = receiver.wait_for(url, 2)
    assert first.body == second.body and first.headers["booksync-event-id"] == second.headers["booksync-event-id"]
    assert second.headers["booksync-delivery-attempt"] == "2"
    assert deliveries()[0].status == "delivered" and deliveries()[0].attempts == 2


def test_what_is_skipped_says_why(pg_hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    url = receiver.route()
    subscribed = subscribe(url, org, "accounting_connection.deauthorized", "accounting_connection.disconnected")
    connection_id = _connection(org, "connected")
    _set_status(connection_id, "deauthorized")
    _set_status(connection_id, "disconnected")
    first, second = events()
    assert deliver(sessions(), second.id, subscribed.id).reason == "waiting"
    with session_scope() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.event_id == first.id)
                        .values(claimed_until=utcnow() + timedelta(seconds=30), claimed_by="another-worker"))
    assert deliver(sessions(), first.id, subscribed.id).reason == "in_flight"
    with sessions()() as session:
        assert due_deliveries(session, utcnow()) == [], "claimed, and the other waits behind it"
        assert due_deliveries(session, utcnow() + timedelta(seconds=31)) == [(first.id, subscribed.id)], \
            "a claim left by a dead worker lapses"
    with session_scope() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.event_id == first.id)
                        .values(claimed_until=None, claimed_by=None, next_attempt_at=utcnow() + timedelta(hours=1)))
    assert deliver(sessions(), first.id, subscribed.id).reason == "not_due"
    assert deliver(sessions(), uuid.uuid4(), subscribed.id).reason == "gone"
    assert receiver.received(url) == []


def test_old_finished_events_are_purged_and_unfinished_ones_kept(pg_hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    url = receiver.route()
    subscribe(url, org, "accounting_connection.deauthorized", "accounting_connection.disconnected")
    connection_id = _connection(org, "connected")
    _set_status(connection_id, "deauthorized")
    _set_status(connection_id, "disconnected")
    done, waiting = events()
    with session_scope() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.event_id == done.id).values(status="delivered"))
        session.execute(update(OutboxEvent).values(created_at=utcnow() - timedelta(days=31)))
    with session_scope() as session:
        assert purge(session, utcnow(), retention_days=30) == 1
    assert [event.id for event in events()] == [waiting.id]
    assert [delivery.event_id for delivery in deliveries()] == [waiting.id]


def test_deleting_a_subscription_drops_its_deliveries(pg_hooks_env: str, receiver: Receiver) -> None:
    org = make_organization()
    subscribed = subscribe(receiver.route(), org, "accounting_connection.deauthorized")
    _set_status(_connection(org, "connected"), "deauthorized")
    with session_scope() as session:
        session.delete(session.get(WebhookSubscription, subscribed.id))
    assert deliveries() == [] and deliver_due() == []


@pytest.fixture
def captured_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    from config.logging import configure_logging

    configure_logging("json", force=True)
    yield capsys
    structlog.reset_defaults()
    configure_logging(force=True)


def test_no_secret_or_url_path_is_logged_or_stored(
    pg_hooks_env: str, receiver: Receiver, captured_logs: pytest.CaptureFixture[str]
) -> None:
    org = make_organization()
    url = receiver.route([500]) + "?token=tok-do-not-log-9f8e7d"
    subscribed = subscribe(url, org, "accounting_connection.deauthorized")
    _set_status(_connection(org, "connected"), "deauthorized")
    clock = Clock()
    deliver_due(clock)
    clock.advance(2)
    deliver_due(clock)
    logged = captured_logs.readouterr().err
    assert "webhook.delivery" in logged
    for secret in (subscribed.secret, "tok-do-not-log-9f8e7d", url.removeprefix(receiver.base_url).split("?")[0]):
        assert secret not in logged
    with sessions()() as session:
        from sqlalchemy import text

        raw = session.execute(text("select secrets from webhook_subscriptions")).scalar_one()
        assert subscribed.secret not in raw, "encrypted at rest"
        dump = json.dumps([str(row) for row in session.execute(text("select * from webhook_deliveries"))])
        assert subscribed.secret not in dump and "tok-do-not-log" not in dump
