"""``/counterparts``, ``/payables``, ``/receivables``: the platform's own documents, PUT by its ids
(through ``api.intake``: idempotent, validated; 201 created, 200 updated or unchanged)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import ApiError, ErrorDetail, body_error_responses, error_responses, not_found
from api.intake import (
    IntakeConflictError,
    IntakeError,
    IntakeNotFoundError,
    UpsertResult,
    upsert_counterpart,
    upsert_payable,
    upsert_receivable,
)
from api.pagination import Position, fetch_page, start_page
from api.schemas.common import RequestModel
from api.schemas.intake import (
    CounterpartIn,
    CounterpartList,
    CounterpartResource,
    LineItemResource,
    PayableIn,
    PayableList,
    PayableResource,
    ReceivableIn,
    ReceivableList,
    ReceivableResource,
)
from models import Counterpart, Payable, Receivable

router = APIRouter(tags=["Documents intake"], responses=error_responses(401, 403, 404, 422))

T = TypeVar("T")
Model = TypeVar("Model", Counterpart, Payable, Receivable)


class IntakeListQuery(RequestModel):
    order: Literal["asc", "desc"] = "asc"
    limit: Annotated[int, Field(ge=1, le=250)] = 100
    pagination_token: str | None = None


def counterpart_resource(row: Counterpart) -> CounterpartResource:
    return CounterpartResource(
        id=row.id,
        name=row.name,
        type=row.type,
        email=row.email,
        tax_id=row.tax_id,
        is_customer=row.is_customer,
        is_vendor=row.is_vendor,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _document_fields(row: Payable | Receivable) -> dict[str, Any]:
    return {
        "id": row.id,
        "counterpart_id": row.counterpart_id,
        "document_number": row.document_number,
        "currency": row.currency,
        "status": row.status,
        "issue_date": row.issue_date,
        "due_date": row.due_date,
        "memo": row.memo,
        "subtotal": row.subtotal,
        "tax_amount": row.tax_amount,
        "total_amount": row.total_amount,
        "line_items": [
            LineItemResource.model_validate(line, from_attributes=True)
            for line in sorted(row.lines, key=lambda item: item.position)
        ],
        "eligible_at": row.eligible_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def payable_resource(row: Payable) -> PayableResource:
    return PayableResource(**_document_fields(row))


def receivable_resource(row: Receivable) -> ReceivableResource:
    return ReceivableResource(**_document_fields(row))


def _apply(session: Session, response: Response, upsert: Callable[[], UpsertResult[T]]) -> T:
    try:
        result = upsert()
    except IntakeError as exc:
        raise ApiError(
            422, str(exc), details=[ErrorDetail(field=field, message=message) for field, message in exc.details]
        ) from None
    except IntakeNotFoundError as exc:
        raise ApiError(404, str(exc)) from None
    except IntakeConflictError as exc:
        raise ApiError(409, str(exc)) from None
    if result.changed:
        session.commit()
    response.status_code = 201 if result.created else 200
    return result.object


def _owned(session: Session, model: type[Model], organization_id: uuid.UUID, object_id: uuid.UUID) -> Model:
    row = session.get(model, object_id)
    if row is None or row.organization_id != organization_id:
        raise not_found(model.__name__.lower(), object_id)
    return row


def _list(
    session: Session, model: type[Model], scope: str, organization_id: uuid.UUID, params: IntakeListQuery
) -> tuple[list[Model], str | None, str | None]:
    query, request = start_page(params, scope=scope, organization_id=organization_id)
    page = fetch_page(
        session,
        select(model).where(model.organization_id == organization_id),
        request,
        sort=model.updated_at,
        ident=model.id,
        descending=query.order == "desc",
        position_of=lambda row: Position(row.updated_at, row.id),
    )
    return page.rows, page.next_token, page.prev_token


_PUT_RESPONSES: dict[int | str, dict[str, Any]] = body_error_responses(409)

# -- counterparts ------------------------------------------------------------------------------


@router.put(
    "/counterparts/{counterpart_id}",
    response_model=CounterpartResource,
    summary="Create or update a counterpart (a customer and/or vendor)",
    description="By the platform's id. The same body again changes nothing (200); a change marks the "
    "counterpart's synced records pending. 201 when created.",
    responses={201: {"model": CounterpartResource, "description": "Created"}, **_PUT_RESPONSES},
)
def put_counterpart(
    counterpart_id: uuid.UUID,
    body: CounterpartIn,
    response: Response,
    organization_id: OrganizationId,
    session: DbSession,
) -> CounterpartResource:
    row = _apply(session, response, lambda: upsert_counterpart(session, organization_id, counterpart_id, body))
    return counterpart_resource(row)


@router.get("/counterparts/{counterpart_id}", response_model=CounterpartResource, summary="Get a counterpart")
def get_counterpart(
    counterpart_id: uuid.UUID, organization_id: OrganizationId, session: DbSession
) -> CounterpartResource:
    return counterpart_resource(_owned(session, Counterpart, organization_id, counterpart_id))


@router.get("/counterparts", response_model=CounterpartList, summary="List counterparts, by last change")
def list_counterparts(
    params: Annotated[IntakeListQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> CounterpartList:
    rows, next_token, prev_token = _list(session, Counterpart, "counterparts", organization_id, params)
    return CounterpartList(
        data=[counterpart_resource(row) for row in rows],
        next_pagination_token=next_token,
        prev_pagination_token=prev_token,
    )


# -- payables ----------------------------------------------------------------------------------


@router.put(
    "/payables/{payable_id}",
    response_model=PayableResource,
    summary="Create or update a payable (bill)",
    description="By the platform's id. Amounts are integers in minor units of the currency (12.50 EUR is 1250), "
    "as the platform's documents are (`GET /accounting/payables` shows the accounting system's bills as numbers in "
    "the currency instead), and must add up (line total = round(quantity × unit_price), subtotal = sum of line "
    "totals, total_amount = subtotal + tax_amount). A line's `ledger_account_id` is an id `GET /ledger-accounts` "
    "gives. Pushed from `waiting_to_be_paid` on. The same body again changes nothing (200); 201 when created.",
    responses={201: {"model": PayableResource, "description": "Created"}, **_PUT_RESPONSES},
)
def put_payable(
    payable_id: uuid.UUID, body: PayableIn, response: Response, organization_id: OrganizationId, session: DbSession
) -> PayableResource:
    row = _apply(session, response, lambda: upsert_payable(session, organization_id, payable_id, body))
    return payable_resource(row)


@router.get("/payables/{payable_id}", response_model=PayableResource, summary="Get a payable")
def get_payable(payable_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> PayableResource:
    return payable_resource(_owned(session, Payable, organization_id, payable_id))


@router.get("/payables", response_model=PayableList, summary="List payables, by last change")
def list_payables(
    params: Annotated[IntakeListQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> PayableList:
    rows, next_token, prev_token = _list(session, Payable, "payables", organization_id, params)
    return PayableList(
        data=[payable_resource(row) for row in rows], next_pagination_token=next_token, prev_pagination_token=prev_token
    )


# -- receivables -------------------------------------------------------------------------------


@router.put(
    "/receivables/{receivable_id}",
    response_model=ReceivableResource,
    summary="Create or update a receivable (invoice)",
    description="By the platform's id. Amounts are integers in minor units of the currency (12.50 EUR is 1250), "
    "as the platform's documents are (`GET /accounting/receivables` shows the accounting system's invoices as "
    "numbers in the currency instead), and must add up (line total = round(quantity × unit_price), subtotal = sum "
    "of line totals, total_amount = subtotal + tax_amount). A line's `ledger_account_id` is an id "
    "`GET /ledger-accounts` gives. Pushed from `issued` on. The same body again changes nothing (200); 201 when "
    "created.",
    responses={201: {"model": ReceivableResource, "description": "Created"}, **_PUT_RESPONSES},
)
def put_receivable(
    receivable_id: uuid.UUID,
    body: ReceivableIn,
    response: Response,
    organization_id: OrganizationId,
    session: DbSession,
) -> ReceivableResource:
    row = _apply(session, response, lambda: upsert_receivable(session, organization_id, receivable_id, body))
    return receivable_resource(row)


@router.get("/receivables/{receivable_id}", response_model=ReceivableResource, summary="Get a receivable")
def get_receivable(receivable_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> ReceivableResource:
    return receivable_resource(_owned(session, Receivable, organization_id, receivable_id))


@router.get("/receivables", response_model=ReceivableList, summary="List receivables, by last change")
def list_receivables(
    params: Annotated[IntakeListQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> ReceivableList:
    rows, next_token, prev_token = _list(session, Receivable, "receivables", organization_id, params)
    return ReceivableList(
        data=[receivable_resource(row) for row in rows],
        next_pagination_token=next_token,
        prev_pagination_token=prev_token,
    )
