"""Push: the platform's counterparts, bills and invoices to the accounting system, each outcome a synced record.

Every push goes under the record's idempotency key, which never changes, so a push retried after a
lost answer finds what the first attempt created. A document is pushed again only when what would
be sent has changed (``content_hash``). A document deleted in the accounting system is never
re-created.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from models import (
    PAYABLE_PUSHABLE,
    PAYABLE_VOIDING,
    RECEIVABLE_PUSHABLE,
    RECEIVABLE_VOIDING,
    AccountingConnection,
    AccountingSyncedRecord,
    AccountingTaxRate,
    Counterpart,
    Payable,
    Receivable,
    SyncStatus,
)
from providers.base import AccountingProvider
from providers.errors import DataError, NotFoundError, RetryableError
from providers.types import DocumentKind, LineItem, OutgoingCounterpart, OutgoingDocument
from tasks.engine.summary import SyncSummary

log = structlog.get_logger(__name__)

BATCH = 200
Document = Payable | Receivable


class DocumentSpec:
    """How one kind of the platform's documents is pushed."""

    def __init__(
        self,
        model: type[Payable] | type[Receivable],
        kind: DocumentKind,
        object_type: str,
        counterpart_type: str,
        pushable: frozenset[str],
        voiding: frozenset[str],
    ) -> None:
        self.model = model
        self.kind = kind
        self.object_type = object_type
        self.counterpart_type = counterpart_type
        self.pushable = pushable
        self.voiding = voiding


SPECS = (
    DocumentSpec(Payable, DocumentKind.PAYABLE, "bill", "vendor", PAYABLE_PUSHABLE, PAYABLE_VOIDING),
    DocumentSpec(Receivable, DocumentKind.RECEIVABLE, "receivable", "customer", RECEIVABLE_PUSHABLE, RECEIVABLE_VOIDING),
)
SPEC_BY_OBJECT_TYPE = {spec.object_type: spec for spec in SPECS}
COUNTERPART_TYPES = ("customer", "vendor")


