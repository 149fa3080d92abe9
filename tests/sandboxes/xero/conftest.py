"""The local Xero's tests: a real server process per module, driven over loopback with httpx.

``xero_server`` starts one for the module (modules that need other settings start their own with
``start_xero``); ``Xero`` is a small client that does what an app does: consent, exchange the code,
call the API with the bearer token and the tenant id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandboxes.xero.sandbox import SandboxInfo, authorize, start_sandbox, stop_sandbox

REDIRECT_URI = "http://127.0.0.1:8765/callback"


class Xero:
    """An app connected to the local Xero (its token set, one tenant at a time)."""

    def __init__(self, info: SandboxInfo, tokens: dict[str, Any], tenant_id: str) -> None:
        self.info = info
        self.tokens = tokens
        self.tenant_id = tenant_id
        self.http = httpx.Client(base_url=info.url, timeout=30)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}", "xero-tenant-id": self.tenant_id,
                "Accept": "application/json", **extra}

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, timeout: float | None = None) -> httpx.Response:
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return self.http.request(method, f"/api.xro/2.0{path}", json=json, params=params,
                                 headers={**self.headers(), **(headers or {})}, **extra)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kwargs)

    def refresh(self, refresh_token: str | None = None) -> httpx.Response:
        return self.http.post("/connect/token", auth=(self.info.client_id, self.info.client_secret),
                              data={"grant_type": "refresh_token",
                                    "refresh_token": refresh_token or self.tokens["refresh_token"]})

    def stats(self) -> dict[str, Any]:
        return self.http.get("/_sandbox/stats").raise_for_status().json()

    def state(self, collection: str, tenant_id: str | None = None) -> list[dict[str, Any]]:
        return self.info.state(tenant_id or self.tenant_id, collection)

    def fault(self, **fault: Any) -> None:
        self.http.post("/_sandbox/faults", json=fault).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults").raise_for_status()

    def contact_id(self, name: str = "Ridgeway University") -> str:
        return next(c["ContactID"] for c in self.state("contacts") if c["Name"] == name)


def connect(info: SandboxInfo, *, scopes: tuple[str, ...] | None = None, tenant: int = 0) -> Xero:
    kwargs = {"scopes": scopes} if scopes else {}
    return Xero(info, authorize(info, redirect_uri=REDIRECT_URI, **kwargs), info.tenant_ids[tenant])


def bill(contact_id: str, *, lines: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return {"Type": "ACCPAY", "Contact": {"ContactID": contact_id}, "Date": "2026-01-15", "DueDate": "2026-02-14",
            "LineAmountTypes": "Exclusive", "Reference": "B-1",
            "LineItems": lines or [{"Description": "Paper", "Quantity": 2, "UnitAmount": 12.5, "AccountCode": "453",
                                    "TaxType": "INPUT2"}], **fields}


def start_xero(directory: Path, **options: Any) -> Iterator[SandboxInfo]:
    info = start_sandbox(directory, **{"tenants": 2, **options})
    try:
        yield info
    finally:
        stop_sandbox(directory)
        assert "Traceback" not in (directory / "xero.log").read_text(), (directory / "xero.log").read_text()[-4000:]


ROOMY = {"per_minute": 100_000, "per_day": 1_000_000}  # for modules that test something other than limits


@pytest.fixture(scope="module")
def xero_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    yield from start_xero(tmp_path_factory.mktemp("xero"), limits=ROOMY)


@pytest.fixture(scope="module")
def xero(xero_server: SandboxInfo) -> Xero:
    return connect(xero_server)
