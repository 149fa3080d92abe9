"""``/accounting-synced-records``: filters, sorting, keyset pages, get, push."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models import AccountingSyncedRecord, utcnow
from tests.api.conftest import Published, Tenant, make_connection, make_records

URL = "/accounting-synced-records"


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def test_object_type_is_required(client: TestClient, tenant: Tenant) -> None:
    response = client.get(URL, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "object_type: field required (unless pagination_token is given)"
    assert response.json()["detail"][0]["loc"] == ["query", "object_type"]


def test_tax_rate_is_not_an_object_type_of_the_reference(client: TestClient, tenant: Tenant, db: Session) -> None:
    (record,) = make_records(db, make_connection(db, tenant.id), 1, object_type="tax_rate")
    assert client.get(f"{URL}?object_type=tax_rate", headers=tenant.headers).status_code == 422
    assert client.get(f"{URL}/{record.id}", headers=tenant.headers).status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("object_type=invoice", "object_type"),
        ("object_type=bill&limit=0", "limit"),
        ("object_type=bill&limit=251", "limit"),
        ("object_type=bill&sort=name", "sort"),
        ("object_type=bill&order=up", "order"),
        ("object_type=bill&sync_status=lost", "sync_status"),
        ("object_type=bill&object_id=nope", "object_id"),
        ("object_type=bill&object_id__in=nope", "object_id__in"),
        ("object_type=bill&created_at__gt=yesterday", "created_at__gt"),
        ("object_type=bill&colour=red", "colour"),
    ],
)
def test_bad_parameters_are_422_naming_them(client: TestClient, tenant: Tenant, query: str, field: str) -> None:
    response = client.get(f"{URL}?{query}", headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(f"{field}: ")


def test_a_records_platform_is_sent_only_in_the_references_enum(client: TestClient, tenant: Tenant, db: Session) -> None:
    """Generated clients refuse enum values the reference lacks: Xero's records say xero, Tryton's leave it out."""
    xero = make_connection(db, tenant.id, platform="xero", status="disconnected", settings={"tenant_id": "t"})
    make_records(db, xero, 1, object_type="bill")
    make_records(db, make_connection(db, tenant.id), 1, object_type="bill")
    items = client.get(f"{URL}?object_type=bill", headers=tenant.headers).json()["data"]
    assert sorted(item.get("platform", "-") for item in items) == ["-", "xero"]


def test_lists_one_object_type_oldest_first_in_the_reference_shape(
    client: TestClient, tenant: Tenant, db: Session
) -> None:
    connection = make_connection(db, tenant.id)
    bills = make_records(db, connection, 3, object_type="bill")
    make_records(db, connection, 2, object_type="receivable")
    response = client.get(f"{URL}?object_type=bill", headers=tenant.headers)
    assert _ids(response) == [str(record.id) for record in bills]
    body = response.json()
    assert set(body) == {"data"}, "no tokens on the only page: left out, never null"
    assert "null" not in response.text
    item = body["data"][0]
    assert set(item) == {
        "id", "created_at", "updated_at", "last_pulled_at", "object_id", "object_type",
        "platform_object_id", "sync_status",
    }, "no aggregator (provider), no errors, nothing null, no platform outside the reference's enum"
    assert "platform" not in item and item["platform_object_id"] == "P-0"  # Tryton is not in the reference's enum
    assert item["last_pulled_at"] == "1970-01-01T00:00:00Z", "never seen in the accounting system"


def test_last_pulled_at_is_when_booksync_last_saw_the_object(client: TestClient, tenant: Tenant, db: Session) -> None:
    seen = utcnow() - timedelta(hours=1)
    (record,) = make_records(db, make_connection(db, tenant.id), 1, last_pulled_at=seen)
    body = client.get(f"{URL}/{record.id}", headers=tenant.headers).json()
    assert datetime.fromisoformat(body["last_pulled_at"]) == seen


def test_what_an_error_does_not_know_is_left_out_of_it(client: TestClient, tenant: Tenant, db: Session) -> None:
    errors = {"message": "refused", "field": "lines[0].tax_rate_value", "value": None, "details": [{"a": None}]}
    (record,) = make_records(db, make_connection(db, tenant.id), 1, sync_status="error", errors=errors)
    response = client.get(f"{URL}/{record.id}", headers=tenant.headers)
    assert response.json()["errors"] == {"message": "refused", "field": "lines[0].tax_rate_value", "details": [{}]}
    assert "null" not in response.text


def test_a_platform_outside_the_references_enum_is_left_out(client: TestClient, tenant: Tenant, db: Session) -> None:
    (record,) = make_records(db, make_connection(db, tenant.id, platform="memory"), 1)
    assert "platform" not in client.get(f"{URL}/{record.id}", headers=tenant.headers).json()


def test_filters(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    start = utcnow() - timedelta(hours=10)
    records = make_records(db, connection, 6, start=start, step=timedelta(hours=1))
    records[4].sync_status = "error"
    records[4].errors = {"message": "tax rate 20% does not exist"}
    db.commit()

    def ids(query: str) -> list[str]:
        return _ids(client.get(f"{URL}?object_type=bill&{query}", headers=tenant.headers))

    def expected(*indexes: int) -> list[str]:
        return [str(records[i].id) for i in indexes]

    assert ids(f"object_id={records[2].object_id}") == expected(2)
    assert ids(f"object_id__in={records[1].object_id},{records[3].object_id}") == expected(1, 3)
    assert ids(f"object_id__in={records[1].object_id}&object_id__in={records[5].object_id}") == expected(1, 5)
    assert ids("sync_status=error") == expected(4)
    at = (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    assert ids(f"created_at__gt={at}") == expected(3, 4, 5)
    assert ids(f"created_at__gte={at}") == expected(2, 3, 4, 5)
    assert ids(f"created_at__lt={at}") == expected(0, 1)
    assert ids(f"created_at__lte={at}") == expected(0, 1, 2)
    until = (start + timedelta(hours=4)).isoformat().replace("+00:00", "Z")
    assert ids(f"updated_at__gte={at}&updated_at__lt={until}") == expected(2, 3)
    naive = (start + timedelta(hours=2)).replace(tzinfo=None).isoformat()
    assert ids(f"created_at__gte={naive}") == expected(2, 3, 4, 5)


def test_sort_and_order(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    records = make_records(db, connection, 3)
    records[0].updated_at = utcnow() + timedelta(hours=1)
    db.commit()
    assert _ids(client.get(f"{URL}?object_type=bill&order=desc", headers=tenant.headers)) == [
        str(r.id) for r in reversed(records)
    ]
    assert _ids(client.get(f"{URL}?object_type=bill&sort=updated_at", headers=tenant.headers)) == [
        str(records[1].id), str(records[2].id), str(records[0].id)
    ]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_walk_forward_and_back_without_gaps(client: TestClient, tenant: Tenant, db: Session, order: str) -> None:
    connection = make_connection(db, tenant.id)
    start = utcnow() - timedelta(days=1)
    records = make_records(db, connection, 7, start=start)
    records += make_records(db, connection, 3, start=start + timedelta(minutes=3))
    expected = sorted(records, key=lambda r: (r.created_at, r.id), reverse=order == "desc")
    pages: list[list[str]] = []
    tokens: list[tuple[str | None, str | None]] = []
    response = client.get(f"{URL}?object_type=bill&order={order}&limit=3", headers=tenant.headers)
    while True:
        pages.append(_ids(response))
        body = response.json()
        tokens.append((body.get("prev_pagination_token"), body.get("next_pagination_token")))
        if body.get("next_pagination_token") is None:
            break
        response = client.get(
            f"{URL}?object_type=bill&limit=3&pagination_token={body['next_pagination_token']}", headers=tenant.headers
        )
    assert [item for page in pages for item in page] == [str(r.id) for r in expected]
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    assert tokens[0][0] is None
    back = client.get(f"{URL}?object_type=bill&limit=3&pagination_token={tokens[-1][0]}", headers=tenant.headers)
    assert _ids(back) == pages[-2]
    token = back.json()["prev_pagination_token"]
    back_again = client.get(f"{URL}?object_type=bill&limit=3&pagination_token={token}", headers=tenant.headers)
    assert _ids(back_again) == pages[-3]
    first = client.get(
        f"{URL}?object_type=bill&limit=3&pagination_token={back_again.json()['prev_pagination_token']}",
        headers=tenant.headers,
    )
    assert _ids(first) == pages[0]
    assert "prev_pagination_token" not in first.json()
    assert first.json()["next_pagination_token"] is not None


def test_a_token_carries_the_query(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    records = make_records(db, connection, 5)
    records[0].sync_status = records[2].sync_status = records[4].sync_status = "pending"
    db.commit()
    first = client.get(f"{URL}?object_type=bill&sync_status=pending&order=desc&limit=2", headers=tenant.headers)
    token = first.json()["next_pagination_token"]
    for query in (
        f"object_type=bill&pagination_token={token}",
        f"object_type=bill&order=desc&sync_status=pending&pagination_token={token}",
    ):
        assert _ids(client.get(f"{URL}?{query}", headers=tenant.headers)) == [str(records[0].id)]


def test_get_one(client: TestClient, tenant: Tenant, db: Session) -> None:
    (record,) = make_records(db, make_connection(db, tenant.id), 1)
    response = client.get(f"{URL}/{record.id}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["id"] == str(record.id)


def test_get_unknown_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"{URL}/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("synced record ")


def test_get_with_a_malformed_id_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"{URL}/42", headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("synced_record_id: ")


def test_push_marks_pending_and_queues_the_push(
    client: TestClient, enqueued: Published, tenant: Tenant, db: Session
) -> None:
    (record,) = make_records(
        db, make_connection(db, tenant.id), 1, sync_status="error", errors={"message": "refused"}
    )
    before = record.updated_at
    response = client.post(f"{URL}/{record.id}/push", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["sync_status"] == "pending" and "errors" not in body and body["updated_at"] > before.isoformat()
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "pending"  # type: ignore[union-attr]
    assert ("tasks.push_synced_record", [str(record.id)]) in enqueued


@pytest.mark.parametrize("status", ["disconnected", "deauthorized", "pending_auth"])
def test_push_over_a_connection_that_is_not_connected_is_409(
    client: TestClient, enqueued: Published, tenant: Tenant, db: Session, status: str
) -> None:
    (record,) = make_records(db, make_connection(db, tenant.id, status=status), 1)
    response = client.post(f"{URL}/{record.id}/push", headers=tenant.headers)
    assert response.status_code == 409
    assert status in response.json()["error"]["message"]
    assert ("tasks.push_synced_record", [str(record.id)]) not in enqueued


def test_push_unknown_is_404(client: TestClient, tenant: Tenant) -> None:
    assert client.post(f"{URL}/{uuid.uuid4()}/push", headers=tenant.headers).status_code == 404


def test_push_when_the_task_queue_is_down_is_503_but_stays_pending(
    client: TestClient, tenant: Tenant, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    from worker import app

    def broker_down(*_: Any, **__: Any) -> None:
        raise OperationalError("Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    (record,) = make_records(db, make_connection(db, tenant.id), 1, sync_status="error")
    response = client.post(f"{URL}/{record.id}/push", headers=tenant.headers)
    assert response.status_code == 503 and "next sync pushes it" in response.json()["error"]["message"]
    db.expire_all()
    assert db.get(AccountingSyncedRecord, record.id).sync_status == "pending"  # type: ignore[union-attr]


def test_a_listed_record_is_exactly_what_get_serves(client: TestClient, tenant: Tenant, db: Session) -> None:
    """The list writes its JSON from rows (``record_body``), not through the model: the bytes must not differ."""
    from api.routes.synced_records import record_resource

    xero = make_connection(db, tenant.id, platform="xero", status="disconnected", settings={"tenant_id": "t"})
    records = [*make_records(db, xero, 2, object_type="bill"),
               *make_records(db, make_connection(db, tenant.id), 2, object_type="bill")]
    records[0].errors = {"kind": "data", "message": "tax rate 7 % does not exist — ünïcode", "value": None,
                         "details": {"fields": [None, "tax_rate"], "missing": None, "rate": 0.07}}
    records[0].sync_status, records[0].platform_object_id, records[0].last_pulled_at = "error", None, None
    records[1].object_updated_at, records[1].platform_updated_at = None, None
    records[2].sync_status = "pending"
    db.commit()
    response = client.get(f"{URL}?object_type=bill", headers=tenant.headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    listed = response.json()["data"]
    assert len(listed) == 4
    db.expire_all()  # the records as stored (JSONB orders an object's keys its own way)
    for item in listed:
        record = db.get(AccountingSyncedRecord, uuid.UUID(item["id"]))
        assert record is not None
        served = client.get(f"{URL}/{record.id}", headers=tenant.headers)
        assert item == served.json() == record_resource(record).model_dump(mode="json", exclude_none=True)
    from api.schemas.synced_records import SyncedRecordList

    model = SyncedRecordList(data=[record_resource(db.get(AccountingSyncedRecord, uuid.UUID(item["id"])))
                                   for item in listed])
    assert response.content == model.model_dump_json(exclude_none=True).encode()
