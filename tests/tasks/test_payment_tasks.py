"""Payment records and products end to end: the platform's data in, the tasks run by a real worker process on
Redis and PostgreSQL, a real Tryton server out, and what booksync then serves (synced records, the pulled
documents through the API)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.intake import upsert_receivable
from api.intake_payments import delete_payment_record, upsert_payment_record, upsert_product
from models import AccountingConnection, AccountingSyncedRecord, LedgerAccount
from models.db import get_sessionmaker
from sandboxes.tryton.sandbox import SandboxInfo
from tasks import push_synced_record, sync_connection
from tests.tasks.conftest import connect_tryton, make_bill, make_counterpart, make_organization

TIMEOUT = 120


def _sync(connection_id: uuid.UUID) -> dict[str, Any]:
    return sync_connection.apply_async(args=[str(connection_id), "manual"]).get(timeout=TIMEOUT)  # type: ignore[no-any-return]


def _retry(record: AccountingSyncedRecord) -> None:
    push_synced_record.apply_async(args=[str(record.id)]).get(timeout=TIMEOUT)


def _records(object_type: str) -> dict[uuid.UUID, AccountingSyncedRecord]:
    with get_sessionmaker()() as session:
        rows = session.scalars(select(AccountingSyncedRecord).where(AccountingSyncedRecord.object_type == object_type))
        return {row.object_id: row for row in rows}


class Tryton:
    """What the Tryton server holds, read with the raw JSON-RPC client (not the adapter)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def invoice(self, platform_id: str | None) -> dict[str, Any]:
        (invoice,) = self.raw.search_read("account.invoice", [["id", "=", int(platform_id or 0)]],
                                          ["state", "amount_to_pay", "total_amount", "account"])
        return invoice  # type: ignore[no-any-return]

    def payments(self, platform_id: str | None) -> list[dict[str, Any]]:
        """The invoice's payment moves that were not cancelled: their amounts and the other line's account."""
        cancelled = {str(m["origin"]).split(",")[1] for m in self.raw.search_read(
            "account.move", [["origin", "like", "account.move,%"]], ["origin"])}
        moves = self.raw.search_read("account.move", [["origin", "=", f"account.invoice,{platform_id}"],
                                                      ["journal.type", "=", "cash"]], ["id", "lines"])
        invoice_account = self.invoice(platform_id)["account"]
        held = []
        for move in moves:
            if str(move["id"]) in cancelled:
                continue
            lines = self.raw.search_read("account.move.line", [["move", "=", move["id"]]], ["account", "debit", "credit"])
            paid = next(line for line in lines if line["account"] == invoice_account)
            other = next(line for line in lines if line["account"] != invoice_account)
            held.append({"move": move["id"], "amount": int((paid["debit"] + paid["credit"]) * 100),
                         "account": other["account"]})
        return held


@pytest.fixture
def tryton(tryton_raw: Any) -> Tryton:
    return Tryton(tryton_raw)


class Books:
    """An organization with a vendor's bill (120.00 USD) and a customer's invoice (300.00 USD) selling a product,
    connected to the Tryton sandbox, posting what it pushes."""

    def __init__(self, sandbox: SandboxInfo, *, post_documents: bool = True) -> None:
        with get_sessionmaker()() as session:
            org = make_organization(session)
            vendor = make_counterpart(session, org, f"Initech {uuid.uuid4().hex[:6]}", vendor=True)
            customer = make_counterpart(session, org, f"Umbrella {uuid.uuid4().hex[:6]}", vendor=False)
            self.bill = make_bill(session, org, vendor, f"B-{uuid.uuid4().hex[:6]}").id
            session.commit()
            self.org, self.customer = org.id, customer.id
            connection = connect_tryton(session, org, sandbox)
            connection.settings = {**connection.settings, "post_documents": post_documents}
            session.commit()
            self.connection = connection.id
        self.product = uuid.uuid4()
        self.invoice = uuid.uuid4()
        with get_sessionmaker()() as session:
            upsert_product(session, self.org, self.product, {
                "name": f"Consulting hour {self.product.hex[:6]}", "type": "service", "unit_price": 12_500,
                "currency": "USD", "unit": "hour", "tax_rate_value": 2000})
            upsert_receivable(session, self.org, self.invoice, {
                "counterpart_id": str(self.customer), "document_number": f"I-{self.invoice.hex[:6]}", "currency": "USD",
                "status": "issued", "issue_date": date.today().isoformat(), "subtotal": 25_000, "tax_amount": 5_000,
                "total_amount": 30_000, "line_items": [{"description": "Consulting", "quantity": 2, "unit_price": 12_500,
                                                        "tax_rate_value": 2000, "product_id": str(self.product)}]})
            session.commit()

    def pay(self, amount: int, *, invoice: bool = False) -> uuid.UUID:
        payment = uuid.uuid4()
        with get_sessionmaker()() as session:
            upsert_payment_record(session, self.org, payment, {
                "object": {"type": "receivable" if invoice else "payable", "id": str(self.invoice if invoice else self.bill)},
                "amount": amount, "currency": "USD", "paid_date": date.today().isoformat(), "reference": "TRX-1"})
            session.commit()
        return payment

    def platform_id(self, object_type: str, object_id: uuid.UUID) -> str:
        platform_id = _records(object_type)[object_id].platform_object_id
        assert platform_id is not None
        return platform_id


