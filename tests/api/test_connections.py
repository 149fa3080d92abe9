"""``/accounting-connections``: create (validated by a real test call to Tryton), list, get, sync, disconnect."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models import AccountingConnection, utcnow
from tests.api.conftest import Published, Tenant, make_connection

URL = "/accounting-connections"
SECRET = "very-secret-password"


def _no_secrets(response: Any) -> None:
    assert SECRET not in response.text and "credentials" not in response.text and "username" not in response.text


def test_list_is_empty_without_connections(client: TestClient, tenant: Tenant) -> None:
    assert client.get(URL, headers=tenant.headers).json() == {"data": []}


def test_list_newest_first_in_the_reference_shape(client: TestClient, tenant: Tenant, db: Session) -> None:
    revoked = [{"message": "revoked", "kind": "authentication"}]
    old = make_connection(db, tenant.id, status="disconnected", errors=revoked)
    new = make_connection(db, tenant.id)
    response = client.get(URL, headers=tenant.headers)
    _no_secrets(response)
    data = response.json()["data"]
    assert [item["id"] for item in data] == [str(new.id), str(old.id)]
    assert set(data[0]) == {"id", "created_at", "updated_at", "platform", "status", "errors", "connection_url"}, (
        "never pulled, nothing known of the business: left out, never null"
    )
    assert "null" not in response.text
    assert data[0]["connection_url"] == "", "required by the reference; nothing to visit for a connected one"
    assert data[1]["errors"] == [{"message": "revoked"}] and data[1]["status"] == "disconnected"


def test_what_is_known_is_shown_and_what_is_not_is_left_out(client: TestClient, tenant: Tenant, db: Session) -> None:
    pulled = utcnow()
    connection = make_connection(db, tenant.id, last_pull=pulled,
                                 business_info={"name": "Acme", "legal_name": "Acme", "email": None, "type": None})
    body = client.get(f"{URL}/{connection.id}", headers=tenant.headers).json()
    assert datetime.fromisoformat(body["last_pull"]) == pulled
    assert body["business_info"] == {"name": "Acme", "legal_name": "Acme"}


def test_get_one(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    response = client.get(f"{URL}/{connection.id}", headers=tenant.headers)
    assert response.status_code == 200 and response.json()["id"] == str(connection.id)
    _no_secrets(response)


def test_get_unknown_is_404(client: TestClient, tenant: Tenant) -> None:
    response = client.get(f"{URL}/{uuid.uuid4()}", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("accounting connection ")


def test_create_with_an_unknown_platform_is_422_listing_the_known_ones(client: TestClient, tenant: Tenant) -> None:
    response = client.post(URL, headers=tenant.headers, json={"platform": "sage"})
    assert response.status_code == 422
    known = "quickbooks_online, quickbooks_online_sandbox, tryton, xero"
    assert response.json()["error"]["message"] == f"platform: unknown platform 'sage'; known: {known}"


@pytest.mark.parametrize(
    ("settings", "field"),
    [({}, "settings.url"), ({"url": "ftp://x"}, "settings.url"), ({"url": "http://127.0.0.1:1"}, "settings.database")],
)
def test_create_with_bad_settings_is_422_naming_the_setting(
    client: TestClient, tenant: Tenant, settings: dict[str, Any], field: str
) -> None:
    body = {"platform": "tryton", "settings": settings, "credentials": {"username": "admin", "password": SECRET}}
    response = client.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(f"{field}: ")
    _no_secrets(response)


def test_create_with_unknown_fields_is_422(client: TestClient, tenant: Tenant) -> None:
    response = client.post(URL, headers=tenant.headers, json={"platform": "tryton", "token": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "token: unknown field"


def test_create_while_another_is_active_is_409_naming_it(client: TestClient, tenant: Tenant, db: Session) -> None:
    active = make_connection(db, tenant.id, status="deauthorized")
    body = {"platform": "tryton", "settings": {"url": "http://127.0.0.1:1", "database": "d"}, "credentials": {}}
    response = client.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert str(active.id) in message and "tryton" in message


def test_create_against_an_unreachable_server_is_503(client: TestClient, tenant: Tenant, db: Session) -> None:
    from sandboxes.tryton.sandbox import free_port

    body = {
        "platform": "tryton",
        "settings": {"url": f"http://127.0.0.1:{free_port()}", "database": "sync_demo"},
        "credentials": {"username": "admin", "password": SECRET},
    }
    response = client.post(URL, headers=tenant.headers, json=body)
    assert response.status_code == 503
    assert "could not reach the accounting system" in response.json()["error"]["message"]
    _no_secrets(response)
    assert db.scalar(text("select count(*) from accounting_connections")) == 0


class TestWithTryton:
    """Against a real Tryton server (the sandbox)."""

    def test_create_connects_after_a_test_call(
        self, client: TestClient, tenant: Tenant, db: Session, tryton_sandbox: Any
    ) -> None:
        body = {
            "platform": "tryton",
            "settings": tryton_sandbox.settings,
            "credentials": tryton_sandbox.credentials,
            "backfill": True,
        }
        response = client.post(URL, headers=tenant.headers, json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["status"] == "connected" and created["platform"] == "tryton"
        assert created["business_info"]["name"] == "Sandbox Company"
        assert tryton_sandbox.password not in response.text
        shown = client.get(f"{URL}/{created['id']}", headers=tenant.headers).json()
        assert shown["business_info"] == created["business_info"], "kept, not only answered once"
        row = db.get(AccountingConnection, uuid.UUID(created["id"]))
        assert row is not None and row.connected_at is not None and row.next_sync_at is not None
        assert row.next_sync_at > row.connected_at and row.backfill is True
        assert row.credentials == tryton_sandbox.credentials
        stored = db.scalar(text("select credentials from accounting_connections where id = :id"), {"id": row.id})
        assert tryton_sandbox.password not in stored
        again = client.post(URL, headers=tenant.headers, json=body)
        assert again.status_code == 409 and created["id"] in again.json()["error"]["message"]

    def test_refused_credentials_are_422_without_echoing_them(
        self, client: TestClient, tenant: Tenant, db: Session, tryton_sandbox: Any
    ) -> None:
        wrong = "Wrong-Password-123"
        body = {
            "platform": "tryton",
            "settings": tryton_sandbox.settings,
            "credentials": {"username": tryton_sandbox.username, "password": wrong},
        }
        response = client.post(URL, headers=tenant.headers, json=body)
        assert response.status_code == 422
        message = response.json()["error"]["message"]
        assert message.startswith("credentials: the accounting system refused the credentials")
        assert wrong not in response.text
        assert db.scalar(text("select count(*) from accounting_connections")) == 0


    def test_a_database_the_server_does_not_have_is_named_as_settings_database(
        self, client: TestClient, tenant: Tenant, db: Session, tryton_sandbox: Any
    ) -> None:
        settings = {**tryton_sandbox.settings, "database": "no_such_books"}
        body = {"platform": "tryton", "settings": settings, "credentials": tryton_sandbox.credentials}
        response = client.post(URL, headers=tenant.headers, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"] == "settings.database: Tryton has no database 'no_such_books'"
        assert response.json()["detail"][0]["loc"] == ["body", "settings", "database"]
        connection = make_connection(db, tenant.id, settings=tryton_sandbox.settings)
        patch = {"credentials": tryton_sandbox.credentials, "settings": {"database": "no_such_books"}}
        patched = client.patch(f"{URL}/{connection.id}", headers=tenant.headers, json=patch)
        assert patched.status_code == 422, patched.text
        assert patched.json()["error"]["message"].startswith("settings.database: ")

    def test_a_deauthorized_connection_given_new_credentials_is_connected_again_with_nothing_echoed(
        self, client: TestClient, tenant: Tenant, db: Session, tryton_sandbox: Any
    ) -> None:
        old = "Old-Password-Rotated-Away"
        connection = make_connection(
            db, tenant.id, status="deauthorized", settings=tryton_sandbox.settings,
            credentials={"username": tryton_sandbox.username, "password": old},
            errors=[{"message": "the accounting system refused booksync's credentials; reconnect", "kind": "auth"}],
        )
        patched = client.patch(f"{URL}/{connection.id}", headers=tenant.headers,
                               json={"credentials": tryton_sandbox.credentials})
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["status"] == "connected" and body["errors"] == [] and body["id"] == str(connection.id)
        assert tryton_sandbox.password not in patched.text and old not in patched.text
        assert client.get(f"{URL}/{connection.id}", headers=tenant.headers).json()["status"] == "connected"
        db.expire_all()
        row = db.get(AccountingConnection, connection.id)
        assert row is not None and row.credentials == tryton_sandbox.credentials
        assert row.books_id and row.books_id.startswith("tryton:"), "the check names the books the connection reaches"
        stored = db.scalar(text("select credentials from accounting_connections where id = :id"), {"id": row.id})
        assert tryton_sandbox.password not in stored, "credentials are stored encrypted"


def test_sync_queues_a_manual_sync(client: TestClient, enqueued: Published, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    response = client.post(f"{URL}/{connection.id}/sync", headers=tenant.headers)
    assert response.status_code == 202
    assert set(response.json()) == {"message"} and str(connection.id) in response.json()["message"]
    assert ("tasks.sync_connection", [str(connection.id), "manual"]) in enqueued


@pytest.mark.parametrize("status", ["disconnected", "deauthorized", "pending_auth"])
def test_sync_of_a_connection_that_is_not_connected_is_409(
    client: TestClient, enqueued: Published, tenant: Tenant, db: Session, status: str
) -> None:
    connection = make_connection(db, tenant.id, status=status)
    response = client.post(f"{URL}/{connection.id}/sync", headers=tenant.headers)
    assert response.status_code == 409
    assert f"is {status}" in response.json()["error"]["message"]
    assert ("tasks.sync_connection", [str(connection.id), "manual"]) not in enqueued


def test_sync_unknown_is_404(client: TestClient, tenant: Tenant) -> None:
    assert client.post(f"{URL}/{uuid.uuid4()}/sync", headers=tenant.headers).status_code == 404


def test_disconnect_stops_syncing_at_once_and_queues_the_revocation(
    client: TestClient, enqueued: Published, tenant: Tenant, db: Session
) -> None:
    connection = make_connection(db, tenant.id, next_sync_at=None)
    response = client.post(f"{URL}/{connection.id}/disconnect", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "disconnected" and response.json()["id"] == str(connection.id)
    _no_secrets(response)
    db.expire_all()
    row = db.get(AccountingConnection, connection.id)
    assert row is not None and row.status == "disconnected" and row.next_sync_at is None
    assert ("tasks.disconnect_connection", [str(connection.id)]) in enqueued
    assert client.post(f"{URL}/{connection.id}/sync", headers=tenant.headers).status_code == 409


def test_disconnect_twice_answers_the_same(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    first = client.post(f"{URL}/{connection.id}/disconnect", headers=tenant.headers)
    second = client.post(f"{URL}/{connection.id}/disconnect", headers=tenant.headers)
    assert second.status_code == 200 and second.json()["status"] == first.json()["status"] == "disconnected"


def test_after_disconnecting_a_new_connection_may_be_made(client: TestClient, tenant: Tenant, db: Session) -> None:
    connection = make_connection(db, tenant.id)
    client.post(f"{URL}/{connection.id}/disconnect", headers=tenant.headers)
    body = {"platform": "tryton", "settings": {"url": "ftp://bad"}}
    assert client.post(URL, headers=tenant.headers, json=body).status_code == 422


def test_disconnect_unknown_is_404(client: TestClient, tenant: Tenant) -> None:
    assert client.post(f"{URL}/{uuid.uuid4()}/disconnect", headers=tenant.headers).status_code == 404


def test_sync_when_the_task_queue_is_down_is_503(
    client: TestClient, tenant: Tenant, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    from worker import app

    def broker_down(*_: Any, **__: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(app, "send_task", broker_down)
    connection = make_connection(db, tenant.id)
    response = client.post(f"{URL}/{connection.id}/sync", headers=tenant.headers)
    assert response.status_code == 503
    assert "task queue is unavailable" in response.json()["error"]["message"]
    disconnect = client.post(f"{URL}/{connection.id}/disconnect", headers=tenant.headers)
    assert disconnect.status_code == 503 and "call again" in disconnect.json()["error"]["message"]
    monkeypatch.undo()
    again = client.post(f"{URL}/{connection.id}/disconnect", headers=tenant.headers)
    assert again.status_code == 200 and again.json()["status"] == "disconnected"
