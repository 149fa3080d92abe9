"""The OAuth connect flow: ``connection_url`` for a new connection, the public callback, the tenant choice.

1. ``POST /accounting-connections {"platform": "xero"}`` answers ``pending_auth`` with ``connection_url``:
   the platform's authorize URL with booksync's scopes and a signed, single-use, expiring ``state``
   (``api.oauth_state``) bound to the organization and the connection (``begin_consent``).
2. The person consents; the platform sends their browser to ``GET /oauth/callback?code=…&state=…``
   (``BOOKSYNC_PUBLIC_URL`` + ``/oauth/callback``; no API key: a browser lands there). The state is checked
   and consumed, the code exchanged for tokens with no database transaction open, the tokens stored
   encrypted, and the books the consent reached are listed (by the platform, from the tokens and the rest of
   the redirect's query: QuickBooks names its company there, ``realmId``).
3. One set of books: the connection is finished at once (a test call fills ``business_info`` and
   ``books_id``, the status becomes ``connected``, the first sync is scheduled). Several: they are kept in
   ``pending_tenants`` and the page says how the organization chooses:
   ``POST /accounting-connections/{id}/tenant {"tenant_id": …}`` with its API key.

A forged, replayed or expired state is refused with a page saying so, and nothing changes.
"""

from __future__ import annotations

import html
import json
import uuid
from typing import Any, cast

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from sqlalchemy import update
from sqlalchemy.orm import Session

from api import oauth_state
from api.auth import OrganizationId
from api.db import DbSession
from api.errors import ApiError, body_error_responses, conflict, error_responses, invalid
from api.oauth_state import StateRefused
from api.schemas.common import RequestModel
from api.schemas.connections import BusinessInfo, ConnectionResource
from config import get_settings
from config.logging import register_secret
from config.secrets import Credentials
from models import AccountingConnection, ConnectionStatus, utcnow
from providers import oauth
from providers.base import AccountingProvider
from providers.errors import AuthenticationError, ProviderError, RetryableError
from providers.oauth import OAuthPlatform, Tenant
from providers.registry import provider_class
from tasks.engine.credentials import DatabaseCredentialStore
from tasks.scheduling import next_slot
from webhooks import emit

log = structlog.get_logger(__name__)

CALLBACK_PATH = "/oauth/callback"
#: Where a pending connection keeps its consent link's state (in the encrypted credentials, until tokens).
STATE_FIELD = "oauth_state"

callback_router = APIRouter(tags=["OAuth"])
router = APIRouter(prefix="/accounting-connections", tags=["Accounting connections"],
                   responses=error_responses(401, 403, 404, 422))


def _platform(connection: AccountingConnection) -> type[AccountingProvider]:
    return provider_class(connection.platform)


def _oauth(cls: type[AccountingProvider]) -> OAuthPlatform:
    return cast(OAuthPlatform, cls)


# -- the consent link ---------------------------------------------------------------------------------


def begin_consent(connection: AccountingConnection, cls: type[AccountingProvider]) -> str:
    """A fresh consent link for ``connection`` (not committed here): its state's nonce hash is stored.

    503 when booksync has no app registered with the platform (client id and secret unset)."""
    token, state = oauth_state.issue(connection.organization_id, connection.id)
    try:
        url = oauth.authorization_url(_oauth(cls).oauth_app(), token)
    except ProviderError as exc:
        raise ApiError(503, f"{exc.message}; the operator sets it, then try again") from None
    connection.oauth_state_hash = state.nonce_hash
    connection.credentials = {STATE_FIELD: token}
    return url


def consent_url(session: Session, connection: AccountingConnection) -> str | None:
    """The link a pending connection shows (``GET /accounting-connections/{id}``); a new one once the last
    expired or was used."""
    cls = _platform(connection)
    if not cls.uses_oauth or connection.status != ConnectionStatus.PENDING_AUTH or connection.pending_tenants:
        return None
    token = (connection.credentials or {}).get(STATE_FIELD)
    try:
        if token and connection.oauth_state_hash and oauth_state.read(token).nonce_hash == connection.oauth_state_hash:
            return oauth.authorization_url(_oauth(cls).oauth_app(), token)
        url = begin_consent(connection, cls)
    except StateRefused:
        url = begin_consent(connection, cls)
    except (ProviderError, ApiError):
        return None  # no app configured: nothing to consent to yet
    connection.updated_at = utcnow()
    session.commit()
    return url


