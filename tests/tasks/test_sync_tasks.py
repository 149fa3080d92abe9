"""The tasks, run by a real worker process on Redis and PostgreSQL, against a real Tryton server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.result import AsyncResult
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandboxes.tryton.sandbox import SandboxInfo
from models import AccountingConnection, AccountingDocument, AccountingSyncedRecord, Payable
from models.db import get_sessionmaker
from tasks import disconnect_connection, push_synced_record, sync_connection
from tasks.engine.schedule import enqueue_due
from tests.tasks.conftest import (
    add_tryton_tax,
    connect_tryton,
    make_bill,
    make_counterpart,
    make_invoice,
    make_organization,
    tryton_invoice,
    tryton_invoice_count,
)

TIMEOUT = 120


def _records(object_type: str | None = None) -> list[AccountingSyncedRecord]:
    with get_sessionmaker()() as session:
        statement = select(AccountingSyncedRecord).order_by(AccountingSyncedRecord.created_at)
        if object_type:
            statement = statement.where(AccountingSyncedRecord.object_type == object_type)
        return list(session.execute(statement).scalars())


def _sync(connection_id: Any, trigger: str = "manual") -> dict[str, Any]:
    return sync_connection.apply_async(args=[str(connection_id), trigger]).get(timeout=TIMEOUT)


@pytest.fixture
def books(pg_url: str, tryton_sandbox: SandboxInfo, celery_client: Any) -> dict[str, Any]:
    """An organization with two approved bills, a draft bill and two issued invoices, connected to Tryton."""
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, "Initech Supplies", vendor=True)
        customer = make_counterpart(session, org, "Umbrella Retail", vendor=False)
        bills = [make_bill(session, org, vendor, f"B-{n}") for n in (1, 2)]
        draft = make_bill(session, org, vendor, "B-DRAFT", status="draft")
        invoices = [make_invoice(session, org, customer, f"I-{n}") for n in (1, 2)]
        connection = connect_tryton(session, org, tryton_sandbox)
        return {"org": org.id, "connection": connection.id, "bills": [b.id for b in bills], "draft": draft.id,
                "invoices": [i.id for i in invoices]}


def test_first_sync_pushes_each_eligible_document_once_and_the_second_pushes_nothing(
    books: dict[str, Any], tryton_raw: Any
) -> None:
    before = tryton_invoice_count(tryton_raw)
    first = _sync(books["connection"])

    assert first["status"] == "done", first
    assert first["pushed"] == {"vendor": 1, "bill": 2, "customer": 1, "receivable": 2}
    assert first["pulled"]["bill"] >= 3 and first["pulled"]["tax_rate"] >= 2
    bills = {r.object_id: r for r in _records("bill")}
    assert set(bills) == set(books["bills"]), "the draft is never pushed"
    for record in bills.values():
        assert record.sync_status == "done" and record.errors is None
        assert tryton_invoice(tryton_raw, record.platform_object_id)["type"] == "in"  # type: ignore[arg-type]
    for record in _records("receivable"):
        assert tryton_invoice(tryton_raw, record.platform_object_id)["type"] == "out"  # type: ignore[arg-type]
    assert tryton_invoice_count(tryton_raw) == before + 4

    second = _sync(books["connection"])
    assert second["status"] == "done" and second["pushed"] == {}
    assert tryton_invoice_count(tryton_raw) == before + 4
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, books["connection"])
        assert connection is not None and connection.last_pull is not None and connection.errors == []
        pulled = session.execute(select(AccountingDocument).where(AccountingDocument.kind == "payable")).scalars().all()
        assert {d.platform_id for d in pulled} >= {r.platform_object_id for r in bills.values()}


def test_a_changed_bill_updates_the_same_draft_and_errors_once_posted(books: dict[str, Any], tryton_raw: Any) -> None:
    _sync(books["connection"])
    bill_id = books["bills"][0]
    record = next(r for r in _records("bill") if r.object_id == bill_id)
    count = tryton_invoice_count(tryton_raw)

    with get_sessionmaker()() as session:
        bill = session.get(Payable, bill_id)
        assert bill is not None
        bill.lines[0].unit_price = bill.lines[0].total = 30_000
        bill.subtotal, bill.tax_amount, bill.total_amount = 30_000, 6_000, 36_000
        session.commit()
    result = _sync(books["connection"])
    assert result["pushed"] == {"bill": 1}
    updated = next(r for r in _records("bill") if r.object_id == bill_id)
    assert updated.platform_object_id == record.platform_object_id, "updated in place, not created again"
    assert float(tryton_invoice(tryton_raw, record.platform_object_id)["total_amount"]) == 360.0  # type: ignore[arg-type]
    assert tryton_invoice_count(tryton_raw) == count

    tryton_raw.model("account.invoice", "post", [int(record.platform_object_id)])  # type: ignore[arg-type]
    with get_sessionmaker()() as session:
        bill = session.get(Payable, bill_id)
        assert bill is not None
        bill.memo = "changed after posting"
        bill.lines[0].description = "changed after posting"
        session.commit()
    result = _sync(books["connection"])
    assert result["errors"] == {"bill": 1}
    errored = next(r for r in _records("bill") if r.object_id == bill_id)
    assert errored.sync_status == "error"
    assert "posted" in errored.errors["message"]  # type: ignore[index]
    assert tryton_invoice_count(tryton_raw) == count


def test_a_manual_and_a_scheduled_sync_started_together_run_once(books: dict[str, Any], tryton_raw: Any) -> None:
    before = tryton_invoice_count(tryton_raw)
    manual = sync_connection.apply_async(args=[str(books["connection"]), "manual"])
    scheduled = sync_connection.apply_async(args=[str(books["connection"]), "schedule"])
    outcomes = sorted([manual.get(timeout=TIMEOUT)["status"], scheduled.get(timeout=TIMEOUT)["status"]])

    assert outcomes == ["busy", "done"]
    busy = next(r for r in (manual.result, scheduled.result) if r["status"] == "busy")
    assert "another sync" in busy["message"]
    assert tryton_invoice_count(tryton_raw) == before + 4, "nothing pushed twice"


def test_an_errored_record_becomes_done_through_push_retry_once_the_rate_exists(
    pg_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any, celery_client: Any
) -> None:
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, "Hooli Hardware", vendor=True)
        make_bill(session, org, vendor, "B-7PCT", tax_rate_value=700)
        connection = connect_tryton(session, org, tryton_sandbox)
    result = _sync(connection.id)
    assert result["errors"] == {"bill": 1}
    [record] = _records("bill")
    assert record.sync_status == "error"
    assert "7%" in record.errors["message"] and "does not exist" in record.errors["message"]  # type: ignore[index]

    add_tryton_tax(tryton_raw, "0.07", "VAT 7%")
    outcome = push_synced_record.apply_async(args=[str(record.id)]).get(timeout=TIMEOUT)
    assert outcome["sync_status"] == "done", outcome
    [record] = _records("bill")
    assert record.sync_status == "done" and record.errors is None
    assert tryton_invoice(tryton_raw, record.platform_object_id)["type"] == "in"  # type: ignore[arg-type]

    count = tryton_invoice_count(tryton_raw)
    again = push_synced_record.apply_async(args=[str(record.id)]).get(timeout=TIMEOUT)
    assert again["sync_status"] == "done" and tryton_invoice_count(tryton_raw) == count, "a second push creates nothing"


def test_after_disconnect_no_sync_is_scheduled_or_runs_and_records_stay(books: dict[str, Any]) -> None:
    _sync(books["connection"])
    records_before = len(_records())
    outcome = disconnect_connection.apply_async(args=[str(books["connection"])]).get(timeout=TIMEOUT)
    assert outcome == {"connection_id": str(books["connection"]), "status": "disconnected"}

    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, books["connection"])
        assert connection is not None and connection.credentials is None and connection.next_sync_at is None
    published: list[str] = []
    enqueue_due(get_sessionmaker(), datetime.now(UTC) + timedelta(days=2), 3600, published.extend)
    assert str(books["connection"]) not in published
    assert _sync(books["connection"])["status"] == "skipped"
    assert len(_records()) == records_before

    again = disconnect_connection.apply_async(args=[str(books["connection"])]).get(timeout=TIMEOUT)
    assert again["status"] == "disconnected", "running it twice changes nothing"


def test_a_task_with_bad_arguments_fails_with_a_clear_message(celery_client: Any) -> None:
    result: AsyncResult = sync_connection.apply_async(args=["not-a-uuid", "manual"])
    with pytest.raises(Exception, match="connection_id must be a UUID"):
        result.get(timeout=TIMEOUT)
    bad_trigger = sync_connection.apply_async(args=["7d1f1c1e-2f1a-4a53-9a51-5b0f8f3f0a11", "hourly"])
    with pytest.raises(Exception, match="trigger must be one of"):
        bad_trigger.get(timeout=TIMEOUT)
    bad_flag = sync_connection.apply_async(args=["7d1f1c1e-2f1a-4a53-9a51-5b0f8f3f0a11", "manual", "yes"])
    with pytest.raises(Exception, match="full_reconcile must be true or false"):
        bad_flag.get(timeout=TIMEOUT)


def test_a_fan_out_asked_for_more_partitions_than_allowed_enqueues_nothing(celery_client: Any) -> None:
    from tasks import schedule_due_syncs

    for partitions in (10**6, 0, -3, "7"):
        with pytest.raises(Exception, match="partitions must be from 1 to 256"):
            schedule_due_syncs.apply_async(args=[None, partitions]).get(timeout=TIMEOUT)


def test_the_beat_task_enqueues_due_connections_and_a_worker_syncs_them(books: dict[str, Any]) -> None:
    from tasks import schedule_due_syncs
    from tests.support.processes import wait_for

    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, books["connection"])
        assert connection is not None
        connection.next_sync_at = datetime.now(UTC) - timedelta(minutes=1)
        session.commit()

    assert schedule_due_syncs.apply_async().get(timeout=TIMEOUT)["enqueued"] == 1

    def synced() -> bool:
        with get_sessionmaker()() as session:
            row = session.get(AccountingConnection, books["connection"])
            return row is not None and row.last_pull is not None and row.lease_holder is None
    wait_for(synced, timeout=TIMEOUT, what="the scheduled sync to run")
    assert {r.sync_status for r in _records("bill")} == {"done"}
    assert schedule_due_syncs.apply_async().get(timeout=TIMEOUT)["enqueued"] == 0, "moved to its next hour"


def test_a_partitioned_tick_is_fanned_out_by_workers_in_parts(books: dict[str, Any]) -> None:
    from tasks import schedule_due_syncs
    from tests.support.processes import wait_for

    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, books["connection"])
        assert connection is not None
        connection.next_sync_at = datetime.now(UTC) - timedelta(minutes=1)
        session.commit()

    assert schedule_due_syncs.apply_async(kwargs={"partitions": 3}).get(timeout=TIMEOUT) == {
        "enqueued": 0, "partitions": 3}

    def synced() -> bool:
        with get_sessionmaker()() as session:
            row = session.get(AccountingConnection, books["connection"])
            return row is not None and row.last_pull is not None and row.lease_holder is None
    wait_for(synced, timeout=TIMEOUT, what="the partition holding the connection to enqueue its sync")
    bad = schedule_due_syncs.apply_async(args=[3, 3])
    with pytest.raises(Exception, match="partition must be from 0 to partitions - 1"):
        bad.get(timeout=TIMEOUT)
