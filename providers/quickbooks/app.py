"""booksync's QuickBooks app: its OAuth registration (from ``config.settings``), the token set's expiries, the
company a consent reached, and revocation.

Following Intuit's "OAuth 2.0" guide and FAQ (developer.intuit.com/app/developer/qbo/docs/develop/authentication-
and-authorization/oauth-2.0):

- one scope, ``com.intuit.quickbooks.accounting``; one consent reaches one company, which the redirect names in
  ``realmId`` (``oauth_tenants``), and every API call names it in its path (``/v3/company/<realmId>/...``);
- access tokens last an hour; refresh tokens rotate on every refresh (the one used is spent) and expire after
  100 days unused (``x_refresh_token_expires_in``), and since Intuit's 2025 policy never later than five years
  after the consent: the token endpoint says how long is left of that in ``x_refresh_token_hard_expires_in``
  when the request carries ``x-include-refresh-token-hard-expires-in: true`` (``token_headers``). Both
  expiries are kept as absolute times in the credentials (``with_expiries``), and the provider warns when the
  earlier one is near (``authorization_warning``);
- ``invalid_grant`` (spent, expired or revoked) is an ``AuthenticationError`` saying "reconnect QuickBooks
  Online" (``providers.oauth``);
- revocation is ``POST https://developer.api.intuit.com/v2/oauth2/tokens/revoke`` with HTTP Basic client
  authentication and a JSON body ``{"token": ...}`` (a refresh token revokes the whole grant). RFC 7009's
  form-encoded body, which ``providers.oauth.revoke`` sends, is not what Intuit documents, hence ``revoke``.

Production and sandbox: ``quickbooks_online`` uses the app's production keys and
``quickbooks.api.intuit.com``; ``quickbooks_online_sandbox`` its development keys (Intuit gives an app both)
and ``sandbox-quickbooks.api.intuit.com``. The OAuth endpoints are the same for both.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from config.logging import register_secret
from config.secrets import Credentials
from config.settings import Settings, get_settings
from providers.errors import ProviderError, RetryableError
from providers.http import build_client, transport_error
from providers.oauth import OAuthApp, TokenSet

log = structlog.get_logger(__name__)

NAME = "QuickBooks Online"
SCOPES = ("com.intuit.quickbooks.accounting",)
CALLBACK_PATH = "/oauth/callback"
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"
#: Intuit: a refresh token unused for 100 days expires (the token endpoint says so each time too).
REFRESH_TOKEN_LIFETIME = dt.timedelta(days=100)
#: Where the credentials keep the grant's five-year end (``extra`` holds the token endpoint's own fields).
HARD_EXPIRES_AT = "refresh_hard_expires_at"
ROLLING_EXPIRES_AT = "refresh_rolling_expires_at"
PRODUCTION, SANDBOX = "production", "sandbox"


def oauth_app(environment: str = PRODUCTION, settings: Settings | None = None) -> OAuthApp:
    """The app registration for ``environment`` (``production`` or ``sandbox``) as the settings give it."""
    settings = settings or get_settings()
    client_id, secret = settings.quickbooks_client_id, settings.quickbooks_client_secret.get_secret_value()
    if environment == SANDBOX and settings.quickbooks_sandbox_client_id:
        client_id = settings.quickbooks_sandbox_client_id
        secret = settings.quickbooks_sandbox_client_secret.get_secret_value() or secret
    if secret:
        register_secret(secret)
    return OAuthApp(
        name=NAME,
        authorize_url=settings.quickbooks_authorize_url,
        token_url=settings.quickbooks_token_url,
        revoke_url=settings.quickbooks_revocation_url,
        client_id=client_id,
        client_secret=secret,
        scopes=SCOPES,
        redirect_uri=settings.public_url.rstrip("/") + CALLBACK_PATH,
        refresh_token_lifetime=REFRESH_TOKEN_LIFETIME,
        token_headers=((HARD_EXPIRY_HEADER, "true"),),
    )


def api_url(environment: str = PRODUCTION, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.quickbooks_sandbox_api_url if environment == SANDBOX else settings.quickbooks_api_url


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


def with_expiries(token: TokenSet, *, now: dt.datetime | None = None) -> TokenSet:
    """``token`` (just answered by the token endpoint) with its refresh expiries as absolute times.

    ``refresh_expires_at`` is the earlier of the rolling 100 days and the grant's hard cap, so it is when the
    authorization ends if nothing refreshes it; ``extra`` keeps both (``ROLLING_EXPIRES_AT``,
    ``HARD_EXPIRES_AT``). A token endpoint that says nothing about the hard cap leaves it unknown."""
    now = now or dt.datetime.now(dt.UTC)
    extra = dict(token.extra)
    rolling = _seconds(extra.get("x_refresh_token_expires_in"))
    hard = _seconds(extra.get("x_refresh_token_hard_expires_in"))
    rolling_at = now + (dt.timedelta(seconds=rolling) if rolling is not None else REFRESH_TOKEN_LIFETIME)
    extra[ROLLING_EXPIRES_AT] = rolling_at.isoformat()
    ends = rolling_at
    if hard is not None:
        hard_at = now + dt.timedelta(seconds=hard)
        extra[HARD_EXPIRES_AT] = hard_at.isoformat()
        ends = min(ends, hard_at)
    return TokenSet(token.access_token, token.refresh_token, token.expires_at, ends, token.token_type, token.scope,
                    extra)


def carry_hard_expiry(fresh: TokenSet, previous: TokenSet) -> TokenSet:
    """A refresh whose answer lacks the hard cap keeps the one known from before (it never moves)."""
    if HARD_EXPIRES_AT in fresh.extra or HARD_EXPIRES_AT not in previous.extra:
        return fresh
    extra = {**fresh.extra, HARD_EXPIRES_AT: previous.extra[HARD_EXPIRES_AT]}
    hard = dt.datetime.fromisoformat(str(previous.extra[HARD_EXPIRES_AT]))
    ends = min(fresh.refresh_expires_at, hard) if fresh.refresh_expires_at else hard
    return TokenSet(fresh.access_token, fresh.refresh_token, fresh.expires_at, ends, fresh.token_type, fresh.scope,
                    extra)


def authorization_ends(credentials: Mapping[str, Any]) -> tuple[dt.datetime | None, bool]:
    """When the stored authorization stops working unless refreshed, and whether that is the hard cap."""
    extra = credentials.get("extra") or {}
    hard_text = extra.get(HARD_EXPIRES_AT) if isinstance(extra, Mapping) else None
    rolling_text = credentials.get("refresh_expires_at")
    try:
        hard = dt.datetime.fromisoformat(str(hard_text)) if hard_text else None
        rolling = dt.datetime.fromisoformat(str(rolling_text)) if rolling_text else None
    except ValueError:
        return None, False
    if hard is not None and (rolling is None or hard <= rolling):
        return hard, True
    return rolling, False


def authorization_warning(credentials: Mapping[str, Any], *, days: int, now: dt.datetime | None = None) -> str | None:
    """The warning a person sees on the connection when fewer than ``days`` days of authorization are left."""
    ends, hard = authorization_ends(credentials)
    now = now or dt.datetime.now(dt.UTC)
    if ends is None or ends - now > dt.timedelta(days=days):
        return None
    left = max(0, (ends - now).days)
    when = ends.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if hard:
        why = "Intuit ends every QuickBooks authorization five years after the consent"
    else:
        why = "its refresh token has not been used for almost 100 days"
    return (f"the QuickBooks Online authorization ends on {when} ({left} days left: {why}); reconnect "
            f"QuickBooks Online before then to keep syncing")


def revoke(app: OAuthApp, credentials: Credentials, *, transport: httpx.BaseTransport | None = None) -> None:
    """Revoke the grant at Intuit (the refresh token, else the access token); an unknown token is not an error."""
    token = credentials.get("refresh_token") or credentials.get("access_token")
    if not token or not app.revoke_url:
        return
    app.check_configured()
    with build_client(provider="quickbooks", transport=transport, display_name=NAME) as client:
        try:
            response = client.post(
                app.revoke_url, auth=(app.client_id, app.client_secret),
                headers={"Accept": "application/json", "Content-Type": "application/json"},
                content=json.dumps({"token": token}).encode(),
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, provider=NAME) from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError(f"{NAME}'s revocation endpoint answered HTTP {status}; try again later",
                             details={"status": status})
    if status == 401:
        raise ProviderError(f"{NAME} refused booksync's app credentials when revoking (HTTP 401); check the "
                            "QuickBooks client id and secret settings", details={"status": status})
    if status >= 400:
        log.info("quickbooks.revoke_refused", status=status)  # already revoked or expired: nothing left to end
        return
    log.info("quickbooks.revoked")
