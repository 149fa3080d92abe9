"""Payment records and products through the engine, on the in-memory books (both databases).

What is checked is what a user sees: the synced records (``payment_record``, ``product``), what the books
hold (payments, items, amounts due), and the pulled documents (``accounting_documents``) — a payment pushed
once however often it is synced or retried, a payment waiting for its document and going once it is pushed,
an overpayment or an unsupported provider said on the record, a payment deleted on the platform deleted in
the books, products pushed before the documents that sell them, and the connection's defaults used by the
next push.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update

from api.intake import upsert_receivable
from api.intake_payments import delete_payment_record, upsert_payment_record, upsert_product
from models import (
    AccountingConnection,
    AccountingDocument,
    AccountingSyncedRecord,
    LedgerAccount,
    Organization,
    Payable,
    PushDefaults,
)
from models.db import get_sessionmaker
from sandboxes.memory import MemoryBooks
from tasks.engine import sync
from tests.tasks.conftest import connect_memory, make_bill, make_counterpart, make_invoice, make_organization


@pytest.fixture
def books() -> Iterator[MemoryBooks]:
    name = f"pay-{uuid.uuid4().hex[:8]}"
    yield MemoryBooks.named(name)
    MemoryBooks.forget(name)


class Org:
    """One organization with a vendor, a customer, a bill of 120.00 and an invoice of 300.00 (USD), connected to
    memory books that post what they are given (so payments can be recorded)."""

    def __init__(self, books: MemoryBooks, *, bill_status: str = "waiting_to_be_paid", **settings: Any) -> None:
        with get_sessionmaker()() as session:
            org = make_organization(session)
            vendor = make_counterpart(session, org, "Vandelay Industries", vendor=True)
            customer = make_counterpart(session, org, "Kramerica", vendor=False)
            self.bill = make_bill(session, org, vendor, "B-100", status=bill_status).id
            self.invoice = make_invoice(session, org, customer, "INV-100").id
            self.customer = customer.id
            settings.setdefault("post_documents", True)
            self.connection = connect_memory(session, org, books.name, **settings).id
            self.id = org.id

    def pay(self, amount: int, *, payable: bool = True, payment_id: uuid.UUID | None = None, **body: Any) -> uuid.UUID:
        payment_id = payment_id or uuid.uuid4()
        document = self.bill if payable else self.invoice
        with get_sessionmaker()() as session:
            upsert_payment_record(session, self.id, payment_id, {
                "object": {"type": "payable" if payable else "receivable", "id": str(document)},
                "amount": amount, "currency": "USD", "paid_date": date.today().isoformat(), **body,
            })
            session.commit()
        return payment_id

    def sync(self) -> Any:
        return sync.run_sync(get_sessionmaker(), self.connection, "manual")


def _records(object_type: str) -> dict[uuid.UUID, AccountingSyncedRecord]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(AccountingSyncedRecord).where(AccountingSyncedRecord.object_type == object_type))
        return {row.object_id: row for row in rows}


def _pulled(connection_id: uuid.UUID, platform_id: str) -> AccountingDocument:
    with get_sessionmaker()() as session:
        return session.execute(select(AccountingDocument).where(
            AccountingDocument.connection_id == connection_id, AccountingDocument.platform_id == platform_id
        )).scalar_one()


def _live_payments(books: MemoryBooks) -> list[Any]:
    return [p for p in books.payments.values() if not p.deleted]


def test_full_and_partial_payments_of_a_bill_and_an_invoice_are_pushed_once(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    full = org.pay(12_000)  # the whole bill
    first_half, second_half = org.pay(10_000, payable=False), org.pay(5_000, payable=False)  # half the invoice

    summary = org.sync()
    assert summary.status == "done" and summary.pushed["payment_record"] == 3
    records = _records("payment_record")
    assert all(records[p].sync_status == "done" and records[p].errors is None for p in (full, first_half, second_half))
    assert len(_live_payments(books)) == 3
    bill_id = _records("bill")[org.bill].platform_object_id
    invoice_id = _records("receivable")[org.invoice].platform_object_id
    assert {p.invoice_id: p.amount for p in books.payments.values() if p.invoice_id == bill_id} == {bill_id: 12_000}

    # what GET /accounting/payables|receivables serves, read back right after the payments went
    bill, invoice = _pulled(org.connection, bill_id), _pulled(org.connection, invoice_id)  # type: ignore[arg-type]
    assert (bill.status, bill.amount_due) == ("paid", 0)
    assert (invoice.status, invoice.amount_due) == ("partially_paid", 15_000)

    again = org.sync()
    assert again.pushed.get("payment_record", 0) == 0 and len(_live_payments(books)) == 3
    for payment in (full, first_half):
        sync.push_record(get_sessionmaker(), records[payment].id)  # what the push-retry task runs
    assert len(_live_payments(books)) == 3
    assert _records("payment_record")[full].platform_object_id == records[full].platform_object_id
    assert _pulled(org.connection, invoice_id).amount_due == 15_000  # type: ignore[arg-type]

    second = org.pay(15_000, payable=False)  # the rest of the invoice
    assert org.sync().pushed["payment_record"] == 1
    assert _records("payment_record")[second].sync_status == "done"
    assert (_pulled(org.connection, invoice_id).status, _pulled(org.connection, invoice_id).amount_due) == ("paid", 0)  # type: ignore[arg-type]


def test_a_payment_waits_for_its_draft_document_and_goes_once_it_is_pushed(db_url: str, books: MemoryBooks) -> None:
    org = Org(books, bill_status="draft")
    payment = org.pay(5_000)
    summary = org.sync()
    record = _records("payment_record")[payment]
    assert summary.waiting["payment_record"] == 1 and summary.pushed.get("bill", 0) == 0
    assert record.sync_status == "pending" and record.errors["kind"] == "waiting"
    assert record.errors["message"] == (
        "waits for bill B-100: it is draft on the platform, and is pushed to the memory books once it is "
        "waiting_to_be_paid"
    )
    assert record.errors["details"] == {"object_type": "bill", "object_id": str(org.bill)}
    assert books.payments == {}
    calls = books.calls
    org.sync()
    assert books.calls == calls + 4, "a waiting payment costs no provider call (the pull's four only)"

    with get_sessionmaker()() as session:
        session.execute(update(Payable).where(Payable.id == org.bill).values(status="waiting_to_be_paid"))
        session.commit()
    summary = org.sync()
    assert summary.pushed["bill"] == 1 and summary.pushed["payment_record"] == 1
    record = _records("payment_record")[payment]
    assert record.sync_status == "done" and record.errors is None
    assert [p.amount for p in books.payments.values()] == [5_000]


def test_a_payment_whose_document_failed_says_why_and_goes_after_the_document(db_url: str, books: MemoryBooks) -> None:
    from providers.errors import DataError

    org = Org(books)
    books.faults.refuse = lambda document: DataError("the memory books are closed for bills today") if (
        document.document_number == "B-100") else None
    payment = org.pay(12_000)
    org.sync()
    record = _records("payment_record")[payment]
    assert record.sync_status == "pending" and record.errors["kind"] == "waiting"
    assert record.errors["message"].startswith("waits for bill B-100: its push to the memory books failed: ")
    assert "closed for bills today" in record.errors["message"]

    books.faults.refuse = lambda document: None
    sync.push_record(get_sessionmaker(), _records("bill")[org.bill].id)  # the person retries the bill
    assert org.sync().pushed["payment_record"] == 1
    assert _records("payment_record")[payment].sync_status == "done"


def test_a_payment_for_a_document_the_system_keeps_as_a_draft_waits_there(db_url: str, books: MemoryBooks) -> None:
    """The memory books, like Tryton, pay only posted invoices: NotReadyError, pending with the system's words."""
    org = Org(books, post_documents=False)
    payment = org.pay(4_000)
    summary = org.sync()
    record = _records("payment_record")[payment]
    assert summary.waiting["payment_record"] == 1
    assert record.sync_status == "pending" and record.errors["kind"] == "waiting"
    assert "the memory books: invoice B-100 is a draft; the memory books pay only posted invoices" in (
        record.errors["message"])
    books.invoices[_records("bill")[org.bill].platform_object_id].status = "posted"  # type: ignore[index]
    assert org.sync().pushed["payment_record"] == 1
    assert _records("payment_record")[payment].sync_status == "done"


