"""``providers.oauth``: the authorize URL, token sets in credentials, and the token endpoint's refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from providers import oauth
from providers.errors import AuthenticationError, RetryableError
from providers.oauth import LocalCredentialStore, TokenSet
from sandboxes.xero.sandbox import SandboxInfo
from tests.conftest_xero import XeroRaw, xero_app


def test_the_authorize_url_asks_for_a_code_with_the_apps_scopes_and_the_state(xero_sandbox: SandboxInfo) -> None:
    app = xero_app(xero_sandbox)
    url = oauth.authorization_url(app, "the-state")
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(app.authorize_url + "?")
    assert query == {"response_type": ["code"], "client_id": [app.client_id], "redirect_uri": [app.redirect_uri],
                     "scope": [" ".join(app.scopes)], "state": ["the-state"]}


def test_a_token_set_survives_the_credentials_and_its_secrets_are_hidden() -> None:
    token = TokenSet(
        "access-value", "refresh-value", dt.datetime(2030, 1, 1, tzinfo=dt.UTC), dt.datetime(2030, 3, 1, tzinfo=dt.UTC),
        scope="offline_access", extra={"id": 1})
    credentials = token.to_credentials(tenant_hint="x")
    assert TokenSet.from_credentials(credentials, platform="Xero") == token
    assert "access-value" not in repr(credentials) and "refresh-value" not in repr(token)
    assert not token.is_stale(now=dt.datetime(2029, 12, 31, 23, 57, tzinfo=dt.UTC))
    assert token.is_stale(now=dt.datetime(2029, 12, 31, 23, 59, tzinfo=dt.UTC)), "refreshed 2 minutes early"
    with pytest.raises(AuthenticationError) as caught:
        TokenSet.from_credentials({"refresh_token": "r"}, platform="Xero")
    assert "reconnect Xero" in caught.value.message


def test_wrong_app_credentials_are_an_authentication_error_about_the_app(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw
) -> None:
    tenant = xero_raw.new_tenant("App Credentials Organisation", seed=False)
    wrong = dataclasses.replace(xero_app(xero_sandbox), client_secret="not-the-secret")
    with pytest.raises(AuthenticationError) as caught:
        oauth.refresh(wrong, tenant.token)
    assert "client id and secret" in caught.value.message and "not-the-secret" not in caught.value.message


def test_a_revoked_refresh_token_is_invalid_grant(
    xero_sandbox: SandboxInfo, xero_raw: XeroRaw
) -> None:
    tenant = xero_raw.new_tenant("Rotation Organisation", seed=False)
    app = xero_app(xero_sandbox)
    renewed = oauth.refresh(app, tenant.token)
    assert renewed.refresh_token and renewed.refresh_token != tenant.token.refresh_token
    assert renewed.refresh_expires_at is not None
    oauth.revoke(app, renewed)
    with pytest.raises(AuthenticationError) as caught:
        oauth.refresh(app, renewed)
    assert "invalid_grant" in caught.value.message and "reconnect Xero" in caught.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_token_endpoint_that_fails_is_retryable(xero_sandbox: SandboxInfo, status: int) -> None:
    """The local Xero's fault switches do not reach its token endpoint, so a stand-in answers."""
    failing = httpx.MockTransport(lambda request: httpx.Response(status, headers={"Retry-After": "3"},
                                                                 text="<html>down</html>"))
    token = TokenSet("a", "r", dt.datetime.now(dt.UTC))
    with pytest.raises(RetryableError) as caught:
        oauth.refresh(xero_app(xero_sandbox), token, transport=failing)
    assert caught.value.retry_after == 3


def test_the_local_store_refreshes_once_for_the_same_stale_credentials() -> None:
    old, new = TokenSet("a", "r", dt.datetime.now(dt.UTC)).to_credentials(), \
        TokenSet("b", "s", dt.datetime.now(dt.UTC)).to_credentials()
    store = LocalCredentialStore(old)
    assert store.refresh(old, lambda current: new) == new
    assert store.refresh(old, lambda current: pytest.fail("refreshed twice")) == new
    assert store.refreshes == 1
