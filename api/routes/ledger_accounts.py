"""``/ledger-accounts``: the active connection's chart of accounts as of the last pull."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import error_responses, not_found
from api.pagination import Position, fetch_page, start_page
from api.routes.connections import active_connection
from api.currencies import REFERENCE_CURRENCY_CODES
from api.schemas.ledger_accounts import (
    LedgerAccountList,
    LedgerAccountQuery,
    LedgerAccountResource,
    LedgerAccountStatus,
    LedgerAccountType,
)
from models import LedgerAccount

SCOPE = "ledger_accounts"

router = APIRouter(prefix="/ledger-accounts", tags=["Ledger accounts"], responses=error_responses(401, 403, 404, 422))


_STATUSES = {status.value.lower(): status for status in LedgerAccountStatus}
_TYPES = {kind.value.lower(): kind for kind in LedgerAccountType}


def ledger_account_resource(account: LedgerAccount) -> LedgerAccountResource:
    currency = account.currency if account.currency in REFERENCE_CURRENCY_CODES else None
    return LedgerAccountResource(
        id=account.id,
        name=account.name,
        nominal_code=account.nominal_code,
        type=_TYPES.get((account.type or "").lower(), LedgerAccountType.UNKNOWN),
        subtype=account.subtype,
        status=_STATUSES.get((account.status or "").lower(), LedgerAccountStatus.UNKNOWN),
        currency=currency,
        description=account.description,
        is_bank_account=account.is_bank_account,
        current_balance=account.current_balance,
    )


@router.get("", response_model=LedgerAccountList, summary="List ledger accounts, by name")
def list_ledger_accounts(
    params: Annotated[LedgerAccountQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> LedgerAccountList:
    query, request = start_page(params, scope=SCOPE, organization_id=organization_id)
    connection = active_connection(session, organization_id)
    if connection is None:
        return LedgerAccountList(data=[])
    statement = select(LedgerAccount).where(
        LedgerAccount.organization_id == organization_id, LedgerAccount.books_id == connection.books
    )
    page = fetch_page(
        session,
        statement,
        request,
        sort=LedgerAccount.name,
        ident=LedgerAccount.id,
        descending=query.order == "desc",
        position_of=lambda account: Position(account.name, account.id),
    )
    return LedgerAccountList(
        data=[ledger_account_resource(account) for account in page.rows],
        next_pagination_token=page.next_token,
        prev_pagination_token=page.prev_token,
    )


@router.get("/{ledger_account_id}", response_model=LedgerAccountResource, summary="Get a ledger account")
def get_ledger_account(
    ledger_account_id: uuid.UUID, organization_id: OrganizationId, session: DbSession
) -> LedgerAccountResource:
    connection = active_connection(session, organization_id)
    account = session.get(LedgerAccount, ledger_account_id)
    if account is None or connection is None or account.organization_id != organization_id or account.books_id != connection.books:
        raise not_found("ledger account", ledger_account_id)
    return ledger_account_resource(account)
