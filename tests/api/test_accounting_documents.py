"""``/accounting/payables|receivables``: the last pull's documents of the active connection, by their ids,
amounts as exact numbers in the document's currency, lines naming booksync's ledger accounts and tax rates."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from models import utcnow
from tests.api.conftest import Tenant, make_accounting_document, make_connection, make_ledger_account, make_tax_rate


def _exact(response: Any) -> Any:
    """The body with every number as the Decimal it was written as (what a float would hide)."""
    return json.loads(response.text, parse_float=Decimal, parse_int=Decimal)


def test_empty_without_a_connection(client: TestClient, tenant: Tenant) -> None:
    assert client.get("/accounting/payables", headers=tenant.headers).json() == {"data": []}
    assert client.get("/accounting/receivables", headers=tenant.headers).json() == {"data": []}


def test_payables_list_and_get_in_the_reference_shape(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    account = make_ledger_account(db, connection, "1")  # the accounting system's "L-1"
    rate = make_tax_rate(db, tenant.id, "7", connection=connection)  # its "T-7"
    line = {"description": "Consulting", "quantity": "2", "unit_price": 500, "total": 1000, "tax_rate_value": 2000,
            "tax_rate_platform_id": "T-7", "ledger_account_id": "L-1"}
    make_accounting_document(db, connection, "payable", "12", lines=[line], currency_rate=Decimal("1.100000000000"))
    make_accounting_document(db, connection, "payable", "11")
    make_accounting_document(db, connection, "receivable", "99")
    make_accounting_document(db, connection, "payable", "13", deleted_at=utcnow())
    data = client.get("/accounting/payables", headers=tenant.headers).json()["data"]
    assert [item["id"] for item in data] == ["11", "12"]
    response = client.get("/accounting/payables/12", headers=tenant.headers)
    one = _exact(response)
    assert response.json() == data[1]
    assert one["vendor_ref"] == {"id": "C-1", "name": "Supplier Ltd"}
    assert (one["total_amount"], one["subtotal"], one["tax_amount"], one["amount_due"]) == (
        Decimal("12.00"), Decimal("10.00"), Decimal("2.00"), Decimal("12.00"))
    assert '"total_amount":12.00' in response.text, "the currency's digits, as a number"
    assert one["currency"] == "EUR" and one["currency_rate"] == Decimal("1.1") and one["status"] == "open"
    assert one["invoice_number"] == "N-12"
    assert one["lines"] == [
        {
            "description": "Consulting",
            "quantity": Decimal("2"),
            "unit_amount": Decimal("5.00"),
            "total_amount": Decimal("10.00"),
            "tax_rate_value": Decimal(2000),
            "tax_rate_ref": {"id": str(rate.id)},
            "ledger_account_id": str(account.id),
        }
    ]
    assert client.get(f"/ledger-accounts/{account.id}", headers=tenant.headers).json()["nominal_code"] == "610"
    assert client.get(f"/accounting-tax-rates/{rate.id}", headers=tenant.headers).json()["name"] == "7"
    assert client.get("/accounting/payables/13", headers=tenant.headers).status_code == 404
    assert client.get("/accounting/payables/99", headers=tenant.headers).status_code == 404


@pytest.mark.parametrize(("currency", "minor", "wire"), [
    ("JPY", 1000, "1000"), ("KWD", 1234, "1.234"), ("USD", 14400, "144.00"), ("USD", 10**15 + 1, "10000000000000.01"),
])
def test_amounts_are_the_currencys_exact_numbers(
    client: TestClient, tenant: Tenant, db: Session, currency: str, minor: int, wire: str
) -> None:
    connection = make_connection(db, tenant.id)
    make_accounting_document(db, connection, "receivable", "1", currency=currency, total_amount=minor, lines=[
        {"description": "x", "quantity": "0.333333", "unit_price": minor, "total": minor}])
    response = client.get("/accounting/receivables/1", headers=tenant.headers)
    assert f'"total_amount":{wire},' in response.text and f'"unit_amount":{wire},' in response.text
    assert '"quantity":0.333333' in response.text
    assert _exact(response)["total_amount"] == Decimal(wire)


def test_nothing_is_null_and_what_is_missing_is_left_out(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    make_accounting_document(
        db, connection, "payable", "1", document_number=None, counterpart_platform_id=None, memo=None,
        subtotal=None, tax_amount=None, amount_due=None, lines=[{"description": "x", "ledger_account_id": "gone"}],
    )
    response = client.get("/accounting/payables/1", headers=tenant.headers)
    assert "null" not in response.text
    body = response.json()
    assert set(body) == {"id", "currency", "status", "total_amount", "lines"}
    assert body["lines"] == [{"description": "x"}], "an account booksync never pulled is not handed out"


def test_receivables_list_and_get(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    changed = utcnow()
    make_accounting_document(db, connection, "receivable", "INV/1", reference="PO-7", platform_updated_at=changed)
    data = client.get("/accounting/receivables", headers=tenant.headers).json()["data"]
    assert [item["id"] for item in data] == ["INV/1"]
    assert data[0]["customer_ref"] == {"id": "C-1", "company_name": "Supplier Ltd"}
    assert data[0]["pass_through"]["reference"] == "PO-7" and data[0]["pass_through"]["updated_at"]
    assert "currency_rate" not in data[0], "the accounting system gave none"
    assert client.get("/accounting/receivables/nope", headers=tenant.headers).status_code == 404


def test_limit_offset_numeric_order_and_a_link_to_the_next_page(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    for platform_id in ("10", "9", "100", "2", "1"):
        make_accounting_document(db, connection, "payable", platform_id)
    first = client.get("/accounting/payables?limit=2", headers=tenant.headers)
    assert [item["id"] for item in first.json()["data"]] == ["1", "2"]
    assert first.headers["Link"] == '<http://testserver/accounting/payables?limit=2&offset=2>; rel="next"'
    middle = client.get("/accounting/payables?limit=2&offset=2", headers=tenant.headers)
    assert [item["id"] for item in middle.json()["data"]] == ["9", "10"]
    assert 'offset=4>; rel="next"' in middle.headers["Link"] and 'offset=0>; rel="prev"' in middle.headers["Link"]
    last = client.get("/accounting/payables?limit=2&offset=4", headers=tenant.headers)
    assert [item["id"] for item in last.json()["data"]] == ["100"]
    assert 'rel="next"' not in last.headers["Link"], "the last page says so"
    exactly_full = client.get("/accounting/payables?limit=5", headers=tenant.headers)
    assert len(exactly_full.json()["data"]) == 5 and "Link" not in exactly_full.headers
    assert client.get("/accounting/payables?limit=501", headers=tenant.headers).status_code == 422
    assert client.get("/accounting/payables?offset=-1", headers=tenant.headers).status_code == 422


def test_ids_are_resolved_in_two_queries_a_page_whatever_its_lines(
    client: TestClient, tenant: Tenant, db: Session
) -> None:
    from models.db import get_engine

    connection = make_connection(db, tenant.id)
    for name in ("1", "2", "3"):
        make_ledger_account(db, connection, name)
        make_tax_rate(db, tenant.id, name, connection=connection)
    lines = [{"description": f"l{i}", "ledger_account_id": f"L-{i % 3 + 1}", "tax_rate_platform_id": f"T-{i % 3 + 1}"}
             for i in range(30)]
    for platform_id in range(20):
        make_accounting_document(db, connection, "payable", str(platform_id), lines=lines)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        data = client.get("/accounting/payables", headers=tenant.headers).json()["data"]
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert len(data) == 20 and all(line.get("ledger_account_id") and line.get("tax_rate_ref") for d in data
                                   for line in d["lines"])
    assert len([s for s in statements if "FROM ledger_accounts" in s]) == 1
    assert len([s for s in statements if "FROM accounting_tax_rates" in s]) == 1


def test_documents_of_a_disconnected_system_are_not_served(client: TestClient, tenant: Tenant, db: Session) -> None:
    make_accounting_document(db, make_connection(db, tenant.id, status="disconnected"), "payable", "1")
    assert client.get("/accounting/payables", headers=tenant.headers).json() == {"data": []}
    assert client.get("/accounting/payables/1", headers=tenant.headers).status_code == 404
