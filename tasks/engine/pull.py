"""Pull: the accounting system's tax rates, ledger accounts and documents into booksync's tables.

Pages stream through: each page is upserted in one statement and committed with the cursor after it,
so memory does not grow with the number of documents and an interrupted pull resumes where it was.
Every provider call happens with no database transaction open: each step commits before the next call.
Incremental pulls re-read ``BOOKSYNC_PULL_LAG_SECONDS`` before their cursor (changes stamped early and
committed late); the upsert by the provider's id makes a re-read document count once.
A full reconcile lists every id the accounting system still has and marks the rest deleted, both
pulled documents and pushed ones (a synced record's ``last_pulled_at`` is when its document was last
seen there), so a push never re-creates what was deleted remotely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models import AccountingConnection, AccountingDocument, AccountingSyncedRecord, AccountingTaxRate, LedgerAccount
from providers.base import AccountingProvider
from providers.errors import NotFoundError
from providers.types import Document, DocumentKind, LineItem
from tasks.engine.summary import SyncSummary
from tasks.engine.upsert import upsert

ID_CHUNK = 1000
OBJECT_TYPE_OF_KIND = {DocumentKind.PAYABLE: "bill", DocumentKind.RECEIVABLE: "receivable"}


def _line(line: LineItem) -> dict[str, Any]:
    return {
        "description": line.description,
        "quantity": str(line.quantity),
        "unit_price": line.unit_price,
        "total": line.total,
        "tax_rate_value": line.tax_rate_value,
        "tax_rate_platform_id": line.tax_rate_platform_id,
        "ledger_account_id": line.ledger_account_id,
    }


def document_row(connection: AccountingConnection, document: Document, now: datetime) -> dict[str, Any]:
    return {
        "organization_id": connection.organization_id,
        "connection_id": connection.id,
        "kind": document.kind.value,
        "platform_id": document.platform_id,
        "document_number": document.document_number,
        "reference": document.reference,
        "counterpart_platform_id": document.counterpart_platform_id,
        "counterpart_name": document.counterpart_name,
        "currency": document.currency,
        "subtotal": document.subtotal,
        "tax_amount": document.tax_amount,
        "total_amount": document.total_amount,
        "amount_due": document.amount_due,
        "currency_rate": document.currency_rate,
        "status": document.status,
        "issue_date": document.issue_date,
        "due_date": document.due_date,
        "memo": document.memo,
        "lines": [_line(line) for line in document.lines],
        "platform_updated_at": document.updated_at,
        "pulled_at": now,
        "deleted_at": None,
        "created_at": now,  # kept on conflict (the upsert never updates it): created_at <= updated_at
        "updated_at": now,
    }


def pull_tax_rates(session: Session, connection: AccountingConnection, provider: AccountingProvider, now: datetime) -> int:
    rows = [
        {
                "organization_id": connection.organization_id,
            "connection_id": connection.id,
            "books_id": connection.books,
            "is_external": True,
            "platform_id": rate.platform_id,
            "name": rate.name,
            "code": rate.code,
            "effective_tax_rate": rate.effective_tax_rate,
            "components": [dataclasses.asdict(c) for c in rate.components],
            "status": rate.status,
            "pulled_at": now,
            "created_at": now,  # kept on conflict (the upsert never updates it): created_at <= updated_at
            "updated_at": now,
        }
        for rate in provider.list_tax_rates()
    ]
    upsert(session, AccountingTaxRate.__table__, rows, ("organization_id", "books_id", "platform_id"))
    _mark_missing(session, AccountingTaxRate, connection, now)
    session.commit()
    return len(rows)


def pull_ledger_accounts(
    session: Session, connection: AccountingConnection, provider: AccountingProvider, now: datetime
) -> int:
    rows = [
        {
                "organization_id": connection.organization_id,
            "connection_id": connection.id,
            "books_id": connection.books,
            **dataclasses.asdict(account),
            "pulled_at": now,
            "created_at": now,  # kept on conflict (the upsert never updates it): created_at <= updated_at
            "updated_at": now,
        }
        for account in provider.list_ledger_accounts()
    ]
    upsert(session, LedgerAccount.__table__, rows, ("organization_id", "books_id", "platform_id"))
    _mark_missing(session, LedgerAccount, connection, now)
    session.commit()
    return len(rows)


def _mark_missing(session: Session, model: type[AccountingTaxRate] | type[LedgerAccount], connection: AccountingConnection, now: datetime) -> None:
    """What the accounting system no longer lists is archived, not deleted: documents may refer to it."""
    session.execute(
        update(model)
        .where(
            model.organization_id == connection.organization_id, model.books_id == connection.books,
            model.pulled_at < now, model.status != "archived",
        )
        .values(status="archived", updated_at=now)
    )


def pull_documents(
    session: Session,
    connection: AccountingConnection,
    provider: AccountingProvider,
    kind: DocumentKind,
    *,
    now: datetime,
    lag_seconds: float,
    checkpoint: Callable[[], None],
    outcome: PullOutcome | None = None,
) -> int:
    """Upsert every page changed since the cursor; returns how many were stored. Deletions a page reports
    are marked at once; ``outcome`` (when given) learns of them and of a page asking for a full reconcile."""
    cursor = (connection.cursors or {}).get(kind.value)
    stored = 0
    session.commit()
    for page in provider.iter_documents(kind, cursor, lag_seconds=lag_seconds if cursor else 0.0):
        rows = [document_row(connection, document, now) for document in page.items]
        upsert(session, AccountingDocument.__table__, rows, ("connection_id", "kind", "platform_id"))
        stored += len(rows)
        if page.deleted:
            deleted = mark_deleted(session, connection, kind, list(page.deleted), now)
            if outcome is not None:
                outcome.deleted += deleted
        if page.reconcile and outcome is not None:
            outcome.reconcile = True
        if page.next_cursor is not None:
            connection.cursors = {**(connection.cursors or {}), kind.value: page.next_cursor}
        session.commit()
        if page.next_cursor is not None and outcome is not None:
            outcome.cursor_moved = True
        checkpoint()
    if stored:
        _stamp_pulled_records(session, connection, kind, now)
    return stored


def refresh_documents(
    session: Session,
    connection: AccountingConnection,
    provider: AccountingProvider,
    kind: DocumentKind,
    platform_ids: Iterable[str],
    now: datetime,
    *,
    checkpoint: Callable[[], None],
) -> int:
    """Read these documents again (after payments changed them) and store them as a pull would; one call
    each, none with a transaction open. A document the system no longer has is left to the next reconcile."""
    stored = 0
    for platform_id in platform_ids:
        session.commit()
        checkpoint()
        try:
            document = provider.get_document(kind, platform_id)
        except NotFoundError:
            continue
        upsert(session, AccountingDocument.__table__, [document_row(connection, document, now)],
               ("connection_id", "kind", "platform_id"))
        session.commit()
        stored += 1
    return stored


@dataclasses.dataclass(slots=True)
class PullOutcome:
    """What the pages of one pull said besides their documents."""

    deleted: int = 0
    reconcile: bool = False
    #: A page's cursor was committed: what the pull read up to it is stored.
    cursor_moved: bool = False


def mark_deleted(
    session: Session, connection: AccountingConnection, kind: DocumentKind, platform_ids: list[str], now: datetime
) -> int:
    """Documents the accounting system reports deleted: pulled ones and pushed ones (never re-created)."""
    gone: set[str] = set()
    for start in range(0, len(platform_ids), ID_CHUNK):
        chunk = platform_ids[start:start + ID_CHUNK]
        gone |= set(session.execute(
            update(AccountingDocument)
            .where(
                AccountingDocument.connection_id == connection.id,
                AccountingDocument.kind == kind.value,
                AccountingDocument.platform_id.in_(chunk),
                AccountingDocument.deleted_at.is_(None),
            )
            .values(deleted_at=now, updated_at=now)
            .returning(AccountingDocument.platform_id)
        ).scalars().all())
        record = AccountingSyncedRecord
        gone |= set(session.execute(
            update(record)
            .where(
                _books(connection),
                record.object_type == OBJECT_TYPE_OF_KIND[kind],
                record.platform_object_id.in_(chunk),
                record.platform_deleted_at.is_(None),
            )
            .values(platform_deleted_at=now)
            .returning(record.platform_object_id)
        ).scalars().all())
    return len(gone)


def _stamp_pulled_records(session: Session, connection: AccountingConnection, kind: DocumentKind, now: datetime) -> None:
    """Synced records whose document this pull stored were seen in the accounting system: one statement."""
    pulled = select(AccountingDocument.platform_id).where(
        AccountingDocument.connection_id == connection.id,
        AccountingDocument.kind == kind.value,
        AccountingDocument.pulled_at == now,
    )
    session.execute(
        update(AccountingSyncedRecord)
        .where(
            _books(connection),
            AccountingSyncedRecord.object_type == OBJECT_TYPE_OF_KIND[kind],
            AccountingSyncedRecord.platform_object_id.in_(pulled),
        )
        .values(last_pulled_at=now)
    )
    session.commit()


def _books(connection: AccountingConnection) -> Any:
    record = AccountingSyncedRecord
    return (record.organization_id == connection.organization_id) & (record.books_id == connection.books)


def reconcile_deletions(
    session: Session, connection: AccountingConnection, provider: AccountingProvider, kind: DocumentKind, now: datetime
) -> int:
    """Mark what the accounting system no longer has: pulled documents, and pushed ones never re-created."""
    chunk: list[str] = []
    session.commit()
    for platform_id in provider.iter_document_ids(kind):
        chunk.append(platform_id)
        if len(chunk) >= ID_CHUNK:
            _mark_seen(session, connection, kind, chunk, now)
            session.commit()
            chunk = []
    _mark_seen(session, connection, kind, chunk, now)
    gone = session.execute(
        update(AccountingDocument)
        .where(
            AccountingDocument.connection_id == connection.id,
            AccountingDocument.kind == kind.value,
            AccountingDocument.pulled_at < now,
            AccountingDocument.deleted_at.is_(None),
        )
        .values(deleted_at=now, updated_at=now)
        .returning(AccountingDocument.platform_id)
    ).scalars().all()
    record = AccountingSyncedRecord
    pushed_gone = session.execute(
        update(record)
        .where(
            _books(connection),
            record.object_type == OBJECT_TYPE_OF_KIND[kind],
            record.platform_object_id.is_not(None),
            record.platform_deleted_at.is_(None),
            or_(record.last_pulled_at.is_(None), record.last_pulled_at < now),
        )
        .values(platform_deleted_at=now)
        .returning(record.platform_object_id)
    ).scalars().all()
    session.commit()
    return len(set(gone) | set(pushed_gone))


def _mark_seen(
    session: Session, connection: AccountingConnection, kind: DocumentKind, platform_ids: list[str], now: datetime
) -> None:
    if not platform_ids:
        return
    session.execute(
        update(AccountingDocument)
        .where(
            AccountingDocument.connection_id == connection.id,
            AccountingDocument.kind == kind.value,
            AccountingDocument.platform_id.in_(platform_ids),
        )
        .values(pulled_at=now)
    )
    session.execute(
        update(AccountingSyncedRecord)
        .where(
            _books(connection),
            AccountingSyncedRecord.object_type == OBJECT_TYPE_OF_KIND[kind],
            AccountingSyncedRecord.platform_object_id.in_(platform_ids),
        )
        .values(last_pulled_at=now)
    )


def pull_all(
    session: Session,
    connection: AccountingConnection,
    provider: AccountingProvider,
    summary: SyncSummary,
    *,
    reconcile: bool,
    now: datetime,
    lag_seconds: float,
    checkpoint: Callable[[], None],
    resumed: frozenset[str] = frozenset(),
) -> None:
    """Pull tax rates, ledger accounts and every document kind.

    ``resumed``: kinds an earlier run of this sync (one stopped at its time or rate budget) already read past
    their lag window; they are read from their cursor alone. Re-reading the window in every continuation
    could take all of a run's time, so a sync of a busy organization would pull the same window run after run
    and never reach its pushes. The next scheduled sync re-reads the window as usual.
    """
    session.commit()
    summary.read_past_lag |= resumed
    summary.pulled["tax_rate"] += pull_tax_rates(session, connection, provider, now)
    checkpoint()
    summary.pulled["ledger_account"] += pull_ledger_accounts(session, connection, provider, now)
    checkpoint()
    for kind in DocumentKind:
        outcome = PullOutcome()
        read = False
        try:
            summary.pulled[OBJECT_TYPE_OF_KIND[kind]] += pull_documents(
                session, connection, provider, kind, now=now, checkpoint=checkpoint, outcome=outcome,
                lag_seconds=0.0 if kind.value in resumed else lag_seconds,
            )
            read = True
        finally:  # stopped part way, what is stored up to the last committed cursor counts as read
            if read or outcome.cursor_moved:
                summary.read_past_lag.add(kind.value)
        deleted = outcome.deleted
        if reconcile or outcome.reconcile:
            deleted += reconcile_deletions(session, connection, provider, kind, now)
        if deleted:
            summary.deleted[OBJECT_TYPE_OF_KIND[kind]] += deleted
