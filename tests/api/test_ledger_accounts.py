"""``/ledger-accounts``: the active connection's accounts by name, paginated."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import Tenant, make_connection, make_ledger_account

URL = "/ledger-accounts"


def test_empty_without_a_connection(client: TestClient, tenant: Tenant) -> None:
    assert client.get(URL, headers=tenant.headers).json() == {
        "data": [], "next_pagination_token": None, "prev_pagination_token": None
    }


def test_list_by_name_paginated_and_get(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    accounts = [make_ledger_account(db, connection, name) for name in ("Sales", "Bank", "Expenses")]
    first = client.get(f"{URL}?limit=2", headers=tenant.headers).json()
    assert [item["name"] for item in first["data"]] == ["Bank", "Expenses"]
    second = client.get(f"{URL}?limit=2&pagination_token={first['next_pagination_token']}", headers=tenant.headers)
    assert [item["name"] for item in second.json()["data"]] == ["Sales"]
    assert set(first["data"][0]) == {
        "id", "name", "nominal_code", "type", "subtype", "status", "currency", "description", "is_bank_account",
        "current_balance",
    }
    one = client.get(f"{URL}/{accounts[0].id}", headers=tenant.headers)
    assert one.status_code == 200 and one.json()["name"] == "Sales"


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
