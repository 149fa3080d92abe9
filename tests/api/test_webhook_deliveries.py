"""``/webhook-deliveries``: what was sent to whom, filtered and paginated, in scope; redelivery. The events
come from the API itself (a disconnect); nothing is sent here (no worker takes the queue)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from models import WebhookDelivery, utcnow
from tests.api.conftest import Tenant, make_connection
from tests.webhooks.conftest import _empty_webhook_queue  # noqa: F401  (fixture)

URL = "/webhook-deliveries"
RECEIVER = "https://8.8.8.8/hooks/booksync"


def _subscribe(client: TestClient, headers: dict[str, str], *types: str) -> str:
    response = client.post("/webhook-subscriptions", headers=headers,
                           json={"url": RECEIVER, "event_types": list(types) or ["accounting_connection.disconnected"]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _disconnect(client: TestClient, db: Session, tenant: Tenant) -> uuid.UUID:
    connection = make_connection(db, tenant.id)
    response = client.post(f"/accounting-connections/{connection.id}/disconnect", headers=tenant.headers)
    assert response.status_code == 200
    return connection.id


def test_a_change_made_through_the_api_is_listed_as_a_delivery(client: TestClient, db: Session, tenant: Tenant) -> None:
    subscription_id = _subscribe(client, tenant.headers)
    _disconnect(client, db, tenant)
    listed = client.get(URL, headers=tenant.headers)
    assert listed.status_code == 200
    [delivery] = listed.json()["data"]
    assert delivery["subscription_id"] == subscription_id
    assert delivery["event_type"] == "accounting_connection.disconnected"
    assert delivery["status"] == "pending" and delivery["attempts"] == 0 and delivery["last_response_code"] is None
    assert delivery["next_attempt_at"] is not None and delivery["delivered_at"] is None
    assert client.get(f"{URL}/{delivery['id']}", headers=tenant.headers).json() == delivery


def test_each_scope_sees_its_own_subscriptions_deliveries(
    client: TestClient, db: Session, tenant: Tenant, other_tenant: Tenant, platform_key: str
) -> None:
    platform = {"Authorization": f"Bearer {platform_key}"}
    mine = _subscribe(client, tenant.headers)
    everyone = _subscribe(client, platform)
    _disconnect(client, db, tenant)
    assert {d["subscription_id"] for d in client.get(URL, headers=tenant.headers).json()["data"]} == {mine}
    assert {d["subscription_id"] for d in client.get(URL, headers=platform).json()["data"]} == {everyone}
    assert client.get(URL, headers=other_tenant.headers).json()["data"] == []
    [delivery] = client.get(URL, headers=tenant.headers).json()["data"]
    assert client.get(f"{URL}/{delivery['id']}", headers=other_tenant.headers).status_code == 404
    assert client.post(f"{URL}/{delivery['id']}/redeliver", headers=other_tenant.headers).status_code == 404


def test_filters_and_pages(client: TestClient, db: Session, tenant: Tenant) -> None:
    first = _subscribe(client, tenant.headers)
    second = _subscribe(client, tenant.headers, "accounting_connection.disconnected", "accounting_connection.connected")
    for _ in range(3):
        _disconnect(client, db, tenant)
    everything = client.get(URL, headers=tenant.headers, params={"limit": 250}).json()["data"]
    assert len(everything) == 6
    created = [d["created_at"] for d in everything]
    assert created == sorted(created, reverse=True), "newest first"
    only_first = client.get(URL, headers=tenant.headers, params={"subscription_id": first}).json()["data"]
    assert len(only_first) == 3 and {d["subscription_id"] for d in only_first} == {first}
    one_event = client.get(URL, headers=tenant.headers, params={"event_id": everything[0]["event_id"]}).json()["data"]
    assert {d["subscription_id"] for d in one_event} == {first, second}
    assert client.get(URL, headers=tenant.headers, params={"status": "delivered"}).json()["data"] == []
    assert len(client.get(URL, headers=tenant.headers, params={"status": "pending"}).json()["data"]) == 6
    by_type = client.get(URL, headers=tenant.headers, params={"event_type": "accounting_connection.connected"})
    assert by_type.json()["data"] == []
    bad = client.get(URL, headers=tenant.headers, params={"status": "sent"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "status"

    seen: list[str] = []
    page = client.get(URL, headers=tenant.headers, params={"limit": 4}).json()
    seen += [d["id"] for d in page["data"]]
    page = client.get(URL, headers=tenant.headers, params={"limit": 4, "pagination_token": page["next_pagination_token"]}).json()
    seen += [d["id"] for d in page["data"]]
    assert page["next_pagination_token"] is None and page["prev_pagination_token"] is not None
    assert seen == [d["id"] for d in everything]


def test_redeliver_sends_it_again_with_a_new_window_and_waits_for_an_attempt_under_way(
    client: TestClient, db: Session, tenant: Tenant
) -> None:
    _subscribe(client, tenant.headers)
    _disconnect(client, db, tenant)
    [delivery] = client.get(URL, headers=tenant.headers).json()["data"]
    long_ago = utcnow() - timedelta(days=2)
    db.execute(update(WebhookDelivery).values(status="failed", attempts=40, first_attempt_at=long_ago,
                                              last_response_code=500, last_error="HTTP 500"))
    db.commit()
    again = client.post(f"{URL}/{delivery['id']}/redeliver", headers=tenant.headers)
    assert again.status_code == 202
    assert again.json()["status"] == "pending" and again.json()["attempts"] == 40
    assert again.json()["last_response_code"] == 500, "the last answer stays visible"
    db.expire_all()
    stored = db.get(WebhookDelivery, uuid.UUID(delivery["id"]))
    assert stored is not None and stored.first_attempt_at is None

    db.execute(update(WebhookDelivery).values(claimed_until=utcnow() + timedelta(seconds=20), claimed_by="worker-1"))
    db.commit()
    busy = client.post(f"{URL}/{delivery['id']}/redeliver", headers=tenant.headers)
    assert busy.status_code == 409 and "being delivered right now" in busy.json()["error"]["message"]
    assert client.post(f"{URL}/{uuid.uuid4()}/redeliver", headers=tenant.headers).status_code == 404


def test_connecting_through_the_api_is_an_event_with_the_connection_as_the_api_shows_it(
    client: TestClient, tenant: Tenant
) -> None:
    import json

    from sandboxes.memory import PASSWORD, MemoryBooks
    from tests.webhooks.conftest import events

    _subscribe(client, tenant.headers, "accounting_connection.connected")
    books = f"api-{uuid.uuid4().hex[:6]}"
    try:
        created = client.post("/accounting-connections", headers=tenant.headers, json={
            "platform": "memory", "settings": {"books": books}, "credentials": {"password": PASSWORD}})
    finally:
        MemoryBooks.forget(books)
    assert created.status_code == 201, created.text
    [event] = events()
    body = json.loads(event.body)
    assert body["type"] == "accounting_connection.connected" and body["organization_id"] == str(tenant.id)
    assert body["object"] == created.json()
    assert PASSWORD not in event.body
