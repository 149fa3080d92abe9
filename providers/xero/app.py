"""booksync's Xero app: its OAuth registration (from ``config.settings``) and the tenants a consent reached.

Scopes (developer.xero.com/documentation/guides/oauth2/scopes) are the fewest booksync's calls need, as
the definition lists them per operation: ``accounting.transactions`` (invoices and bills, read and
write; payments too), ``accounting.contacts`` (contacts, read and write), ``accounting.settings``
(organisation, tax rates and accounts to read; items, which products are, to write: the definition gives
``PUT``/``POST /Items`` ``accounting.settings`` alone) and ``offline_access`` (a refresh token: without it the
connection would end with its first access token, 30 minutes later). A connection consented before products
(``accounting.settings.read``) keeps working; its product pushes say to reconnect Xero.

After the code exchange, Xero's Identity API ``GET /connections`` lists the tenants (organisations)
connected to the app by this user, including ones connected in earlier consents. The ones this consent
connected are those whose ``authEventId`` is the access token's ``authentication_event_id`` claim
(developer.xero.com/documentation/guides/oauth2/auth-flow, "check the tenants you're authorized to
access"); each later call names one in ``xero-tenant-id``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import httpx

from config.logging import register_secret
from config.settings import Settings, get_settings
from providers.errors import AuthenticationError
from providers.http import build_client, raise_for_status, translate_transport_errors
from providers.oauth import OAuthApp, TokenSet
from providers.xero import models
from providers.xero.client import loads

NAME = "Xero"
SCOPES = ("offline_access", "accounting.transactions", "accounting.contacts", "accounting.settings")
#: What writing items takes (``XeroProducts``).
ITEMS_SCOPE = "accounting.settings"
#: Xero refresh tokens expire when unused for 60 days (developer.xero.com/faq/oauth2).
REFRESH_TOKEN_LIFETIME = dt.timedelta(days=60)
CALLBACK_PATH = "/oauth/callback"


def oauth_app(settings: Settings | None = None) -> OAuthApp:
    settings = settings or get_settings()
    secret = settings.xero_client_secret.get_secret_value()
    if secret:
        register_secret(secret)  # never in a log line, whatever prints it
    return OAuthApp(
        name=NAME,
        authorize_url=settings.xero_authorize_url,
        token_url=settings.xero_token_url,
        revoke_url=settings.xero_revocation_url,
        client_id=settings.xero_client_id,
        client_secret=secret,
        scopes=SCOPES,
        redirect_uri=settings.public_url.rstrip("/") + CALLBACK_PATH,
        refresh_token_lifetime=REFRESH_TOKEN_LIFETIME,
    )


def list_tenants(token: TokenSet, *, connections_url: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> list[models.TenantConnection]:
    """The organisations this authorization reaches (Identity API ``GET /connections``)."""
    url = connections_url or get_settings().xero_connections_url
    with build_client(provider="xero", transport=transport) as client, translate_transport_errors(NAME):
        response = client.get(url, headers={"Authorization": f"Bearer {token.access_token}",
                                            "Accept": "application/json"})
    if response.status_code == 401:
        raise AuthenticationError("Xero refused the new access token when listing organisations; reconnect Xero")
    raise_for_status(response, provider=NAME)
    connections = models.parse_list(models.TenantConnection, loads(response.content, what="GET /connections"),
                                    what="GET /connections")
    organisations = [c for c in connections if (c.tenantType or "ORGANISATION") == "ORGANISATION"]
    event = authentication_event(token.access_token)
    this_consent = [c for c in organisations if event and c.authEventId == event]
    return this_consent or organisations


def authentication_event(access_token: str) -> str | None:
    """The ``authentication_event_id`` claim of Xero's access token (a JWT), read without verifying it: it only
    picks among the connections Xero itself just listed for this token."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return None
    event = claims.get("authentication_event_id") if isinstance(claims, dict) else None
    return str(event) if event else None
