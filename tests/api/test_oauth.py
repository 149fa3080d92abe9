"""Connecting Xero through the API: connection_url, the local Xero's consent page, the callback, tenants."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api import oauth_state
from models import AccountingConnection
from sandboxes.xero.sandbox import SandboxInfo, consent_location
from tasks.engine.sync import disconnect
from tests.api.conftest import Tenant
from tests.conftest import TEST_BROKER_URL
from tests.conftest_xero import XeroRaw, xero_settings
from tests.support.env import booksync_env

URL = "/accounting-connections"
PUBLIC_URL = "http://127.0.0.1:8080"
CALLBACK = f"{PUBLIC_URL}/oauth/callback"


@pytest.fixture
def xero_client(pg_url: str, redis_url: str, xero_sandbox: SandboxInfo) -> Iterator[TestClient]:
    from api.app import create_app

    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL,
                      public_url=PUBLIC_URL, **xero_settings(xero_sandbox)):
        with TestClient(create_app()) as client:
            yield client


def new_organisation(raw: XeroRaw, name: str) -> str:
    return str(raw.http.post("/_sandbox/tenants", json={"name": name}).raise_for_status().json()["tenant_id"])


def start(client: TestClient, tenant: Tenant) -> dict[str, str]:
    response = client.post(URL, headers=tenant.headers, json={"platform": "xero"})
    assert response.status_code == 201, response.text
    return response.json()


def browser_back(info: SandboxInfo, connection_url: str, tenant_ids: list[str]) -> str:
    """Play the person on the local Xero's consent page: where their browser is sent back to (path + query)."""
    location = consent_location(info, redirect_uri=CALLBACK, authorize_url=connection_url, tenant_ids=tenant_ids)
    assert location.startswith(CALLBACK + "?")
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def row(db: Session, connection_id: str) -> AccountingConnection:
    db.expire_all()
    connection = db.get(AccountingConnection, uuid.UUID(connection_id))
    assert connection is not None
    return connection