def idempotency_key(connection_id: uuid.UUID, object_type: str, object_id: uuid.UUID) -> str:
    """Stable per connection and object; customer and vendor records of one counterpart share one."""
    kind = "counterpart" if object_type in COUNTERPART_TYPES else object_type
    return uuid.uuid5(connection_id, f"{kind}:{object_id}").hex


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Pusher:
    """Pushes over one connection, within one sync or one push-retry."""

    def __init__(
        self,
        session: Session,
        connection: AccountingConnection,
        provider: AccountingProvider,
        summary: SyncSummary,
        now: Callable[[], datetime],
    ) -> None:
        self.session = session
        self.connection = connection
        self.provider = provider
        self.summary = summary
        self.now = now
        self._counterpart_ids: dict[uuid.UUID, str] = {}
        self._tax_rates: dict[uuid.UUID, AccountingTaxRate | None] = {}

    # -- records -------------------------------------------------------------------------------
    def record_for(
        self, object_type: str, object_id: uuid.UUID, object_updated_at: datetime | None,
        known: AccountingSyncedRecord | None = None,
    ) -> AccountingSyncedRecord:
        """The object's synced record, created on first push; ``known`` skips the lookup."""
        if known is not None:
            return known
        record = self.session.execute(
            select(AccountingSyncedRecord).where(
                AccountingSyncedRecord.connection_id == self.connection.id,
                AccountingSyncedRecord.object_type == object_type,
                AccountingSyncedRecord.object_id == object_id,
            )
        ).scalar_one_or_none()
        if record is None:
            record = AccountingSyncedRecord(
                organization_id=self.connection.organization_id,
                connection_id=self.connection.id,
                object_type=object_type,
                object_id=object_id,
                object_updated_at=object_updated_at,
                platform=self.connection.platform,
                sync_status=SyncStatus.PENDING.value,
                idempotency_key=idempotency_key(self.connection.id, object_type, object_id),
            )
            self.session.add(record)
            self.session.flush()
        return record

    def _done(self, record: AccountingSyncedRecord, platform_id: str, platform_updated_at: datetime | None, content_hash: str | None, object_updated_at: datetime | None) -> None:
        now = self.now()
        record.sync_status = SyncStatus.DONE.value
        record.platform_object_id = platform_id
        record.platform_updated_at = platform_updated_at or now
        record.last_pushed_at = now
        record.errors = None
        record.content_hash = content_hash
        record.object_updated_at = object_updated_at
        self.summary.pushed[record.object_type] += 1

    def _error(self, record: AccountingSyncedRecord, errors: dict[str, Any], object_updated_at: datetime | None) -> None:
        record.sync_status = SyncStatus.ERROR.value
        record.errors = errors
        record.object_updated_at = object_updated_at
        self.summary.errors[record.object_type] += 1
        log.info("push.error", object_type=record.object_type, object_id=str(record.object_id), error=errors.get("message"))

    # -- counterparts ------------------------------------------------------------------------
    def counterpart_platform_id(self, counterpart: Counterpart, object_type: str) -> str:
        """The counterpart's id in the accounting system, pushing it first when needed."""
        cached = self._counterpart_ids.get(counterpart.id)
        if cached is not None:
            return cached
        record = self.record_for(object_type, counterpart.id, counterpart.updated_at)
        outgoing = OutgoingCounterpart(
            id=str(counterpart.id),
            name=counterpart.name,
            is_customer=counterpart.is_customer or object_type == "customer",
            is_vendor=counterpart.is_vendor or object_type == "vendor",
            email=counterpart.email,
            tax_id=counterpart.tax_id,
        )
        content = _hash(asdict(outgoing))
        if not (record.sync_status == SyncStatus.DONE and record.content_hash == content and record.platform_object_id):
            record.push_attempts += 1
            result = self.provider.push_counterpart(outgoing, record.idempotency_key, record.platform_object_id)
            self._done(record, result.platform_id, result.platform_updated_at, content, counterpart.updated_at)
        assert record.platform_object_id is not None
        self._counterpart_ids[counterpart.id] = record.platform_object_id
        return record.platform_object_id

    def push_changed_counterparts(self) -> None:
        """Counterparts pushed before whose details changed since."""
        statement = (
            select(Counterpart, AccountingSyncedRecord.object_type)
            .join(AccountingSyncedRecord, AccountingSyncedRecord.object_id == Counterpart.id)
            .where(
                AccountingSyncedRecord.connection_id == self.connection.id,
                AccountingSyncedRecord.object_type.in_(COUNTERPART_TYPES),
                or_(
                    AccountingSyncedRecord.sync_status == SyncStatus.PENDING.value,
                    Counterpart.updated_at > AccountingSyncedRecord.object_updated_at,
                ),
            )
        )
        for counterpart, object_type in self.session.execute(statement).all():
            self._counterpart_ids.pop(counterpart.id, None)
            self.counterpart_platform_id(counterpart, object_type)
        self.session.commit()

    # -- documents --------------------------------------------------------------------------
    def _tax_rate(self, tax_rate_id: uuid.UUID) -> AccountingTaxRate | None:
        if tax_rate_id not in self._tax_rates:
            self._tax_rates[tax_rate_id] = self.session.get(AccountingTaxRate, tax_rate_id)
        return self._tax_rates[tax_rate_id]

    def outgoing(self, spec: DocumentSpec, document: Document, counterpart_platform_id: str) -> OutgoingDocument:
        lines = []
        for index, line in enumerate(document.lines):
            tax_rate_value, tax_platform_id = line.tax_rate_value, None
            if line.accounting_tax_rate_id is not None:
                rate = self._tax_rate(line.accounting_tax_rate_id)
                if rate is None or rate.organization_id != document.organization_id:
                    raise DataError(
                        f"line {index + 1}: tax rate {line.accounting_tax_rate_id} does not exist",
                        field=f"lines[{index}].accounting_tax_rate_id",
                        value=str(line.accounting_tax_rate_id),
                    )
                if rate.is_external and rate.connection_id == self.connection.id:
                    tax_platform_id = rate.platform_id
                else:
                    tax_rate_value = rate.effective_tax_rate
            lines.append(
                LineItem(
                    description=line.description,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    total=line.total,
                    tax_rate_value=tax_rate_value,
                    tax_rate_platform_id=tax_platform_id,
                    ledger_account_id=line.ledger_account_id,
                )
            )
        return OutgoingDocument(
            kind=spec.kind,
            id=str(document.id),
            counterpart_platform_id=counterpart_platform_id,
            currency=document.currency,
            lines=tuple(lines),
            document_number=document.document_number,
            issue_date=document.issue_date,
            due_date=document.due_date,
            memo=document.memo,
            total_amount=document.total_amount,
        )

    def push_document(
        self, spec: DocumentSpec, document: Document, record: AccountingSyncedRecord | None = None
    ) -> None:
        """Push one document and record the outcome. Retryable and auth errors propagate."""
        record = self.record_for(spec.object_type, document.id, document.updated_at, record)
        if record.platform_deleted_at is not None:
            if record.sync_status != SyncStatus.ERROR:
                self._error(
                    record,
                    {"kind": "deleted", "message": f"this {spec.object_type} was deleted in the accounting system "
                     "and is not re-created; re-create it there or disconnect and reconnect to push it anew"},
                    document.updated_at,
                )
            return
        if document.status in spec.voiding:
            self._void(spec, record, document)
            return
        record.push_attempts += 1
        try:
            counterpart_id = self.counterpart_platform_id(document.counterpart, spec.counterpart_type)
            outgoing = self.outgoing(spec, document, counterpart_id)
            content = _hash(asdict(outgoing))
            if record.sync_status == SyncStatus.DONE and record.content_hash == content:
                record.object_updated_at = document.updated_at
                return
            result = self.provider.push_document(outgoing, record.idempotency_key, record.platform_object_id)
        except DataError as exc:
            self._error(record, exc.to_errors(), document.updated_at)
            return
        except NotFoundError as exc:
            record.platform_deleted_at = self.now()
            self._error(record, {"kind": "deleted", "message": f"{exc.message}; it was deleted in the accounting "
                                 "system and is not re-created"}, document.updated_at)
            return
        except RetryableError as exc:
            record.errors = exc.to_errors()
            raise
        self._done(record, result.platform_id, result.platform_updated_at, content, document.updated_at)

    def _void(self, spec: DocumentSpec, record: AccountingSyncedRecord, document: Document) -> None:
        if record.platform_object_id is None or record.content_hash == "voided":
            record.object_updated_at = document.updated_at
            if record.platform_object_id is None:
                record.sync_status = SyncStatus.DONE.value
            return
        try:
            self.provider.void_document(spec.kind, record.platform_object_id)
        except DataError as exc:
            self._error(record, exc.to_errors(), document.updated_at)
            return
        self._done(record, record.platform_object_id, None, "voided", document.updated_at)

    def candidates(self, spec: DocumentSpec, after: uuid.UUID | None) -> Select[tuple[Any]]:
        """Eligible documents that are new, changed, or pending since their last push (one batch)."""
        model = spec.model
        record = AccountingSyncedRecord
        statement = (
            select(model, record)
            .outerjoin(
                record,
                (record.connection_id == self.connection.id)
                & (record.object_type == spec.object_type)
                & (record.object_id == model.id),
            )
            .where(
                model.organization_id == self.connection.organization_id,
                or_(
                    model.status.in_(spec.pushable) & (
                        record.id.is_(None) | (record.sync_status == SyncStatus.PENDING.value)
                        | (model.updated_at > record.object_updated_at)
                    ),
                    model.status.in_(spec.voiding) & record.platform_object_id.is_not(None)
                    & (model.updated_at > record.object_updated_at),
                ),
            )
            .options(selectinload(model.lines))
            .order_by(model.id)
            .limit(BATCH)
        )
        if not self.connection.backfill and self.connection.connected_at is not None:
            statement = statement.where(record.id.is_not(None) | (model.eligible_at >= self.connection.connected_at))
        if after is not None:
            statement = statement.where(model.id > after)
        return statement

    def iter_candidates(
        self, spec: DocumentSpec, on_batch: Callable[[], None]
    ) -> Iterator[tuple[Document, AccountingSyncedRecord | None]]:
        """Candidates with their synced records (None before the first push), a batch at a time."""
        after: uuid.UUID | None = None
        while True:
            batch = self.session.execute(self.candidates(spec, after)).all()
            if not batch:
                return
            yield from batch
            after = batch[-1][0].id
            self.session.commit()
            on_batch()

    def push_all(self, on_batch: Callable[[], None]) -> None:
        """``on_batch`` runs after each committed batch (the sync renews its lease there)."""
        self.push_changed_counterparts()
        for spec in SPECS:
            for document, record in self.iter_candidates(spec, on_batch):
                self.push_document(spec, document, record)
            self.session.commit()