@pytest.fixture
def api(pg_url: str, redis_url: str) -> Iterator[TestClient]:
    from api.app import create_app

    with TestClient(create_app()) as client:
        yield client


def _headers(organization_id: uuid.UUID) -> dict[str, str]:
    from api.keys import create_api_key

    with get_sessionmaker()() as session:
        key = create_api_key(session, organization_id, name="test").key
        session.commit()
    return {"Authorization": f"Bearer {key}", "X-Organization-Id": str(organization_id)}


def test_full_and_partial_payments_go_once_and_the_pulled_documents_show_them(
    pg_url: str, celery_client: Any, tryton_sandbox: SandboxInfo, tryton: Tryton, tryton_raw: Any, api: TestClient
) -> None:
    books = Books(tryton_sandbox)
    full, part = books.pay(12_000), books.pay(10_000, invoice=True)
    first = _sync(books.connection)
    assert first["status"] == "done", first
    assert first["pushed"] == {"product": 1, "vendor": 1, "bill": 1, "customer": 1, "receivable": 1,
                               "payment_record": 2}
    bill, invoice = books.platform_id("bill", books.bill), books.platform_id("receivable", books.invoice)
    assert tryton.invoice(bill)["state"] == "paid"
    assert (tryton.invoice(invoice)["state"], tryton.invoice(invoice)["amount_to_pay"]) == ("posted", 200)
    assert [p["amount"] for p in tryton.payments(bill)] == [12_000]
    assert [p["amount"] for p in tryton.payments(invoice)] == [10_000]
    product = books.platform_id("product", books.product)
    (line,) = tryton_raw.search_read("account.invoice.line", [["invoice", "=", int(invoice)]], ["product"])
    assert str(line["product"]) == product, "the invoice line sells the pushed product"

    headers = _headers(books.org)
    payable = api.get(f"/accounting/payables/{bill}", headers=headers).json()
    receivable = api.get(f"/accounting/receivables/{invoice}", headers=headers).json()
    assert (payable["status"], payable["amount_due"]) == ("paid", 0)
    assert (receivable["status"], receivable["amount_due"]) == ("partially_paid", 200)
    listed = api.get("/accounting-synced-records?object_type=payment_record", headers=headers).json()["data"]
    assert {r["object_id"] for r in listed} == {str(full), str(part)}
    assert all(r["sync_status"] == "done" and r["platform_object_id"] and "platform" not in r for r in listed)

    second = _sync(books.connection)
    assert second["status"] == "done" and second["pushed"] == {}
    for record in (_records("payment_record")[full], _records("payment_record")[part], _records("product")[books.product]):
        _retry(record)
    assert [p["amount"] for p in tryton.payments(bill)] == [12_000], "nothing recorded twice"
    assert [p["amount"] for p in tryton.payments(invoice)] == [10_000]
    assert len(tryton_raw.search_read("product.product", [["id", "=", int(product)]], ["id"])) == 1
    assert _records("payment_record")[full].sync_status == "done"

    rest = books.pay(20_000, invoice=True)
    assert _sync(books.connection)["pushed"] == {"payment_record": 1}
    assert _records("payment_record")[rest].sync_status == "done"
    assert tryton.invoice(invoice)["state"] == "paid"
    receivable = api.get(f"/accounting/receivables/{invoice}", headers=headers).json()
    assert (receivable["status"], receivable["amount_due"]) == ("paid", 0)


def test_a_payment_for_a_draft_waits_and_goes_once_tryton_posts_it(
    pg_url: str, celery_client: Any, tryton_sandbox: SandboxInfo, tryton: Tryton, tryton_raw: Any
) -> None:
    books = Books(tryton_sandbox, post_documents=False)
    payment = books.pay(6_000)
    result = _sync(books.connection)
    assert result["waiting"] == {"payment_record": 1}
    record = _records("payment_record")[payment]
    bill = books.platform_id("bill", books.bill)
    assert record.sync_status == "pending" and record.errors["kind"] == "waiting"  # type: ignore[index]
    assert record.errors["message"].startswith("Tryton: bill B-")  # type: ignore[index]
    assert "is draft in Tryton, and Tryton records payments only against posted invoices" in record.errors["message"]  # type: ignore[index]
    assert tryton.payments(bill) == []

    tryton_raw.model("account.invoice", "post", [int(bill)])  # someone posts it in Tryton
    assert _sync(books.connection)["pushed"] == {"payment_record": 1}
    assert _records("payment_record")[payment].sync_status == "done"
    assert [p["amount"] for p in tryton.payments(bill)] == [6_000]
    assert float(tryton.invoice(bill)["amount_to_pay"]) == 60.0


