"""Each push is its own unit of work, and one bad record never stops the others (in-memory books, both databases).

The memory books (``sandboxes.memory``) make the accounting system slow, failing or forgetful on
demand; what is checked is what a user sees: synced records, the books' contents, and the database
free for other writers while the provider is being waited on.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, event, inspect, select, text, update
from sqlalchemy.orm import Session

from models import AccountingConnection, AccountingSyncedRecord, Payable, Receivable
from models.db import get_sessionmaker
from providers.errors import DataError, RateLimited, RetryableError
from sandboxes.memory import MemoryBooks
from tasks.engine import sync
from tasks.engine.push import ProviderOutage
from tests.conftest import TEST_BROKER_URL
from tests.support.env import booksync_env
from tests.tasks.conftest import connect_memory, make_bill, make_counterpart, make_invoice, make_organization


def _settings(db_url: str, **values: str) -> Any:
    return booksync_env(database_url=db_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL, **values)


@pytest.fixture
def books() -> Iterator[MemoryBooks]:
    name = f"uow-{uuid.uuid4().hex[:8]}"
    yield MemoryBooks.named(name)
    MemoryBooks.forget(name)


def _setup(books: MemoryBooks, bills: int = 3, *, vendor: str = "Vandelay Industries", **options: Any) -> tuple[uuid.UUID, list[uuid.UUID]]:
    with get_sessionmaker()() as session:
        org = make_organization(session)
        counterpart = make_counterpart(session, org, vendor, vendor=True)
        ids = [make_bill(session, org, counterpart, f"B-{index:03d}").id for index in range(bills)]
        connection = connect_memory(session, org, books.name, **options)
        return connection.id, ids


def _records(object_type: str = "bill") -> dict[uuid.UUID, AccountingSyncedRecord]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(AccountingSyncedRecord).where(AccountingSyncedRecord.object_type == object_type))
        return {row.object_id: row for row in rows}


def _sync(connection_id: uuid.UUID, **kwargs: Any) -> Any:
    return sync.run_sync(get_sessionmaker(), connection_id, "manual", **kwargs)


def test_every_outcome_is_committed_as_it_arrives_and_no_transaction_waits_on_the_provider(
    db_url: str, books: MemoryBooks
) -> None:
    """While the provider is answering, another writer gets the database at once (SQLite: its one write
    lock; PostgreSQL: no booksync session idle in a transaction), and outcomes already known are visible."""
    connection_id, bills = _setup(books, bills=12, max_batch=4)
    seen_done: list[int] = []
    checked = 0
    other = create_engine(db_url, connect_args={"timeout": 0.2} if db_url.startswith("sqlite") else {})

    def during_call() -> None:
        nonlocal checked
        with other.connect() as connection:
            if other.dialect.name == "postgresql":
                idle = connection.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'booksync' "
                    "AND state = 'idle in transaction' AND datname = current_database()"
                )).scalar()
                assert idle == 0, "a booksync transaction stayed open across a provider call"
            else:
                connection.execute(text("BEGIN IMMEDIATE"))  # fails within 0.2 s if the engine holds the lock
                connection.execute(text("ROLLBACK"))
            seen_done.append(connection.execute(text(
                "SELECT count(*) FROM accounting_synced_records WHERE sync_status = 'done' AND object_type = 'bill'"
            )).scalar())
        checked += 1

    books.faults.on_call = during_call
    summary = _sync(connection_id)
    books.faults.on_call = None
    other.dispose()
    assert summary.status == "done" and summary.pushed["bill"] == 12
    assert checked >= 4
    assert seen_done == sorted(seen_done) and 0 < max(seen_done) < 12, "outcomes are committed batch by batch"


def _commits(connection_id: uuid.UUID) -> tuple[Any, list[tuple[str, str]]]:
    """Sync, noting each commit that records an outcome (a record done) or an attempt (a record in flight)
    with the ``synchronous_commit`` it ran under."""
    seen: list[tuple[str, str]] = []

    def classify(session: Session, *_: Any) -> None:
        kinds = session.info.setdefault("test.kinds", set())
        for state in (inspect(o) for o in (*session.dirty, *session.new) if isinstance(o, AccountingSyncedRecord)):
            if state.attrs.sync_status.history.added and state.object.sync_status == "done":
                kinds.add("outcome")
            elif state.attrs.push_started_at.history.added and state.object.push_started_at is not None:
                kinds.add("before the call")

    def before_commit(session: Session) -> None:
        classify(session)
        kinds = session.info.get("test.kinds")
        if kinds:
            (kind,) = kinds
            seen.append((kind, session.execute(text("SHOW synchronous_commit")).scalar_one()))

    def ended(session: Session, *_: Any) -> None:
        session.info.pop("test.kinds", None)

    listeners = [("after_flush", classify), ("before_commit", before_commit), ("after_commit", ended),
                 ("after_soft_rollback", ended)]
    for name, listener in listeners:
        event.listen(Session, name, listener)
    try:
        return _sync(connection_id), seen
    finally:
        for name, listener in listeners:
            event.remove(Session, name, listener)


def test_on_postgresql_an_outcome_commits_without_waiting_for_the_disk_and_the_commit_before_a_call_waits(
    pg_url: str, books: MemoryBooks
) -> None:
    """An outcome lost to a crash of PostgreSQL is found again by its key, so its commit does not wait for
    the WAL flush; the commit before each call (the attempt and the key) does."""
    connection_id, _ = _setup(books, bills=6, max_batch=3)
    summary, seen = _commits(connection_id)
    assert summary.pushed["bill"] == 6
    outcomes = [setting for kind, setting in seen if kind == "outcome"]
    before_calls = [setting for kind, setting in seen if kind == "before the call"]
    assert len(outcomes) == 3, seen  # the vendor, then each batch of bills
    assert set(outcomes) == {"off"} and set(before_calls) == {"on"} and len(before_calls) == 3, seen
    with get_sessionmaker()() as session:  # SET LOCAL: the pooled connection is back to the default
        assert session.execute(text("SHOW synchronous_commit")).scalar_one() == "on"


def test_the_outcomes_of_one_provider_call_are_recorded_in_one_commit(pg_url: str, books: MemoryBooks) -> None:
    """A batch of documents costs one outcome commit, not one each."""
    connection_id, bills = _setup(books, bills=7, max_batch=3)
    summary, seen = _commits(connection_id)
    assert summary.pushed["bill"] == 7 and all(r.sync_status == "done" for r in _records().values())
    assert [kind for kind, _ in seen].count("outcome") == 1 + 3, seen  # the vendor, then one per batch of bills
    assert {setting for kind, setting in seen if kind == "outcome"} == {"off"}


def test_a_counterpart_the_system_refuses_fails_only_the_documents_that_need_it(db_url: str, books: MemoryBooks) -> None:
    connection_id, bills = _setup(books, bills=2, vendor="Refused & Co")
    with get_sessionmaker()() as session:
        org_id = session.get(AccountingConnection, connection_id).organization_id  # type: ignore[union-attr]
        from models import Organization

        org = session.get(Organization, org_id)
        fine = make_counterpart(session, org, "Fine Supplies", vendor=True)  # type: ignore[arg-type]
        good = make_bill(session, org, fine, "B-GOOD").id  # type: ignore[arg-type]
        session.commit()
    books.faults.refused_contacts["Refused & Co"] = "a contact name may not contain '&'"

    summary = _sync(connection_id)
    records = _records()
    assert summary.status == "done"
    assert records[good].sync_status == "done"
    for bill in bills:
        assert records[bill].sync_status == "error"
        message = records[bill].errors["message"]
        assert "counterpart 'Refused & Co'" in message and "may not contain '&'" in message
        assert records[bill].errors["kind"] == "counterpart"

    # the counterpart is fixed on the platform: the waiting documents go with the next sync
    books.faults.refused_contacts.clear()
    with get_sessionmaker()() as session:
        from models import Counterpart

        session.execute(update(Counterpart).where(Counterpart.name == "Refused & Co").values(name="Refused and Co"))
        session.commit()
    _sync(connection_id)
    assert all(_records()[bill].sync_status == "done" for bill in bills)
    assert sorted(c.name for c in books.contacts.values()) == ["Fine Supplies", "Refused and Co"]


def test_a_poison_document_costs_only_itself_and_is_an_error_after_the_attempts_allowed(
    db_url: str, books: MemoryBooks
) -> None:
    connection_id, bills = _setup(books, bills=5, max_batch=5)
    poison = bills[2]
    with get_sessionmaker()() as session:
        number = session.get(Payable, poison).document_number  # type: ignore[union-attr]
    books.faults.refuse = lambda document: (
        RetryableError("the memory books failed with an internal error") if document.document_number == number else None
    )
    with _settings(db_url, push_max_attempts="3", push_outage_after="3"):
        for attempt in range(1, 4):
            summary = _sync(connection_id)
            assert summary.status == "done", summary.message
            records = _records()
            assert all(records[b].sync_status == "done" for b in bills if b != poison)
            assert records[poison].push_failures == attempt
            assert records[poison].sync_status == ("error" if attempt == 3 else "pending")
    error = _records()[poison].errors
    assert error["kind"] == "gave_up" and "gave up after 3 attempts" in error["message"]
    assert "internal error" in error["message"]
    assert len([i for i in books.invoices.values() if i.number == number]) <= 1
    assert len(books.invoices) == 4 + (1 if any(i.number == number for i in books.invoices.values()) else 0)


def test_a_provider_outage_ends_the_sync_keeping_what_was_recorded(db_url: str, books: MemoryBooks) -> None:
    connection_id, bills = _setup(books, bills=8, max_batch=2)
    calls_before_outage = {"n": 0}

    def outage_after_two_batches() -> None:
        calls_before_outage["n"] += 1

    books.faults.on_call = outage_after_two_batches
    original = books.call

    def call() -> None:
        original()
        if calls_before_outage["n"] > 6:  # pull calls (4) and two pushes, then the books go down
            raise RetryableError("the memory books are down")

    books.call = call  # type: ignore[method-assign]
    with pytest.raises(ProviderOutage):
        _sync(connection_id)
    records = _records()
    done = [b for b in bills if records.get(b) and records[b].sync_status == "done"]
    assert len(done) >= 2, "what was pushed before the outage stays recorded"
    assert all(records[b].sync_status == "pending" for b in bills if b in records and b not in done)
    with get_sessionmaker()() as session:
        assert session.get(AccountingConnection, connection_id).lease_holder is None  # type: ignore[union-attr]
    books.call = original  # type: ignore[method-assign]
    books.faults.on_call = None
    assert _sync(connection_id).status == "done"
    assert all(r.sync_status == "done" for r in _records().values())
    assert len(books.invoices) == 8


def test_a_sync_stopped_at_the_rate_limit_leaves_nothing_in_flight_and_the_next_looks_nothing_up(
    db_url: str, books: MemoryBooks
) -> None:
    """``RateLimited`` is raised before a call leaves: the records it did not send are not in flight, so the
    sync that continues pushes them without looking their keys up (a lookup is a call of the same budget)."""
    connection_id, bills = _setup(books, bills=8, max_batch=2)
    calls = {"n": 0}
    original = books.call

    def call() -> None:
        calls["n"] += 1
        if calls["n"] == 7:  # pull calls (4) and two pushes, then the limiter refuses the next
            raise RateLimited("the memory books' budget is spent", retry_after=1.0)
        original()

    books.call = call  # type: ignore[method-assign]
    with pytest.raises(RateLimited):
        _sync(connection_id)
    books.call = original  # type: ignore[method-assign]
    records = _records()
    done = {b for b in bills if records.get(b) and records[b].sync_status == "done"}
    assert 0 < len(done) < 8
    assert all(r.push_started_at is None for b, r in records.items() if b not in done), "nothing unsent in flight"
    lookups = books.lookups
    assert _sync(connection_id).pushed["bill"] == 8 - len(done)
    assert books.lookups == lookups, "the continuing sync looked nothing up"
    assert len(books.invoices) == 8 and all(r.sync_status == "done" for r in _records().values())


def test_a_push_stopped_by_the_rate_limit_after_a_request_left_stays_in_flight_and_is_looked_up(
    db_url: str, books: MemoryBooks
) -> None:
    """A push of several calls (Tryton's create, then its post) may be stopped between them: once a request
    of it has left, its records stay in flight, so the sync that continues looks their keys up."""
    from providers import http

    connection_id, bills = _setup(books, bills=8, max_batch=2)
    calls = {"n": 0}
    original = books.call

    def call() -> None:
        calls["n"] += 1
        if calls["n"] == 7:  # this push's first request leaves, then the limiter refuses its next
            http._count_sent()  # noqa: SLF001 -- what the HTTP layer does as a request leaves
            raise RateLimited("the memory books' budget is spent", retry_after=1.0)
        original()

    books.call = call  # type: ignore[method-assign]
    with pytest.raises(RateLimited):
        _sync(connection_id)
    books.call = original  # type: ignore[method-assign]
    records = _records()
    stopped = [r for b, r in records.items() if r.sync_status != "done"]
    assert stopped and any(r.push_started_at is not None for r in stopped), "the stopped push stays in flight"
    lookups = books.lookups
    _sync(connection_id)
    assert books.lookups > lookups, "the continuing sync looked the stopped push's keys up"
    assert len(books.invoices) == 8 and all(r.sync_status == "done" for r in _records().values())


def test_a_first_push_pays_no_lookup(db_url: str, books: MemoryBooks) -> None:
    connection_id, _ = _setup(books, bills=3, max_batch=10)
    assert _sync(connection_id).pushed["bill"] == 3
    assert books.lookups == 0 and len(books.invoices) == 3


def test_a_batch_whose_answer_was_lost_is_sent_again_and_creates_nothing_twice(db_url: str, books: MemoryBooks) -> None:
    connection_id, _ = _setup(books, bills=3, max_batch=10)
    books.faults.lost_answers, books.faults.lost_answers_of = 1, "invoices"
    summary = _sync(connection_id)
    assert summary.pushed["bill"] == 3
    assert len(books.invoices) == 3, "the second sending found what the first created"
    assert {r.platform_object_id for r in _records().values()} == set(books.invoices)
    assert all(r.push_started_at is None and r.push_failures == 0 for r in _records().values())


def test_a_push_interrupted_mid_call_is_looked_up_at_the_next_sync(db_url: str, books: MemoryBooks) -> None:
    """The worker died during the call: the records stay in flight and the next sync looks them up."""
    connection_id, _ = _setup(books, bills=2, max_batch=10)
    books.faults.lost_answers, books.faults.lost_answers_of = 3, "invoices"  # every sending of this sync
    with _settings(db_url, push_outage_after="2"):
        with pytest.raises(ProviderOutage):
            _sync(connection_id)
    assert all(r.sync_status == "pending" and r.push_started_at is not None for r in _records().values())
    assert len(books.invoices) == 2
    books.faults.lost_answers = 0
    lookups = books.lookups
    assert _sync(connection_id).pushed["bill"] == 2
    assert books.lookups == lookups + 2 and len(books.invoices) == 2


def test_a_total_the_system_computes_differently_is_recorded_not_done(db_url: str, books: MemoryBooks) -> None:
    """1,000.00 at 19% is 190.00 of tax; the platform said 191.00."""
    with get_sessionmaker()() as session:
        org = make_organization(session)
        customer = make_counterpart(session, org, "Initech", vendor=False)
        invoice = make_invoice(session, org, customer, "INV-19", unit_price=100_000, tax_rate_value=1900)
        invoice.tax_amount, invoice.total_amount = 19_100, 119_100
        connection = connect_memory(session, org, books.name)
        session.commit()
        connection_id, invoice_id = connection.id, invoice.id
    books.faults.refuse = lambda document: None
    from sandboxes.memory import books as memory_books

    memory_books.TAX_RATES["9"] = ("VAT 19%", 1900)
    try:
        summary = _sync(connection_id)
    finally:
        memory_books.TAX_RATES.pop("9")
    record = _records("receivable")[invoice_id]
    assert summary.status == "done" and summary.errors["receivable"] == 1
    assert record.sync_status == "error" and record.platform_object_id in books.invoices
    errors = record.errors
    assert errors["kind"] == "total_mismatch"
    assert "total: the memory books computed 1,190.00 USD where the platform's is 1,191.00 USD" in errors["message"]
    assert "tax: the memory books computed 190.00 USD where the platform's is 191.00 USD" in errors["message"]
    assert {"field": "tax_amount", "platform": 19_100, "provider": 19_000} in errors["details"]["differences"]


def test_a_line_rounded_half_up_by_the_platform_is_named_when_the_system_rounds_half_even(
    db_url: str, books: MemoryBooks
) -> None:
    """0.5 × 0.25 = 0.125: half-up 0.13, half-even 0.12 (what Tryton and Xero do)."""
    with get_sessionmaker()() as session:
        org = make_organization(session)
        customer = make_counterpart(session, org, "Penny Lane", vendor=False)
        invoice = make_invoice(session, org, customer, "INV-ROUND", unit_price=25, tax_rate_value=None)
        line = invoice.lines[0]
        line.quantity, line.total = Decimal("0.5"), 13
        invoice.subtotal, invoice.tax_amount, invoice.total_amount = 13, 0, 13
        connection = connect_memory(session, org, books.name)
        session.commit()
        connection_id, invoice_id = connection.id, invoice.id
    _sync(connection_id)
    record = _records("receivable")[invoice_id]
    assert record.errors["kind"] == "total_mismatch"
    assert "lines[0].total: the memory books computed 0.12 USD where the platform's is 0.13 USD" in record.errors["message"]


def test_text_a_provider_echoes_is_stored_and_logged_without_the_connections_secrets(
    db_url: str, books: MemoryBooks
) -> None:
    from structlog.testing import capture_logs

    from sandboxes.memory import PASSWORD

    connection_id, bills = _setup(books, bills=1)
    books.faults.refuse = lambda document: DataError(f"login admin/{PASSWORD} may not create invoices")
    with capture_logs() as logs:
        _sync(connection_id)
    record = _records()[bills[0]]
    assert "login admin/*** may not create invoices" in record.errors["message"]
    assert PASSWORD not in repr(logs)
    with get_sessionmaker()() as session:  # nowhere in the database's text either
        for table in ("accounting_synced_records", "accounting_connections"):
            dump = session.execute(text(f"SELECT * FROM {table}")).all()
            assert PASSWORD not in repr(dump), table


def test_busy_and_skipped_syncs_log_sync_finished(db_url: str, books: MemoryBooks) -> None:
    from datetime import UTC, datetime, timedelta

    from structlog.testing import capture_logs

    connection_id, _ = _setup(books, bills=0)
    with get_sessionmaker()() as session:
        session.execute(update(AccountingConnection).where(AccountingConnection.id == connection_id)
                        .values(lease_holder="someone-else", lease_expires_at=datetime.now(UTC) + timedelta(minutes=1)))
        session.commit()
    with capture_logs() as logs:
        assert _sync(connection_id).status == "busy"
        with get_sessionmaker()() as session:
            session.execute(update(AccountingConnection).where(AccountingConnection.id == connection_id)
                            .values(lease_holder=None, status="deauthorized"))
            session.commit()
        assert _sync(connection_id).status == "skipped"
    finished = [entry for entry in logs if entry["event"] == "sync.finished"]
    assert [entry["status"] for entry in finished] == ["busy", "skipped"]
    assert "connection is deauthorized" in finished[1]["message"]


def test_a_stalled_sync_whose_lease_was_taken_stops_without_finishing(db_url: str, books: MemoryBooks) -> None:
    connection_id, bills = _setup(books, bills=4, max_batch=1)
    taken = threading.Event()

    def steal_the_lease() -> None:
        if books.calls >= 5 and not taken.is_set():
            with get_sessionmaker()() as session:
                session.execute(update(AccountingConnection).where(AccountingConnection.id == connection_id)
                                .values(lease_holder="the-next-sync"))
                session.commit()
            taken.set()

    books.faults.on_call = steal_the_lease
    books.faults.latency = 0.1
    with _settings(db_url, lease_seconds="15"):
        from tasks.engine import lease

        original = lease.Heartbeat.interval
        lease.Heartbeat.interval = property(lambda self: 0.05)  # type: ignore[assignment,method-assign]
        try:
            summary = _sync(connection_id)
        finally:
            lease.Heartbeat.interval = original  # type: ignore[method-assign]
    assert summary.status == "interrupted" and "taken by another sync" in summary.message
    with get_sessionmaker()() as session:
        assert session.get(AccountingConnection, connection_id).lease_holder == "the-next-sync"  # type: ignore[union-attr]
    assert len(_records()) < 4 or any(r.sync_status != "done" for r in _records().values())
