"""A small QuickBooks API client for the sandbox's tests: one realm, one access token, JSON in and out."""

from __future__ import annotations

from typing import Any

import httpx

from sandboxes.quickbooks.consent import connect
from sandboxes.quickbooks.sandbox import SandboxInfo

MINOR_VERSION = "75"


class Api:
    def __init__(self, info: SandboxInfo, realm_id: str, tokens: dict[str, Any] | None = None) -> None:
        self.info = info
        self.realm_id = realm_id
        self.tokens = tokens or connect(info, realm_id)
        self.client = httpx.Client(base_url=f"{info.url}/v3/company/{realm_id}", timeout=30.0)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}", "Accept": "application/json"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params={"minorversion": MINOR_VERSION, **params}, headers=self.headers())

    def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.client.post(path, json=body, params={"minorversion": MINOR_VERSION, **params}, headers=self.headers())

    def ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create(self, entity: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        return dict(self.ok(self.post(f"/{entity.lower()}", body, **params))[entity])

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return dict(self.ok(self.get(f"/{entity.lower()}/{entity_id}"))[entity])

    def query(self, text: str) -> dict[str, Any]:
        return dict(self.ok(self.get("/query", query=text))["QueryResponse"])

    def close(self) -> None:
        self.client.close()


def control(info: SandboxInfo) -> httpx.Client:
    """The sandbox's own control plane (/_sandbox/...)."""
    return httpx.Client(base_url=f"{info.url}/_sandbox", timeout=30.0)


def fault_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"Fault", "time"}, body
    assert set(body["Fault"]) == {"Error", "type"}, body
    error = body["Fault"]["Error"][0]
    assert set(error) == {"Message", "Detail", "code", "element"}, error
    return {"type": body["Fault"]["type"], **error}


def new_company(info: SandboxInfo, **spec: Any) -> str:
    with control(info) as client:
        response = client.post("/companies", json=spec)
        assert response.status_code == 201, response.text
        return str(response.json()["realm_id"])
