"""``/products`` and ``/payment-records``: the platform's products and payments, PUT by its ids (through
``api.intake_payments``: idempotent, validated; 201 created, 200 updated or unchanged)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import OrganizationId
from api.db import DbSession
from api.errors import error_responses, not_found
from api.intake_payments import delete_payment_record, upsert_payment_record, upsert_product
from api.routes.intake import _PUT_RESPONSES, IntakeListQuery, _apply, _list, _owned
from api.schemas.payments import (
    PaymentRecordIn,
    PaymentRecordList,
    PaymentRecordResource,
    ProductIn,
    ProductList,
    ProductResource,
    SettledObjectResource,
)
from models import PaymentRecord, Product

router = APIRouter(tags=["Products and payments intake"], responses=error_responses(401, 403, 404, 422))


def product_resource(row: Product) -> ProductResource:
    return ProductResource.model_validate(row, from_attributes=True)


def payment_record_resource(row: PaymentRecord) -> PaymentRecordResource:
    document_id = row.payable_id if row.payable_id is not None else row.receivable_id
    assert document_id is not None
    return PaymentRecordResource(
        id=row.id,
        object=SettledObjectResource(type=row.document_type, id=document_id),  # type: ignore[arg-type]
        amount=row.amount,
        currency=row.currency,
        paid_date=row.paid_date,
        payment_method=row.payment_method,
        reference=row.reference,
        status=row.status,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# -- products ----------------------------------------------------------------------------------


@router.put(
    "/products/{product_id}",
    response_model=ProductResource,
    summary="Create or update a product (what invoice lines sell)",
    description="By the platform's id. `unit_price` is an integer in minor units of `currency`. `ledger_account_id` "
    "is an id `GET /ledger-accounts` gives (without one, the connection's default product account applies). "
    "Pushed to the accounting system before the documents whose lines name it (`product_id`). The same body "
    "again changes nothing (200); a change marks its synced record pending; 201 when created.",
    responses={201: {"model": ProductResource, "description": "Created"}, **_PUT_RESPONSES},
)
def put_product(
    product_id: uuid.UUID, body: ProductIn, response: Response, organization_id: OrganizationId, session: DbSession
) -> ProductResource:
    return product_resource(_apply(session, response, lambda: upsert_product(session, organization_id, product_id, body)))


@router.get("/products/{product_id}", response_model=ProductResource, summary="Get a product")
def get_product(product_id: uuid.UUID, organization_id: OrganizationId, session: DbSession) -> ProductResource:
    return product_resource(_owned(session, Product, organization_id, product_id))


@router.get("/products", response_model=ProductList, summary="List products, by last change")
def list_products(
    params: Annotated[IntakeListQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> ProductList:
    rows, next_token, prev_token = _list(session, Product, "products", organization_id, params)
    return ProductList(
        data=[product_resource(row) for row in rows], next_pagination_token=next_token, prev_pagination_token=prev_token
    )


# -- payment records ---------------------------------------------------------------------------


@router.put(
    "/payment-records/{payment_record_id}",
    response_model=PaymentRecordResource,
    summary="Record a payment of a payable or receivable",
    description="By the platform's id: an amount (integer, minor units) paid against one payable (the "
    "organization paid its vendor) or receivable (its customer paid), in that document's currency; several may "
    "settle one document (partial payments), never more than its total (422 naming what is left). Pushed once "
    "the document it settles is in the accounting system (until then its synced record says what it waits for). "
    "`status: deleted` says the payment was deleted on the platform: booksync deletes (or voids) what it pushed; "
    "that is final. The same body again changes nothing (200); 201 when created.",
    responses={201: {"model": PaymentRecordResource, "description": "Created"}, **_PUT_RESPONSES},
)
def put_payment_record(
    payment_record_id: uuid.UUID,
    body: PaymentRecordIn,
    response: Response,
    organization_id: OrganizationId,
    session: DbSession,
) -> PaymentRecordResource:
    row = _apply(session, response, lambda: upsert_payment_record(session, organization_id, payment_record_id, body))
    return payment_record_resource(row)


@router.delete(
    "/payment-records/{payment_record_id}",
    response_model=PaymentRecordResource,
    summary="Say a payment was deleted on the platform",
    description="The same as a PUT with `status: deleted`: the payment record stays (status `deleted`) and what "
    "was pushed of it is deleted (or voided) in the accounting system at the next sync, where the system allows "
    "it (its synced record says so when it does not). Again changes nothing.",
)
def delete_payment_record_route(
    payment_record_id: uuid.UUID, response: Response, organization_id: OrganizationId, session: DbSession
) -> PaymentRecordResource:
    def delete() -> object:
        result = delete_payment_record(session, organization_id, payment_record_id)
        if result is None:
            raise not_found("payment record", payment_record_id)
        return result

    row = _apply(session, response, delete)  # type: ignore[arg-type]
    return payment_record_resource(row)


@router.get(
    "/payment-records/{payment_record_id}", response_model=PaymentRecordResource, summary="Get a payment record"
)
def get_payment_record(
    payment_record_id: uuid.UUID, organization_id: OrganizationId, session: DbSession
) -> PaymentRecordResource:
    return payment_record_resource(_owned(session, PaymentRecord, organization_id, payment_record_id))


@router.get("/payment-records", response_model=PaymentRecordList, summary="List payment records, by last change")
def list_payment_records(
    params: Annotated[IntakeListQuery, Query()], organization_id: OrganizationId, session: DbSession
) -> PaymentRecordList:
    rows, next_token, prev_token = _list(session, PaymentRecord, "payment_records", organization_id, params)
    return PaymentRecordList(
        data=[payment_record_resource(row) for row in rows], next_pagination_token=next_token,
        prev_pagination_token=prev_token,
    )
