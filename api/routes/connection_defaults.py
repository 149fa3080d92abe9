"""``/accounting-connections/{id}/defaults``: the organization's push defaults, read and changed without
credentials or a call to the accounting system (``tasks.engine.defaults``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import body_error_responses, conflict, error_responses, invalid
from api.routes.connections import owned_connection
from api.schemas.connections import ConnectionDefaults, ConnectionDefaultsUpdate
from models import AccountingConnection, ConnectionStatus, PushDefaults
from tasks.engine.defaults import DefaultsError, change_defaults

router = APIRouter(
    prefix="/accounting-connections", tags=["Accounting connections"], responses=error_responses(401, 403, 404, 422)
)


def defaults_resource(defaults: PushDefaults) -> ConnectionDefaults:
    return ConnectionDefaults(
        payment_ledger_account_id=defaults.payment_ledger_account_id,
        product_ledger_account_id=defaults.product_ledger_account_id,
    )


@router.get(
    "/{connection_id}/defaults",
    response_model=ConnectionDefaults,
    summary="The connection's push defaults",
    description="The ledger account payments are pushed to and the one products without their own are sold with "
    "(booksync's ids, `GET /ledger-accounts`); a default not set is left out (booksync extension).",
)
def get_defaults(connection_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> ConnectionDefaults:
    return defaults_resource(owned_connection(session, organization_id, connection_id).push_defaults)


@router.patch(
    "/{connection_id}/defaults",
    response_model=ConnectionDefaults,
    summary="Change the connection's push defaults",
    description="Only the fields sent change (`null` clears one). An id must be a ledger account of the "
    "connection's books that is not archived (`GET /ledger-accounts`). Needs no credentials and makes no call to "
    "the accounting system; applies to the next push, what was pushed stays. 409 for a disconnected connection "
    "(booksync extension).",
    responses=body_error_responses(409),
)
def patch_defaults(
    connection_id: uuid.UUID, body: ConnectionDefaultsUpdate, organization_id: OrganizationId, session: DbSession
) -> ConnectionDefaults:
    connection: AccountingConnection = owned_connection(session, organization_id, connection_id)
    if connection.status == ConnectionStatus.DISCONNECTED:
        raise conflict(f"accounting connection {connection.id} is disconnected; its defaults no longer apply")
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    try:
        defaults = change_defaults(session, connection, changes)
    except DefaultsError as exc:
        raise invalid(exc.field, exc.message) from None
    session.commit()
    return defaults_resource(defaults)
