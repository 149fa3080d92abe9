"""``/accounting/payables`` and ``/accounting/receivables``: what the last pull stored, by the accounting
system's ids, for the organization's active connection (none: an empty list).

Amounts go out as numbers in the document's currency, exactly (``ExactJSONResponse``). A line's ledger
account and tax rate go out as booksync's ids (of the connection's books), so that
``GET /ledger-accounts/{id}`` and ``GET /accounting-tax-rates/{id}`` find them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic_core import to_jsonable_python
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import error_responses, not_found
from api.responses import ExactJSONResponse
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
from models import AccountingConnection, AccountingDocument, AccountingTaxRate, LedgerAccount
from providers import money

router = APIRouter(prefix="/accounting", tags=["Accounting data pull"], responses=error_responses(401, 403, 404, 422))

PlatformId = Annotated[str, Path(max_length=128, description="The document's id in the accounting system.")]

LINK_HEADER = {
    "Link": {
        "description": 'RFC 8288 links to the neighbouring pages: `rel="next"` while more documents follow (none on '
        'the last page), `rel="prev"` after the first.',
        "schema": {"type": "string"},
    }
}
LIST_DESCRIPTION = (
    "In the order the accounting system numbered them (numeric ids by value, others by text), {limit} at a time "
    "from `offset`. The reference's shape (`data` only) says nothing of further pages, so the `Link` header does: "
    '`rel="next"` while more follow. Amounts are numbers in the document\'s currency (`144.00` USD, `1000` JPY).'
)


@dataclass(frozen=True, slots=True)
class BooksIds:
    """The connection's books' own ids for the accounting system's ledger accounts and tax rates on a page."""

    ledger_accounts: Mapping[str, uuid.UUID]
    tax_rates: Mapping[str, uuid.UUID]

    @classmethod
    def for_page(
        cls, session: Session, connection: AccountingConnection, documents: Sequence[AccountingDocument]
    ) -> BooksIds:
        """Two queries for the whole page, whatever its number of lines."""
        accounts: set[str] = set()
        rates: set[str] = set()
        for document in documents:
            for line in _raw_lines(document):
                if line.get("ledger_account_id") is not None:
                    accounts.add(str(line["ledger_account_id"]))
                if line.get("tax_rate_platform_id") is not None:
                    rates.add(str(line["tax_rate_platform_id"]))
        ledger: dict[str, uuid.UUID] = {}
        if accounts:
            ledger = dict(session.execute(
                select(LedgerAccount.platform_id, LedgerAccount.id).where(
                    LedgerAccount.organization_id == connection.organization_id,
                    LedgerAccount.books_id == connection.books,
                    LedgerAccount.platform_id.in_(sorted(accounts)),
                )
            ).all())  # type: ignore[arg-type]
        taxes: dict[str, uuid.UUID] = {}
        if rates:
            taxes = dict(session.execute(
                select(AccountingTaxRate.platform_id, AccountingTaxRate.id).where(
                    AccountingTaxRate.organization_id == connection.organization_id,
                    AccountingTaxRate.books_id == connection.books,
                    AccountingTaxRate.is_external.is_(True),
                    AccountingTaxRate.platform_id.in_(sorted(rates)),
                )
            ).all())  # type: ignore[arg-type]
        return cls(ledger, taxes)