def test_an_overpayment_the_system_refuses_is_an_error_a_person_can_act_on(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    org.sync()
    bill_id = _records("bill")[org.bill].platform_object_id
    from providers.types import DocumentKind, OutgoingPayment

    # someone recorded 100.00 of the bill in the accounting system directly
    books.save_payment(OutgoingPayment("direct", DocumentKind.PAYABLE, bill_id, 10_000, "USD", date.today()), None)  # type: ignore[arg-type]
    payment = org.pay(5_000)
    summary = org.sync()
    record = _records("payment_record")[payment]
    assert summary.errors["payment_record"] == 1
    assert record.sync_status == "error" and record.errors["kind"] == "data"
    assert record.errors["message"] == "the memory books: 50.00 USD would overpay invoice B-100: 20.00 USD is due"
    assert record.errors["details"]["field"] == "amount"
    assert org.sync().errors.get("payment_record", 0) == 0, "not retried by the syncs"


def test_intake_refuses_an_overpayment_and_another_currency(db_url: str, books: MemoryBooks) -> None:
    from api.intake import IntakeError

    org = Org(books)
    org.pay(7_000)
    with pytest.raises(IntakeError) as caught:
        org.pay(6_000)
    assert caught.value.field == "amount"
    assert caught.value.message == ("60.00 USD would overpay payable B-100: its total is 120.00 USD and other payment "
                                    "records already pay 70.00 USD, so at most 50.00 USD is left")
    with pytest.raises(IntakeError) as caught:
        with get_sessionmaker()() as session:
            upsert_payment_record(session, org.id, uuid.uuid4(), {
                "object": {"type": "payable", "id": str(org.bill)}, "amount": 100, "currency": "EUR",
                "paid_date": "2026-01-01"})
    assert caught.value.field == "currency"
    assert "is EUR but payable B-100 is in USD" in caught.value.message


def test_a_provider_without_payments_or_products_says_so_once(db_url: str, books: MemoryBooks) -> None:
    org = Org(books, payments=False, products=False)
    product = uuid.uuid4()
    with get_sessionmaker()() as session:
        upsert_product(session, org.id, product, {"name": "Consulting hour", "unit_price": 15_000, "currency": "USD"})
        session.commit()
    invoice = _sell(org, product)
    payment = org.pay(12_000)
    summary = org.sync()
    assert summary.status == "done"
    payment_record, product_record = _records("payment_record")[payment], _records("product")[product]
    assert payment_record.sync_status == "error" and payment_record.errors == {
        "kind": "unsupported",
        "message": "the memory books does not take payments from booksync; record this payment there by hand",
    }
    assert product_record.sync_status == "error" and product_record.errors["kind"] == "unsupported"
    assert _records("receivable")[invoice].sync_status == "done", "the invoice goes without its product"
    assert books.payments == {} and books.items == {}
    again = org.sync()
    assert again.errors == {} and again.pushed == {}, "said once, not retried by every sync"


def _sell(org: Org, product: uuid.UUID) -> uuid.UUID:
    """A new invoice (300.00 USD) whose line sells ``product``."""
    invoice = uuid.uuid4()
    with get_sessionmaker()() as session:
        line = {"description": "Consulting", "quantity": 2, "unit_price": 12_500, "tax_rate_value": 2000,
                "product_id": str(product)}
        upsert_receivable(session, org.id, invoice, {
            "counterpart_id": str(org.customer), "document_number": f"INV-{invoice.hex[:6]}", "currency": "USD",
            "status": "issued", "subtotal": 25_000, "tax_amount": 5_000, "total_amount": 30_000,
            "line_items": [line]})
        session.commit()
    return invoice


def test_a_payment_whose_answer_was_lost_is_recorded_once(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    org.pay(6_000)
    books.faults.lost_answers, books.faults.lost_answers_of = 1, "payments"
    assert org.sync().pushed["payment_record"] == 1
    assert len(books.payments) == 1, "sent again, the key was looked up"


def test_a_payment_deleted_on_the_platform_is_deleted_in_the_books(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    payment = org.pay(12_000)
    org.sync()
    bill_id = _records("bill")[org.bill].platform_object_id
    assert _pulled(org.connection, bill_id).status == "paid"  # type: ignore[arg-type]
    with get_sessionmaker()() as session:
        delete_payment_record(session, org.id, payment)
        session.commit()
    summary = org.sync()
    assert summary.pushed["payment_record"] == 1
    assert _live_payments(books) == []
    record = _records("payment_record")[payment]
    assert record.sync_status == "done" and record.content_hash == "deleted"
    assert (_pulled(org.connection, bill_id).status, _pulled(org.connection, bill_id).amount_due) == ("open", 12_000)  # type: ignore[arg-type]
    assert org.sync().pushed == {}, "deleted once"

    books.faults.undeletable_payments = True
    kept = org.pay(3_000)
    org.sync()
    with get_sessionmaker()() as session:
        delete_payment_record(session, org.id, kept)
        session.commit()
    org.sync()
    record = _records("payment_record")[kept]
    assert record.sync_status == "error"
    assert record.errors["message"] == "the memory books: the memory books keep payments for good: reverse this one by hand"
    assert len(_live_payments(books)) == 1


def test_a_payment_changed_after_its_push_is_refused_with_what_to_do(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    payment = org.pay(6_000)
    org.sync()
    org.pay(7_000, payment_id=payment)
    org.sync()
    record = _records("payment_record")[payment]
    assert record.sync_status == "error" and record.errors["kind"] == "changed"
    assert "delete this payment record (status deleted) and record the payment again under a new id" in (
        record.errors["message"])
    assert [p.amount for p in books.payments.values()] == [6_000]


def test_the_defaults_the_organization_changes_are_used_by_the_next_push(db_url: str, books: MemoryBooks) -> None:
    from tasks.engine.defaults import change_defaults

    org = Org(books)
    org.sync()  # pulls the books' ledger accounts
    with get_sessionmaker()() as session:
        accounts = {a.platform_id: a.id for a in session.scalars(select(LedgerAccount))}
    org.pay(1_000)
    org.sync()
    assert [p.account for p in books.payments.values()] == ["100"], "the books' own default"

    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, org.connection)
        change_defaults(session, connection, {"payment_ledger_account_id": accounts["200"],  # type: ignore[arg-type]
                                              "product_ledger_account_id": accounts["400"]})
        session.commit()
    org.pay(2_000)
    product = uuid.uuid4()
    with get_sessionmaker()() as session:
        upsert_product(session, org.id, product, {"name": "Widget", "type": "product"})
        session.commit()
    sold = _sell(org, product)
    org.sync()
    assert sorted(p.account for p in books.payments.values()) == ["100", "200"], "the next push uses the new one"
    (item,) = books.items.values()
    assert item.product.ledger_account_id == "400"
    invoice = books.invoices[_records("receivable")[sold].platform_object_id]  # type: ignore[index]
    assert invoice.lines[0].ledger_account_id == "400", "the product's account on an invoice line without one"
    assert invoice.lines[0].product_platform_id == item.id


def test_a_product_is_pushed_once_before_the_invoice_that_sells_it(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    product = uuid.uuid4()
    with get_sessionmaker()() as session:
        upsert_product(session, org.id, product, {"name": "Consulting hour", "type": "service", "unit_price": 12_500,
                                                  "currency": "USD", "unit": "hour", "tax_rate_value": 2000})
        session.commit()
    sold = _sell(org, product)
    summary = org.sync()
    assert summary.pushed["product"] == 1 and summary.pushed["receivable"] == 2
    (item,) = books.items.values()
    assert item.product.name == "Consulting hour" and item.product.unit_price == 12_500
    record = _records("product")[product]
    assert record.sync_status == "done" and record.platform_object_id == item.id
    invoice = books.invoices[_records("receivable")[sold].platform_object_id]  # type: ignore[index]
    assert invoice.lines[0].product_platform_id == item.id

    assert org.sync().pushed == {} and len(books.items) == 1
    sync.push_record(get_sessionmaker(), record.id)
    assert len(books.items) == 1

    with get_sessionmaker()() as session:
        upsert_product(session, org.id, product, {"name": "Consulting hour (senior)", "unit_price": 15_000,
                                                  "currency": "USD"})
        session.commit()
    assert org.sync().pushed["product"] == 1
    assert [i.product.name for i in books.items.values()] == ["Consulting hour (senior)"], "updated, not created"


def test_a_product_the_system_refuses_holds_back_the_invoices_that_sell_it(db_url: str, books: MemoryBooks) -> None:
    org = Org(books)
    product = uuid.uuid4()
    with get_sessionmaker()() as session:
        upsert_product(session, org.id, product, {"name": "Gold-plated cable", "ledger_account_id": "999"})
        session.commit()
    sold = _sell(org, product)
    org.sync()
    product_record, invoice_record = _records("product")[product], _records("receivable")[sold]
    assert product_record.sync_status == "error"
    assert product_record.errors["message"] == (
        "the memory books: ledger account 999 does not exist in the accounting system")
    assert invoice_record.sync_status == "error" and invoice_record.errors["kind"] == "product"
    assert invoice_record.errors["message"] == (
        f"product 'Gold-plated cable' ({product}) could not be pushed to the memory books: ledger account 999 does not "
        "exist in the accounting system")
    assert _records("receivable")[org.invoice].sync_status == "done", "the others go on"

    with get_sessionmaker()() as session:
        upsert_product(session, org.id, product, {"name": "Gold-plated cable", "ledger_account_id": "400"})
        session.commit()
    summary = org.sync()
    assert summary.pushed["product"] == 1 and summary.pushed["receivable"] == 1
    assert _records("receivable")[sold].sync_status == "done"


def test_products_of_an_organization_without_backfill_go_when_new_or_sold(db_url: str, books: MemoryBooks) -> None:
    from datetime import UTC, datetime, timedelta

    org = Org(books, backfill=False)
    old, sold = uuid.uuid4(), uuid.uuid4()
    with get_sessionmaker()() as session:
        for product in (old, sold):
            upsert_product(session, org.id, product, {"name": f"Product {product.hex[:4]}"})
        session.commit()
    with get_sessionmaker()() as session:  # the organization connects after making them (and its documents)
        session.execute(update(AccountingConnection).where(AccountingConnection.id == org.connection).values(
            connected_at=datetime.now(UTC) + timedelta(milliseconds=1)))
        session.commit()
    org.sync()
    assert books.items == {}, "products made before the connection wait until something sells them"
    _sell(org, sold)
    org.sync()
    assert [i.product.name for i in books.items.values()] == [f"Product {sold.hex[:4]}"]
    assert old not in _records("product")


def test_defaults_are_refused_when_they_are_not_the_connections_books(db_url: str, books: MemoryBooks) -> None:
    from tasks.engine.defaults import DefaultsError, change_defaults

    org = Org(books)
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, org.connection)
        organization = session.get(Organization, org.id)
        other = LedgerAccount(organization_id=organization.id, connection_id=connection.id,  # type: ignore[union-attr]
                              books_id="memory:elsewhere", platform_id="100", name="Bank elsewhere")
        session.add(other)
        session.commit()
        with pytest.raises(DefaultsError) as caught:
            change_defaults(session, connection, {"payment_ledger_account_id": other.id})  # type: ignore[arg-type]
        assert caught.value.field == "payment_ledger_account_id"
        assert "belongs to other books than this connection's" in caught.value.message
        with pytest.raises(DefaultsError):
            change_defaults(session, connection, {"payment_ledger_account_id": uuid.uuid4()})  # type: ignore[arg-type]
        session.rollback()
        assert session.get(AccountingConnection, org.connection).push_defaults == PushDefaults()  # type: ignore[union-attr]
