"""Xero's OAuth 2.0 code flow on the local Xero: consent, code exchange, refresh rotation with the grace
period, revocation, connections, scopes and tenants."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandboxes.xero.sandbox import SandboxInfo, consent_location
from tests.sandboxes.xero.conftest import REDIRECT_URI, ROOMY, Xero, connect, start_xero
from tests.support.processes import wait_for


@pytest.fixture(scope="module")
def xero_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    yield from start_xero(tmp_path_factory.mktemp("xero-oauth"), refresh_grace_seconds=2, limits=ROOMY)


def token(info: SandboxInfo, **form: str) -> httpx.Response:
    return httpx.post(info.token_url, auth=(info.client_id, info.client_secret), data=form, timeout=10)


def code_for(info: SandboxInfo, **kwargs: object) -> str:
    location = consent_location(info, redirect_uri=REDIRECT_URI, **kwargs)  # type: ignore[arg-type]
    return parse_qs(urlsplit(location).query)["code"][0]


def claims(jwt: str) -> dict[str, object]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_code_is_exchanged_once_for_a_token_set_that_lists_the_connected_tenants(xero_server: SandboxInfo) -> None:
    code = code_for(xero_server, state="xyz")
    assert token(xero_server, grant_type="authorization_code", code=code,
                 redirect_uri="http://127.0.0.1:1/other").json() == {"error": "invalid_grant",
                                                                    "error_description": "redirect_uri does not match"}
    tokens = token(xero_server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 1800
    assert {"access_token", "refresh_token", "id_token", "scope"} <= set(tokens)
    assert "accounting.transactions" in claims(tokens["access_token"])["scope"]  # type: ignore[operator]
    again = token(xero_server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})
    connections = httpx.get(xero_server.connections_url, headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert connections.status_code == 200
    assert {c["tenantId"] for c in connections.json()} == set(xero_server.tenant_ids)
    assert {c["tenantType"] for c in connections.json()} == {"ORGANISATION"}
    assert all(c["tenantName"] and c["createdDateUtc"] and c["updatedDateUtc"] for c in connections.json())
    event = claims(tokens["access_token"])["authentication_event_id"]
    assert {c["authEventId"] for c in connections.json()} == {event}
    assert len(httpx.get(xero_server.connections_url, params={"authEventId": event},
                         headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()) == 2

    wrong_secret = httpx.post(xero_server.token_url, auth=(xero_server.client_id, "nope"),
                              data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert (wrong_secret.status_code, wrong_secret.json()) == (400, {"error": "invalid_client"})
    assert token(xero_server, grant_type="password").json() == {"error": "unsupported_grant_type"}


def test_refresh_tokens_rotate_and_the_previous_one_has_a_grace_period(xero_server: SandboxInfo) -> None:
    app = connect(xero_server)
    first = app.tokens["refresh_token"]
    rotated = app.refresh(first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first and second["access_token"] != app.tokens["access_token"]
    app.tokens = second
    assert app.get("/Organisation").status_code == 200
    assert app.refresh(first).status_code == 200  # the answer may have been lost: the old one still works
    expired = wait_for(lambda: app.refresh(first).status_code == 400, timeout=15, what="the grace period to end")
    assert expired
    assert app.refresh(first).json() == {"error": "invalid_grant"}
    assert app.refresh(second["refresh_token"]).status_code == 200
    assert app.refresh("made-up").json() == {"error": "invalid_grant"}


def test_revoking_the_refresh_token_ends_the_grant(xero_server: SandboxInfo) -> None:
    app = connect(xero_server)
    revoked = httpx.post(xero_server.revocation_url, auth=(xero_server.client_id, xero_server.client_secret),
                         data={"token": app.tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert app.refresh().json() == {"error": "invalid_grant"}
    assert app.get("/Organisation").status_code == 401


def test_the_consent_page_lists_tenants_and_refusals_are_xeros(xero_server: SandboxInfo) -> None:
    query = {"response_type": "code", "client_id": xero_server.client_id, "redirect_uri": REDIRECT_URI,
             "scope": "offline_access accounting.transactions", "state": "s1"}
    page = httpx.get(xero_server.authorize_url, params=query)
    assert page.status_code == 200 and "Sandbox Organisation 1" in page.text and "Allow access" in page.text
    assert httpx.get(xero_server.authorize_url, params={**query, "client_id": "someone-else"}).status_code == 400
    assert httpx.get(xero_server.authorize_url,
                     params={**query, "redirect_uri": "https://example.com/callback"}).status_code == 400
    denied = consent_location(xero_server, redirect_uri=REDIRECT_URI, state="s2", allow=False)
    assert parse_qs(urlsplit(denied).query) == {"error": ["access_denied"], "state": ["s2"]}
    bad_scope = consent_location(xero_server, redirect_uri=REDIRECT_URI, scopes=["accounting.everything"])
    assert parse_qs(urlsplit(bad_scope).query)["error"] == ["invalid_scope"]
    code = code_for(xero_server, scopes=["accounting.transactions"])
    online_only = token(xero_server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI).json()
    assert "refresh_token" not in online_only and "access_token" in online_only


def test_scopes_tenants_and_tokens_are_enforced_as_xero_does(xero_server: SandboxInfo) -> None:
    reader = connect(xero_server, scopes=("offline_access", "accounting.transactions.read"))
    assert reader.get("/Invoices").status_code == 200
    refused = reader.put("/Invoices", {"Invoices": []})
    assert refused.status_code == 403 and refused.json()["Detail"] == "AuthorizationUnsuccessful"
    assert reader.get("/Contacts").status_code == 403
    assert reader.get("/Invoices", headers={"xero-tenant-id": "9a0e8a40-0000-4000-8000-000000000000"}).status_code == 403
    missing = reader.http.get("/api.xro/2.0/Invoices", headers={"Authorization": reader.headers()["Authorization"]})
    assert missing.status_code == 403
    bad = reader.get("/Invoices", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"].startswith("Bearer")

    one = Xero(xero_server, {}, xero_server.tenant_ids[1])
    code = code_for(xero_server, tenant_ids=[xero_server.tenant_ids[1]])
    one.tokens = token(xero_server, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI).json()
    assert one.get("/Organisation").status_code == 200


def test_deleting_a_connection_disconnects_its_tenant(xero_server: SandboxInfo) -> None:
    app = connect(xero_server)
    bearer = {"Authorization": app.headers()["Authorization"]}
    listed = httpx.get(xero_server.connections_url, headers=bearer).json()
    second = next(c for c in listed if c["tenantId"] == xero_server.tenant_ids[1])
    assert httpx.delete(f"{xero_server.connections_url}/{second['id']}", headers=bearer).status_code == 204
    assert httpx.delete(f"{xero_server.connections_url}/{second['id']}", headers=bearer).status_code == 404
    assert all(c["tenantId"] != second["tenantId"] for c in httpx.get(xero_server.connections_url, headers=bearer).json())
    assert app.get("/Organisation", headers={"xero-tenant-id": second["tenantId"]}).status_code == 403
    assert app.get("/Organisation").status_code == 200


def test_access_tokens_expire_and_a_refresh_brings_a_new_one(tmp_path_factory: pytest.TempPathFactory) -> None:
    for info in start_xero(tmp_path_factory.mktemp("xero-short"), access_token_seconds=2, tenants=1):
        app = connect(info)
        assert app.tokens["expires_in"] == 2
        expired = wait_for(lambda: app.get("/Organisation").status_code == 401, timeout=10, what="token expiry")
        assert expired and app.get("/Organisation").json()["Detail"].startswith("TokenExpired")
        app.tokens = app.refresh().json()
        assert app.get("/Organisation").status_code == 200
        assert app.stats()["tokens_issued"] == 2