def test_an_overpayment_is_refused_with_what_is_left_and_a_deletion_cancels_the_payment(
    pg_url: str, celery_client: Any, tryton_sandbox: SandboxInfo, tryton: Tryton
) -> None:
    books = Books(tryton_sandbox)
    kept = books.pay(8_000)
    _sync(books.connection)
    bill = books.platform_id("bill", books.bill)

    from config.secrets import Credentials
    from providers.registry import provider_class
    from providers.types import DocumentKind, OutgoingPayment

    with provider_class("tryton")(tryton_sandbox.settings, Credentials(tryton_sandbox.credentials)) as provider:
        provider.push_payment(OutgoingPayment("by hand", DocumentKind.PAYABLE, bill, 3_000, "USD", date.today()),
                              "recorded-in-tryton-directly", None)  # someone paid 30.00 in Tryton itself
    late = books.pay(4_000)
    assert _sync(books.connection)["errors"] == {"payment_record": 1}
    record = _records("payment_record")[late]
    assert record.sync_status == "error"
    assert record.errors["message"].startswith("Tryton: 40.00 USD would overpay bill B-")  # type: ignore[index]
    assert record.errors["message"].endswith(": 10.00 USD is left to pay in Tryton")  # type: ignore[index]
    assert sorted(p["amount"] for p in tryton.payments(bill)) == [3_000, 8_000]

    with get_sessionmaker()() as session:
        delete_payment_record(session, books.org, kept)
        session.commit()
    assert _sync(books.connection)["pushed"] == {"payment_record": 1}
    assert [p["amount"] for p in tryton.payments(bill)] == [3_000], "booksync's payment is cancelled in Tryton"
    assert (tryton.invoice(bill)["state"], float(tryton.invoice(bill)["amount_to_pay"])) == ("posted", 90.0)
    deleted = _records("payment_record")[kept]
    assert deleted.sync_status == "done" and deleted.content_hash == "deleted"
    _retry(deleted)
    assert [p["amount"] for p in tryton.payments(bill)] == [3_000]


def test_the_defaults_changed_through_the_api_are_used_by_the_next_push(
    pg_url: str, celery_client: Any, tryton_sandbox: SandboxInfo, tryton: Tryton, tryton_raw: Any, api: TestClient
) -> None:
    books = Books(tryton_sandbox)
    books.pay(1_000)
    _sync(books.connection)  # also pulls the chart of accounts
    bill = books.platform_id("bill", books.bill)
    seed = tryton_sandbox.seed()
    assert [p["account"] for p in tryton.payments(bill)] == [seed["payment_method"]["account"]]

    with get_sessionmaker()() as session:
        accounts = {a.nominal_code: a for a in session.scalars(select(LedgerAccount).where(
            LedgerAccount.organization_id == books.org))}
    bank, services = accounts["1.1.3"], accounts["4.1.2"]
    headers = _headers(books.org)
    changed = api.patch(f"/accounting-connections/{books.connection}/defaults", headers=headers, json={
        "payment_ledger_account_id": str(bank.id), "product_ledger_account_id": str(services.id)})
    assert changed.status_code == 200, changed.text
    with get_sessionmaker()() as session:
        connection = session.get(AccountingConnection, books.connection)
        assert connection is not None and connection.credentials  # unchanged: no credentials were needed

    books.pay(2_000)
    product = uuid.uuid4()
    with get_sessionmaker()() as session:
        upsert_product(session, books.org, product, {"name": f"Training {product.hex[:6]}"})
        session.commit()
    result = _sync(books.connection)
    assert result["pushed"] == {"payment_record": 1, "product": 1}
    assert sorted(p["account"] for p in tryton.payments(bill)) == sorted(
        [seed["payment_method"]["account"], int(bank.platform_id)])
    (template,) = tryton_raw.search_read("product.product", [["id", "=", int(books.platform_id("product", product))]],
                                         ["template.account_category"])
    (category,) = tryton_raw.search_read("product.category", [["id", "=", template["template."]["account_category"]]],
                                         ["account_revenue", "name"])
    assert category["account_revenue"] == int(services.platform_id)
    assert category["name"].startswith("booksync: 4.1.2 ")
