"""``/organizations/{id}``: created and renamed by the platform (platform-wide key), read by its own key."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.api.conftest import Tenant


def _platform(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_put_creates_then_renames_idempotently(client: TestClient, platform_key: str) -> None:
    organization_id = uuid.uuid4()
    created = client.put(f"/organizations/{organization_id}", headers=_platform(platform_key), json={"name": "Acme"})
    assert created.status_code == 201
    assert created.json()["name"] == "Acme" and created.json()["id"] == str(organization_id)
    same = client.put(f"/organizations/{organization_id}", headers=_platform(platform_key), json={"name": "Acme"})
    assert same.status_code == 200 and same.json() == created.json()
    renamed = client.put(
        f"/organizations/{organization_id}", headers=_platform(platform_key), json={"name": "Acme Ltd"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Acme Ltd"
    assert renamed.json()["updated_at"] > created.json()["updated_at"]
    fetched = client.get(f"/organizations/{organization_id}", headers=_platform(platform_key))
    assert fetched.json() == renamed.json()


def test_put_needs_a_platform_key(client: TestClient, tenant: Tenant) -> None:
    response = client.put(f"/organizations/{tenant.id}", headers=tenant.headers, json={"name": "Mine now"})
    assert response.status_code == 403
    assert "platform-wide" in response.json()["error"]["message"]


def test_put_validates_the_body(client: TestClient, platform_key: str) -> None:
    url = f"/organizations/{uuid.uuid4()}"
    assert client.put(url, headers=_platform(platform_key), json={"name": ""}).json()["error"]["message"].startswith(
        "name: "
    )
    assert client.put(url, headers=_platform(platform_key), json={"name": "A", "plan": "gold"}).status_code == 422
    missing = client.put(url, headers=_platform(platform_key), json={})
    assert missing.json()["error"]["message"] == "name: field required"


def test_an_organization_key_reads_its_own_organization_only(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert client.get(f"/organizations/{tenant.id}", headers=tenant.headers).json()["name"] == "Org A"
    response = client.get(f"/organizations/{other_tenant.id}", headers=tenant.headers)
    assert response.status_code == 403 and "Org B" not in response.text


def test_unknown_organization_is_404(client: TestClient, platform_key: str) -> None:
    assert client.get(f"/organizations/{uuid.uuid4()}", headers=_platform(platform_key)).status_code == 404


def test_needs_a_key(client: TestClient) -> None:
    assert client.put(f"/organizations/{uuid.uuid4()}", json={"name": "A"}).status_code == 401
