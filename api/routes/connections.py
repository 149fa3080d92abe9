"""``/accounting-connections``: connect (validated by a test call), list, get, sync now, disconnect."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from api.auth import OrganizationId
from api.db import DbSession
from api.routes import oauth as oauth_routes
from api.enqueue import EnqueueError, enqueue_disconnect, enqueue_sync
from api.errors import ApiError, body_error_responses, conflict, error_responses, invalid, not_found
from api.schemas.common import MessageResponse
from api.schemas.connections import (
    BusinessInfo,
    ConnectionCreate,
    ConnectionList,
    ConnectionResource,
    ConnectionUpdate,
    ErrorItem,
    RateLimitBudget,
)
from config import get_settings
from config.secrets import Credentials
from models import ACTIVE_STATUSES, AccountingConnection, ConnectionStatus, get_sessionmaker, utcnow
from providers.base import AccountingProvider
from providers.errors import (
    AuthenticationError,
    DataError,
    MalformedAnswer,
    ProviderError,
    RetryableError,
    Unreachable,
)
from providers.http import CallTimedOut, call_deadline
from providers.registry import UnknownPlatformError, platforms, provider_class
from providers.types import ConnectionCheck
from tasks.engine.reconnect import CannotReplace, replace_credentials
from tasks.scheduling import next_slot
from webhooks import emit

# The API never shows credentials, so it never loads (decrypts) them.
NO_CREDENTIALS = defer(AccountingConnection.credentials)

router = APIRouter(
    prefix="/accounting-connections", tags=["Accounting connections"], responses=error_responses(401, 403, 404, 422)
)


def connection_resource(connection: AccountingConnection, *, connection_url: str | None = None) -> ConnectionResource:
    stored = connection.business_info
    business_info = BusinessInfo.model_validate(stored) if stored else None
    return ConnectionResource(
        rate_limit=_rate_limit(connection),
        id=connection.id,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        platform=connection.platform,
        status=ConnectionStatus(connection.status),
        errors=[ErrorItem(message=_error_message(error)) for error in connection.errors or []],
        last_pull=connection.last_pull,
        connection_url=connection_url or "",
        business_info=business_info,
    )


def _rate_limit(connection: AccountingConnection) -> RateLimitBudget | None:
    if connection.status != ConnectionStatus.CONNECTED:
        return None
    try:
        budget = provider_class(connection.platform).rate_limit_budget(connection.settings or {})
    except UnknownPlatformError:
        return None
    if not budget:
        return None
    fields = {name: budget.get(name) for name in RateLimitBudget.model_fields}
    if all(value is None for value in fields.values()):
        return None
    return RateLimitBudget.model_validate(fields)


def _error_message(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("message") or error)
    return str(error)


def active_connection(session: Session, organization_id: uuid.UUID) -> AccountingConnection | None:
    return session.scalar(
        select(AccountingConnection)
        .options(NO_CREDENTIALS)
        .where(
            AccountingConnection.organization_id == organization_id,
            AccountingConnection.status.in_([status.value for status in ACTIVE_STATUSES]),
        )
    )


def owned_connection(session: Session, organization_id: uuid.UUID, connection_id: uuid.UUID) -> AccountingConnection:
    connection = session.get(AccountingConnection, connection_id, options=[NO_CREDENTIALS])
    if connection is None or connection.organization_id != organization_id:
        raise not_found("accounting connection", connection_id)
    return connection


def _already_active(connection: AccountingConnection) -> ApiError:
    return conflict(
        f"the organization already has an active accounting connection: {connection.id} ({connection.platform}, "
        f"{connection.status}); disconnect it first"
    )


def _scrub(message: str, credentials: Mapping[str, Any]) -> str:
    for value in credentials.values():
        if isinstance(value, str) and len(value) >= 3:
            message = message.replace(value, "***")
    return message


#: A person waits on the test call: it ends (503) rather than hang on a server that trickles.
TEST_CALL_SECONDS = 20.0


def _test_call(cls: type[AccountingProvider], settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> ConnectionCheck:
    try:
        with call_deadline(TEST_CALL_SECONDS), cls(settings, Credentials(credentials)) as provider:
            return provider.check()
    except ProviderError as exc:
        raise _test_call_failed(exc, settings, credentials) from None


def _test_call_failed(exc: ProviderError, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> ApiError:
    """The answer to a test call that failed: 422 naming the field to fix, 502 for an accounting system
    that answered wrongly, 503 for one that did not answer."""
    message = _scrub(exc.message, credentials)
    if isinstance(exc, AuthenticationError):
        return invalid("credentials", f"the accounting system refused the credentials ({message})")
    if isinstance(exc, DataError):
        return invalid(_field_of(exc.field, settings, credentials), message)
    if isinstance(exc, MalformedAnswer):
        return ApiError(502, f"the accounting system answered with something booksync cannot read: {message}")
    if isinstance(exc, Unreachable | CallTimedOut):
        # One answer whether the port was closed, dropped the connection or never answered: telling
        # them apart would make this call a port scanner.
        return ApiError(
            503,
            "could not reach the accounting system: no answer came from the server; check the URL and that "
            "the server is running, then try again",
        )
    if isinstance(exc, RetryableError):
        return ApiError(503, f"could not reach the accounting system: {message}; try again later")
    return ApiError(502, f"the accounting system answered with an error: {message}")


def _business_info(check: ConnectionCheck) -> BusinessInfo:
    details = check.details
    return BusinessInfo(
        name=check.organization_name,
        legal_name=details.get("legal_name") or check.organization_name,
        base_currency=details.get("base_currency") or details.get("currency") or None,
        email=details.get("email") or None,
        type=details.get("type") or None,
    )


@router.get("", response_model=ConnectionList, summary="List the organization's connections, newest first")
def list_connections(organization_id: OrganizationId, session: DbSession) -> ConnectionList:
    rows = session.scalars(
        select(AccountingConnection)
        .options(NO_CREDENTIALS)
        .where(AccountingConnection.organization_id == organization_id)
        .order_by(AccountingConnection.created_at.desc(), AccountingConnection.id)
    )
    return ConnectionList(data=[connection_resource(row) for row in rows])


@router.get("/{connection_id}", response_model=ConnectionResource, summary="Get a connection")
def get_connection(connection_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> ConnectionResource:
    connection = owned_connection(session, organization_id, connection_id)
    return connection_resource(connection, connection_url=oauth_routes.consent_url(session, connection))


@router.post(
    "",
    status_code=201,
    response_model=ConnectionResource,
    summary="Connect the organization to its accounting system",
    description="Validates the settings, then (for platforms without OAuth) makes a test call with the "
    "credentials; on success the connection is `connected` and syncs from its next slot. OAuth platforms "
    "answer `pending_auth` with a `connection_url`. One active connection per organization (409 otherwise).",
    responses=body_error_responses(409, 502, 503),
)
def create_connection(
    body: ConnectionCreate, organization_id: OrganizationId, session: DbSession
) -> ConnectionResource:
    active = active_connection(session, organization_id)
    if active is not None:
        raise _already_active(active)
    try:
        cls = provider_class(body.platform)
    except UnknownPlatformError:
        raise invalid("platform", f"unknown platform {body.platform!r}; known: {', '.join(platforms())}") from None
    try:
        cls.validate_settings(body.settings, body.credentials)
    except DataError as exc:
        raise invalid(_field_of(exc.field, body.settings, body.credentials), _scrub(exc.message, body.credentials)) from None
    session.commit()  # no transaction (nor pooled connection) held open across the test call
    connection = AccountingConnection(
        id=uuid.uuid4(),
        organization_id=organization_id,
        platform=body.platform,
        settings=body.settings,
        credentials=body.credentials or None,
        backfill=body.backfill,
        errors=[],
        cursors={},
    )
    connection_url = None
    if cls.uses_oauth:
        connection.status = ConnectionStatus.PENDING_AUTH.value
        connection_url = oauth_routes.begin_consent(connection, cls)
    else:
        check = _test_call(cls, body.settings, body.credentials)
        connection.business_info = _business_info(check).model_dump()
        connection.books_id = check.books_id or None
        connection.settings = {**body.settings, **check.pinned_settings}
        now = utcnow()
        connection.status = ConnectionStatus.CONNECTED.value
        connection.connected_at = now
        connection.next_sync_at = next_slot(connection.id, now, get_settings().sync_period_seconds)
    session.add(connection)
    emit(connection, session)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        active = active_connection(session, organization_id)
        if active is not None:
            raise _already_active(active) from None
        raise
    return connection_resource(connection, connection_url=connection_url)


def _field_of(field: str | None, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> str:
    """Where a provider's complaint points in the request body: ``settings.<name>`` or ``credentials.<name>``."""
    if field is None:
        return "settings"
    if field == "credentials":
        return field
    if field in credentials or field in ("username", "password", "token", "client_secret"):
        return f"credentials.{field}"
    return f"settings.{field}"


