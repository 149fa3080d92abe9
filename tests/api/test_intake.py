"""``PUT/GET /counterparts|payables|receivables``: idempotent upserts by the platform's ids, validated."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import AccountingSyncedRecord
from tests.api.conftest import (
    Tenant,
    counterpart_body,
    document_body,
    make_connection,
    make_ledger_account,
    make_records,
    make_tax_rate,
)


@pytest.fixture
def counterpart_id(client: TestClient, tenant: Tenant) -> uuid.UUID:
    identifier = uuid.uuid4()
    assert client.put(f"/counterparts/{identifier}", headers=tenant.headers, json=counterpart_body()).status_code == 201
    return identifier


def _error(response: Any) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["error"]["message"])


def test_counterpart_put_is_idempotent_and_get_and_list_show_it(client: TestClient, tenant: Tenant) -> None:
    identifier = uuid.uuid4()
    created = client.put(f"/counterparts/{identifier}", headers=tenant.headers, json=counterpart_body())
    assert created.status_code == 201
    same = client.put(f"/counterparts/{identifier}", headers=tenant.headers, json=counterpart_body())
    assert same.status_code == 200 and same.json() == created.json()
    renamed = counterpart_body(name="Supplier plc")
    changed = client.put(f"/counterparts/{identifier}", headers=tenant.headers, json=renamed)
    assert changed.status_code == 200 and changed.json()["updated_at"] > created.json()["updated_at"]
    assert client.get(f"/counterparts/{identifier}", headers=tenant.headers).json() == changed.json()
    listed = client.get("/counterparts", headers=tenant.headers).json()
    assert [item["id"] for item in listed["data"]] == [str(identifier)]


@pytest.mark.parametrize("kind,status", [("payables", "waiting_to_be_paid"), ("receivables", "issued")])
def test_document_put_is_idempotent(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, kind: str, status: str
) -> None:
    identifier = uuid.uuid4()
    body = document_body(counterpart_id, status)
    created = client.put(f"/{kind}/{identifier}", headers=tenant.headers, json=body)
    assert created.status_code == 201, created.text
    document = created.json()
    assert document["eligible_at"] is not None
    assert [line["total"] for line in document["line_items"]] == [2250, 300]
    assert document["line_items"][1]["quantity"] == 0.5
    again = client.put(f"/{kind}/{identifier}", headers=tenant.headers, json=body)
    assert again.status_code == 200 and again.json() == document
    assert client.get(f"/{kind}/{identifier}", headers=tenant.headers).json() == document
    assert [item["id"] for item in client.get(f"/{kind}", headers=tenant.headers).json()["data"]] == [str(identifier)]


def test_a_change_bumps_updated_at_and_marks_synced_records_pending(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, db: Session
) -> None:
    identifier = uuid.uuid4()
    body = document_body(counterpart_id, "waiting_to_be_paid")
    created = client.put(f"/payables/{identifier}", headers=tenant.headers, json=body).json()
    connection = make_connection(db, tenant.id)
    (record,) = make_records(db, connection, 1, object_id=identifier)
    (other,) = make_records(db, connection, 1, object_type="receivable", object_id=identifier)
    client.put(f"/payables/{identifier}", headers=tenant.headers, json=body)
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "done"  # type: ignore[union-attr]
    changed = client.put(f"/payables/{identifier}", headers=tenant.headers, json={**body, "memo": "second thoughts"})
    assert changed.status_code == 200
    assert changed.json()["updated_at"] > created["updated_at"]
    assert changed.json()["eligible_at"] == created["eligible_at"]
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "pending"  # type: ignore[union-attr]
    assert db.get(AccountingSyncedRecord, other.id).sync_status == "done"  # type: ignore[union-attr]


def test_a_counterpart_change_marks_its_customer_and_vendor_records_pending(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, db: Session
) -> None:
    connection = make_connection(db, tenant.id)
    records = make_records(db, connection, 1, object_type="vendor", object_id=counterpart_id)
    records += make_records(db, connection, 1, object_type="customer", object_id=counterpart_id)
    client.put(f"/counterparts/{counterpart_id}", headers=tenant.headers, json=counterpart_body(email="new@x.example"))
    db.expire_all()
    statuses = [db.get(AccountingSyncedRecord, r.id).sync_status for r in records]  # type: ignore[union-attr]
    assert statuses == ["pending", "pending"]


def test_eligible_at_is_set_when_a_draft_becomes_pushable(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID
) -> None:
    identifier = uuid.uuid4()
    def put(status: str) -> Any:
        body = document_body(counterpart_id, status)
        return client.put(f"/receivables/{identifier}", headers=tenant.headers, json=body)

    draft = put("draft")
    assert draft.json()["eligible_at"] is None
    issued = put("issued")
    assert issued.json()["eligible_at"] is not None
    paid = put("paid")
    assert paid.json()["eligible_at"] == issued.json()["eligible_at"]


@pytest.mark.parametrize(
    ("kind", "before", "after"),
    [
        ("receivables", "paid", "draft"),
        ("receivables", "issued", "draft"),
        ("receivables", "canceled", "issued"),
        ("payables", "paid", "waiting_to_be_paid"),
        ("payables", "rejected", "new"),
        ("payables", "waiting_to_be_paid", "approve_in_progress"),
    ],
)
def test_status_moves_that_make_no_sense_are_refused(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, kind: str, before: str, after: str
) -> None:
    identifier = uuid.uuid4()
    url = f"/{kind}/{identifier}"
    assert client.put(url, headers=tenant.headers, json=document_body(counterpart_id, before)).status_code == 201
    message = _error(client.put(url, headers=tenant.headers, json=document_body(counterpart_id, after)))
    assert message.startswith(f"status: cannot move from {before} to {after}")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"status": "sent"}, "status"),
        ({"subtotal": 2551}, "subtotal"),
        ({"total_amount": 3000}, "total_amount"),
        ({"subtotal": 25.5}, "subtotal"),
        ({"subtotal": "2550"}, "subtotal"),
        ({"line_items": []}, "line_items"),
        ({"due_date": "2025-12-31"}, "due_date"),
        ({"counterpart_id": str(uuid.uuid4())}, "counterpart_id"),
        ({"colour": "red"}, "colour"),
        ({"memo": "a\u0000b"}, "memo"),
    ],
)
def test_bad_documents_are_422_naming_the_field(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, changes: dict[str, Any], field: str
) -> None:
    body = {**document_body(counterpart_id, "draft"), **changes}
    assert _error(client.put(f"/payables/{uuid.uuid4()}", headers=tenant.headers, json=body)).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"unit_price": 100, "quantity": 2, "total": 201}, "line_items[0].total"),
        ({"unit_price": 100, "quantity": 0}, "line_items[0].quantity"),
        ({"unit_price": 100, "quantity": "1.0000001"}, "line_items[0].quantity"),
        ({"unit_price": 100, "tax_rate_value": 10001}, "line_items[0].tax_rate_value"),
        ({"unit_price": 100, "tax_rate_value": 2000, "accounting_tax_rate_id": str(uuid.uuid4())}, "line_items[0]"),
        ({"unit_price": 100, "accounting_tax_rate_id": str(uuid.uuid4())}, "line_items[0].accounting_tax_rate_id"),
        ({"unit_price": 10**15, "quantity": 10**6}, "line_items[0]"),
        ({"quantity": 1}, "line_items[0].unit_price"),
    ],
)
def test_bad_line_items_are_422_naming_the_field(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, line: dict[str, Any], field: str
) -> None:
    body = document_body(counterpart_id, "draft", line_items=[line], subtotal=200, tax_amount=0, total_amount=200)
    message = _error(client.put(f"/payables/{uuid.uuid4()}", headers=tenant.headers, json=body))
    assert message.startswith(f"{field}: "), message


def test_a_line_may_use_an_accounting_tax_rate_of_the_organization(
    client: TestClient, tenant: Tenant, counterpart_id: uuid.UUID, db: Session
) -> None:
    rate = make_tax_rate(db, tenant.id, "VAT")
    line = {"description": "x", "unit_price": 1000, "accounting_tax_rate_id": str(rate.id), "ledger_account_id": "610"}
    body = document_body(counterpart_id, "draft", line_items=[line], subtotal=1000, tax_amount=200, total_amount=1200)
    response = client.put(f"/payables/{uuid.uuid4()}", headers=tenant.headers, json=body)
    assert response.status_code == 201
    assert response.json()["line_items"][0]["accounting_tax_rate_id"] == str(rate.id)


def test_a_line_takes_the_ledger_account_ids_the_api_lists(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, counterpart_id: uuid.UUID, db: Session
) -> None:
    make_ledger_account(db, make_connection(db, tenant.id), "Office")
    (listed,) = client.get("/ledger-accounts", headers=tenant.headers).json()["data"]
    theirs = make_ledger_account(db, make_connection(db, other_tenant.id), "Theirs")

    def put(ledger_account_id: str) -> Any:
        line = {"description": "x", "unit_price": 1000, "ledger_account_id": ledger_account_id}
        body = document_body(counterpart_id, "draft", line_items=[line], subtotal=1000, tax_amount=0, total_amount=1000)
        return client.put(f"/payables/{uuid.uuid4()}", headers=tenant.headers, json=body)

    taken = put(listed["id"])
    assert taken.status_code == 201 and taken.json()["line_items"][0]["ledger_account_id"] == listed["id"]
    for unknown in (str(uuid.uuid4()), str(theirs.id)):
        refused = put(unknown)
        assert refused.status_code == 422
        assert refused.json()["error"]["message"] == (
            f"line_items[0].ledger_account_id: no ledger account {unknown} in this organization "
            "(ids come from GET /ledger-accounts)"
        )
        assert refused.json()["detail"][0]["loc"] == ["body", "line_items", 0, "ledger_account_id"]
    assert put("610").status_code == 201, "the accounting system's own id is passed on as it is"


def test_a_counterpart_of_another_organization_cannot_be_used(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = uuid.uuid4()
    client.put(f"/counterparts/{theirs}", headers=other_tenant.headers, json=counterpart_body())
    body = document_body(theirs, "draft")
    message = _error(client.put(f"/payables/{uuid.uuid4()}", headers=tenant.headers, json=body))
    assert message.startswith("counterpart_id: ")


def test_an_id_of_another_organization_is_404(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, counterpart_id: uuid.UUID
) -> None:
    identifier = uuid.uuid4()
    client.put(f"/payables/{identifier}", headers=tenant.headers, json=document_body(counterpart_id, "draft"))
    theirs = uuid.uuid4()
    client.put(f"/counterparts/{theirs}", headers=other_tenant.headers, json=counterpart_body())
    response = client.put(f"/payables/{identifier}", headers=other_tenant.headers, json=document_body(theirs, "draft"))
    assert response.status_code == 404
    mine = client.put(f"/counterparts/{counterpart_id}", headers=other_tenant.headers, json=counterpart_body())
    assert mine.status_code == 404
    assert client.get(f"/payables/{identifier}", headers=other_tenant.headers).status_code == 404


@pytest.mark.parametrize("kind", ["counterparts", "payables", "receivables"])
def test_get_unknown_is_404(client: TestClient, tenant: Tenant, kind: str) -> None:
    assert client.get(f"/{kind}/{uuid.uuid4()}", headers=tenant.headers).status_code == 404


def test_lists_are_paginated_by_last_change(client: TestClient, tenant: Tenant) -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    for identifier in ids:
        client.put(f"/counterparts/{identifier}", headers=tenant.headers, json=counterpart_body())
    first = client.get("/counterparts?limit=2", headers=tenant.headers).json()
    token = first["next_pagination_token"]
    second = client.get(f"/counterparts?limit=2&pagination_token={token}", headers=tenant.headers)
    assert [item["id"] for item in first["data"] + second.json()["data"]] == [str(i) for i in ids]
    newest = client.get("/counterparts?order=desc&limit=1", headers=tenant.headers).json()["data"]
    assert newest[0]["id"] == str(ids[-1])
