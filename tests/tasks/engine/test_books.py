"""Keys belong to the books: a reconnect to the same Tryton company finds what earlier connections pushed.

Against a real Tryton on both databases: nothing is created twice (invoices and parties counted in
Tryton), changes to documents pushed before are pushed on, and a connection to other books starts fresh.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from models import AccountingConnection, AccountingSyncedRecord, Organization, Payable
from models.db import get_sessionmaker
from sandboxes.memory import MemoryBooks
from sandboxes.tryton.sandbox import SandboxInfo
from tasks.engine import sync
from tests.conftest_tryton import tryton_raw, tryton_sandbox, tryton_template  # noqa: F401
from tests.tasks.conftest import (
    connect_memory,
    connect_tryton,
    make_bill,
    make_counterpart,
    make_invoice,
    make_organization,
    tryton_invoice,
)


def _counts(raw: Any) -> tuple[int, int]:
    return (int(raw.model("account.invoice", "search_count", [])), int(raw.model("party.party", "search_count", [])))


def _sync(connection_id: uuid.UUID) -> Any:
    summary = sync.run_sync(get_sessionmaker(), connection_id, "manual")
    assert summary.status == "done", summary.message
    return summary


def _records(org_id: uuid.UUID) -> dict[tuple[str, uuid.UUID], AccountingSyncedRecord]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(AccountingSyncedRecord).where(AccountingSyncedRecord.organization_id == org_id))
        return {(r.object_type, r.object_id): r for r in rows}


def test_a_reconnect_to_the_same_books_creates_nothing_twice_and_pushes_changes_on(
    db_url: str, tryton_sandbox: SandboxInfo, tryton_raw: Any
) -> None:
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, f"Books Vendor {uuid.uuid4().hex[:6]}", vendor=True)
        customer = make_counterpart(session, org, f"Books Customer {uuid.uuid4().hex[:6]}", vendor=False)
        bill = make_bill(session, org, vendor, f"RB-{uuid.uuid4().hex[:6]}")
        invoice = make_invoice(session, org, customer, f"RI-{uuid.uuid4().hex[:6]}")
        first = connect_tryton(session, org, tryton_sandbox, backfill=True)
        org_id, bill_id, vendor_id = org.id, bill.id, vendor.id
    _sync(first.id)
    pushed = _records(org_id)
    bill_in_tryton = pushed[("bill", bill_id)].platform_object_id
    counts = _counts(tryton_raw)

    sync.disconnect(get_sessionmaker(), first.id)
    with get_sessionmaker()() as session:
        second = connect_tryton(session, session.get(Organization, org_id), tryton_sandbox, backfill=True)  # type: ignore[arg-type]
    assert second.books_id == first.books_id and second.books_id.startswith("tryton:http://127.0.0.1:")
    summary = _sync(second.id)
    assert _counts(tryton_raw) == counts, "a backfilled reconnect created something twice"
    assert summary.pushed.get("bill", 0) == 0 and summary.pushed.get("receivable", 0) == 0

    # a change to a document pushed through the old connection is pushed on, in place
    with get_sessionmaker()() as session:
        stored = session.get(Payable, bill_id)
        assert stored is not None
        stored.lines[0].unit_price, stored.lines[0].total = 12_000, 12_000
        stored.subtotal, stored.tax_amount, stored.total_amount = 12_000, 2_400, 14_400
        stored.updated_at = datetime.now(UTC)
        session.commit()
    assert _sync(second.id).pushed["bill"] == 1
    assert _counts(tryton_raw) == counts
    assert tryton_invoice(tryton_raw, bill_in_tryton)["total_amount"] == 144
    records = _records(org_id)
    assert records[("bill", bill_id)].connection_id == second.id
    assert records[("bill", bill_id)].platform_object_id == bill_in_tryton

    # without backfill: a new bill for the known vendor reuses its party
    sync.disconnect(get_sessionmaker(), second.id)
    with get_sessionmaker()() as session:
        org_row = session.get(Organization, org_id)
        third = connect_tryton(session, org_row, tryton_sandbox, backfill=False,  # type: ignore[arg-type]
                               connected_at=datetime.now(UTC) - timedelta(seconds=1))
        vendor_row = session.get(type(session.get(Payable, bill_id).counterpart), vendor_id)  # type: ignore[union-attr]
        new_bill = make_bill(session, org_row, vendor_row, f"RB-NEW-{uuid.uuid4().hex[:6]}")  # type: ignore[arg-type]
        session.commit()
        new_bill_id = new_bill.id
    _sync(third.id)
    invoices, parties = _counts(tryton_raw)
    assert (invoices, parties) == (counts[0] + 1, counts[1]), "the known vendor became a second party"
    assert _records(org_id)[("bill", new_bill_id)].sync_status == "done"


def test_a_connection_to_other_books_starts_fresh(db_url: str) -> None:
    first_books, other_books = f"fresh-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    with get_sessionmaker()() as session:
        org = make_organization(session)
        vendor = make_counterpart(session, org, "Fresh Vendor", vendor=True)
        make_bill(session, org, vendor, "FB-1")
        first = connect_memory(session, org, first_books)
        org_id = org.id
    _sync(first.id)
    sync.disconnect(get_sessionmaker(), first.id)
    with get_sessionmaker()() as session:
        second = connect_memory(session, session.get(Organization, org_id), other_books)  # type: ignore[arg-type]
    summary = _sync(second.id)
    assert summary.pushed["bill"] == 1 and summary.pushed["vendor"] == 1
    assert len(MemoryBooks.named(first_books).invoices) == 1 and len(MemoryBooks.named(other_books).invoices) == 1
    with get_sessionmaker()() as session:
        records = list(session.scalars(
            select(AccountingSyncedRecord).where(AccountingSyncedRecord.organization_id == org_id)
        ))
    assert len([r for r in records if r.object_type == "bill"]) == 2
    assert {r.books_id for r in records} == {f"memory:{first_books}", f"memory:{other_books}"}
    keys = {r.books_id: r.idempotency_key for r in records if r.object_type == "bill"}
    assert keys[f"memory:{first_books}"] != keys[f"memory:{other_books}"]
    with get_sessionmaker()() as session:
        assert session.get(AccountingConnection, second.id).status == "connected"  # type: ignore[union-attr]
