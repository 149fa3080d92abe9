"""Connecting QuickBooks Online through the API: connection_url, the local QuickBooks' consent page, the callback
with ``realmId``, production and sandbox hosts by platform, disconnect revoking at Intuit."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from models import AccountingConnection, get_sessionmaker
from sandboxes.quickbooks.sandbox import SandboxInfo, free_port
from tasks.engine.sync import disconnect
from tests.api.conftest import Tenant
from tests.conftest import TEST_BROKER_URL
from tests.conftest_quickbooks import QuickBooksRaw, consent_redirect, path_and_query, quickbooks_settings
from tests.support.env import booksync_env

URL = "/accounting-connections"
PUBLIC_URL = "http://127.0.0.1:8080"
CALLBACK = f"{PUBLIC_URL}/oauth/callback"


def client_for(pg_url: str, **settings: str) -> Iterator[TestClient]:
    from api.app import create_app

    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL,
                      public_url=PUBLIC_URL, **settings):
        with TestClient(create_app()) as client:
            yield client


@pytest.fixture
def qb_client(pg_url: str, redis_url: str, quickbooks_sandbox: SandboxInfo) -> Iterator[TestClient]:
    yield from client_for(pg_url, **quickbooks_settings(quickbooks_sandbox))


def start(client: TestClient, tenant: Tenant, platform: str = "quickbooks_online") -> dict[str, str]:
    response = client.post(URL, headers=tenant.headers, json={"platform": platform})
    assert response.status_code == 201, response.text
    return response.json()


def row(db: Session, connection_id: str) -> AccountingConnection:
    db.expire_all()
    connection = db.get(AccountingConnection, uuid.UUID(connection_id))
    assert connection is not None
    return connection


def new_realm(raw: QuickBooksRaw, name: str, country: str = "US") -> str:
    answer = raw.http.post("/_sandbox/companies", json={"name": name, "country": country, "seed": False})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["realm_id"])


def test_connecting_quickbooks_end_to_end(
    qb_client: TestClient, quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw, tenant: Tenant, db: Session
) -> None:
    realm = new_realm(quickbooks_raw, "Callback Books Inc")
    created = start(qb_client, tenant)
    assert created["status"] == "pending_auth" and "business_info" not in created, "no nulls on the wire"
    url = created["connection_url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(quickbooks_sandbox.authorization_endpoint + "?")
    assert query["client_id"] == [quickbooks_sandbox.client_id] and query["redirect_uri"] == [CALLBACK]
    assert query["scope"] == ["com.intuit.quickbooks.accounting"] and query["response_type"] == ["code"]
    assert quickbooks_sandbox.client_secret not in url

    location = consent_redirect(quickbooks_sandbox, url, realm)
    assert location.startswith(CALLBACK + "?") and f"realmId={realm}" in location
    page = qb_client.get(path_and_query(location))  # the browser: no API key
    assert page.status_code == 200 and "QuickBooks Online is connected" in page.text, page.text
    assert "Callback Books Inc" in page.text

    connected = qb_client.get(f"{URL}/{created['id']}", headers=tenant.headers).json()
    assert connected["status"] == "connected" and connected["connection_url"] == ""
    assert connected["errors"] == []
    info = connected["business_info"]
    assert info["name"] == "Callback Books Inc" and info["base_currency"] == "USD"
    assert info["type"] == "QuickBooks Online company (US sales tax)", "which tax model the company has"
    stored = row(db, created["id"])
    assert stored.books_id == f"quickbooks:{realm}" and stored.settings == {"realm_id": realm}
    credentials = stored.credentials or {}
    assert credentials["refresh_token"] and credentials["extra"]["x_refresh_token_hard_expires_in"] > 0
    raw_column = db.execute(text("SELECT credentials FROM accounting_connections WHERE id = :id"),
                            {"id": stored.id}).scalar_one()
    assert credentials["access_token"] not in raw_column, "tokens are encrypted at rest"

    replay = qb_client.get(path_and_query(location))
    assert replay.status_code == 400 and "already used" in replay.text
    assert row(db, created["id"]).credentials == credentials


def test_a_redirect_without_a_company_connects_nothing(
    qb_client: TestClient, quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw, tenant: Tenant, db: Session
) -> None:
    realm = new_realm(quickbooks_raw, "Nameless Inc")
    created = start(qb_client, tenant)
    location = consent_redirect(quickbooks_sandbox, created["connection_url"], realm)
    page = qb_client.get(path_and_query(location).replace(f"realmId={realm}", "realmId="))
    assert page.status_code == 400 and "No QuickBooks Online" in page.text
    assert row(db, created["id"]).status == "pending_auth"


def test_the_sandbox_platform_uses_intuits_sandbox_host_and_keys(
    pg_url: str, redis_url: str, quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw, tenant: Tenant,
    db: Session,
) -> None:
    settings = {**quickbooks_settings(quickbooks_sandbox), "quickbooks_api_url": f"http://127.0.0.1:{free_port()}",
                "quickbooks_client_id": "production-id-not-this-one",
                "quickbooks_sandbox_client_id": quickbooks_sandbox.client_id,
                "quickbooks_sandbox_client_secret": quickbooks_sandbox.client_secret}
    realm = new_realm(quickbooks_raw, "Sandbox Company Inc", country="GB")
    for client in client_for(pg_url, **settings):
        created = start(client, tenant, "quickbooks_online_sandbox")
        assert parse_qs(urlsplit(created["connection_url"]).query)["client_id"] == [quickbooks_sandbox.client_id]
        page = client.get(path_and_query(consent_redirect(quickbooks_sandbox, created["connection_url"], realm)))
        assert page.status_code == 200, page.text
        shown = client.get(f"{URL}/{created['id']}", headers=tenant.headers).json()
        assert shown["platform"] == "quickbooks_online_sandbox" and shown["status"] == "connected"
        assert shown["business_info"]["type"] == "QuickBooks Online company (tax code per line)"
    assert row(db, created["id"]).books_id == f"quickbooks:{realm}"


def test_disconnect_revokes_the_grant_at_intuit(
    qb_client: TestClient, quickbooks_sandbox: SandboxInfo, quickbooks_raw: QuickBooksRaw, tenant: Tenant, db: Session
) -> None:
    realm = new_realm(quickbooks_raw, "Leaving Books Inc")
    created = start(qb_client, tenant)
    page = qb_client.get(path_and_query(consent_redirect(quickbooks_sandbox, created["connection_url"], realm)))
    assert page.status_code == 200
    tokens = dict(row(db, created["id"]).credentials or {})
    db.commit()
    disconnect(get_sessionmaker(), uuid.UUID(created["id"]))
    after = row(db, created["id"])
    assert after.status == "disconnected" and after.credentials is None
    refused = httpx.post(quickbooks_sandbox.token_endpoint, auth=(quickbooks_sandbox.client_id,
                                                                  quickbooks_sandbox.client_secret),
                         data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_without_a_quickbooks_app_configured_connecting_is_503(pg_url: str, redis_url: str, tenant: Tenant,
                                                               db: Session) -> None:
    for client in client_for(pg_url):
        response = client.post(URL, headers=tenant.headers, json={"platform": "quickbooks_online"})
    assert response.status_code == 503
    assert "no QuickBooks Online app configured" in response.json()["error"]["message"]
    assert db.query(AccountingConnection).filter_by(organization_id=tenant.id).count() == 0


def test_credentials_are_refused_on_create(qb_client: TestClient, tenant: Tenant) -> None:
    response = qb_client.post(URL, headers=tenant.headers,
                              json={"platform": "quickbooks_online", "credentials": {"access_token": "x"}})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith(
        "credentials: a QuickBooks Online connection gets its credentials from Intuit's consent page")
