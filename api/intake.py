"""How the platform's documents get in: idempotent upserts by the platform's own ids.

Plain functions over a Session, shared by ``PUT /counterparts|payables|receivables/{id}`` and
``booksync documents import``. Each validates everything before touching the session (an
IntakeError leaves it unchanged), flushes, and leaves the commit to the caller. The same body
twice changes nothing; a change bumps ``updated_at`` and marks the object's synced records
``pending`` so the next sync pushes it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import field_path
from api.schemas.intake import MAX_AMOUNT, CounterpartIn, DocumentIn, PayableIn, ReceivableIn
from models import (
    PAYABLE_PUSHABLE,
    RECEIVABLE_PUSHABLE,
    AccountingSyncedRecord,
    AccountingTaxRate,
    Counterpart,
    LedgerAccount,
    ObjectType,
    Organization,
    Payable,
    PayableLineItem,
    Product,
    Receivable,
    ReceivableLineItem,
    SyncStatus,
    utcnow,
)

Outcome = Literal["created", "updated", "unchanged"]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Which status may follow which (besides staying put). Nothing goes back to draft once it left it.
RECEIVABLE_MOVES: dict[str, frozenset[str]] = {
    "draft": frozenset({"issued", "partially_paid", "paid", "overdue", "uncollectible", "canceled"}),
    "issued": frozenset({"partially_paid", "paid", "overdue", "uncollectible", "canceled"}),
    "partially_paid": frozenset({"paid", "overdue", "uncollectible"}),
    "overdue": frozenset({"partially_paid", "paid", "uncollectible", "canceled"}),
    "uncollectible": frozenset({"partially_paid", "paid"}),
    "paid": frozenset(),
    "canceled": frozenset(),
}
PAYABLE_MOVES: dict[str, frozenset[str]] = {
    "draft": frozenset(
        {"new", "approve_in_progress", "waiting_to_be_paid", "partially_paid", "paid", "canceled", "rejected"}
    ),
    "new": frozenset({"approve_in_progress", "waiting_to_be_paid", "partially_paid", "paid", "canceled", "rejected"}),
    "approve_in_progress": frozenset({"new", "waiting_to_be_paid", "canceled", "rejected"}),
    "waiting_to_be_paid": frozenset({"partially_paid", "paid", "canceled"}),
    "partially_paid": frozenset({"paid"}),
    "paid": frozenset(),
    "canceled": frozenset(),
    "rejected": frozenset(),
}


class IntakeError(ValueError):
    """The input cannot be taken; ``field`` names what to fix (``line_items[0].total``)."""

    def __init__(self, field: str, message: str, details: Sequence[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.details = list(details) if details else [(field, message)]


class IntakeNotFoundError(LookupError):
    """The id belongs to another organization: answered as if it did not exist."""


class IntakeConflictError(RuntimeError):
    """A concurrent write created the same object first; retrying is safe."""


@dataclass(frozen=True, slots=True)
class UpsertResult(Generic[T]):
    outcome: Outcome
    object: T

    @property
    def created(self) -> bool:
        return self.outcome == "created"

    @property
    def changed(self) -> bool:
        return self.outcome != "unchanged"


def _validated(model: type[M], body: M | Mapping[str, Any]) -> M:
    if isinstance(body, model):
        return body
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [(field_path(error["loc"]), str(error["msg"])) for error in exc.errors()]
        raise IntakeError(errors[0][0], errors[0][1], errors) from None


def _require_organization(session: Session, organization_id: uuid.UUID) -> None:
    if session.get(Organization, organization_id) is None:
        raise IntakeError("organization_id", f"organization {organization_id} does not exist")


def _load(session: Session, model: type[T], object_id: uuid.UUID, organization_id: uuid.UUID) -> T | None:
    query = select(model).where(model.id == object_id).with_for_update(of=model)  # type: ignore[attr-defined]
    row = session.scalar(query)
    if row is not None and row.organization_id != organization_id:  # type: ignore[attr-defined]
        raise IntakeNotFoundError(f"{model.__name__.lower()} {object_id} not found")
    return row


def _mark_pending(session: Session, organization_id: uuid.UUID, object_id: uuid.UUID, types: Sequence[str]) -> None:
    session.execute(
        update(AccountingSyncedRecord)
        .where(
            AccountingSyncedRecord.organization_id == organization_id,
            AccountingSyncedRecord.object_id == object_id,
            AccountingSyncedRecord.object_type.in_(list(types)),
        )
        .values(sync_status=SyncStatus.PENDING.value, updated_at=utcnow())
    )


@contextmanager
def _savepoint(session: Session) -> Iterator[None]:
    """Apply a change in a savepoint: a losing concurrent insert leaves the caller's transaction usable."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise IntakeConflictError("written concurrently by another request; retry") from exc


