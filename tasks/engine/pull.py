"""Pull: the accounting system's tax rates, ledger accounts and documents into booksync's tables.

Pages stream through: each page is upserted in one statement and committed with the cursor after it,
so memory does not grow with the number of documents and an interrupted pull resumes where it was.
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
        "status": document.status,
        "issue_date": document.issue_date,
        "due_date": document.due_date,
        "memo": document.memo,
        "lines": [_line(line) for line in document.lines],
        "platform_updated_at": document.updated_at,
        "pulled_at": now,
        "deleted_at": None,
        "updated_at": now,
    }


def pull_tax_rates(session: Session, connection: AccountingConnection, provider: AccountingProvider, now: datetime) -> int:
    rows = [
        {
                "organization_id": connection.organization_id,
            "connection_id": connection.id,
            "is_external": True,
            "platform_id": rate.platform_id,
            "name": rate.name,
            "code": rate.code,
            "effective_tax_rate": rate.effective_tax_rate,
            "components": [dataclasses.asdict(c) for c in rate.components],
            "status": rate.status,
            "pulled_at": now,
            "updated_at": now,
        }
        for rate in provider.list_tax_rates()
    ]
    upsert(session, AccountingTaxRate.__table__, rows, ("connection_id", "platform_id"))
    _mark_missing(session, AccountingTaxRate, connection, now)
    return len(rows)


def pull_ledger_accounts(
    session: Session, connection: AccountingConnection, provider: AccountingProvider, now: datetime
) -> int:
    rows = [
        {
                "organization_id": connection.organization_id,
            "connection_id": connection.id,
            **dataclasses.asdict(account),
            "pulled_at": now,
            "updated_at": now,
        }
        for account in provider.list_ledger_accounts()
    ]
    upsert(session, LedgerAccount.__table__, rows, ("connection_id", "platform_id"))
    _mark_missing(session, LedgerAccount, connection, now)
    return len(rows)


def _mark_missing(session: Session, model: type[AccountingTaxRate] | type[LedgerAccount], connection: AccountingConnection, now: datetime) -> None:
    """What the accounting system no longer lists is archived, not deleted: documents may refer to it."""
    session.execute(
        update(model)
        .where(model.connection_id == connection.id, model.pulled_at < now, model.status != "archived")
        .values(status="archived", updated_at=now)
    )


def pull_documents(
    session: Session,
    connection: AccountingConnection,
    provider: AccountingProvider,
    kind: DocumentKind,
    *,
    now: datetime,
    on_page: Callable[[], None],
) -> int:
    """Upsert every page changed since the cursor; returns how many were stored."""
    cursor = (connection.cursors or {}).get(kind.value)
    stored = 0
    for page in provider.iter_documents(kind, cursor):
        rows = [document_row(connection, document, now) for document in page.items]
        upsert(session, AccountingDocument.__table__, rows, ("connection_id", "kind", "platform_id"))
        stored += len(rows)
        if page.next_cursor is not None:
            connection.cursors = {**(connection.cursors or {}), kind.value: page.next_cursor}
        session.commit()
        on_page()
    if stored:
        _stamp_pulled_records(session, connection, kind, now)
    return stored


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
            AccountingSyncedRecord.connection_id == connection.id,
            AccountingSyncedRecord.object_type == OBJECT_TYPE_OF_KIND[kind],
            AccountingSyncedRecord.platform_object_id.in_(pulled),
        )
        .values(last_pulled_at=now)
    )
    session.commit()


def reconcile_deletions(
    session: Session, connection: AccountingConnection, provider: AccountingProvider, kind: DocumentKind, now: datetime
) -> int:
    """Mark what the accounting system no longer has: pulled documents, and pushed ones never re-created."""
    chunk: list[str] = []
    for platform_id in provider.iter_document_ids(kind):
        chunk.append(platform_id)
        if len(chunk) >= ID_CHUNK:
            _mark_seen(session, connection, kind, chunk, now)
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
            record.connection_id == connection.id,
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
            AccountingSyncedRecord.connection_id == connection.id,
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
    on_page: Callable[[], None],
) -> None:
    summary.pulled["tax_rate"] += pull_tax_rates(session, connection, provider, now)
    summary.pulled["ledger_account"] += pull_ledger_accounts(session, connection, provider, now)
    session.commit()
    for kind in DocumentKind:
        summary.pulled[OBJECT_TYPE_OF_KIND[kind]] += pull_documents(
            session, connection, provider, kind, now=now, on_page=on_page
        )
        if reconcile:
            deleted = reconcile_deletions(session, connection, provider, kind, now)
            if deleted:
                summary.deleted[OBJECT_TYPE_OF_KIND[kind]] += deleted