def test_connecting_xero_end_to_end(
    xero_client: TestClient, xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: Tenant, db: Session
) -> None:
    organisation = new_organisation(xero_raw, "Callback Ltd")
    created = start(xero_client, tenant)
    assert created["status"] == "pending_auth" and "business_info" not in created, "no nulls on the wire"
    url = created["connection_url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(xero_sandbox.authorize_url + "?")
    assert query["client_id"] == [xero_sandbox.client_id] and query["redirect_uri"] == [CALLBACK]
    assert set(query["scope"][0].split()) == {"offline_access", "accounting.transactions", "accounting.contacts",
                                              "accounting.settings"}
    assert query["response_type"] == ["code"] and query["state"][0]
    assert xero_sandbox.client_secret not in url
    shown = xero_client.get(f"{URL}/{created['id']}", headers=tenant.headers).json()
    assert shown["connection_url"] == url, "a pending connection keeps showing its link"

    back = browser_back(xero_sandbox, url, [organisation])
    page = xero_client.get(back)  # the browser: no API key
    assert page.status_code == 200 and "Xero is connected" in page.text and "Callback Ltd" in page.text

    connected = xero_client.get(f"{URL}/{created['id']}", headers=tenant.headers).json()
    assert connected["status"] == "connected" and connected["connection_url"] == ""
    assert connected["business_info"]["name"] == "Callback Ltd"
    assert connected["business_info"]["base_currency"] == "GBP"
    stored = row(db, created["id"])
    assert stored.books_id == f"xero:{organisation}" and stored.settings["tenant_id"] == organisation
    assert stored.next_sync_at is not None and stored.connected_at is not None
    assert stored.oauth_state_hash is None and stored.pending_tenants is None
    assert stored.credentials and stored.credentials["refresh_token"]
    raw_column = db.execute(text("SELECT credentials FROM accounting_connections WHERE id = :id"),
                            {"id": stored.id}).scalar_one()
    assert stored.credentials["access_token"] not in raw_column, "tokens are encrypted at rest"

    replay = xero_client.get(back)
    assert replay.status_code == 400 and "already used" in replay.text
    after = row(db, created["id"])
    assert after.credentials == stored.credentials and after.status == "connected"


def test_a_forged_state_is_refused_and_nothing_changes(
    xero_client: TestClient, xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: Tenant, db: Session
) -> None:
    organisation = new_organisation(xero_raw, "Forgery Ltd")
    created = start(xero_client, tenant)
    before = row(db, created["id"])
    hash_before, credentials_before = before.oauth_state_hash, before.credentials
    back = browser_back(xero_sandbox, created["connection_url"], [organisation])
    state = parse_qs(urlsplit(back).query)["state"][0]
    body, _, signature = state.partition(".")
    forged = back.replace(state, f"{body}x.{signature}")
    for attempt in (forged, back.replace(state, "made-up"), back.split("&state=")[0]):
        page = xero_client.get(attempt)
        assert page.status_code == 400 and "not issued by booksync" in page.text
    after = row(db, created["id"])
    assert after.status == "pending_auth" and after.oauth_state_hash == hash_before
    assert after.credentials == credentials_before
    assert xero_client.get(back).status_code == 200, "the genuine link still works once"


def test_an_expired_state_is_refused_and_a_fresh_link_is_shown(
    xero_client: TestClient, xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: Tenant, db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    organisation = new_organisation(xero_raw, "Late Ltd")
    long_ago = time.time() - 2 * 3600
    monkeypatch.setattr(oauth_state.time, "time", lambda: long_ago)
    created = start(xero_client, tenant)
    monkeypatch.undo()
    back = browser_back(xero_sandbox, created["connection_url"], [organisation])
    page = xero_client.get(back)
    assert page.status_code == 400 and "expired" in page.text
    assert row(db, created["id"]).status == "pending_auth"
    fresh = xero_client.get(f"{URL}/{created['id']}", headers=tenant.headers).json()["connection_url"]
    assert fresh != created["connection_url"]
    assert xero_client.get(browser_back(xero_sandbox, fresh, [organisation])).status_code == 200
    assert row(db, created["id"]).status == "connected"


def test_several_organisations_are_chosen_from(
    xero_client: TestClient, xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: Tenant, other_tenant: Tenant,
    db: Session,
) -> None:
    first, second = new_organisation(xero_raw, "Choice One"), new_organisation(xero_raw, "Choice Two")
    created = start(xero_client, tenant)
    page = xero_client.get(browser_back(xero_sandbox, created["connection_url"], [first, second]))
    assert page.status_code == 200
    assert f"POST /accounting-connections/{created['id']}/tenant" in page.text
    assert first in page.text and second in page.text and "Choice Two" in page.text
    pending = row(db, created["id"])
    assert pending.status == "pending_auth" and {t["tenant_id"] for t in pending.pending_tenants or []} == {first, second}
    choose = f"{URL}/{created['id']}/tenant"
    wrong = xero_client.post(choose, headers=tenant.headers, json={"tenant_id": str(uuid.uuid4())})
    assert wrong.status_code == 422 and "tenant_id" in wrong.json()["error"]["message"]
    assert xero_client.post(choose, headers=other_tenant.headers, json={"tenant_id": second}).status_code == 404
    chosen = xero_client.post(choose, headers=tenant.headers, json={"tenant_id": second})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["status"] == "connected" and chosen.json()["business_info"]["name"] == "Choice Two"
    assert row(db, created["id"]).books_id == f"xero:{second}"
    again = xero_client.post(choose, headers=tenant.headers, json={"tenant_id": first})
    assert again.status_code == 409


def test_a_declined_consent_changes_nothing_but_the_link(
    xero_client: TestClient, xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: Tenant, db: Session
) -> None:
    created = start(xero_client, tenant)
    location = consent_location(xero_sandbox, redirect_uri=CALLBACK, authorize_url=created["connection_url"],
                                tenant_ids=[], allow=False)
    parts = urlsplit(location)
    page = xero_client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 400 and "access_denied" in page.text
    assert row(db, created["id"]).status == "pending_auth"


def test_disconnect_revokes_the_tokens_at_xero(
    xero_client: TestClient, xero_sandbox: SandboxInfo, xero_raw: XeroRaw, tenant: Tenant, db: Session
) -> None:
    organisation = new_organisation(xero_raw, "Leaving Ltd")
    created = start(xero_client, tenant)
    assert xero_client.get(browser_back(xero_sandbox, created["connection_url"], [organisation])).status_code == 200
    tokens = dict(row(db, created["id"]).credentials or {})
    db.commit()
    from models import get_sessionmaker

    disconnect(get_sessionmaker(), uuid.UUID(created["id"]))
    after = row(db, created["id"])
    assert after.status == "disconnected" and after.credentials is None
    refused = httpx.post(xero_sandbox.token_url, auth=(xero_sandbox.client_id, xero_sandbox.client_secret),
                         data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    listed = httpx.get(xero_sandbox.connections_url, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert listed.status_code == 401


def test_without_a_xero_app_configured_connecting_is_503_and_nothing_is_stored(
    pg_url: str, redis_url: str, tenant: Tenant, db: Session
) -> None:
    from api.app import create_app

    with booksync_env(database_url=pg_url, home=os.environ["BOOKSYNC_HOME"], broker_url=TEST_BROKER_URL):
        with TestClient(create_app()) as client:
            response = client.post(URL, headers=tenant.headers, json={"platform": "xero"})
    assert response.status_code == 503 and "no Xero app configured" in response.json()["error"]["message"]
    assert db.query(AccountingConnection).filter_by(organization_id=tenant.id).count() == 0


def test_credentials_are_refused_on_create(xero_client: TestClient, tenant: Tenant) -> None:
    response = xero_client.post(URL, headers=tenant.headers, json={"platform": "xero", "credentials": {"token": "x"}})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("credentials: a Xero connection gets its credentials")
