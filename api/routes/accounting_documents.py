"""``/accounting/payables`` and ``/accounting/receivables``: what the last pull stored, by the accounting
system's ids, for the organization's active connection (none: an empty list)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import error_responses, not_found
from api.routes.connections import active_connection
from api.schemas.accounting_documents import (
    AccountingLineItem,
    AccountingPayable,
    AccountingPayableList,
    AccountingReceivable,
    AccountingReceivableList,
    CustomerRef,
    DocumentQuery,
    TaxRateRef,
    VendorRef,
)
from models import AccountingDocument

router = APIRouter(prefix="/accounting", tags=["Accounting data pull"], responses=error_responses(401, 403, 404, 422))

PlatformId = Annotated[str, Path(max_length=128, description="The document's id in the accounting system.")]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return float(number) if number.is_finite() else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _line(raw: Any) -> AccountingLineItem:
    line: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    tax_rate_id = line.get("tax_rate_platform_id")
    return AccountingLineItem(
        description=_str(line.get("description")),
        quantity=_float(line.get("quantity")),
        unit_amount=_int(line.get("unit_price")),
        total_amount=_int(line.get("total")),
        tax_rate_value=_int(line.get("tax_rate_value")),
        tax_rate_ref=TaxRateRef(id=str(tax_rate_id)) if tax_rate_id is not None else None,
        ledger_account_id=_str(line.get("ledger_account_id")),
    )


def _common(document: AccountingDocument) -> dict[str, Any]:
    return {
        "id": document.platform_id,
        "invoice_number": document.document_number,
        "reference": document.reference,
        "currency": document.currency,
        "status": document.status,
        "subtotal": document.subtotal,
        "tax_amount": document.tax_amount,
        "total_amount": document.total_amount,
        "amount_due": document.amount_due,
        "posted_date": document.issue_date,
        "due_date": document.due_date,
        "memo": document.memo,
        "lines": [_line(line) for line in document.lines or []],
    }


def payable_resource(document: AccountingDocument) -> AccountingPayable:
    vendor = (
        VendorRef(id=document.counterpart_platform_id, name=document.counterpart_name)
        if document.counterpart_platform_id is not None
        else None
    )
    return AccountingPayable(**_common(document), vendor_ref=vendor)


def receivable_resource(document: AccountingDocument) -> AccountingReceivable:
    customer = (
        CustomerRef(id=document.counterpart_platform_id, company_name=document.counterpart_name)
        if document.counterpart_platform_id is not None
        else None
    )
    return AccountingReceivable(**_common(document), customer_ref=customer)


def _documents(
    session: Session, organization_id: uuid.UUID, kind: str, query: DocumentQuery
) -> list[AccountingDocument]:
    connection = active_connection(session, organization_id)
    if connection is None:
        return []
    return list(
        session.scalars(
            select(AccountingDocument)
            .where(
                AccountingDocument.connection_id == connection.id,
                AccountingDocument.kind == kind,
                AccountingDocument.deleted_at.is_(None),
            )
            .order_by(AccountingDocument.platform_id)
            .limit(query.limit)
            .offset(query.offset)
        )
    )


def _document(session: Session, organization_id: uuid.UUID, kind: str, platform_id: str) -> AccountingDocument:
    connection = active_connection(session, organization_id)
    document = None
    if connection is not None and "\x00" not in platform_id:
        document = session.scalar(
            select(AccountingDocument).where(
                AccountingDocument.connection_id == connection.id,
                AccountingDocument.kind == kind,
                AccountingDocument.platform_id == platform_id,
                AccountingDocument.deleted_at.is_(None),
            )
        )
    if document is None:
        raise not_found(kind, platform_id)
    return document


@router.get("/payables", response_model=AccountingPayableList, summary="The accounting system's bills")
def list_accounting_payables(
    query: Annotated[DocumentQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> AccountingPayableList:
    documents = _documents(session, organization_id, "payable", query)
    return AccountingPayableList(data=[payable_resource(document) for document in documents])


@router.get("/payables/{payable_id}", response_model=AccountingPayable, summary="One of the accounting system's bills")
def get_accounting_payable(
    payable_id: PlatformId, organization_id: OrganizationId, session: DbSession
) -> AccountingPayable:
    return payable_resource(_document(session, organization_id, "payable", payable_id))


@router.get("/receivables", response_model=AccountingReceivableList, summary="The accounting system's invoices")
def list_accounting_receivables(
    query: Annotated[DocumentQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> AccountingReceivableList:
    documents = _documents(session, organization_id, "receivable", query)
    return AccountingReceivableList(data=[receivable_resource(document) for document in documents])


@router.get(
    "/receivables/{invoice_id}", response_model=AccountingReceivable, summary="One of the accounting system's invoices"
)
def get_accounting_receivable(
    invoice_id: PlatformId, organization_id: OrganizationId, session: DbSession
) -> AccountingReceivable:
    return receivable_resource(_document(session, organization_id, "receivable", invoice_id))
