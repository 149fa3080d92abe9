"""Push: the platform's payment records, once the document each settles is in the accounting system.

Payments go through the ``Pusher``'s unit of work, after the bills and invoices of the same sync (so a
document pushed now takes its payments at once). A payment whose document is not there yet — a draft on the
platform, never pushed (no backfill), its push failed or is unanswered — *waits*: its record stays
``pending`` with ``errors.kind = "waiting"`` and a message saying what it waits for, costs no provider call,
and goes at the first sync after its document is pushed. A provider may say the same (``NotReadyError``:
Tryton pays only posted invoices). What can never go is ``error``: a document canceled, or deleted in the
accounting system; another currency than the document's; an overpayment the accounting system refuses; a
provider without payments (``supports_payments`` false, kind ``unsupported``, said once and not retried).

A pushed payment is not changed in the accounting system: a payment record changed on the platform after its
push is ``error`` (kind ``changed``) saying to delete it and record the payment again. A payment deleted on the
platform (``status: deleted``) is deleted or voided where it was pushed (``delete_payment``); a provider that
cannot says so on the record. The ledger account payments go to is the connection's default
(``PushDefaults.payment_ledger_account_id``), read at each push, so a change applies to the next one.

The documents whose payments changed are read back from the accounting system after the push (one
``get_document`` each), so ``GET /accounting/payables|receivables`` shows their ``amount_due`` and status
at once rather than after the next pull.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from config.secrets import scrub
from models import (
    AccountingSyncedRecord,
    Payable,
    PaymentRecord,
    PaymentRecordStatus,
    Receivable,
    SyncStatus,
)
from providers.errors import DataError, NotFoundError, NotReadyError
from providers.types import DocumentKind, OutgoingPayment, PushOutcome

if TYPE_CHECKING:
    from tasks.engine.push import DocumentSpec, Pending, Pusher

log = structlog.get_logger(__name__)

OBJECT_TYPE = "payment_record"
BATCH = 200
DELETED = "deleted"  #: the content hash of a record whose payment was deleted where it was pushed


class Waiting(Exception):
    """The payment cannot go yet; ``message`` says what it waits for."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def _content(payment: PaymentRecord) -> dict[str, Any]:
    """What a pushed payment is, on the platform's side: a change to any of it after the push is refused."""
    return {
        "document": f"{payment.document_type}:{payment.payable_id or payment.receivable_id}",
        "amount": payment.amount,
        "currency": payment.currency,
        "paid_date": payment.paid_date.isoformat(),
        "payment_method": payment.payment_method,
        "reference": payment.reference,
    }


