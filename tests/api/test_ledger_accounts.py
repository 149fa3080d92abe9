"""``/ledger-accounts``: the active connection's accounts by name, paginated."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Tenant, make_connection, make_ledger_account

URL = "/ledger-accounts"


def test_empty_without_a_connection(client: TestClient, tenant: Tenant) -> None:
    assert client.get(URL, headers=tenant.headers).json() == {"data": []}


def test_list_by_name_paginated_and_get(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    accounts = [make_ledger_account(db, connection, name) for name in ("Sales", "Bank", "Expenses")]
    first = client.get(f"{URL}?limit=2", headers=tenant.headers).json()
    assert [item["name"] for item in first["data"]] == ["Bank", "Expenses"]
    second = client.get(f"{URL}?limit=2&pagination_token={first['next_pagination_token']}", headers=tenant.headers)
    assert [item["name"] for item in second.json()["data"]] == ["Sales"]
    assert first["data"][0] == {
        "id": str(accounts[1].id), "name": "Bank", "nominal_code": "610", "type": "Expense", "status": "Active",
        "is_bank_account": False,
    }, "what the accounting system has no value for is left out, never null"
    one = client.get(f"{URL}/{accounts[0].id}", headers=tenant.headers)
    assert one.status_code == 200 and one.json()["name"] == "Sales"


@pytest.mark.parametrize(("stored", "served"), [
    ("active", "Active"), ("archived", "Archived"), ("ARCHIVED", "Archived"), ("pending", "Pending"),
    ("closed", "Unknown"),
])
def test_status_is_one_of_the_references(
    client: TestClient, tenant: Tenant, db: Session, stored: str, served: str
) -> None:
    account = make_ledger_account(db, make_connection(db, tenant.id), "Sales")
    account.status, account.type, account.currency = stored, "other", "XAU"
    db.commit()
    body = client.get(f"{URL}/{account.id}", headers=tenant.headers).json()
    assert body["status"] == served and body["type"] == "Unknown" and "currency" not in body


def test_accounts_of_a_disconnected_system_are_gone(client: TestClient, tenant: Tenant, db: Session) -> None:
    account = make_ledger_account(db, make_connection(db, tenant.id, status="disconnected"), "Sales")
    assert client.get(URL, headers=tenant.headers).json()["data"] == []
    assert client.get(f"{URL}/{account.id}", headers=tenant.headers).status_code == 404


def test_unknown_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"{URL}/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404 and response.json()["error"]["message"].startswith("ledger account ")


def test_bad_parameters_are_422(client: TestClient, tenant: Tenant) -> None:
    assert client.get(f"{URL}?limit=251", headers=tenant.headers).json()["error"]["message"].startswith("limit: ")
    assert client.get(f"{URL}/not-a-uuid", headers=tenant.headers).status_code == 422