def _upsert_values(
    session: Session, model: type[T], row: T | None, object_id: uuid.UUID, organization_id: uuid.UUID,
    values: Mapping[str, Any], pending_types: Sequence[str],
) -> UpsertResult[T]:
    """Create the row with ``values``, or update it where they differ (its synced records go pending)."""
    if row is None:
        now = utcnow()
        row = model(id=object_id, organization_id=organization_id, created_at=now, updated_at=now, **values)
        with _savepoint(session):
            session.add(row)
        return UpsertResult("created", row)
    if all(getattr(row, name) == value for name, value in values.items()):
        return UpsertResult("unchanged", row)
    with _savepoint(session):
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()  # type: ignore[attr-defined]
        _mark_pending(session, organization_id, object_id, pending_types)
    return UpsertResult("updated", row)


def upsert_counterpart(
    session: Session, organization_id: uuid.UUID, counterpart_id: uuid.UUID, body: CounterpartIn | Mapping[str, Any]
) -> UpsertResult[Counterpart]:
    data = _validated(CounterpartIn, body)
    _require_organization(session, organization_id)
    row = _load(session, Counterpart, counterpart_id, organization_id)
    return _upsert_values(session, Counterpart, row, counterpart_id, organization_id, data.model_dump(),
                          (ObjectType.CUSTOMER, ObjectType.VENDOR))


@dataclass(frozen=True, slots=True)
class _Line:
    description: str
    quantity: Decimal
    unit_price: int
    total: int
    tax_rate_value: int | None
    accounting_tax_rate_id: uuid.UUID | None
    ledger_account_id: str | None
    product_id: uuid.UUID | None


