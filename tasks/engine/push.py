"""Push: the platform's counterparts, bills and invoices to the accounting system, each outcome a synced record;
products and payment records go through the same unit of work (``tasks.engine.products``,
``tasks.engine.payments``): products before the documents that sell them, payments after the documents they
settle.

Each push is its own unit of work. Before a provider call the engine commits what a retry needs (the
record exists with its idempotency key, the attempt is counted, ``push_started_at`` marks it in
flight); the call runs with no database transaction open; each outcome is committed the moment it
is known. A record found still in flight was interrupted mid-call: its next push asks the provider to
look its key up before creating anything (``may_exist``); a first push pays for no lookup.

Failures are per record. A data error is that record's ``error``. A counterpart the accounting system
refuses makes the documents that need it ``error`` (saying which counterpart and why) and the others go
on. A record whose push keeps ending without an answer is an ``error`` after ``push_max_attempts``.
``push_outage_after`` retryable failures in a row mean the provider is down: the sync ends (every
outcome so far is recorded) and its task retries later. ``RateLimited`` ends the sync at once, to be
rescheduled when the budget returns.

Idempotency keys belong to the organization's books, not to a connection (``idempotency_key``), so a
reconnect to the same books finds what was pushed. A document is pushed again only when what would be
sent has changed (``content_hash``). A document deleted in the accounting system is never re-created.
After a push, the provider's computed totals are checked against the platform's.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from config import get_settings
from config.secrets import scrub
from models import (
    PAYABLE_PUSHABLE,
    PAYABLE_VOIDING,
    RECEIVABLE_PUSHABLE,
    RECEIVABLE_VOIDING,
    AccountingConnection,
    AccountingSyncedRecord,
    AccountingTaxRate,
    Counterpart,
    LedgerAccount,
    Payable,
    Receivable,
    SyncStatus,
)
from models.db import relax_durability
from providers.base import AccountingProvider
from providers.errors import DataError, NotFoundError, ProviderError, RateLimited, RetryableError
from providers.http import requests_sent
from providers.money import format_amount
from providers.types import (
    DocumentKind,
    DocumentTotals,
    LineItem,
    OutgoingCounterpart,
    OutgoingDocument,
    OutgoingPayment,
    OutgoingProduct,
    PushOutcome,
    PushRequest,
)
from tasks.engine.payments import PaymentPusher
from tasks.engine.products import ProductPusher
from tasks.engine.summary import SyncSummary
from webhooks import emit

log = structlog.get_logger(__name__)

BATCH = 200
Document = Payable | Receivable
Outgoing = OutgoingCounterpart | OutgoingDocument | OutgoingProduct | OutgoingPayment
PushFunction = Callable[[Sequence[PushRequest[Any]]], Iterator[PushOutcome]]


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
OTHER_COUNTERPART_TYPE = {"customer": "vendor", "vendor": "customer"}


def idempotency_key(organization_id: uuid.UUID, books_id: str, object_type: str, object_id: uuid.UUID) -> str:
    """Stable per organization, books and object, whichever connection pushes it; the customer and
    vendor records of one counterpart share one."""
    kind = "counterpart" if object_type in COUNTERPART_TYPES else object_type
    return uuid.uuid5(organization_id, f"{books_id}|{kind}:{object_id}").hex


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(slots=True)
class Pending:
    """One object about to be pushed, with what its outcome is recorded against."""

    record: AccountingSyncedRecord
    item: Outgoing
    content: str
    object_updated_at: datetime | None


Apply = Callable[[Pending, PushOutcome], None]


class ProviderOutage(RetryableError):
    """Several pushes in a row ended without an answer: the sync stops and retries later."""


class Pusher:
    """Pushes over one connection, within one sync or one push-retry. Owns the session's commits."""

    def __init__(
        self,
        session: Session,
        connection: AccountingConnection,
        provider: AccountingProvider,
        summary: SyncSummary,
        now: Callable[[], datetime],
        *,
        checkpoint: Callable[[], None] = lambda: None,
        secrets: Iterable[str] = (),
    ) -> None:
        """``checkpoint`` runs before every provider call (the sync raises there when its lease is lost);
        ``secrets`` are scrubbed from every provider text that is stored."""
        settings = get_settings()
        self.session = session
        self.connection = connection
        self.provider = provider
        self.summary = summary
        self.now = now
        self.checkpoint = checkpoint
        self.secrets = list(secrets)
        self.max_attempts = settings.push_max_attempts
        self.outage_after = settings.push_outage_after
        self.failures_in_a_row = 0
        # Documents are read in whole provider batches (QuickBooks' 30: 210, not 200 that leave a call of 20).
        size = max(1, provider.max_batch)
        self.read_batch = -(-BATCH // size) * size
        self._counterparts: dict[uuid.UUID, str | dict[str, Any]] = {}  # platform id, or errors
        self._tax_rates: dict[uuid.UUID, AccountingTaxRate | None] = {}
        self._ledger_accounts: dict[uuid.UUID, LedgerAccount | None] = {}
        self.products = ProductPusher(self)
        self.payments = PaymentPusher(self)

    # -- whole sync -----------------------------------------------------------------------------
    def push_all(self) -> None:
        """Products and counterparts first, then bills and invoices, then the payments that settle them."""
        self.products.push_changed()
        self.push_changed_counterparts()
        for spec in SPECS:
            for rows in self.candidate_batches(spec):
                self.push_documents(spec, rows)
        self.payments.push_changed()

    def push_record(self, record: AccountingSyncedRecord) -> None:
        """Push one record's object again (push-retry)."""
        record.sync_status = SyncStatus.PENDING.value
        if record.object_type == "product":
            self.products.push_record(record)
            return
        if record.object_type == "payment_record":
            self.payments.push_record(record)
            return
        if record.object_type in COUNTERPART_TYPES:
            counterpart = self.session.get(Counterpart, record.object_id)
            if counterpart is None:
                self._error(record, {"kind": "not_found", "message": "the counterpart no longer exists in booksync"},
                            record.object_updated_at)
                return
            self.push_counterparts([(counterpart, record.object_type)], force=True)
            return
        spec = SPEC_BY_OBJECT_TYPE[record.object_type]
        document = self.session.get(spec.model, record.object_id)
        if document is None:
            self._error(record, {"kind": "not_found", "message": f"the {record.object_type} no longer exists in booksync"},
                        record.object_updated_at)
            return
        self.push_documents(spec, [(document, record)])

    # -- records --------------------------------------------------------------------------------
    def _scope(self) -> Any:
        record = AccountingSyncedRecord
        return (record.organization_id == self.connection.organization_id) & (record.books_id == self.connection.books)

    def _new_record(self, object_type: str, object_id: uuid.UUID, object_updated_at: datetime | None) -> AccountingSyncedRecord:
        record = AccountingSyncedRecord(
            organization_id=self.connection.organization_id,
            connection_id=self.connection.id,
            books_id=self.connection.books,
            object_type=object_type,
            object_id=object_id,
            object_updated_at=object_updated_at,
            platform=self.connection.platform,
            sync_status=SyncStatus.PENDING.value,
            push_attempts=0,
            push_failures=0,
            idempotency_key=idempotency_key(self.connection.organization_id, self.connection.books, object_type, object_id),
        )
        self.session.add(record)
        return record

    def _errors_of(self, exc: ProviderError, **extra: Any) -> dict[str, Any]:
        errors = exc.to_errors()
        errors["message"] = f"{self.provider.display_name}: {errors['message']}"
        errors.update(extra)
        return scrub(errors, self.secrets)

    def _finish(self, record: AccountingSyncedRecord) -> None:
        record.push_started_at = None
        record.push_failures = 0
        record.connection_id = self.connection.id

    def _done(self, pending: Pending, platform_id: str, platform_updated_at: datetime | None,
              totals: DocumentTotals | None) -> None:
        record, now = pending.record, self.now()
        emit(record, self.session)
        self._finish(record)
        record.platform_object_id = platform_id
        record.platform_updated_at = platform_updated_at
        record.last_pushed_at = now
        record.last_pulled_at = now  # the push's answer is booksync seeing the object in the accounting system
        record.content_hash = pending.content
        record.object_updated_at = pending.object_updated_at
        mismatch = _totals_mismatch(pending.item, totals, self.provider.display_name) if totals else None
        if mismatch is not None:
            record.sync_status = SyncStatus.ERROR.value
            record.errors = mismatch
            self.summary.errors[record.object_type] += 1
            log.info("push.total_mismatch", object_type=record.object_type, object_id=str(record.object_id))
            return
        record.sync_status = SyncStatus.DONE.value
        record.errors = None
        self.summary.pushed[record.object_type] += 1

    def _error(self, record: AccountingSyncedRecord, errors: dict[str, Any], object_updated_at: datetime | None) -> None:
        emit(record, self.session)
        self._finish(record)
        record.sync_status = SyncStatus.ERROR.value
        record.errors = errors
        record.object_updated_at = object_updated_at
        self.summary.errors[record.object_type] += 1
        log.info("push.error", object_type=record.object_type, object_id=str(record.object_id),
                 error=errors.get("message"))

    def _apply(self, pending: Pending, outcome: PushOutcome) -> None:
        record = pending.record
        error = outcome.error
        if isinstance(error, NotFoundError):
            record.platform_deleted_at = self.now()
            self._error(record, self._errors_of(error, kind="deleted",
                        message=f"{self.provider.display_name}: {error.message}; it was deleted in the accounting "
                        "system and is not re-created"), pending.object_updated_at)
        elif error is not None:
            if outcome.result is not None:  # created, then refused a later step (posting): keep what exists
                record.platform_object_id = outcome.result.platform_id
                record.platform_updated_at = outcome.result.platform_updated_at
                record.last_pushed_at = self.now()
            self._error(record, self._errors_of(error), pending.object_updated_at)
        elif outcome.result is not None:
            result = outcome.result
            self._done(pending, result.platform_id, result.platform_updated_at, result.totals)

    def _unanswered(self, pending: Sequence[Pending], exc: RetryableError) -> None:
        """Pushes that ended without an answer stay in flight (looked up next time), or give up."""
        for item in pending:
            record = item.record
            if isinstance(exc, RateLimited):
                record.errors = self._errors_of(exc)
                continue
            record.push_failures += 1
            errors = self._errors_of(exc, attempts=record.push_failures)
            if record.push_failures >= self.max_attempts:
                emit(record, self.session)
                record.sync_status = SyncStatus.ERROR.value
                errors["kind"] = "gave_up"
                errors["message"] = (f"gave up after {record.push_failures} attempts without an answer; the last: "
                                     f"{errors['message']}")
                self.summary.errors[record.object_type] += 1
            record.errors = errors
        self.session.commit()

    # -- commits --------------------------------------------------------------------------------
    def commit_outcome(self) -> None:
        """Commit what a provider answered. On PostgreSQL the commit does not wait for its WAL to reach
        the disk (``synchronous_commit`` off for this transaction alone): an outcome lost to a crash of
        PostgreSQL itself leaves its record as the commit before the call left it, in flight under its
        key, and the next push looks the key up and finds what was pushed. That commit before the call
        stays synchronous, and every synchronous commit after also makes the earlier outcomes durable."""
        relax_durability(self.session)
        self.session.commit()

    # -- the provider calls ---------------------------------------------------------------------
    def _run(self, pending: list[Pending], push: PushFunction, apply: Apply | None = None) -> None:
        """Push ``pending`` in the provider's batches, committing before each call (its records marked in
        flight) and after it (its outcomes); ``apply`` records an outcome (documents' and counterparts' by
        default)."""
        if not pending:
            return
        may_exist: dict[str, bool] = {}
        for item in pending:
            record = item.record
            may_exist[record.idempotency_key] = record.platform_object_id is None and (
                record.push_started_at is not None or record.push_failures > 0
            )
        size = max(1, self.provider.max_batch)
        for start in range(0, len(pending), size):
            chunk = pending[start:start + size]
            # Marked a chunk at a time: a sync stopped at the rate limit leaves only the chunk it did not
            # send marked (and unmarks that), so the next sync looks up no key that was never sent.
            now = self.now()
            for item in chunk:
                record = item.record
                record.push_attempts += 1
                record.push_started_at = now
                record.connection_id = self.connection.id
            self.session.commit()
            self._push_chunk(chunk, may_exist, push, apply or self._apply)

    def _push_chunk(
        self, chunk: list[Pending], may_exist: dict[str, bool], push: PushFunction, apply: Apply, *,
        again: bool = False, resend: bool = False,
    ) -> None:
        """One provider call. If it ends without an answer, it goes again once as a whole, each object
        marked ``may_exist`` (a provider that replays idempotent requests answers from its first attempt;
        others look the keys up), then its objects one at a time, so one poison object costs only
        itself an attempt."""
        by_key = {item.record.idempotency_key: item for item in chunk}
        requests = [
            PushRequest(item.item, key, item.record.platform_object_id, may_exist=may_exist[key])
            for key, item in by_key.items()
        ]
        answered: set[str] = set()
        outcomes: list[tuple[Pending, PushOutcome]] = []
        self.checkpoint()
        sent_before = requests_sent()
        try:
            # The session is left alone while the provider works (no transaction is open during a call);
            # the chunk's outcomes, known together once its answer is read, are committed together.
            for outcome in push(requests):
                item = by_key.get(outcome.key)
                if item is None or outcome.key in answered:
                    log.warning("push.unexpected_outcome", key=outcome.key)
                    continue
                answered.add(outcome.key)
                outcomes.append((item, outcome))
                self.failures_in_a_row = 0
        except RetryableError as exc:
            self._record(outcomes, apply)
            unanswered = [item for key, item in by_key.items() if key not in answered]
            if isinstance(exc, RateLimited):
                # Stopped by the limiter or the sync's time running out. If no request left meanwhile,
                # nothing of it reached the provider, so what was not in flight before is not in flight
                # now; a push of several calls (Tryton's create, then post) may be stopped after some.
                if requests_sent() == sent_before:
                    for item in unanswered:
                        if not may_exist[item.record.idempotency_key]:
                            item.record.push_started_at = None
                self._unanswered(unanswered, exc)
                raise
            if not resend:  # sending the same call again is not another sign of an outage
                self.failures_in_a_row += 1
            if self.failures_in_a_row >= self.outage_after:
                self._unanswered(unanswered, exc)
                raise ProviderOutage(
                    f"{self.failures_in_a_row} pushes in a row failed ({exc.message}); the sync stops and "
                    "retries later", retry_after=exc.retry_after, details=exc.details,
                ) from exc
            for item in unanswered:
                may_exist[item.record.idempotency_key] = item.record.platform_object_id is None
            if not again:
                self._push_chunk(unanswered, may_exist, push, apply, again=True, resend=True)
            elif len(unanswered) > 1:
                for item in unanswered:
                    self._push_chunk([item], may_exist, push, apply, again=True)
            else:
                self._unanswered(unanswered, exc)
            return
        except ProviderError:
            self._record(outcomes, apply)
            raise
        self._record(outcomes, apply)
        missing = [item for key, item in by_key.items() if key not in answered]
        if missing:
            self._unanswered(missing, RetryableError("the accounting system gave no answer for it"))

    def _record(self, outcomes: Sequence[tuple[Pending, PushOutcome]], apply: Apply) -> None:
        """Record ``outcomes`` (``apply`` each) and commit them in one transaction."""
        for item, outcome in outcomes:
            apply(item, outcome)
        if outcomes:
            self.commit_outcome()

    # -- counterparts ---------------------------------------------------------------------------
    def push_counterparts(
        self, needed: Sequence[tuple[Counterpart, str]], *, force: bool = False
    ) -> dict[uuid.UUID, str | dict[str, Any] | None]:
        """Each counterpart's id in the accounting system, the errors that keep it out, or None when its
        push ended without an answer (documents that need it wait for the next sync); pushes those that
        are new or changed."""
        wanted = {counterpart.id: (counterpart, object_type) for counterpart, object_type in needed
                  if force or counterpart.id not in self._counterparts}
        if wanted:
            records = {
                (r.object_id, r.object_type): r
                for r in self.session.scalars(
                    select(AccountingSyncedRecord).where(
                        self._scope(),
                        AccountingSyncedRecord.object_type.in_(COUNTERPART_TYPES),
                        AccountingSyncedRecord.object_id.in_(list(wanted)),
                    )
                )
            }
            pending: list[Pending] = []
            for counterpart, object_type in wanted.values():
                record = records.get((counterpart.id, object_type)) or self._new_record(
                    object_type, counterpart.id, counterpart.updated_at
                )
                sibling = records.get((counterpart.id, OTHER_COUNTERPART_TYPE[object_type]))
                outgoing = OutgoingCounterpart(
                    id=str(counterpart.id),
                    name=counterpart.name,
                    is_customer=counterpart.is_customer or object_type == "customer",
                    is_vendor=counterpart.is_vendor or object_type == "vendor",
                    email=counterpart.email,
                    tax_id=counterpart.tax_id,
                )
                content = _hash(asdict(outgoing))
                if (record.sync_status == SyncStatus.DONE and record.content_hash == content
                        and record.platform_object_id and record.platform_deleted_at is None):
                    self._counterparts[counterpart.id] = record.platform_object_id
                    continue
                if record.platform_object_id is None and sibling is not None and sibling.platform_object_id:
                    record.platform_object_id = sibling.platform_object_id  # one party for both roles
                pending.append(Pending(record, outgoing, content, counterpart.updated_at))
            self.session.commit()
            self._run(pending, self.provider.push_counterparts)
            for item in pending:
                record = item.record
                counterpart_id = record.object_id
                if record.sync_status == SyncStatus.DONE and record.platform_object_id:
                    self._counterparts[counterpart_id] = record.platform_object_id
                    self._retry_documents_waiting_for(counterpart_id)
                elif record.sync_status == SyncStatus.ERROR:
                    self._counterparts[counterpart_id] = record.errors or {"message": "it was refused"}
                else:
                    self._counterparts.pop(counterpart_id, None)
        return {counterpart.id: self._counterparts.get(counterpart.id) for counterpart, _ in needed}

    def _retry_documents_waiting_for(self, counterpart_id: uuid.UUID) -> None:
        """Documents that failed only because this counterpart could not be pushed go again."""
        for spec in SPECS:
            waiting = self.session.scalars(
                select(AccountingSyncedRecord)
                .join(spec.model, spec.model.id == AccountingSyncedRecord.object_id)
                .where(
                    self._scope(),
                    AccountingSyncedRecord.object_type == spec.object_type,
                    AccountingSyncedRecord.sync_status == SyncStatus.ERROR.value,
                    spec.model.counterpart_id == counterpart_id,
                )
            ).all()
            for record in waiting:
                if (record.errors or {}).get("kind") == "counterpart":
                    record.sync_status = SyncStatus.PENDING.value
        self.session.commit()

    def push_changed_counterparts(self) -> None:
        """Counterparts pushed before whose details changed since, or whose push is pending."""
        statement = (
            select(Counterpart, AccountingSyncedRecord.object_type)
            .join(AccountingSyncedRecord, AccountingSyncedRecord.object_id == Counterpart.id)
            .where(
                self._scope(),
                AccountingSyncedRecord.object_type.in_(COUNTERPART_TYPES),
                or_(
                    AccountingSyncedRecord.sync_status == SyncStatus.PENDING.value,
                    Counterpart.updated_at > AccountingSyncedRecord.object_updated_at,
                ),
            )
            .order_by(Counterpart.id)
        )
        rows = [(counterpart, object_type) for counterpart, object_type in self.session.execute(statement).all()]
        if not rows:
            return  # no provider call follows: the read stays in the transaction the next commit ends
        self.session.commit()
        for start in range(0, len(rows), BATCH):
            self.push_counterparts(rows[start:start + BATCH], force=True)

    # -- documents ------------------------------------------------------------------------------
    def _tax_rate(self, tax_rate_id: uuid.UUID) -> AccountingTaxRate | None:
        if tax_rate_id not in self._tax_rates:
            self._tax_rates[tax_rate_id] = self.session.get(AccountingTaxRate, tax_rate_id)
        return self._tax_rates[tax_rate_id]

    def _ledger_account(self, index: int, value: str) -> str:
        """A line's ledger account as the accounting system names it."""
        return self.ledger_account(value, field=f"lines[{index}].ledger_account_id", label=f"line {index + 1}: ")

    def ledger_account(self, value: str, *, field: str, label: str = "") -> str:
        """A ledger account as the accounting system names it. booksync hands out its own ids
        (``GET /ledger-accounts``); those of these books resolve to the system's id, any other value is the
        system's own already. ``label`` starts the message (``"line 2: "``)."""
        try:
            account_id = uuid.UUID(value)
        except ValueError:
            return value  # already the accounting system's own id
        if account_id not in self._ledger_accounts:
            self._ledger_accounts[account_id] = self.session.get(LedgerAccount, account_id)
        account = self._ledger_accounts[account_id]
        if account is None or account.organization_id != self.connection.organization_id:
            raise DataError(f"{label}ledger account {value} does not exist (ids come from GET /ledger-accounts)",
                            field=field, value=value)
        if account.books_id != self.connection.books:
            raise DataError(f"{label}ledger account {value} ({account.name}) belongs to other books than this "
                            "connection's", field=field, value=value)
        return account.platform_id

    def tax_of(self, tax_rate_value: int | None, tax_rate_id: uuid.UUID | None, *, field: str, label: str = ""
               ) -> tuple[int | None, str | None]:
        """(tax_rate_value, tax_rate_platform_id) to send for a booksync tax rate or a plain rate."""
        if tax_rate_id is None:
            return tax_rate_value, None
        rate = self._tax_rate(tax_rate_id)
        if rate is None or rate.organization_id != self.connection.organization_id:
            raise DataError(f"{label}tax rate {tax_rate_id} does not exist", field=field, value=str(tax_rate_id))
        if rate.is_external and rate.books_id == self.connection.books:
            return None, rate.platform_id
        return rate.effective_tax_rate, None

    def outgoing(
        self, spec: DocumentSpec, document: Document, counterpart_platform_id: str,
        products: dict[uuid.UUID, str | None] | None = None,
    ) -> OutgoingDocument:
        """``products``: the platform id of each line's product (None where the provider takes none)."""
        lines = []
        for index, line in enumerate(document.lines):
            tax_rate_value, tax_platform_id = self.tax_of(
                line.tax_rate_value, line.accounting_tax_rate_id, field=f"lines[{index}].accounting_tax_rate_id",
                label=f"line {index + 1}: ",
            )
            account = line.ledger_account_id
            if account is None and line.product_id is not None and spec.kind is DocumentKind.RECEIVABLE:
                account = self.products.sales_account(line.product_id)
            lines.append(
                LineItem(
                    description=line.description,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    total=line.total,
                    tax_rate_value=tax_rate_value,
                    tax_rate_platform_id=tax_platform_id,
                    ledger_account_id=self._ledger_account(index, account) if account else None,
                    product_platform_id=(products or {}).get(line.product_id) if line.product_id else None,
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
            subtotal=document.subtotal,
            tax_amount=document.tax_amount,
            total_amount=document.total_amount,
        )

    def push_documents(
        self, spec: DocumentSpec, rows: Sequence[tuple[Document, AccountingSyncedRecord | None]]
    ) -> None:
        """Push a batch of documents (counterparts first) and record each outcome."""
        to_push: list[tuple[Document, AccountingSyncedRecord]] = []
        to_void: list[tuple[Document, AccountingSyncedRecord]] = []
        for document, known in rows:
            record = known or self._new_record(spec.object_type, document.id, document.updated_at)
            if record.platform_deleted_at is not None:
                if record.sync_status != SyncStatus.ERROR:
                    self._error(record, {"kind": "deleted", "message": f"this {spec.object_type} was deleted in the "
                                "accounting system and is not re-created; re-create it there, or push it as a new "
                                "document under a new id"}, document.updated_at)
                else:
                    record.object_updated_at = document.updated_at
            elif document.status in spec.voiding:
                to_void.append((document, record))
            else:
                to_push.append((document, record))
        self.session.commit()
        counterparts = self.push_counterparts(
            list({d.counterpart.id: (d.counterpart, spec.counterpart_type) for d, _ in to_push}.values())
        )
        products = self.products.resolve({line.product_id for d, _ in to_push for line in d.lines if line.product_id})
        pending: list[Pending] = []
        for document, record in to_push:
            counterpart = counterparts.get(document.counterpart.id)
            if counterpart is None:
                continue  # its counterpart's push ended without an answer: both go again next sync
            if isinstance(counterpart, dict):
                reason = str(counterpart.get("message", "")).removeprefix(f"{self.provider.display_name}: ")
                self._error(record, {
                    "kind": "counterpart",
                    "message": f"counterpart {document.counterpart.name!r} ({document.counterpart.id}) could not be "
                               f"pushed to {self.provider.display_name}: {reason}",
                    "details": {"counterpart_id": str(document.counterpart.id)},
                }, document.updated_at)
                continue
            needed = {line.product_id for line in document.lines if line.product_id is not None}
            if any(product_id not in products for product_id in needed):
                continue  # a product's push ended without an answer: the document goes with it next sync
            refused = next((p for p in sorted(needed) if isinstance(products[p], dict)), None)
            if refused is not None:
                self._error(record, self.products.refusal(refused, products[refused]), document.updated_at)  # type: ignore[arg-type]
                continue
            try:
                outgoing = self.outgoing(spec, document, counterpart, products)  # type: ignore[arg-type]
            except DataError as exc:
                self._error(record, scrub(exc.to_errors(), self.secrets), document.updated_at)
                continue
            content = _hash(asdict(outgoing))
            if record.sync_status == SyncStatus.DONE and record.content_hash == content:
                record.object_updated_at = document.updated_at
                continue
            pending.append(Pending(record, outgoing, content, document.updated_at))
        self.session.commit()
        self._run(pending, self.provider.push_documents)
        for document, record in to_void:
            self._void(spec, record, document)

    def _void(self, spec: DocumentSpec, record: AccountingSyncedRecord, document: Document) -> None:
        if record.platform_object_id is None or record.content_hash == "voided":
            record.object_updated_at = document.updated_at
            if record.platform_object_id is None:
                record.sync_status = SyncStatus.DONE.value
            self.session.commit()
            return
        record.push_attempts += 1
        self.session.commit()
        self.checkpoint()
        try:
            self.provider.void_document(spec.kind, record.platform_object_id)
        except DataError as exc:
            self._error(record, self._errors_of(exc), document.updated_at)
        except NotFoundError:
            record.platform_deleted_at = self.now()
            self._voided(record, document.updated_at)
        else:
            self._voided(record, document.updated_at)
        self.commit_outcome()

    def _voided(self, record: AccountingSyncedRecord, object_updated_at: datetime | None) -> None:
        emit(record, self.session)
        self._finish(record)
        record.sync_status = SyncStatus.DONE.value
        record.errors = None
        record.content_hash = "voided"
        record.last_pushed_at = self.now()
        record.object_updated_at = object_updated_at
        self.summary.pushed[record.object_type] += 1

    def candidates(self, spec: DocumentSpec, after: uuid.UUID | None) -> Select[tuple[Any]]:
        """Eligible documents that are new, changed, or pending since their last push (one batch)."""
        model = spec.model
        record = AccountingSyncedRecord
        statement = (
            select(model, record)
            .outerjoin(
                record,
                (record.organization_id == self.connection.organization_id)
                & (record.books_id == self.connection.books)
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
            .limit(self.read_batch)
        )
        if not self.connection.backfill and self.connection.connected_at is not None:
            statement = statement.where(record.id.is_not(None) | (model.eligible_at >= self.connection.connected_at))
        if after is not None:
            statement = statement.where(model.id > after)
        return statement

    def candidate_batches(self, spec: DocumentSpec) -> Iterator[list[tuple[Document, AccountingSyncedRecord | None]]]:
        """Candidates with their synced records (None before the first push), a batch at a time; each read
        is committed (no transaction stays open) before the batch is pushed."""
        after: uuid.UUID | None = None
        while True:
            batch = [(document, record) for document, record in self.session.execute(self.candidates(spec, after)).all()]
            if not batch:
                return  # no provider call follows: the read stays in the transaction the next commit ends
            self.session.commit()
            yield batch
            after = batch[-1][0].id


def _totals_mismatch(item: Outgoing, totals: DocumentTotals, system: str) -> dict[str, Any] | None:
    """The errors object for a pushed document whose totals differ from the platform's, else None."""
    if not isinstance(item, OutgoingDocument):
        return None
    currency = item.currency
    differences: list[dict[str, Any]] = []
    for name, expected, actual in (
        ("total_amount", item.total_amount, totals.total_amount),
        ("subtotal", item.subtotal, totals.subtotal),
        ("tax_amount", item.tax_amount, totals.tax_amount),
    ):
        if expected is not None and expected != actual:
            differences.append({"field": name, "platform": expected, "provider": actual})
    if totals.line_totals and len(totals.line_totals) == len(item.lines):
        for index, (line, actual) in enumerate(zip(item.lines, totals.line_totals, strict=True)):
            if line.total is not None and line.total != actual:
                differences.append({"field": f"lines[{index}].total", "platform": line.total, "provider": actual})
    if not differences:
        return None
    said = "; ".join(
        f"{d['field'].replace('_amount', '').replace('subtotal', 'subtotal')}: {system} computed "
        f"{format_amount(d['provider'], currency)} where the platform's is {format_amount(d['platform'], currency)}"
        for d in differences
    )
    return {
        "kind": "total_mismatch",
        "message": f"pushed, but the totals differ: {said}",
        "details": {"currency": currency, "differences": differences},
    }