@router.patch(
    "/{connection_id}",
    response_model=ConnectionResource,
    summary="Give the connection new credentials",
    description="For a `connected` or `deauthorized` connection whose credentials changed: the new ones are "
    "checked by a test call and must reach the same books (so the connection keeps its synced records and "
    "idempotency keys); the connection is then `connected` and syncs from its next slot. OAuth platforms get "
    "new tokens through their consent flow instead (409).",
    responses=body_error_responses(409, 502, 503),
)
def update_connection(
    connection_id: uuid.UUID, body: ConnectionUpdate, organization_id: OrganizationId, session: DbSession
) -> ConnectionResource:
    connection = owned_connection(session, organization_id, connection_id)
    current_settings = dict(connection.settings or {})
    session.commit()
    try:
        with call_deadline(TEST_CALL_SECONDS):
            updated = replace_credentials(
                get_sessionmaker(), connection_id, body.credentials, body.settings, organization_id=organization_id
            )
    except CannotReplace as exc:
        if exc.conflict:
            raise conflict(_scrub(exc.message, body.credentials)) from None
        raise invalid(exc.field or "credentials", _scrub(exc.message, body.credentials)) from None
    except ProviderError as exc:
        raise _test_call_failed(exc, {**current_settings, **body.settings}, body.credentials) from None
    session.expire_all()
    return connection_resource(owned_connection(session, organization_id, updated.id))