def _line_total(quantity: Decimal, unit_price: int) -> int:
    return int((quantity * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _check_document(session: Session, organization_id: uuid.UUID, data: DocumentIn) -> list[_Line]:
    """The amounts add up and every reference is the organization's own; the lines as stored."""
    counterpart = session.get(Counterpart, data.counterpart_id)
    if counterpart is None or counterpart.organization_id != organization_id:
        raise IntakeError(
            "counterpart_id",
            f"no counterpart {data.counterpart_id} in this organization "
            f"(PUT /counterparts/{data.counterpart_id} first)",
        )
    if data.issue_date and data.due_date and data.due_date < data.issue_date:
        raise IntakeError("due_date", f"{data.due_date} is before issue_date {data.issue_date}")
    rate_ids = {line.accounting_tax_rate_id for line in data.line_items if line.accounting_tax_rate_id}
    known_rates: set[uuid.UUID] = set()
    if rate_ids:
        known_rates = set(
            session.scalars(
                select(AccountingTaxRate.id).where(
                    AccountingTaxRate.organization_id == organization_id, AccountingTaxRate.id.in_(rate_ids)
                )
            )
        )
    known_accounts = _known_ledger_accounts(session, organization_id, data)
    known_products = _known_products(session, organization_id, data)
    lines: list[_Line] = []
    for index, line in enumerate(data.line_items):
        computed = _line_total(line.quantity, line.unit_price)
        if abs(computed) > MAX_AMOUNT:
            raise IntakeError(f"line_items[{index}]", "quantity × unit_price is out of range")
        if line.total is not None and line.total != computed:
            raise IntakeError(
                f"line_items[{index}].total",
                f"is {line.total} but quantity × unit_price = {line.quantity} × {line.unit_price} rounds to {computed}",
            )
        if line.accounting_tax_rate_id is not None and line.accounting_tax_rate_id not in known_rates:
            raise IntakeError(
                f"line_items[{index}].accounting_tax_rate_id",
                f"no tax rate {line.accounting_tax_rate_id} in this organization",
            )
        account_id = _as_uuid(line.ledger_account_id)
        if account_id is not None and account_id not in known_accounts:
            raise IntakeError(
                f"line_items[{index}].ledger_account_id",
                f"no ledger account {account_id} in this organization (ids come from GET /ledger-accounts)",
            )
        if line.product_id is not None and line.product_id not in known_products:
            raise IntakeError(
                f"line_items[{index}].product_id",
                f"no product {line.product_id} in this organization (PUT /products/{line.product_id} first)",
            )
        lines.append(
            _Line(
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                total=computed,
                tax_rate_value=line.tax_rate_value,
                accounting_tax_rate_id=line.accounting_tax_rate_id,
                ledger_account_id=line.ledger_account_id,
                product_id=line.product_id,
            )
        )
    line_sum = sum(line.total for line in lines)
    if data.subtotal != line_sum:
        raise IntakeError("subtotal", f"is {data.subtotal} but the line totals add up to {line_sum}")
    if data.total_amount != data.subtotal + data.tax_amount:
        raise IntakeError(
            "total_amount",
            f"is {data.total_amount} but subtotal + tax_amount = {data.subtotal + data.tax_amount}",
        )
    return lines


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _known_products(session: Session, organization_id: uuid.UUID, data: DocumentIn) -> set[uuid.UUID]:
    wanted = {line.product_id for line in data.line_items if line.product_id is not None}
    if not wanted:
        return set()
    return set(session.scalars(select(Product.id).where(Product.organization_id == organization_id, Product.id.in_(wanted))))


def _known_ledger_accounts(session: Session, organization_id: uuid.UUID, data: DocumentIn) -> set[uuid.UUID]:
    """Of the lines' ledger account ids that are booksync's (UUIDs), those the organization has: one query.
    Any other value is the accounting system's own id, passed on as it is."""
    wanted = {account for line in data.line_items if (account := _as_uuid(line.ledger_account_id)) is not None}
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(LedgerAccount.id).where(LedgerAccount.organization_id == organization_id, LedgerAccount.id.in_(wanted))
        )
    )


_DOCUMENT_FIELDS = (
    "counterpart_id",
    "document_number",
    "currency",
    "status",
    "issue_date",
    "due_date",
    "memo",
    "subtotal",
    "tax_amount",
    "total_amount",
)


def _stored_lines(row: Payable | Receivable) -> list[_Line]:
    return [
        _Line(
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            total=line.total,
            tax_rate_value=line.tax_rate_value,
            accounting_tax_rate_id=line.accounting_tax_rate_id,
            ledger_account_id=line.ledger_account_id,
            product_id=line.product_id,
        )
        for line in sorted(row.lines, key=lambda item: item.position)
    ]


