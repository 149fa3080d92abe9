"""How the platform's products and payment records get in: idempotent upserts by the platform's own ids.

The same rules as ``api.intake`` (shared by ``PUT /products|payment-records/{id}`` and ``booksync documents
import``): everything is validated before the session is touched, the same body twice changes nothing, a
change bumps ``updated_at`` and marks the object's synced record ``pending``, the commit is the caller's.

A payment record settles one payable or receivable of the same organization, in that document's currency,
and never more than is left of it: the platform's payment records of a document add up to its total at most
(an overpayment is refused here, naming what is left; the accounting system's own payments are checked by
the provider when the payment is pushed). The document's row is locked while its payments are checked, so two
concurrent payments cannot overpay it together. A payment deleted on the platform is ``status: deleted``
(``DELETE /payment-records/{id}`` says the same); that is final.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.intake import (
    IntakeError,
    UpsertResult,
    _as_uuid,
    _load,
    _mark_pending,
    _require_organization,
    _savepoint,
    _upsert_values,
    _validated,
)
from api.schemas.payments import PaymentRecordIn, ProductIn
from models import (
    PAYABLE_VOIDING,
    RECEIVABLE_VOIDING,
    AccountingTaxRate,
    LedgerAccount,
    ObjectType,
    Payable,
    PaymentRecord,
    PaymentRecordStatus,
    Product,
    Receivable,
    utcnow,
)
from providers.money import format_amount

_PRODUCT_FIELDS = (
    "name", "description", "type", "unit_price", "currency", "unit", "ledger_account_id", "tax_rate_value",
    "accounting_tax_rate_id",
)


def _check_product(session: Session, organization_id: uuid.UUID, data: ProductIn) -> None:
    account_id = _as_uuid(data.ledger_account_id)
    if account_id is not None:
        account = session.get(LedgerAccount, account_id)
        if account is None or account.organization_id != organization_id:
            raise IntakeError("ledger_account_id",
                              f"no ledger account {account_id} in this organization (ids come from GET /ledger-accounts)")
    if data.accounting_tax_rate_id is not None:
        rate = session.get(AccountingTaxRate, data.accounting_tax_rate_id)
        if rate is None or rate.organization_id != organization_id:
            raise IntakeError("accounting_tax_rate_id", f"no tax rate {data.accounting_tax_rate_id} in this organization")


def upsert_product(
    session: Session, organization_id: uuid.UUID, product_id: uuid.UUID, body: ProductIn | Mapping[str, Any]
) -> UpsertResult[Product]:
    data = _validated(ProductIn, body)
    _require_organization(session, organization_id)
    row = _load(session, Product, product_id, organization_id)
    _check_product(session, organization_id, data)
    values: dict[str, Any] = {name: getattr(data, name) for name in _PRODUCT_FIELDS}
    values["type"] = str(data.type)
    values["currency"] = str(data.currency) if data.currency is not None else None
    return _upsert_values(session, Product, row, product_id, organization_id, values, (ObjectType.PRODUCT,))


def _settled_document(
    session: Session, organization_id: uuid.UUID, data: PaymentRecordIn
) -> Payable | Receivable:
    model: type[Payable] | type[Receivable] = Payable if data.object.type == "payable" else Receivable
    try:
        document = _load(session, model, data.object.id, organization_id)  # locked: its payments are checked next
    except LookupError:
        document = None
    if document is None:
        raise IntakeError("object.id", f"no {data.object.type} {data.object.id} in this organization "
                          f"(PUT /{data.object.type}s/{data.object.id} first)")
    return document


def _name(document: Payable | Receivable, kind: str) -> str:
    return f"{kind} {document.document_number or document.id}"


def _check_payment(
    session: Session, payment_id: uuid.UUID, data: PaymentRecordIn, document: Payable | Receivable
) -> None:
    kind = data.object.type
    if str(data.currency) != document.currency:
        raise IntakeError("currency", f"is {data.currency} but {_name(document, kind)} is in {document.currency}; "
                          "a payment is recorded in the currency of the document it settles")
    voiding = PAYABLE_VOIDING if kind == "payable" else RECEIVABLE_VOIDING
    if document.status in voiding:
        raise IntakeError("object.id", f"{_name(document, kind)} is {document.status}: nothing is left to pay on it")
    column = PaymentRecord.payable_id if kind == "payable" else PaymentRecord.receivable_id
    paid = session.scalar(
        select(func.coalesce(func.sum(PaymentRecord.amount), 0)).where(
            column == document.id, PaymentRecord.id != payment_id,
            PaymentRecord.status == PaymentRecordStatus.RECORDED.value,
        )
    ) or 0
    left = document.total_amount - int(paid)
    if data.amount > left:
        currency = document.currency
        raise IntakeError(
            "amount",
            f"{format_amount(data.amount, currency)} would overpay {_name(document, kind)}: its total is "
            f"{format_amount(document.total_amount, currency)} and other payment records already pay "
            f"{format_amount(int(paid), currency)}, so at most {format_amount(max(left, 0), currency)} is left",
        )


def upsert_payment_record(
    session: Session, organization_id: uuid.UUID, payment_id: uuid.UUID, body: PaymentRecordIn | Mapping[str, Any]
) -> UpsertResult[PaymentRecord]:
    data = _validated(PaymentRecordIn, body)
    _require_organization(session, organization_id)
    row = _load(session, PaymentRecord, payment_id, organization_id)
    deleting = data.status == PaymentRecordStatus.DELETED
    if row is not None and row.status == PaymentRecordStatus.DELETED:
        if deleting:
            return UpsertResult("unchanged", row)
        raise IntakeError("status", f"payment record {payment_id} was deleted and stays deleted; record the payment "
                          "again under a new id")
    if row is not None and deleting:
        return _mark_deleted(session, organization_id, row)
    document = _settled_document(session, organization_id, data)
    if not deleting:
        _check_payment(session, payment_id, data, document)
    values: dict[str, Any] = {
        "payable_id": document.id if data.object.type == "payable" else None,
        "receivable_id": document.id if data.object.type == "receivable" else None,
        "amount": data.amount,
        "currency": str(data.currency),
        "paid_date": data.paid_date,
        "payment_method": data.payment_method,
        "reference": data.reference,
        "status": str(data.status),
    }
    return _upsert_values(session, PaymentRecord, row, payment_id, organization_id, values,
                          (ObjectType.PAYMENT_RECORD,))


def _mark_deleted(session: Session, organization_id: uuid.UUID, row: PaymentRecord) -> UpsertResult[PaymentRecord]:
    with _savepoint(session):
        row.status = PaymentRecordStatus.DELETED.value
        row.updated_at = utcnow()
        _mark_pending(session, organization_id, row.id, (ObjectType.PAYMENT_RECORD,))
    return UpsertResult("updated", row)


def delete_payment_record(
    session: Session, organization_id: uuid.UUID, payment_id: uuid.UUID
) -> UpsertResult[PaymentRecord] | None:
    """The payment was deleted on the platform (``DELETE /payment-records/{id}``); None when there is no such
    payment record. Deleting it again changes nothing."""
    _require_organization(session, organization_id)
    row = _load(session, PaymentRecord, payment_id, organization_id)
    if row is None:
        return None
    if row.status == PaymentRecordStatus.DELETED:
        return UpsertResult("unchanged", row)
    return _mark_deleted(session, organization_id, row)