def _raw_lines(document: AccountingDocument) -> list[Mapping[str, Any]]:
    return [line for line in document.lines or [] if isinstance(line, Mapping)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _money(minor: int | None, currency: str | None) -> Decimal | None:
    """Minor units as the currency's amount, exactly (ISO 4217 exponent; 2 for a code ISO does not have)."""
    if minor is None:
        return None
    places = money.exponent(currency) if currency and money.is_currency(currency) else 2
    return Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def _rate(value: Decimal | None) -> Decimal | None:
    """``1.100000000000`` (the column's scale) as ``1.1``; never in exponent notation."""
    if value is None:
        return None
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized.as_tuple().exponent > 0 else normalized  # type: ignore[operator]


def _line(line: Mapping[str, Any], currency: str | None, ids: BooksIds) -> AccountingLineItem:
    tax_rate_id = ids.tax_rates.get(str(line.get("tax_rate_platform_id")))
    ledger_account_id = ids.ledger_accounts.get(str(line.get("ledger_account_id")))
    return AccountingLineItem(
        description=_str(line.get("description")),
        quantity=_number(line.get("quantity")),
        unit_amount=_money(_int(line.get("unit_price")), currency),
        total_amount=_money(_int(line.get("total")), currency),
        tax_rate_value=_int(line.get("tax_rate_value")),
        tax_rate_ref=TaxRateRef(id=str(tax_rate_id)) if tax_rate_id is not None else None,
        ledger_account_id=str(ledger_account_id) if ledger_account_id is not None else None,
    )


def _common(document: AccountingDocument, ids: BooksIds) -> dict[str, Any]:
    currency = document.currency
    return {
        "id": document.platform_id,
        "invoice_number": document.document_number,
        "reference": document.reference,
        "currency": currency,
        "currency_rate": _rate(document.currency_rate),
        "subtotal": _money(document.subtotal, currency),
        "tax_amount": _money(document.tax_amount, currency),
        "amount_due": _money(document.amount_due, currency),
        "posted_date": document.issue_date,
        "due_date": document.due_date,
        "memo": document.memo,
        "lines": [_line(line, currency, ids) for line in _raw_lines(document)],
    }


def payable_resource(document: AccountingDocument, ids: BooksIds) -> AccountingPayable:
    vendor = (
        VendorRef(id=document.counterpart_platform_id, name=document.counterpart_name)
        if document.counterpart_platform_id is not None
        else None
    )
    return AccountingPayable(
        **_common(document, ids),
        status=document.status or "unknown",
        total_amount=_money(document.total_amount or 0, document.currency),
        vendor_ref=vendor,
    )


def receivable_resource(document: AccountingDocument, ids: BooksIds) -> AccountingReceivable:
    customer = (
        CustomerRef(id=document.counterpart_platform_id, company_name=document.counterpart_name)
        if document.counterpart_platform_id is not None
        else None
    )
    extra = {"reference": document.reference, "updated_at": document.platform_updated_at}
    pass_through = {name: to_jsonable_python(value) for name, value in extra.items() if value is not None}
    return AccountingReceivable(
        **_common(document, ids),
        status=document.status,
        total_amount=_money(document.total_amount, document.currency),
        customer_ref=customer,
        pass_through=pass_through or None,
    )


@dataclass(frozen=True, slots=True)
class DocumentPage:
    connection: AccountingConnection | None
    documents: list[AccountingDocument]
    more: bool


def _documents(session: Session, organization_id: uuid.UUID, kind: str, query: DocumentQuery) -> DocumentPage:
    connection = active_connection(session, organization_id)
    if connection is None:
        return DocumentPage(None, [], False)
    rows = list(
        session.scalars(
            select(AccountingDocument)
            .where(
                AccountingDocument.connection_id == connection.id,
                AccountingDocument.kind == kind,
                AccountingDocument.deleted_at.is_(None),
            )
            # Numeric ids (Tryton, QuickBooks) in numeric order, others (Xero's UUIDs) by text.
            .order_by(func.length(AccountingDocument.platform_id), AccountingDocument.platform_id)
            .limit(query.limit + 1)
            .offset(query.offset)
        )
    )
    return DocumentPage(connection, rows[: query.limit], len(rows) > query.limit)


def _links(request: Request, query: DocumentQuery, more: bool) -> dict[str, str]:
    links = []
    if more:
        links.append(f'<{request.url.include_query_params(limit=query.limit, offset=query.offset + query.limit)}>; rel="next"')
    if query.offset > 0:
        previous = max(0, query.offset - query.limit)
        links.append(f'<{request.url.include_query_params(limit=query.limit, offset=previous)}>; rel="prev"')
    return {"Link": ", ".join(links)} if links else {}


def _document(session: Session, organization_id: uuid.UUID, kind: str, platform_id: str) -> tuple[AccountingDocument, BooksIds]:
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
    if document is None or connection is None:
        raise not_found(kind, platform_id)
    return document, BooksIds.for_page(session, connection, [document])


@router.get(
    "/payables",
    response_model=AccountingPayableList,
    summary="The accounting system's bills",
    description=LIST_DESCRIPTION.format(limit="`limit`"),
    responses={200: {"description": "A page of bills", "headers": LINK_HEADER}},
)
def list_accounting_payables(
    query: Annotated[DocumentQuery, Query()], organization_id: OrganizationId, session: DbSession, request: Request
) -> ExactJSONResponse:
    page = _documents(session, organization_id, "payable", query)
    ids = BooksIds.for_page(session, page.connection, page.documents) if page.connection else NO_IDS
    body = AccountingPayableList(data=[payable_resource(document, ids) for document in page.documents])
    return ExactJSONResponse(body, headers=_links(request, query, page.more))


@router.get("/payables/{payable_id}", response_model=AccountingPayable, summary="One of the accounting system's bills")
def get_accounting_payable(
    payable_id: PlatformId, organization_id: OrganizationId, session: DbSession
) -> ExactJSONResponse:
    return ExactJSONResponse(payable_resource(*_document(session, organization_id, "payable", payable_id)))


@router.get(
    "/receivables",
    response_model=AccountingReceivableList,
    summary="The accounting system's invoices",
    description=LIST_DESCRIPTION.format(limit="`limit`"),
    responses={200: {"description": "A page of invoices", "headers": LINK_HEADER}},
)
def list_accounting_receivables(
    query: Annotated[DocumentQuery, Query()], organization_id: OrganizationId, session: DbSession, request: Request
) -> ExactJSONResponse:
    page = _documents(session, organization_id, "receivable", query)
    ids = BooksIds.for_page(session, page.connection, page.documents) if page.connection else NO_IDS
    body = AccountingReceivableList(data=[receivable_resource(document, ids) for document in page.documents])
    return ExactJSONResponse(body, headers=_links(request, query, page.more))


@router.get(
    "/receivables/{invoice_id}", response_model=AccountingReceivable, summary="One of the accounting system's invoices"
)
def get_accounting_receivable(
    invoice_id: PlatformId, organization_id: OrganizationId, session: DbSession
) -> ExactJSONResponse:
    return ExactJSONResponse(receivable_resource(*_document(session, organization_id, "receivable", invoice_id)))


NO_IDS = BooksIds({}, {})