# -- the callback -------------------------------------------------------------------------------------


def _page(status: int, title: str, *paragraphs: str, code: str | None = None) -> HTMLResponse:
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)
    if code:
        body += f"<pre>{html.escape(code)}</pre>"
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>booksync | {html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>", status)


@callback_router.get(
    # A page for a browser, not an API operation (no API key, HTML): left out of the OpenAPI document.
    CALLBACK_PATH, response_class=HTMLResponse, include_in_schema=False,
)
def oauth_callback(
    session: DbSession,
    request: Request,
    state: str = Query(default=""),
    code: str | None = Query(default=None),
    error: str | None = Query(default=None),
    error_description: str | None = Query(default=None),
) -> HTMLResponse:
    try:
        consent = oauth_state.read(state)
    except StateRefused as refused:
        log.info("oauth.state_refused", reason=refused.reason)
        return _page(400, "This link cannot be used", refused.message)
    consumed = session.execute(
        update(AccountingConnection)
        .where(
            AccountingConnection.id == consent.connection_id,
            AccountingConnection.organization_id == consent.organization_id,
            AccountingConnection.status == ConnectionStatus.PENDING_AUTH.value,
            AccountingConnection.oauth_state_hash == consent.nonce_hash,
        )
        .values(oauth_state_hash=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()  # the state is used up before anything slow happens; no transaction stays open
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        log.info("oauth.state_refused", reason="used", connection_id=str(consent.connection_id))
        return _page(400, "This link was already used",
                     "This consent link has been used already, or the connection no longer waits for consent. "
                     "Nothing was changed. If the connection is not connected yet, ask booksync for it again "
                     f"(GET /accounting-connections/{consent.connection_id}) to get a fresh link.")
    connection = session.get(AccountingConnection, consent.connection_id)
    assert connection is not None
    cls = _platform(connection)
    platform = _oauth(cls).oauth_app().name
    session.commit()
    if error or not code:
        log.info("oauth.consent_declined", connection_id=str(connection.id), error=error)
        return _page(400, f"{platform} was not connected",
                     f"{platform} answered: {error or 'no authorization code'}"
                     + (f" ({error_description})" if error_description else "") + ".",
                     "Nothing was connected. To try again, ask booksync for the connection "
                     f"(GET /accounting-connections/{connection.id}) and open its new connection_url.")
    try:
        token = oauth.exchange_code(_oauth(cls).oauth_app(), code)
        register_secret(*token.to_credentials().secret_values())
        callback = {key: value for key, value in request.query_params.items()
                    if key not in ("code", "state", "error", "error_description")}
        tenants = _oauth(cls).oauth_tenants(token, callback)
    except ProviderError as exc:
        log.warning("oauth.exchange_failed", connection_id=str(connection.id), error=exc.message)
        return _page(502, f"{platform} could not be connected", exc.message,
                     f"Ask booksync for the connection again (GET /accounting-connections/{connection.id}) "
                     "to get a fresh link.")
    connection = session.get(AccountingConnection, consent.connection_id)
    assert connection is not None
    connection.credentials = token.to_credentials().reveal()
    connection.pending_tenants = [{"tenant_id": t.id, "name": t.name} for t in tenants] if len(tenants) > 1 else None
    connection.updated_at = utcnow()
    session.commit()
    if not tenants:
        return _page(400, f"No {platform} organisation was connected",
                     f"The consent did not include any organisation. Ask booksync for the connection again "
                     f"(GET /accounting-connections/{connection.id}) and tick an organisation on {platform}'s page.")
    if len(tenants) > 1:
        choices = "\n".join(f"  {t.id}  {t.name}" for t in tenants)
        example = json.dumps({"tenant_id": tenants[0].id})
        return _page(
            200, f"Choose the {platform} organisation",
            f"You connected {len(tenants)} {platform} organisations; booksync keeps one organization's books in "
            "one of them. Your organization chooses which, with its API key:",
            f"POST /accounting-connections/{connection.id}/tenant with a body such as {example}. The organisations:",
            code=choices,
        )
    try:
        connection = finish_connection(session, connection.id, tenants[0])
    except ApiError as exc:
        return _page(exc.status_code if exc.status_code >= 400 else 502, f"{platform} could not be connected",
                     exc.message)
    name = (connection.business_info or {}).get("name") or tenants[0].name
    return _page(200, f"{platform} is connected",
                 f"booksync is now connected to {name}. You can close this page; the first sync starts soon.")


# -- finishing ---------------------------------------------------------------------------------------


def finish_connection(session: Session, connection_id: uuid.UUID, tenant: Tenant) -> AccountingConnection:
    """Pin the connection to ``tenant``, test it (no transaction open meanwhile), and mark it connected."""
    connection = session.get(AccountingConnection, connection_id)
    assert connection is not None
    cls = _platform(connection)
    settings = {**(connection.settings or {}), **_oauth(cls).oauth_settings(tenant)}
    credentials = Credentials(connection.credentials or {})
    session.commit()
    try:
        with cls(settings, credentials, credential_store=DatabaseCredentialStore(connection_id)) as provider:
            check = provider.check()
    except AuthenticationError as exc:
        raise invalid("tenant_id", f"the accounting system refused access to that organisation ({exc.message})") \
            from None
    except RetryableError as exc:
        raise ApiError(503, f"could not reach the accounting system: {exc.message}; try again later") from None
    except ProviderError as exc:
        raise ApiError(502, f"the accounting system answered with an error: {exc.message}") from None
    connection = session.get(AccountingConnection, connection_id)
    assert connection is not None
    now = utcnow()
    details = check.details
    connection.settings = {**settings, **check.pinned_settings}
    connection.books_id = check.books_id or None
    connection.business_info = BusinessInfo(
        name=check.organization_name,
        legal_name=details.get("legal_name") or check.organization_name,
        base_currency=details.get("base_currency") or None,
        email=details.get("email") or None,
        type=details.get("type") or None,
    ).model_dump()
    emit(connection, session)
    connection.status = ConnectionStatus.CONNECTED.value
    connection.pending_tenants = None
    connection.oauth_state_hash = None
    connection.errors = []
    connection.connected_at = now
    connection.next_sync_at = next_slot(connection.id, now, get_settings().sync_period_seconds)
    connection.updated_at = now
    session.commit()
    log.info("oauth.connected", connection_id=str(connection.id), books_id=connection.books_id)
    return connection


class TenantChoice(RequestModel):
    tenant_id: str = Field(min_length=1, max_length=64, description="One of the consent's organisations.")


@router.post(
    "/{connection_id}/tenant",
    response_model=ConnectionResource,
    summary="Choose which of the consented organisations the connection keeps books in",
    description="For a `pending_auth` OAuth connection whose consent reached several organisations "
    "(the callback page lists them): pins the connection to one, tests it and marks it `connected`.",
    responses=body_error_responses(409, 502, 503),
)
def choose_tenant(
    connection_id: uuid.UUID, body: TenantChoice, organization_id: OrganizationId, session: DbSession
) -> ConnectionResource:
    from api.routes.connections import connection_resource, owned_connection

    connection = owned_connection(session, organization_id, connection_id)
    pending: list[dict[str, Any]] = list(connection.pending_tenants or [])
    if connection.status != ConnectionStatus.PENDING_AUTH or not pending:
        raise conflict(f"accounting connection {connection.id} has no organisations to choose from "
                       f"(it is {connection.status})")
    chosen = next((t for t in pending if str(t.get("tenant_id")).lower() == body.tenant_id.lower()), None)
    if chosen is None:
        known = ", ".join(f"{t.get('tenant_id')} ({t.get('name')})" for t in pending)
        raise invalid("tenant_id", f"is not one of the consented organisations: {known}")
    finished = finish_connection(session, connection.id, Tenant(str(chosen["tenant_id"]), str(chosen.get("name"))))
    return connection_resource(finished)


__all__ = ["begin_consent", "callback_router", "consent_url", "finish_connection", "router"]
