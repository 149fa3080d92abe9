"""``PUT/GET/DELETE /payment-records``, ``PUT/GET /products``, a line's ``product_id``, and
``GET/PATCH /accounting-connections/{id}/defaults``: idempotent, validated, scoped to the organization."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import AccountingSyncedRecord, LedgerAccount
from tests.api.conftest import Tenant, counterpart_body, document_body, make_connection, make_ledger_account, make_records


@pytest.fixture
def bill_id(client: TestClient, tenant: Tenant) -> uuid.UUID:
    """A bill of 30.60 EUR."""
    counterpart, bill = uuid.uuid4(), uuid.uuid4()
    assert client.put(f"/counterparts/{counterpart}", headers=tenant.headers, json=counterpart_body()).status_code == 201
    created = client.put(f"/payables/{bill}", headers=tenant.headers, json=document_body(counterpart, "waiting_to_be_paid"))
    assert created.status_code == 201, created.text
    return bill


def payment_body(document_id: uuid.UUID, amount: int = 1000, **changes: Any) -> dict[str, Any]:
    return {"object": {"type": "payable", "id": str(document_id)}, "amount": amount, "currency": "EUR",
            "paid_date": "2026-01-15", "payment_method": "bank_transfer", "reference": "SEPA-42", **changes}


def _refusal(response: Any) -> tuple[str, str]:
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    return detail["field"], detail["message"]


# -- payment records ----------------------------------------------------------------------------


def test_a_payment_record_put_is_idempotent_and_get_and_list_show_it(
    client: TestClient, tenant: Tenant, bill_id: uuid.UUID
) -> None:
    payment = uuid.uuid4()
    created = client.put(f"/payment-records/{payment}", headers=tenant.headers, json=payment_body(bill_id))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["object"] == {"type": "payable", "id": str(bill_id)}
    assert (body["amount"], body["currency"], body["paid_date"], body["status"]) == (1000, "EUR", "2026-01-15",
                                                                                     "recorded")
    again = client.put(f"/payment-records/{payment}", headers=tenant.headers, json=payment_body(bill_id))
    assert again.status_code == 200 and again.json() == body
    assert client.get(f"/payment-records/{payment}", headers=tenant.headers).json() == body
    listed = client.get("/payment-records", headers=tenant.headers).json()
    assert [item["id"] for item in listed["data"]] == [str(payment)]


def test_partial_payments_add_up_to_the_total_and_no_further(
    client: TestClient, tenant: Tenant, bill_id: uuid.UUID
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    assert client.put(f"/payment-records/{first}", headers=tenant.headers, json=payment_body(bill_id, 2000)).status_code == 201
    over = client.put(f"/payment-records/{second}", headers=tenant.headers, json=payment_body(bill_id, 1061))
    assert _refusal(over) == ("amount", "10.61 EUR would overpay payable INV-1: its total is 30.60 EUR and other "
                              "payment records already pay 20.00 EUR, so at most 10.60 EUR is left")
    assert over.json()["detail"][0]["loc"] == ["body", "amount"]
    assert client.put(f"/payment-records/{second}", headers=tenant.headers, json=payment_body(bill_id, 1060)).status_code == 201
    # changing a payment counts what the others pay, not its own old amount
    assert client.put(f"/payment-records/{first}", headers=tenant.headers, json=payment_body(bill_id, 2000,
                      reference="SEPA-43")).status_code == 200


def test_a_payment_record_is_refused_naming_what_to_fix(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, bill_id: uuid.UUID
) -> None:
    url = f"/payment-records/{uuid.uuid4()}"
    assert _refusal(client.put(url, headers=tenant.headers, json=payment_body(bill_id, currency="USD"))) == (
        "currency", f"is USD but payable INV-1 is in EUR; a payment is recorded in the currency of the document it "
                    "settles")
    field, message = _refusal(client.put(url, headers=tenant.headers, json=payment_body(uuid.uuid4())))
    assert field == "object.id" and "no payable" in message and "PUT /payables/" in message
    field, _ = _refusal(client.put(url, headers=other_tenant.headers, json=payment_body(bill_id)))
    assert field == "object.id", "another organization's bill is not found"
    assert _refusal(client.put(url, headers=tenant.headers, json=payment_body(bill_id, 0)))[0] == "amount"
    assert _refusal(client.put(url, headers=tenant.headers, json=payment_body(bill_id, object={
        "type": "bill", "id": str(bill_id)})))[0] == "object.type"
    assert _refusal(client.put(url, headers=tenant.headers, json={**payment_body(bill_id), "paid_at": "x"}))[0] == "paid_at"


def test_a_payment_deleted_on_the_platform_stays_deleted(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, bill_id: uuid.UUID, db: Session
) -> None:
    payment = uuid.uuid4()
    client.put(f"/payment-records/{payment}", headers=tenant.headers, json=payment_body(bill_id, 3060))
    connection = make_connection(db, tenant.id)
    (record,) = make_records(db, connection, 1, object_type="payment_record", object_id=payment)

    assert client.delete(f"/payment-records/{payment}", headers=other_tenant.headers).status_code == 404
    deleted = client.delete(f"/payment-records/{payment}", headers=tenant.headers)
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "pending"  # type: ignore[union-attr]
    assert client.delete(f"/payment-records/{payment}", headers=tenant.headers).json() == deleted.json()
    assert client.put(f"/payment-records/{payment}", headers=tenant.headers,
                      json=payment_body(bill_id, 3060, status="deleted")).json() == deleted.json()
    field, message = _refusal(client.put(f"/payment-records/{payment}", headers=tenant.headers,
                                         json=payment_body(bill_id, 3060)))
    assert field == "status" and "stays deleted; record the payment again under a new id" in message
    assert client.delete(f"/payment-records/{uuid.uuid4()}", headers=tenant.headers).status_code == 404
    # what it paid is free again
    assert client.put(f"/payment-records/{uuid.uuid4()}", headers=tenant.headers,
                      json=payment_body(bill_id, 3060)).status_code == 201


def test_a_changed_payment_marks_its_synced_record_pending(
    client: TestClient, tenant: Tenant, bill_id: uuid.UUID, db: Session
) -> None:
    payment = uuid.uuid4()
    client.put(f"/payment-records/{payment}", headers=tenant.headers, json=payment_body(bill_id))
    connection = make_connection(db, tenant.id)
    (record,) = make_records(db, connection, 1, object_type="payment_record", object_id=payment)
    client.put(f"/payment-records/{payment}", headers=tenant.headers, json=payment_body(bill_id))
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "done"  # type: ignore[union-attr]
    client.put(f"/payment-records/{payment}", headers=tenant.headers, json=payment_body(bill_id, 1500))
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "pending"  # type: ignore[union-attr]


# -- products -----------------------------------------------------------------------------------


def product_body(**changes: Any) -> dict[str, Any]:
    return {"name": "Consulting hour", "description": "A senior consultant's hour", "type": "service",
            "unit_price": 15000, "currency": "EUR", "unit": "hour", "tax_rate_value": 2000, **changes}


def test_a_product_put_is_idempotent_and_lines_may_sell_it(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, db: Session
) -> None:
    product = uuid.uuid4()
    created = client.put(f"/products/{product}", headers=tenant.headers, json=product_body())
    assert created.status_code == 201, created.text
    assert created.json()["unit_price"] == 15000 and created.json()["type"] == "service"
    assert client.put(f"/products/{product}", headers=tenant.headers, json=product_body()).json() == created.json()
    assert client.get(f"/products/{product}", headers=tenant.headers).json() == created.json()
    assert client.get(f"/products/{product}", headers=other_tenant.headers).status_code == 404
    assert [p["id"] for p in client.get("/products", headers=tenant.headers).json()["data"]] == [str(product)]

    connection = make_connection(db, tenant.id)
    (record,) = make_records(db, connection, 1, object_type="product", object_id=product)
    renamed = client.put(f"/products/{product}", headers=tenant.headers, json=product_body(name="Consulting day"))
    assert renamed.status_code == 200 and renamed.json()["name"] == "Consulting day"
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "pending"  # type: ignore[union-attr]

    counterpart, invoice = uuid.uuid4(), uuid.uuid4()
    client.put(f"/counterparts/{counterpart}", headers=tenant.headers, json=counterpart_body())
    body = document_body(counterpart, "issued")
    body["line_items"][0]["product_id"] = str(product)
    sold = client.put(f"/receivables/{invoice}", headers=tenant.headers, json=body)
    assert sold.status_code == 201, sold.text
    assert [line["product_id"] for line in sold.json()["line_items"]] == [str(product), None]
    body["line_items"][1]["product_id"] = str(uuid.uuid4())
    field, message = _refusal(client.put(f"/receivables/{uuid.uuid4()}", headers=tenant.headers, json=body))
    assert field == "line_items[1].product_id" and "PUT /products/" in message


def test_a_product_is_refused_naming_what_to_fix(client: TestClient, tenant: Tenant) -> None:
    url = f"/products/{uuid.uuid4()}"
    assert _refusal(client.put(url, headers=tenant.headers, json=product_body(currency=None)))[1] == (
        "currency is required with unit_price")
    assert _refusal(client.put(url, headers=tenant.headers, json=product_body(type="goods")))[0] == "type"
    field, message = _refusal(client.put(url, headers=tenant.headers,
                                         json=product_body(ledger_account_id=str(uuid.uuid4()))))
    assert field == "ledger_account_id" and "GET /ledger-accounts" in message
    assert _refusal(client.put(url, headers=tenant.headers, json=product_body(
        accounting_tax_rate_id=str(uuid.uuid4()))))[1] == "give tax_rate_value or accounting_tax_rate_id, not both"
    assert client.put(url, headers=tenant.headers, json={"name": "Just a name"}).status_code == 201


# -- the connection's defaults ------------------------------------------------------------------


def test_defaults_are_read_and_changed_without_credentials(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, db: Session
) -> None:
    connection = make_connection(db, tenant.id, books_id="tryton:http://127.0.0.1:1/x/1")
    bank, sales = make_ledger_account(db, connection, "Bank"), make_ledger_account(db, connection, "Sales")
    url = f"/accounting-connections/{connection.id}/defaults"
    assert client.get(url, headers=tenant.headers).json() == {}

    changed = client.patch(url, headers=tenant.headers, json={"payment_ledger_account_id": str(bank.id)})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"payment_ledger_account_id": str(bank.id)}
    both = client.patch(url, headers=tenant.headers, json={"product_ledger_account_id": str(sales.id)})
    assert both.json() == {"payment_ledger_account_id": str(bank.id), "product_ledger_account_id": str(sales.id)}
    cleared = client.patch(url, headers=tenant.headers, json={"payment_ledger_account_id": None})
    assert cleared.json() == {"product_ledger_account_id": str(sales.id)}
    assert client.get(url, headers=tenant.headers).json() == cleared.json()
    assert client.get(url, headers=other_tenant.headers).status_code == 404


def test_defaults_refuse_what_is_not_an_active_account_of_the_connections_books(
    client: TestClient, tenant: Tenant, db: Session
) -> None:
    connection = make_connection(db, tenant.id, books_id="tryton:http://127.0.0.1:1/x/1")
    url = f"/accounting-connections/{connection.id}/defaults"
    elsewhere = LedgerAccount(id=uuid.uuid4(), organization_id=tenant.id, connection_id=connection.id,
                              books_id="tryton:http://other/x/1", platform_id="9", name="Other bank")
    archived = LedgerAccount(id=uuid.uuid4(), organization_id=tenant.id, connection_id=connection.id,
                             books_id=connection.books, platform_id="8", name="Old bank", status="archived")
    db.add_all([elsewhere, archived])
    db.commit()
    field, message = _refusal(client.patch(url, headers=tenant.headers, json={"payment_ledger_account_id":
                                                                              str(elsewhere.id)}))
    assert field == "payment_ledger_account_id" and "belongs to other books than this connection's" in message
    assert "is archived" in _refusal(client.patch(url, headers=tenant.headers, json={
        "product_ledger_account_id": str(archived.id)}))[1]
    assert "GET /ledger-accounts" in _refusal(client.patch(url, headers=tenant.headers, json={
        "payment_ledger_account_id": str(uuid.uuid4())}))[1]
    assert _refusal(client.patch(url, headers=tenant.headers, json={"bank": "x"}))[0] == "bank"
    disconnected = make_connection(db, tenant.id, status="disconnected")
    assert client.patch(f"/accounting-connections/{disconnected.id}/defaults", headers=tenant.headers,
                        json={"payment_ledger_account_id": None}).status_code == 409
