"""``/accounting-connections``: connect (validated by a test call), list, get, sync now, disconnect."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from api.auth import OrganizationId
from api.db import DbSession
from api.enqueue import EnqueueError, enqueue_disconnect, enqueue_sync
from api.errors import ApiError, body_error_responses, conflict, error_responses, invalid, not_found
from api.schemas.common import MessageResponse
from api.schemas.connections import BusinessInfo, ConnectionCreate, ConnectionList, ConnectionResource, ErrorItem
from config import get_settings
from config.secrets import Credentials
from models import ACTIVE_STATUSES, AccountingConnection, ConnectionStatus, utcnow
from providers.base import AccountingProvider
from providers.errors import AuthenticationError, DataError, ProviderError, RetryableError
from providers.registry import UnknownPlatformError, platforms, provider_class
from providers.types import ConnectionCheck
from tasks.scheduling import next_slot

# The API never shows credentials, so it never loads (decrypts) them.
NO_CREDENTIALS = defer(AccountingConnection.credentials)

router = APIRouter(
    prefix="/accounting-connections", tags=["Accounting connections"], responses=error_responses(401, 403, 404, 422)
)


def connection_resource(connection: AccountingConnection, *, connection_url: str | None = None) -> ConnectionResource:
    stored = connection.business_info
    business_info = BusinessInfo.model_validate(stored) if stored else None
    return ConnectionResource(
        id=connection.id,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        platform=connection.platform,
        status=ConnectionStatus(connection.status),
        errors=[ErrorItem(message=_error_message(error)) for error in connection.errors or []],
        last_pull=connection.last_pull,
        connection_url=connection_url,
        business_info=business_info,
    )


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


def _test_call(cls: type[AccountingProvider], body: ConnectionCreate) -> ConnectionCheck:
    try:
        with cls(body.settings, Credentials(body.credentials)) as provider:
            return provider.check()
    except AuthenticationError as exc:
        raise invalid(
            "credentials",
            f"the accounting system refused the credentials ({_scrub(exc.message, body.credentials)})",
        ) from None
    except DataError as exc:
        raise invalid(exc.field or "settings", _scrub(exc.message, body.credentials)) from None
    except RetryableError as exc:
        raise ApiError(
            503,
            f"could not reach the accounting system: {_scrub(exc.message, body.credentials)}; try again later",
        ) from None
    except ProviderError as exc:
        raise ApiError(
            502, f"the accounting system answered with an error: {_scrub(exc.message, body.credentials)}"
        ) from None


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
    return connection_resource(owned_connection(session, organization_id, connection_id))


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
        raise invalid(_settings_field(exc.field, body), _scrub(exc.message, body.credentials)) from None
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
    if cls.uses_oauth:
        connection.status = ConnectionStatus.PENDING_AUTH.value
    else:
        connection.business_info = _business_info(_test_call(cls, body)).model_dump()
        now = utcnow()
        connection.status = ConnectionStatus.CONNECTED.value
        connection.connected_at = now
        connection.next_sync_at = next_slot(connection.id, now, get_settings().sync_period_seconds)
    session.add(connection)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        active = active_connection(session, organization_id)
        if active is not None:
            raise _already_active(active) from None
        raise
    return connection_resource(connection)


def _settings_field(field: str | None, body: ConnectionCreate) -> str:
    if field is None:
        return "settings"
    if field in body.credentials or field in ("username", "password", "token", "client_secret"):
        return f"credentials.{field}"
    return f"settings.{field}"


@router.post(
    "/{connection_id}/sync",
    status_code=202,
    response_model=MessageResponse,
    summary="Sync now",
    description="Queues a manual sync (`tasks.sync_connection`) of a connected connection.",
    responses=error_responses(409, 503),
)
def sync_connection(connection_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> MessageResponse:
    connection = owned_connection(session, organization_id, connection_id)
    if connection.status != ConnectionStatus.CONNECTED:
        remedy = "finish its authorization" if connection.status == ConnectionStatus.PENDING_AUTH else "reconnect"
        raise conflict(
            f"accounting connection {connection.id} is {connection.status}; only a connected connection syncs "
            f"({remedy} first)"
        )
    try:
        task_id = enqueue_sync(str(connection.id))
    except EnqueueError as exc:
        raise ApiError(503, str(exc)) from None
    return MessageResponse(message=f"sync of accounting connection {connection.id} queued (task {task_id})")


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
