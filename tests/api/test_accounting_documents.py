"""``/accounting/payables|receivables``: the last pull's documents of the active connection, by their ids."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import utcnow
from tests.api.conftest import Tenant, make_accounting_document, make_connection


def test_empty_without_a_connection(client: TestClient, tenant: Tenant) -> None:
    assert client.get("/accounting/payables", headers=tenant.headers).json() == {"data": []}
    assert client.get("/accounting/receivables", headers=tenant.headers).json() == {"data": []}


def test_payables_list_and_get_in_the_reference_shape(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    make_accounting_document(db, connection, "payable", "12")
    make_accounting_document(db, connection, "payable", "11")
    make_accounting_document(db, connection, "receivable", "99")
    make_accounting_document(db, connection, "payable", "13", deleted_at=utcnow())
    data = client.get("/accounting/payables", headers=tenant.headers).json()["data"]
    assert [item["id"] for item in data] == ["11", "12"]
    one = client.get("/accounting/payables/12", headers=tenant.headers).json()
    assert one == data[1]
    assert one["vendor_ref"] == {"id": "C-1", "name": "Supplier Ltd"}
    assert (one["total_amount"], one["subtotal"], one["tax_amount"], one["currency"]) == (1200, 1000, 200, "EUR")
    assert one["invoice_number"] == "N-12"
    assert one["lines"] == [
        {
            "description": "Consulting",
            "quantity": 2.0,
            "unit_amount": 500,
            "total_amount": 1000,
            "tax_rate_value": 2000,
            "tax_rate_ref": {"id": "7"},
            "ledger_account_id": "L-1",
        }
    ]
    assert client.get("/accounting/payables/13", headers=tenant.headers).status_code == 404
    assert client.get("/accounting/payables/99", headers=tenant.headers).status_code == 404


def test_receivables_list_and_get(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    make_accounting_document(db, connection, "receivable", "INV/1")
    data = client.get("/accounting/receivables", headers=tenant.headers).json()["data"]
    assert [item["id"] for item in data] == ["INV/1"]
    assert data[0]["customer_ref"] == {"id": "C-1", "company_name": "Supplier Ltd"}
    assert client.get("/accounting/receivables/nope", headers=tenant.headers).status_code == 404


def test_limit_and_offset(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    for index in range(5):
        make_accounting_document(db, connection, "payable", f"P{index}")
    page = client.get("/accounting/payables?limit=2&offset=2", headers=tenant.headers).json()["data"]
    assert [item["id"] for item in page] == ["P2", "P3"]
    assert client.get("/accounting/payables?limit=501", headers=tenant.headers).status_code == 422
    assert client.get("/accounting/payables?offset=-1", headers=tenant.headers).status_code == 422


def test_documents_of_a_disconnected_system_are_not_served(client: TestClient, tenant: Tenant, db: Session) -> None:
    make_accounting_document(db, make_connection(db, tenant.id, status="disconnected"), "payable", "1")
    assert client.get("/accounting/payables", headers=tenant.headers).json() == {"data": []}
    assert client.get("/accounting/payables/1", headers=tenant.headers).status_code == 404