def _upsert_document(
    session: Session,
    organization_id: uuid.UUID,
    document_id: uuid.UUID,
    data: PayableIn | ReceivableIn,
    *,
    model: type[Payable] | type[Receivable],
    line_model: type[PayableLineItem] | type[ReceivableLineItem],
    moves: Mapping[str, frozenset[str]],
    pushable: frozenset[str],
    object_type: str,
) -> UpsertResult[Any]:
    _require_organization(session, organization_id)
    row = _load(session, model, document_id, organization_id)
    lines = _check_document(session, organization_id, data)
    values: dict[str, Any] = {name: getattr(data, name) for name in _DOCUMENT_FIELDS}
    values["currency"] = str(data.currency)
    values["status"] = str(data.status)
    if row is not None and row.status != values["status"] and values["status"] not in moves[row.status]:
        allowed = ", ".join(sorted(moves[row.status])) or "none (it is final)"
        raise IntakeError("status", f"cannot move from {row.status} to {values['status']}; allowed: {allowed}")
    now = utcnow()
    if row is None:
        row = model(id=document_id, organization_id=organization_id, created_at=now, updated_at=now, **values)
        row.eligible_at = now if values["status"] in pushable else None
        row.lines = _line_rows(line_model, lines)  # type: ignore[assignment]
        with _savepoint(session):
            session.add(row)
        return UpsertResult("created", row)
    lines_changed = _stored_lines(row) != lines
    if not lines_changed and all(getattr(row, name) == value for name, value in values.items()):
        return UpsertResult("unchanged", row)
    with _savepoint(session):
        for name, value in values.items():
            setattr(row, name, value)
        if lines_changed:
            row.lines = _line_rows(line_model, lines)  # type: ignore[assignment]
        if row.eligible_at is None and values["status"] in pushable:
            row.eligible_at = now
        row.updated_at = now
        _mark_pending(session, organization_id, document_id, (object_type,))
    return UpsertResult("updated", row)


def _line_rows(
    line_model: type[PayableLineItem] | type[ReceivableLineItem], lines: Sequence[_Line]
) -> list[PayableLineItem] | list[ReceivableLineItem]:
    fields = _Line.__dataclass_fields__
    return [line_model(position=i, **{name: getattr(line, name) for name in fields}) for i, line in enumerate(lines)]


def upsert_payable(
    session: Session, organization_id: uuid.UUID, payable_id: uuid.UUID, body: PayableIn | Mapping[str, Any]
) -> UpsertResult[Payable]:
    return _upsert_document(
        session,
        organization_id,
        payable_id,
        _validated(PayableIn, body),
        model=Payable,
        line_model=PayableLineItem,
        moves=PAYABLE_MOVES,
        pushable=PAYABLE_PUSHABLE,
        object_type=ObjectType.BILL,
    )


def upsert_receivable(
    session: Session, organization_id: uuid.UUID, receivable_id: uuid.UUID, body: ReceivableIn | Mapping[str, Any]
) -> UpsertResult[Receivable]:
    return _upsert_document(
        session,
        organization_id,
        receivable_id,
        _validated(ReceivableIn, body),
        model=Receivable,
        line_model=ReceivableLineItem,
        moves=RECEIVABLE_MOVES,
        pushable=RECEIVABLE_PUSHABLE,
        object_type=ObjectType.RECEIVABLE,
    )


RECORD_TYPES = ("counterpart", "payable", "receivable", "product", "payment_record")


def import_record(session: Session, record: Mapping[str, Any]) -> UpsertResult[Any]:
    """One JSON-lines record: ``{"type": "counterpart"|"payable"|"receivable"|"product"|"payment_record",
    "organization_id": ..., "id": ..., <the PUT body's fields>}`` (a payment deleted on the platform is its
    record again with ``"status": "deleted"``). Raises IntakeError (or IntakeNotFoundError) naming the field."""
    from api.intake_payments import upsert_payment_record, upsert_product

    if not isinstance(record, Mapping):
        raise IntakeError("record", "must be a JSON object")
    body = dict(record)
    kind = body.pop("type", None)
    if kind not in RECORD_TYPES:
        raise IntakeError("type", f"must be one of {', '.join(RECORD_TYPES)}")
    ids: dict[str, uuid.UUID] = {}
    for name in ("organization_id", "id"):
        try:
            ids[name] = uuid.UUID(str(body.pop(name)))
        except KeyError:
            raise IntakeError(name, "field required") from None
        except ValueError:
            raise IntakeError(name, "must be a UUID") from None
    upsert = {
        "counterpart": upsert_counterpart, "payable": upsert_payable, "receivable": upsert_receivable,
        "product": upsert_product, "payment_record": upsert_payment_record,
    }[kind]
    return upsert(session, ids["organization_id"], ids["id"], body)  # type: ignore[operator]
