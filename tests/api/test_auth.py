"""Authentication (401), organization scope (403, 404) and the X-Organization-Id header (422)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Tenant


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer bks_not-a-key", "Basic dXNlcjpwYXNz", "bks_without_scheme", "Bearer other_prefix"],
)
def test_missing_or_bad_key_is_401(client: TestClient, tenant: Tenant, authorization: str | None) -> None:
    headers = {"X-Organization-Id": str(tenant.id)}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = client.get("/accounting-connections", headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error"} and response.json()["error"]["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_401_comes_before_header_validation(client: TestClient) -> None:
    assert client.get("/accounting-connections").status_code == 401


def test_missing_organization_header_is_422_naming_it(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/accounting-connections", headers={"Authorization": f"Bearer {tenant.key}"})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "X-Organization-Id: field required"


def test_malformed_organization_header_is_422_naming_it(client: TestClient, tenant: Tenant) -> None:
    response = client.get(
        "/accounting-connections", headers={"Authorization": f"Bearer {tenant.key}", "X-Organization-Id": "acme"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("X-Organization-Id: ")


def test_organization_outside_the_keys_scope_is_403(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    headers = {"Authorization": f"Bearer {tenant.key}", "X-Organization-Id": str(other_tenant.id)}
    response = client.get("/accounting-connections", headers=headers)
    assert response.status_code == 403
    assert str(other_tenant.id) in response.json()["error"]["message"]


def test_unknown_organization_is_403_for_an_organization_key(client: TestClient, tenant: Tenant) -> None:
    headers = {"Authorization": f"Bearer {tenant.key}", "X-Organization-Id": str(uuid.uuid4())}
    assert client.get("/accounting-connections", headers=headers).status_code == 403


def test_platform_key_acts_for_any_organization(client: TestClient, tenant: Tenant, platform_key: str) -> None:
    headers = {"Authorization": f"Bearer {platform_key}", "X-Organization-Id": str(tenant.id)}
    assert client.get("/accounting-connections", headers=headers).json() == {"data": []}


def test_platform_key_with_an_unknown_organization_is_404(client: TestClient, platform_key: str) -> None:
    missing = uuid.uuid4()
    headers = {"Authorization": f"Bearer {platform_key}", "X-Organization-Id": str(missing)}
    response = client.get("/accounting-connections", headers=headers)
    assert response.status_code == 404
    assert f"PUT /organizations/{missing}" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs"])
def test_probes_and_docs_need_no_key(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_header_name_is_case_insensitive(client: TestClient, tenant: Tenant) -> None:
    headers = {"authorization": f"bearer {tenant.key}", "x-organization-id": str(tenant.id)}
    assert client.get("/accounting-connections", headers=headers).status_code == 200
