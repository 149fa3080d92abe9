"""Events are written in the transaction of the change they report, for the subscriptions that want them
(SQLite and PostgreSQL); the engine, the API routes and the CLI emit them where things change."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from models import AccountingConnection, AccountingSyncedRecord, OutboxEvent, session_scope
from providers.errors import AuthenticationError, DataError, RetryableError
from sandboxes.memory import MemoryBooks
from tasks.engine import sync
from tasks.engine.summary import SyncSummary
from tests.tasks.conftest import connect_memory, make_bill, make_counterpart
from tests.webhooks.conftest import deliveries, events, make_organization, sessions, subscribe
from webhooks import emit
from webhooks.outbox import pending_subjects

URL = "http://127.0.0.1:9/hook"  # never called here: nothing is delivered in this module


@pytest.fixture
def books() -> Any:
    name = f"outbox-{uuid.uuid4().hex[:8]}"
    yield MemoryBooks.named(name)
    MemoryBooks.forget(name)


def _connection(organization_id: uuid.UUID, status: str = "connected") -> uuid.UUID:
    with session_scope() as session:
        connection = AccountingConnection(id=uuid.uuid4(), organization_id=organization_id, platform="tryton",
                                          status=status, settings={}, errors=[], cursors={})
        session.add(connection)
    return connection.id


def _record(connection_id: uuid.UUID, organization_id: uuid.UUID, status: str = "pending") -> uuid.UUID:
    with session_scope() as session:
        record = AccountingSyncedRecord(
            id=uuid.uuid4(), organization_id=organization_id, connection_id=connection_id, books_id="books-1",
            object_type="bill", object_id=uuid.uuid4(), platform="tryton", sync_status=status,
        )
        session.add(record)
    return record.id


def test_an_event_goes_to_each_subscription_that_wants_it_and_no_other(hooks_env: str) -> None:
    org, other = make_organization("Acme"), make_organization("Other")
    mine = subscribe(URL, org, "accounting_synced_record.done")
    platform = subscribe(URL, None, "accounting_synced_record.done", "accounting_sync.finished")
    subscribe(URL, org, "accounting_synced_record.error")  # another type
    subscribe(URL, other, "accounting_synced_record.done")  # another organization
    record_id = _record(_connection(org), org)

    with sessions()() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        emit(record, session)
        record.sync_status = "done"
        record.platform_object_id = "P-1"
        session.commit()

    [event] = events()
    assert event.type == "accounting_synced_record.done" and event.organization_id == org
    assert {d.subscription_id for d in deliveries()} == {mine.id, platform.id}
    body = json.loads(event.body)
    assert set(body) == {"id", "type", "created_at", "organization_id", "object"}
    assert body["id"] == str(event.id) and body["organization_id"] == str(org)
    from api.routes.synced_records import record_resource

    with sessions()() as session:
        served = record_resource(session.get(AccountingSyncedRecord, record_id)).model_dump(mode="json")
    assert body["object"] == served, "the record as GET /accounting-synced-records/{id} serves it"
    assert body["object"]["sync_status"] == "done" and body["object"]["platform_object_id"] == "P-1"


def test_without_a_subscription_nothing_is_written(hooks_env: str) -> None:
    org = make_organization()
    record_id = _record(_connection(org), org)
    with sessions()() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        emit(record, session)
        record.sync_status = "done"
        session.commit()
    assert events() == [] and deliveries() == []


def test_a_rolled_back_change_has_no_event_and_a_summary_waits_for_the_next_commit(hooks_env: str) -> None:
    org = make_organization()
    subscribe(URL, org)
    connection_id = _connection(org)
    record_id = _record(connection_id, org)
    with sessions()() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        emit(record, session)
        record.sync_status = "done"
        summary = SyncSummary(connection_id=str(connection_id), trigger="manual", organization_id=str(org))
        emit(summary, session)
        session.flush()
        session.rollback()
        assert pending_subjects(session) == [summary]
        assert events() == []
        session.get(AccountingConnection, connection_id).retry_count = 1  # type: ignore[union-attr]
        session.commit()
    assert [event.type for event in events()] == ["accounting_sync.finished"]
    with sessions()() as session:
        assert session.get(AccountingSyncedRecord, record_id).sync_status == "pending"  # type: ignore[union-attr]


def test_two_emits_of_one_object_are_one_event_with_its_state_at_the_commit(hooks_env: str) -> None:
    org = make_organization()
    subscribe(URL, org)
    record_id = _record(_connection(org), org)
    with sessions()() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        emit(record, session)
        record.sync_status = "error"
        record.errors = {"message": "first"}
        emit(record, session)
        record.sync_status = "done"
        record.errors = None
        session.commit()
    [event] = events()
    assert event.type == "accounting_synced_record.done"
    assert "errors" not in json.loads(event.body)["object"], "as the API serves it: no nulls"


def test_a_pending_record_or_an_unchanged_connection_is_no_event(hooks_env: str) -> None:
    org = make_organization()
    subscribe(URL, org)
    connection_id = _connection(org, status="disconnected")
    record_id = _record(connection_id, org, status="done")
    with sessions()() as session:
        record = session.get(AccountingSyncedRecord, record_id)
        emit(record, session)
        record.sync_status = "pending"
        connection = session.get(AccountingConnection, connection_id)
        emit(connection, session)
        connection.status = "disconnected"  # type: ignore[union-attr]
        session.commit()
    assert events() == []


def test_the_event_and_the_change_commit_together(hooks_env: str) -> None:
    """Another session sees neither the change nor its event until the commit, then both."""
    org = make_organization()
    subscribe(URL, org)
    connection_id = _connection(org)

    def seen() -> tuple[str | None, list[str]]:
        with sessions()() as other:
            status = other.scalar(select(AccountingConnection.status).where(AccountingConnection.id == connection_id))
            return status, [event.type for event in other.scalars(select(OutboxEvent))]

    with sessions()() as session:
        connection = session.get(AccountingConnection, connection_id)
        emit(connection, session)
        connection.status = "deauthorized"  # type: ignore[union-attr]
        session.flush()
        assert seen() == ("connected", [])
        session.commit()
    assert seen() == ("deauthorized", ["accounting_connection.deauthorized"])
    [event] = events()
    assert json.loads(event.body)["object"]["status"] == "deauthorized"


# -- where booksync emits ----------------------------------------------------------------------------------


def _setup_sync(books: MemoryBooks, bills: int = 3) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    with sessions()() as session:
        from models import Organization

        org = Organization(name="Acme")
        session.add(org)
        session.flush()
        vendor = make_counterpart(session, org, "Vandelay Industries", vendor=True)
        ids = [make_bill(session, org, vendor, f"B-{index:03d}").id for index in range(bills)]
        connection = connect_memory(session, org, books.name)
        return org.id, connection.id, ids


def _types() -> list[str]:
    return [event.type for event in events()]


def _bodies(kind: str) -> list[dict[str, Any]]:
    return [json.loads(event.body) for event in events(type=kind)]


def test_a_sync_reports_each_outcome_and_ends_with_its_summary(hooks_env: str, books: MemoryBooks) -> None:
    org, connection_id, bills = _setup_sync(books, bills=3)
    subscribe(URL, org)
    summary = sync.run_sync(sessions(), connection_id, "manual")
    assert summary.status == "done"
    done = _bodies("accounting_synced_record.done")
    assert sorted(b["object"]["object_id"] for b in done if b["object"]["object_type"] == "bill") == sorted(map(str, bills))
    assert [b["object"]["object_type"] for b in done].count("vendor") == 1
    assert _types()[-1] == "accounting_sync.finished", "the summary comes last"
    [finished] = _bodies("accounting_sync.finished")
    summary_object = finished["object"]
    assert summary_object["connection_id"] == str(connection_id) and summary_object["status"] == "done"
    assert summary_object["pushed"] == {"bill": 3, "vendor": 1} and summary_object["failed"] == {}
    assert summary_object["totals"] == {"pulled": sum(summary.pulled.values()), "pushed": 4, "failed": 0}
    assert summary_object["started_at"] is not None

    # an error outcome, and a second sync with nothing to push still ends with its summary
    books.faults.refuse = lambda document: DataError("no such tax rate") if document.document_number == "B-NEW" else None
    with sessions()() as session:
        from models import Counterpart, Organization

        organization = session.get(Organization, org)
        vendor = session.scalar(select(Counterpart).where(Counterpart.organization_id == org))
        failing = make_bill(session, organization, vendor, "B-NEW").id  # type: ignore[arg-type]
        session.commit()
    sync.run_sync(sessions(), connection_id, "manual")
    [error] = _bodies("accounting_synced_record.error")
    assert error["object"]["object_id"] == str(failing) and "no such tax rate" in error["object"]["errors"]["message"]
    second = _bodies("accounting_sync.finished")[-1]["object"]
    assert second["failed"] == {"bill": 1} and second["totals"]["failed"] == 1


def test_a_sync_that_fails_reports_it(hooks_env: str, books: MemoryBooks) -> None:
    org, connection_id, _ = _setup_sync(books, bills=1)
    subscribe(URL, org)
    books.faults.failing_calls = 1
    books.faults.failure = lambda: AuthenticationError("the grant was revoked")
    summary = sync.run_sync(sessions(), connection_id, "manual")
    assert summary.status == "failed"
    assert _types() == ["accounting_connection.deauthorized", "accounting_sync.finished"]
    [finished] = _bodies("accounting_sync.finished")
    assert finished["object"]["status"] == "failed" and "the grant was revoked" in finished["object"]["message"]

    with session_scope() as session:  # connected again: a retryable failure is reported too
        session.get(AccountingConnection, connection_id).status = "connected"  # type: ignore[union-attr]
    books.faults.failing_calls = 1
    books.faults.failure = lambda: RetryableError("the memory books are down")
    with pytest.raises(RetryableError):
        sync.run_sync(sessions(), connection_id, "manual")
    last = _bodies("accounting_sync.finished")[-1]["object"]
    assert last["status"] == "failed" and "down" in last["message"]


def test_a_busy_or_skipped_sync_is_no_event(hooks_env: str, books: MemoryBooks) -> None:
    org, connection_id, _ = _setup_sync(books, bills=1)
    subscribe(URL, org)
    with session_scope() as session:
        session.get(AccountingConnection, connection_id).status = "deauthorized"  # type: ignore[union-attr]
    assert sync.run_sync(sessions(), connection_id, "manual").status == "skipped"
    assert events() == []


def test_disconnecting_reports_once_however_often_it_is_asked(hooks_env: str) -> None:
    org = make_organization()
    subscribe(URL, org)
    connection_id = _connection(org)
    sync.disconnect(sessions(), connection_id)
    sync.disconnect(sessions(), connection_id)
    assert _types() == ["accounting_connection.disconnected"]
    [body] = _bodies("accounting_connection.disconnected")
    assert body["object"]["id"] == str(connection_id) and body["object"]["status"] == "disconnected"
    assert "credentials" not in json.dumps(body)


def test_new_credentials_for_a_deauthorized_connection_report_it_connected(hooks_env: str, books: MemoryBooks) -> None:
    from sandboxes.memory import PASSWORD
    from tasks.engine.reconnect import replace_credentials

    org, connection_id, _ = _setup_sync(books, bills=0)
    subscribe(URL, org, "accounting_connection.connected")
    with session_scope() as session:
        session.get(AccountingConnection, connection_id).status = "deauthorized"  # type: ignore[union-attr]
    replace_credentials(sessions(), connection_id, {"password": PASSWORD})
    assert _types() == ["accounting_connection.connected"]


def test_no_event_row_holds_a_secret(hooks_env: str) -> None:
    org = make_organization()
    subscribe(URL, org)
    with session_scope() as session:
        connection = AccountingConnection(id=uuid.uuid4(), organization_id=org, platform="tryton", status="connected",
                                          settings={}, errors=[], cursors={},
                                          credentials={"password": "hunter2-very-secret"})
        session.add(connection)
        emit(connection, session)
    [event] = events()
    assert "hunter2" not in event.body
    with sessions()() as session:
        assert session.scalar(select(OutboxEvent.type)) == "accounting_connection.connected"


def test_a_record_given_up_after_its_attempts_reports_an_error(db_url: str, books: MemoryBooks) -> None:
    from tests.webhooks.conftest import settings

    with settings(db_url, push_max_attempts="2", push_outage_after="3"):
        org, connection_id, bills = _setup_sync(books, bills=2)
        subscribe(URL, org, "accounting_synced_record.error")
        with sessions()() as session:
            from models import Payable

            number = session.get(Payable, bills[0]).document_number  # type: ignore[union-attr]
        books.faults.refuse = lambda document: RetryableError("internal error") if document.document_number == number \
            else None
        sync.run_sync(sessions(), connection_id, "manual")
        assert events() == [], "a push without an answer is no outcome yet"
        sync.run_sync(sessions(), connection_id, "manual")
    [body] = _bodies("accounting_synced_record.error")
    assert body["object"]["object_id"] == str(bills[0])
    assert body["object"]["errors"]["kind"] == "gave_up"


def test_a_voided_document_reports_its_record_done_again(hooks_env: str, books: MemoryBooks) -> None:
    from models import Payable, utcnow

    org, connection_id, bills = _setup_sync(books, bills=1)
    subscribe(URL, org, "accounting_synced_record.done")
    sync.run_sync(sessions(), connection_id, "manual")
    with session_scope() as session:
        bill = session.get(Payable, bills[0])
        bill.status = "canceled"  # type: ignore[union-attr]
        bill.updated_at = utcnow()  # type: ignore[union-attr]
    sync.run_sync(sessions(), connection_id, "manual")
    bill_events = [b for b in _bodies("accounting_synced_record.done") if b["object"]["object_id"] == str(bills[0])]
    assert len(bill_events) == 2 and bill_events[0]["object"]["id"] == bill_events[1]["object"]["id"]
    assert [i.status for i in books.invoices.values()] == ["void"]
