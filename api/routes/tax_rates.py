"""``/accounting-tax-rates``: the active connection's external rates (read-only) and the organization's
internal ones (created, changed and deleted here)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import Session

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import body_error_responses, conflict, error_responses, invalid, not_found
from api.pagination import Position, fetch_page, start_page
from api.routes.connections import active_connection
from api.tax_rates import disagreement, effective_rate
from api.schemas.tax_rates import (
    TaxComponent,
    TaxComponentResource,
    TaxRateCreate,
    TaxRateList,
    TaxRateQuery,
    TaxRateResource,
    TaxRateUpdate,
)
from models import AccountingTaxRate, PayableLineItem, ReceivableLineItem, utcnow

SCOPE = "tax_rates"
Rate = AccountingTaxRate

_LINE_REFERENCES = (
    ("payable", PayableLineItem.payable_id, PayableLineItem.accounting_tax_rate_id),
    ("receivable", ReceivableLineItem.receivable_id, ReceivableLineItem.accounting_tax_rate_id),
)

router = APIRouter(
    prefix="/accounting-tax-rates", tags=["Accounting tax rates"], responses=error_responses(401, 403, 404, 422)
)


def tax_rate_resource(rate: AccountingTaxRate) -> TaxRateResource:
    components = [
        TaxComponentResource(
            name=str(item.get("name", "")), rate=int(item.get("rate", 0)), is_compound=bool(item.get("is_compound"))
        )
        for item in rate.components or []
        if isinstance(item, dict)
    ]
    return TaxRateResource(
        id=rate.id,
        name=rate.name,
        code=rate.code,
        effective_tax_rate=rate.effective_tax_rate,
        total_tax_rate=sum(item.rate for item in components) if components else rate.effective_tax_rate,
        components=components,
        status=rate.status,
        is_external=rate.is_external,
        created_at=rate.created_at,
        updated_at=rate.updated_at,
    )


def _visible(session: Session, organization_id: uuid.UUID) -> ColumnElement[bool]:
    """Internal rates, and external ones of the active connection's books (a disconnected system's are gone)."""
    connection = active_connection(session, organization_id)
    external = Rate.books_id == connection.books if connection is not None else false()
    return (Rate.organization_id == organization_id) & or_(Rate.is_external.is_(False), Rate.is_external & external)


def _statement(session: Session, organization_id: uuid.UUID, query: TaxRateQuery) -> Select[tuple[AccountingTaxRate]]:
    statement = select(Rate).where(_visible(session, organization_id))
    if query.is_external is not None:
        statement = statement.where(Rate.is_external.is_(query.is_external))
    return statement


def _owned(session: Session, organization_id: uuid.UUID, tax_rate_id: uuid.UUID) -> AccountingTaxRate:
    rate = session.scalar(select(Rate).where(Rate.id == tax_rate_id, _visible(session, organization_id)))
    if rate is None:
        raise not_found("tax rate", tax_rate_id)
    return rate


def _check_effective(effective: int, components: list[TaxComponent]) -> None:
    problem = disagreement(effective, components)
    if problem is not None:
        raise invalid("effective_tax_rate", f"{problem}; change both, or leave effective_tax_rate out to compute it")


def _internal(rate: AccountingTaxRate) -> AccountingTaxRate:
    if rate.is_external:
        raise conflict(
            f"tax rate {rate.id} ({rate.name}) is external: external rates come from the accounting system and "
            "change there (the next sync brings the change here)"
        )
    return rate


@router.get("", response_model=TaxRateList, summary="List tax rates, by name")
def list_tax_rates(
    params: Annotated[TaxRateQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> TaxRateList:
    query, request = start_page(params, scope=SCOPE, organization_id=organization_id)
    page = fetch_page(
        session,
        _statement(session, organization_id, query),
        request,
        sort=Rate.name,
        ident=Rate.id,
        descending=query.order == "desc",
        position_of=lambda rate: Position(rate.name, rate.id),
    )
    return TaxRateList(
        data=[tax_rate_resource(rate) for rate in page.rows],
        next_pagination_token=page.next_token,
        prev_pagination_token=page.prev_token,
    )


@router.get("/{tax_rate_id}", response_model=TaxRateResource, summary="Get a tax rate")
def get_tax_rate(tax_rate_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> TaxRateResource:
    return tax_rate_resource(_owned(session, organization_id, tax_rate_id))


@router.post(
    "",
    status_code=201,
    response_model=TaxRateResource,
    summary="Create an internal tax rate",
    responses=body_error_responses(),
)
def create_tax_rate(body: TaxRateCreate, organization_id: OrganizationId, session: DbSession) -> TaxRateResource:
    effective = body.effective_tax_rate
    if effective is None:
        if not body.components:
            raise invalid("effective_tax_rate", "field required (unless components are given)")
        effective = effective_rate(body.components)
    else:
        _check_effective(effective, body.components)
    now = utcnow()
    rate = Rate(
        id=uuid.uuid4(),
        organization_id=organization_id,
        connection_id=None,
        is_external=False,
        platform_id=None,
        name=body.name,
        code=body.code,
        effective_tax_rate=effective,
        components=[component.model_dump() for component in body.components],
        status="active",
        created_at=now,
        updated_at=now,
    )
    session.add(rate)
    session.commit()
    return tax_rate_resource(rate)


@router.patch(
    "/{tax_rate_id}",
    response_model=TaxRateResource,
    summary="Change an internal tax rate",
    responses=body_error_responses(409),
)
def update_tax_rate(
    tax_rate_id: uuid.UUID, body: TaxRateUpdate, organization_id: OrganizationId, session: DbSession
) -> TaxRateResource:
    rate = _internal(_owned(session, organization_id, tax_rate_id))
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "effective_tax_rate", "components"):
        if name in changes and changes[name] is None:
            raise invalid(name, "may not be null")
    if "components" in changes:
        changes["components"] = [component.model_dump() for component in body.components or []]
        if "effective_tax_rate" not in changes and body.components:
            changes["effective_tax_rate"] = effective_rate(body.components)
    components = [
        TaxComponent.model_validate(item) for item in changes.get("components", rate.components or [])
        if isinstance(item, dict)
    ]
    _check_effective(changes.get("effective_tax_rate", rate.effective_tax_rate), components)
    changed = {name: value for name, value in changes.items() if getattr(rate, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(rate, name, value)
        rate.updated_at = utcnow()
        session.commit()
    return tax_rate_resource(rate)


@router.delete(
    "/{tax_rate_id}",
    status_code=204,
    response_class=Response,
    summary="Delete an internal tax rate",
    responses=error_responses(409),
)
def delete_tax_rate(tax_rate_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> Response:
    rate = _internal(_owned(session, organization_id, tax_rate_id))
    for owner, parent, reference in _LINE_REFERENCES:
        user = session.scalar(select(parent).where(reference == rate.id).limit(1))
        if user is not None:
            raise conflict(f"tax rate {rate.id} is used by {owner} {user}; change the documents that use it first")
    session.delete(rate)
    session.commit()
    return Response(status_code=204)