class PaymentPusher:
    """The payment records of one ``Pusher`` (one sync or push-retry)."""

    def __init__(self, pusher: Pusher) -> None:
        self.pusher = pusher
        #: documents (by kind, their ids in the accounting system) whose payments changed: read back at the end
        self._touched: dict[DocumentKind, set[str]] = defaultdict(set)

    @property
    def _system(self) -> str:
        return self.pusher.provider.display_name

    # -- what a sync and a push-retry do ------------------------------------------------------
    def push_changed(self) -> None:
        for rows in self._candidate_batches():
            self.push(rows)
        self.refresh_documents()

    def push_record(self, record: AccountingSyncedRecord) -> None:
        """Push one payment record again (push-retry)."""
        payment = self.pusher.session.get(PaymentRecord, record.object_id)
        if payment is None or payment.organization_id != self.pusher.connection.organization_id:
            self.pusher._error(record, {"kind": "not_found", "message": "the payment record no longer exists in "
                               "booksync"}, record.object_updated_at)
            self.pusher.session.commit()
            return
        self.push([(payment, record)])
        self.refresh_documents()

    def _candidates(self, after: uuid.UUID | None) -> Select[tuple[Any]]:
        connection = self.pusher.connection
        record = AccountingSyncedRecord
        payable, receivable = aliased(Payable), aliased(Receivable)
        changed = (record.sync_status == SyncStatus.PENDING.value) | (PaymentRecord.updated_at > record.object_updated_at)
        new = record.id.is_(None)
        if not connection.backfill and connection.connected_at is not None:
            since = connection.connected_at
            new = new & or_(PaymentRecord.created_at >= since, payable.eligible_at >= since,
                            receivable.eligible_at >= since)
        statement = (
            select(PaymentRecord, record)
            .outerjoin(record, self.pusher._scope() & (record.object_type == OBJECT_TYPE)
                       & (record.object_id == PaymentRecord.id))
            .outerjoin(payable, payable.id == PaymentRecord.payable_id)
            .outerjoin(receivable, receivable.id == PaymentRecord.receivable_id)
            .where(
                PaymentRecord.organization_id == connection.organization_id,
                or_(
                    (PaymentRecord.status == PaymentRecordStatus.RECORDED.value) & (new | changed),
                    and_(PaymentRecord.status == PaymentRecordStatus.DELETED.value, record.id.is_not(None),
                         func.coalesce(record.content_hash, "") != DELETED, changed),
                ),
            )
            .order_by(PaymentRecord.id)
            .limit(BATCH)
        )
        if after is not None:
            statement = statement.where(PaymentRecord.id > after)
        return statement

    def _candidate_batches(self) -> Iterator[list[tuple[PaymentRecord, AccountingSyncedRecord | None]]]:
        session = self.pusher.session
        after: uuid.UUID | None = None
        while True:
            batch = [(payment, record) for payment, record in session.execute(self._candidates(after)).all()]
            if not batch:
                return  # no provider call follows: the read stays in the transaction the next commit ends
            session.commit()
            yield batch
            after = batch[-1][0].id

    # -- one batch ------------------------------------------------------------------------------
    def _spec(self, payment: PaymentRecord) -> DocumentSpec:
        from tasks.engine.push import SPECS

        return SPECS[0] if payment.payable_id is not None else SPECS[1]

    def _records_of(self, rows: Sequence[tuple[PaymentRecord, AccountingSyncedRecord | None]]
                    ) -> dict[tuple[str, uuid.UUID], AccountingSyncedRecord]:
        """The synced records of the payments, their documents and the documents' counterparts: one query."""
        ids: set[uuid.UUID] = set()
        for payment, _ in rows:
            document = payment.document
            ids |= {payment.id, document.id, document.counterpart_id}
        return {
            (r.object_type, r.object_id): r
            for r in self.pusher.session.scalars(select(AccountingSyncedRecord).where(
                self.pusher._scope(), AccountingSyncedRecord.object_id.in_(sorted(ids))))
        }

    def push(self, rows: Sequence[tuple[PaymentRecord, AccountingSyncedRecord | None]]) -> None:
        from tasks.engine.push import Pending, _hash

        pusher, session = self.pusher, self.pusher.session
        records = self._records_of(rows)
        pending: list[Pending] = []
        deletions: list[tuple[PaymentRecord, AccountingSyncedRecord]] = []
        for payment, known in rows:
            record = known or records.get((OBJECT_TYPE, payment.id)) or pusher._new_record(
                OBJECT_TYPE, payment.id, payment.updated_at)
            if payment.status == PaymentRecordStatus.DELETED:
                deletions.append((payment, record))
                continue
            if not pusher.provider.supports_payments:
                self._unsupported(record, payment)
                continue
            content = _hash(_content(payment))
            if record.platform_object_id is not None:  # pushed before: never sent twice
                if record.content_hash == content:
                    pusher._finish(record)
                    record.sync_status, record.errors = SyncStatus.DONE.value, None
                    record.object_updated_at = payment.updated_at
                else:
                    pusher._error(record, self._changed_after_push(record), payment.updated_at)
                continue
            try:
                outgoing = self.outgoing(payment, records)
            except Waiting as waiting:
                self._wait(record, waiting.message, waiting.details, payment)
                continue
            except DataError as exc:
                pusher._error(record, scrub(exc.to_errors(), pusher.secrets), payment.updated_at)
                continue
            pending.append(Pending(record, outgoing, content, payment.updated_at))
        session.commit()
        pusher._run(pending, pusher.provider.push_payments, apply=self._apply)
        for payment, record in deletions:
            self._delete(payment, record)

    def outgoing(
        self, payment: PaymentRecord, records: dict[tuple[str, uuid.UUID], AccountingSyncedRecord]
    ) -> OutgoingPayment:
        """The payment to push, or Waiting (its document is not in the accounting system yet), or DataError."""
        spec = self._spec(payment)
        document = payment.document
        name = f"{spec.object_type} {document.document_number or document.id}"
        details = {"object_type": spec.object_type, "object_id": str(document.id)}
        if document.status in spec.voiding:
            raise DataError(f"{name} is {document.status}; a payment cannot be recorded against it", field="object.id",
                            value=str(document.id))
        if payment.currency != document.currency:
            raise DataError(f"the payment is in {payment.currency} but {name} is in {document.currency}; a payment is "
                            "recorded in the currency of the document it settles", field="currency",
                            value=payment.currency)
        if document.status not in spec.pushable:
            first = "waiting_to_be_paid" if spec.kind is DocumentKind.PAYABLE else "issued"
            raise Waiting(f"waits for {name}: it is {document.status} on the platform, and is pushed to {self._system} "
                          f"once it is {first}", details)
        document_record = records.get((spec.object_type, document.id))
        if document_record is None:
            connection = self.pusher.connection
            old = (not connection.backfill and connection.connected_at is not None
                   and (document.eligible_at is None or document.eligible_at < connection.connected_at))
            why = (" (it was ready before the connection was made, and the connection does not backfill)" if old
                   else " yet")
            raise Waiting(f"waits for {name}: it has not been pushed to {self._system}{why}", details)
        if document_record.platform_deleted_at is not None:
            raise DataError(f"{name} was deleted in {self._system}; the payment cannot be recorded there",
                            field="object.id", value=str(document.id))
        if document_record.sync_status != SyncStatus.DONE or not document_record.platform_object_id:
            errors = document_record.errors or {}
            if document_record.sync_status == SyncStatus.ERROR:
                why = f"its push to {self._system} failed: {errors.get('message', 'see its synced record')}"
            else:
                why = f"its push to {self._system} has not finished"
            raise Waiting(f"waits for {name}: {why}", {**details, "synced_record_id": str(document_record.id)})
        counterpart = records.get((spec.counterpart_type, document.counterpart_id))
        default = self.pusher.connection.push_defaults.payment_ledger_account_id
        account = self.pusher.ledger_account(
            str(default), field="defaults.payment_ledger_account_id", label="the connection's default payment account: "
        ) if default is not None else None
        return OutgoingPayment(
            id=str(payment.id),
            kind=spec.kind,
            document_platform_id=document_record.platform_object_id,
            amount=payment.amount,
            currency=payment.currency,
            paid_date=payment.paid_date,
            counterpart_platform_id=counterpart.platform_object_id if counterpart is not None else None,
            account_id=account,
            method=payment.payment_method,
            reference=payment.reference,
        )

    # -- outcomes -------------------------------------------------------------------------------
    def _wait(self, record: AccountingSyncedRecord, message: str, details: dict[str, Any],
              payment: PaymentRecord | None) -> None:
        self.pusher._finish(record)
        record.sync_status = SyncStatus.PENDING.value
        record.errors = {"kind": "waiting", "message": message, "details": details}
        if payment is not None:
            record.object_updated_at = payment.updated_at
        self.pusher.summary.waiting[OBJECT_TYPE] += 1
        log.info("push.waiting", object_type=OBJECT_TYPE, object_id=str(record.object_id), reason=message)

    def _apply(self, pending: Pending, outcome: PushOutcome) -> None:
        pusher = self.pusher
        record, error = pending.record, outcome.error
        item = pending.item
        assert isinstance(item, OutgoingPayment)
        if isinstance(error, NotReadyError):
            self._wait(record, f"{self._system}: {error.message}", scrub(error.details, pusher.secrets), None)
            record.object_updated_at = pending.object_updated_at
        elif isinstance(error, NotFoundError):
            pusher._error(record, pusher._errors_of(error), pending.object_updated_at)
        elif error is not None:
            pusher._apply(pending, outcome)
            return
        elif outcome.result is not None:
            pusher._done(pending, outcome.result.platform_id, outcome.result.platform_updated_at, None)
            self._touched[item.kind].add(item.document_platform_id)

    def _changed_after_push(self, record: AccountingSyncedRecord) -> dict[str, Any]:
        return {
            "kind": "changed",
            "message": f"this payment record changed on the platform after it was pushed to {self._system} (payment "
                       f"{record.platform_object_id} there), and a recorded payment is not changed: delete this payment "
                       "record (status deleted) and record the payment again under a new id",
        }

    def _unsupported(self, record: AccountingSyncedRecord, payment: PaymentRecord) -> None:
        if record.sync_status == SyncStatus.ERROR and (record.errors or {}).get("kind") == "unsupported":
            record.object_updated_at = payment.updated_at
            return
        self.pusher._error(record, {
            "kind": "unsupported",
            "message": f"{self._system} does not take payments from booksync; record this payment there by hand",
        }, payment.updated_at)

    def _delete(self, payment: PaymentRecord, record: AccountingSyncedRecord) -> None:
        """A payment deleted on the platform: deleted (or voided) where it was pushed, where the system can."""
        pusher, session = self.pusher, self.pusher.session
        if record.platform_object_id is None or record.content_hash == DELETED:
            self._deleted(record, payment, counted=False)  # never pushed: there is nothing to delete
            session.commit()
            return
        spec = self._spec(payment)
        record.push_attempts += 1
        session.commit()
        pusher.checkpoint()
        try:
            pusher.provider.delete_payment(spec.kind, record.platform_object_id)
        except NotFoundError:
            self._deleted(record, payment)
        except DataError as exc:
            pusher._error(record, pusher._errors_of(exc), payment.updated_at)
        else:
            self._deleted(record, payment)
            document = self._document_platform_id(payment)
            if document is not None:
                self._touched[spec.kind].add(document)
        pusher.commit_outcome()

    def _deleted(self, record: AccountingSyncedRecord, payment: PaymentRecord, *, counted: bool = True) -> None:
        pusher = self.pusher
        pusher._finish(record)
        record.sync_status = SyncStatus.DONE.value
        record.errors = None
        record.content_hash = DELETED
        record.object_updated_at = payment.updated_at
        if counted:
            record.last_pushed_at = pusher.now()
            pusher.summary.pushed[OBJECT_TYPE] += 1

    # -- reading back what changed ------------------------------------------------------------
    def refresh_documents(self) -> None:
        """Read the documents whose payments changed back from the accounting system (amount due, status)."""
        from tasks.engine.pull import refresh_documents

        touched, self._touched = self._touched, defaultdict(set)
        for kind, platform_ids in touched.items():
            try:
                refresh_documents(self.pusher.session, self.pusher.connection, self.pusher.provider, kind,
                                  sorted(platform_ids), self.pusher.now(), checkpoint=self.pusher.checkpoint)
            except (DataError, NotFoundError) as exc:
                log.info("push.refresh_failed", kind=kind.value, error=exc.message)

    def _document_platform_id(self, payment: PaymentRecord) -> str | None:
        """The accounting system's id of the document a payment settles, from its synced record."""
        return self.pusher.session.scalar(select(AccountingSyncedRecord.platform_object_id).where(
            self.pusher._scope(), AccountingSyncedRecord.object_type == self._spec(payment).object_type,
            AccountingSyncedRecord.object_id == payment.document.id))
