"""OAuth as Intuit runs it: consent with realmId, code exchange, rotating refresh tokens, expiry fields, the
100-day and five-year limits (by moving the sandbox's clock), revocation and ``invalid_grant``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandboxes.quickbooks.consent import DEFAULT_REDIRECT_URI, connect, consent, exchange_code
from sandboxes.quickbooks.oauth import HARD_EXPIRY_HEADER, SCOPE_ACCOUNTING
from sandboxes.quickbooks.sandbox import SandboxInfo
from tests.sandboxes.quickbooks.support import Api, control, fault_of

SANDBOX_OPTIONS = {"companies": 2}
DAY = 86400


def refresh(info: SandboxInfo, token: str, *, hard: bool = True, auth: tuple[str, str] | None = None) -> httpx.Response:
    return httpx.post(info.token_endpoint, auth=auth or (info.client_id, info.client_secret),
                      headers={"Accept": "application/json", **({HARD_EXPIRY_HEADER: "true"} if hard else {})},
                      data={"grant_type": "refresh_token", "refresh_token": token}, timeout=10)


def advance(info: SandboxInfo, seconds: float) -> None:
    with control(info) as client:
        assert client.post("/clock", json={"advance_seconds": seconds}).status_code == 200


def api_status(info: SandboxInfo, realm: str, tokens: dict[str, Any]) -> int:
    api = Api(info, realm, tokens)
    try:
        return api.get("/preferences").status_code
    finally:
        api.close()


def test_consent_page_lists_companies_and_redirects_with_code_state_and_realm(sandbox: SandboxInfo) -> None:
    params = {"client_id": sandbox.client_id, "response_type": "code", "scope": SCOPE_ACCOUNTING,
              "redirect_uri": "http://localhost:8123/cb", "state": "s-1"}
    page = httpx.get(sandbox.authorization_endpoint, params=params)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert all(realm in page.text for realm in sandbox.realm_ids)
    answer = consent(sandbox, sandbox.realm_ids[1], redirect_uri="http://localhost:8123/cb", state="s-1")
    assert answer["location"].startswith("http://localhost:8123/cb?")
    assert answer["state"] == "s-1" and answer["realmId"] == sandbox.realm_ids[1] and answer["code"]
    denied = consent(sandbox, sandbox.realm_ids[0], state="s-2", allow=False)
    assert denied["error"] == "access_denied" and denied["state"] == "s-2" and "code" not in denied
    for bad in ({"redirect_uri": "https://evil.example/cb"}, {"client_id": "nope"}, {"scope": "openid"},
                {"response_type": "token"}):
        assert httpx.get(sandbox.authorization_endpoint, params={**params, **bad}).status_code == 400


def test_code_exchange_answers_intuits_token_fields(sandbox: SandboxInfo) -> None:
    code = consent(sandbox, sandbox.realm_ids[0])["code"]
    wrong_redirect = httpx.post(sandbox.token_endpoint, auth=(sandbox.client_id, sandbox.client_secret),
                                data={"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:1/x"})
    assert wrong_redirect.status_code == 400 and wrong_redirect.json() == {"error": "invalid_grant"}
    tokens = exchange_code(sandbox, code)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 3600
    assert tokens["x_refresh_token_expires_in"] == 100 * DAY
    assert tokens["x_refresh_token_hard_expires_in"] == 5 * 365 * DAY
    plain = exchange_code(sandbox, consent(sandbox, sandbox.realm_ids[0])["code"], include_hard_expiry=False)
    assert "x_refresh_token_hard_expires_in" not in plain
    used = httpx.post(sandbox.token_endpoint, auth=(sandbox.client_id, sandbox.client_secret),
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": DEFAULT_REDIRECT_URI})
    assert used.json() == {"error": "invalid_grant"}
    bad_client = refresh(sandbox, tokens["refresh_token"], auth=(sandbox.client_id, "wrong"))
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    assert api_status(sandbox, sandbox.realm_ids[0], tokens) == 200
    assert api_status(sandbox, sandbox.realm_ids[1], tokens) == 401


def test_refresh_tokens_rotate_and_a_spent_one_is_invalid_grant(sandbox: SandboxInfo) -> None:
    first = connect(sandbox, sandbox.realm_ids[0])
    second = refresh(sandbox, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert refresh(sandbox, first["refresh_token"]).json() == {"error": "invalid_grant"}
    third = refresh(sandbox, second["refresh_token"]).json()
    assert api_status(sandbox, sandbox.realm_ids[0], third) == 200
    assert api_status(sandbox, sandbox.realm_ids[0], first) == 200  # access tokens live out their hour


def test_access_tokens_expire_after_an_hour_and_refresh_tokens_after_100_idle_days(sandbox: SandboxInfo) -> None:
    tokens = connect(sandbox, sandbox.realm_ids[1])
    advance(sandbox, 3601)
    expired = Api(sandbox, sandbox.realm_ids[1], tokens)
    try:
        response = expired.get("/preferences")
        assert response.status_code == 401 and "expired" in fault_of(response)["Detail"]
    finally:
        expired.close()
    rolled = refresh(sandbox, tokens["refresh_token"]).json()
    assert api_status(sandbox, sandbox.realm_ids[1], rolled) == 200
    assert abs(rolled["x_refresh_token_hard_expires_in"] - (5 * 365 * DAY - 3601)) <= 10  # seconds pass meanwhile
    advance(sandbox, 100 * DAY + 1)
    assert refresh(sandbox, rolled["refresh_token"]).json() == {"error": "invalid_grant"}


def test_the_five_year_cap_holds_however_often_a_token_is_refreshed(sandbox: SandboxInfo) -> None:
    tokens = connect(sandbox, sandbox.realm_ids[0])
    for _ in range(19):  # 19 x 96 days, refreshing inside every 100-day window
        advance(sandbox, 96 * DAY)
        tokens = refresh(sandbox, tokens["refresh_token"]).json()
        assert "error" not in tokens
    left = tokens["x_refresh_token_hard_expires_in"]
    assert abs(left - (5 * 365 * DAY - 19 * 96 * DAY)) <= 10  # seconds pass meanwhile
    assert tokens["x_refresh_token_expires_in"] == left  # the rolling window never passes the hard cap
    advance(sandbox, left + 1)
    assert refresh(sandbox, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_revoking_either_token_ends_the_grant(sandbox: SandboxInfo) -> None:
    for which in ("refresh_token", "access_token"):
        tokens = connect(sandbox, sandbox.realm_ids[0])
        response = httpx.post(sandbox.revocation_endpoint, auth=(sandbox.client_id, sandbox.client_secret),
                              json={"token": tokens[which]}, headers={"Accept": "application/json"})
        assert response.status_code == 200
        assert refresh(sandbox, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
        assert api_status(sandbox, sandbox.realm_ids[0], tokens) == 401
    unknown = httpx.post(sandbox.revocation_endpoint, auth=(sandbox.client_id, sandbox.client_secret), json={"token": "nope"})
    assert unknown.status_code == 400
    unauthenticated = httpx.post(sandbox.revocation_endpoint, json={"token": "nope"})
    assert unauthenticated.status_code == 401


@pytest.mark.parametrize("grant_type", ["password", ""])
def test_other_grant_types_are_refused(sandbox: SandboxInfo, grant_type: str) -> None:
    response = httpx.post(sandbox.token_endpoint, auth=(sandbox.client_id, sandbox.client_secret), data={"grant_type": grant_type})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_consent_redirect_keeps_an_existing_query(sandbox: SandboxInfo) -> None:
    answer = consent(sandbox, sandbox.realm_ids[0], redirect_uri="http://127.0.0.1:5000/cb?next=home", state="k")
    query = parse_qs(urlsplit(answer["location"]).query)
    assert query["next"] == ["home"] and query["state"] == ["k"]
