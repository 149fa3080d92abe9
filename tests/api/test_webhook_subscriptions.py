"""``/webhook-subscriptions``: scopes (an organization's, platform-wide), the secret shown once, URLs refused
(checked without traffic: IP literals), changes, rotation, deletion."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models import WebhookSubscription, utcnow
from tests.api.conftest import Tenant
from tests.webhooks.conftest import _empty_webhook_queue  # noqa: F401  (fixture)

URL = "/webhook-subscriptions"
RECEIVER = "https://8.8.8.8/hooks/booksync"  # a public address, never contacted here
TYPES = ["accounting_synced_record.error", "accounting_connection.deauthorized"]


def _create(client: TestClient, headers: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post(URL, headers=headers, json={"url": RECEIVER, "event_types": TYPES, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _platform(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_create_shows_the_secret_once_and_stores_it_encrypted(client: TestClient, tenant: Tenant, db: Session) -> None:
    created = _create(client, tenant.headers, description="ERP alerts")
    assert created["secret"].startswith("whsec_")
    assert created["organization_id"] == str(tenant.id) and created["status"] == "active"
    assert created["event_types"] == TYPES and created["url"] == RECEIVER and created["description"] == "ERP alerts"
    shown = client.get(f"{URL}/{created['id']}", headers=tenant.headers)
    assert shown.status_code == 200 and "secret" not in shown.json()
    assert created["secret"] not in client.get(URL, headers=tenant.headers).text
    raw = db.execute(text("select secrets from webhook_subscriptions")).scalar_one()
    assert created["secret"] not in raw


def test_scopes(client: TestClient, tenant: Tenant, other_tenant: Tenant, platform_key: str) -> None:
    own = _create(client, tenant.headers)
    everyone = _create(client, _platform(platform_key))
    for_tenant_by_platform = _create(client, {**_platform(platform_key), "X-Organization-Id": str(tenant.id)})
    assert everyone["organization_id"] is None
    assert for_tenant_by_platform["organization_id"] == str(tenant.id)

    listed = {item["id"] for item in client.get(URL, headers=tenant.headers).json()["data"]}
    assert listed == {own["id"], for_tenant_by_platform["id"]}
    without_header = {"Authorization": tenant.headers["Authorization"]}
    assert {item["id"] for item in client.get(URL, headers=without_header).json()["data"]} == listed
    assert [item["id"] for item in client.get(URL, headers=_platform(platform_key)).json()["data"]] == [everyone["id"]]
    assert client.get(URL, headers=other_tenant.headers).json() == {"data": []}

    for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/rotate-secret")):
        response = client.request(method, f"{URL}/{own['id']}{path}", headers=other_tenant.headers,
                                  json={} if method in ("patch", "post") else None)
        assert response.status_code == 404, (method, path)
    assert client.get(f"{URL}/{everyone['id']}", headers=tenant.headers).status_code == 404
    foreign = {**tenant.headers, "X-Organization-Id": str(other_tenant.id)}
    assert client.get(URL, headers=foreign).status_code == 403


def test_urls_that_could_reach_inside_the_network_are_refused(client: TestClient, tenant: Tenant) -> None:
    for url, says in (
        ("https://10.0.0.5/hook", "10.0.0.5 is a private address"),
        ("https://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("https://[::ffff:192.168.0.1]/", "is a private address"),
        ("http://8.8.8.8/hook", "must be an https:// URL"),
        ("https://admin:pw@8.8.8.8/hook", "must not hold a user name or password"),
    ):
        response = client.post(URL, headers=tenant.headers, json={"url": url, "event_types": TYPES})
        assert response.status_code == 422, url
        error = response.json()["error"]
        assert error["message"].startswith("url: ") and says in error["message"], error
        assert error["details"] == [{"field": "url", "message": error["message"].removeprefix("url: ")}]
    assert client.get(URL, headers=tenant.headers).json() == {"data": []}


def test_event_types_must_be_known_and_given(client: TestClient, tenant: Tenant) -> None:
    unknown = client.post(URL, headers=tenant.headers, json={"url": RECEIVER, "event_types": ["invoice.paid"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "event_types[0]"
    empty = client.post(URL, headers=tenant.headers, json={"url": RECEIVER, "event_types": []})
    assert empty.status_code == 422 and empty.json()["error"]["details"][0]["field"] == "event_types"
    twice = _create(client, tenant.headers, event_types=[TYPES[0], TYPES[0]])
    assert twice["event_types"] == [TYPES[0]]


def test_patch_changes_what_is_given_and_checks_the_url_again(client: TestClient, tenant: Tenant) -> None:
    created = _create(client, tenant.headers)
    path = f"{URL}/{created['id']}"
    changed = client.patch(path, headers=tenant.headers, json={"event_types": ["accounting_sync.finished"],
                                                               "url": "https://1.1.1.1/new"})
    assert changed.status_code == 200
    assert changed.json()["event_types"] == ["accounting_sync.finished"] and changed.json()["url"] == "https://1.1.1.1/new"
    assert changed.json()["description"] == "" and "secret" not in changed.json()
    refused = client.patch(path, headers=tenant.headers, json={"url": "https://192.168.0.10/"})
    assert refused.status_code == 422 and "private" in refused.json()["error"]["message"]
    assert client.patch(path, headers=tenant.headers, json={"url": None}).status_code == 422
    assert client.get(path, headers=tenant.headers).json()["url"] == "https://1.1.1.1/new"


def test_rotating_keeps_the_old_secret_signing_for_the_grace_period(
    client: TestClient, tenant: Tenant, db: Session
) -> None:
    created = _create(client, tenant.headers)
    path = f"{URL}/{created['id']}/rotate-secret"
    rotated = client.post(path, headers=tenant.headers, json={"grace_period_seconds": 3600})
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (created["secret"], None)
    expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert timedelta(minutes=59) < expires - utcnow() <= timedelta(hours=1)
    db.expire_all()
    stored = db.get(WebhookSubscription, uuid.UUID(created["id"]))
    assert stored is not None and stored.secrets == {"current": rotated.json()["secret"], "previous": created["secret"]}

    default = client.post(path, headers=tenant.headers)
    assert datetime.fromisoformat(default.json()["previous_secret_expires_at"]) - utcnow() > timedelta(hours=23)
    at_once = client.post(path, headers=tenant.headers, json={"grace_period_seconds": 0})
    assert at_once.json()["previous_secret_expires_at"] is None
    assert client.post(path, headers=tenant.headers, json={"grace_period_seconds": -1}).status_code == 422


def test_delete(client: TestClient, tenant: Tenant) -> None:
    created = _create(client, tenant.headers)
    assert client.delete(f"{URL}/{created['id']}", headers=tenant.headers).status_code == 204
    assert client.get(f"{URL}/{created['id']}", headers=tenant.headers).status_code == 404
    assert client.delete(f"{URL}/{created['id']}", headers=tenant.headers).status_code == 404


def test_the_endpoints_are_in_the_openapi_document_with_an_optional_organization(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    webhook_paths = {"/webhook-subscriptions", "/webhook-subscriptions/{subscription_id}",
                     "/webhook-subscriptions/{subscription_id}/rotate-secret", "/webhook-deliveries",
                     "/webhook-deliveries/{delivery_id}", "/webhook-deliveries/{delivery_id}/redeliver"}
    assert webhook_paths <= set(paths)
    for path in webhook_paths:
        for method, operation in paths[path].items():
            [header] = [p for p in operation["parameters"] if p["in"] == "header"]
            assert header["name"] == "X-Organization-Id" and header["required"] is False, (method, path)
            assert operation["security"] == [{"HTTPBearer": []}]