@router.post(
    "/{connection_id}/sync",
    status_code=202,
    response_model=MessageResponse,
    summary="Sync now",
    description="Queues a manual sync (`tasks.sync_connection`) of a connected connection.",
    responses=error_responses(409, 503),
)
def sync_connection(
    connection_id: uuid.UUID,
    organization_id: OrganizationId,
    session: DbSession,
    full_reconcile: Annotated[bool, Query(
        description="Also list every document id in the accounting system to find deletions now, rather than "
        "at the next scheduled full reconcile (booksync extension)."
    )] = False,
) -> MessageResponse:
    connection = owned_connection(session, organization_id, connection_id)
    if connection.status != ConnectionStatus.CONNECTED:
        remedy = "finish its authorization" if connection.status == ConnectionStatus.PENDING_AUTH else "reconnect"
        raise conflict(
            f"accounting connection {connection.id} is {connection.status}; only a connected connection syncs "
            f"({remedy} first)"
        )
    try:
        task_id = enqueue_sync(str(connection.id), full_reconcile=full_reconcile)
    except EnqueueError as exc:
        raise ApiError(503, str(exc)) from None
    what = "full reconcile" if full_reconcile else "sync"
    return MessageResponse(message=f"{what} of accounting connection {connection.id} queued (task {task_id})")


@router.post(
    "/{connection_id}/disconnect",
    response_model=ConnectionResource,
    summary="Disconnect",
    description="Stops syncing at once (status `disconnected`), then revokes access at the provider and "
    "forgets the credentials in the background (`tasks.disconnect_connection`).",
    responses=error_responses(503),
)
def disconnect_connection(
    connection_id: uuid.UUID, organization_id: OrganizationId, session: DbSession
) -> ConnectionResource:
    connection = owned_connection(session, organization_id, connection_id)
    if connection.status != ConnectionStatus.DISCONNECTED:
        emit(connection, session)
        connection.status = ConnectionStatus.DISCONNECTED.value
        connection.next_sync_at = None
        connection.updated_at = utcnow()
        session.commit()
    elif not _holds_credentials(session, connection.id):
        return connection_resource(connection)
    try:
        enqueue_disconnect(str(connection.id))
    except EnqueueError as exc:
        raise ApiError(
            503, f"the connection is disconnected, but revoking its access could not be queued ({exc}); call again"
        ) from None
    return connection_resource(connection)


def _holds_credentials(session: Session, connection_id: uuid.UUID) -> bool:
    query = select(AccountingConnection.id).where(
        AccountingConnection.id == connection_id, AccountingConnection.credentials.is_not(None)
    )
    return session.scalar(query) is not None
