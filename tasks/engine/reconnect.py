"""Giving a connection new credentials (after a password change, or when it was deauthorized).

The new credentials are checked by a test call first, with no database transaction open; they must
reach the same books the connection syncs (``books_id``), so its history — synced records,
idempotency keys, cursors — stays valid. A connection that reaches other books is a new connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from config import get_settings
from config.secrets import Credentials
from models import (
    AccountingConnection,
    AccountingSyncedRecord,
    AccountingTaxRate,
    ConnectionStatus,
    LedgerAccount,
    utcnow,
)
from providers.errors import DataError
from providers.registry import provider_class
from providers.types import ConnectionCheck
from tasks.scheduling import next_slot
from webhooks import emit

REPLACEABLE = (ConnectionStatus.CONNECTED, ConnectionStatus.DEAUTHORIZED)


class CannotReplace(Exception):
    """The connection cannot take new credentials as asked; the message says why and what to do."""

    def __init__(self, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.conflict = conflict


def check_connection(platform: str, settings: Mapping[str, Any], credentials: Mapping[str, Any]) -> ConnectionCheck:
    """A test call with these settings and credentials (provider errors propagate as they are)."""
    cls = provider_class(platform)
    cls.validate_settings(settings, credentials)
    with cls(settings, Credentials(credentials)) as provider:
        return provider.check()


def replace_credentials(
    sessions: sessionmaker[Session],
    connection_id: uuid.UUID,
    credentials: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    *,
    organization_id: uuid.UUID | None = None,
) -> AccountingConnection:
    """Check, then store the new credentials (and settings changes); the connection is ``connected``
    again and syncs from its next slot. Raises CannotReplace, or the provider's error from the check."""
    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is None or (organization_id is not None and connection.organization_id != organization_id):
            raise CannotReplace(f"no accounting connection {connection_id}")
        if connection.status not in REPLACEABLE:
            raise CannotReplace(
                f"accounting connection {connection.id} is {connection.status}; only a connected or deauthorized "
                "connection takes new credentials (create a new connection instead)", conflict=True,
            )
        cls = provider_class(connection.platform)
        if cls.uses_oauth:
            raise CannotReplace(
                f"{cls.display_name} connections get new tokens through its consent page, not from credentials; "
                "create a new connection to the same books", conflict=True,
            )
        merged = {**(connection.settings or {}), **(settings or {})}
        books_before = connection.books_id
        session.commit()  # nothing held open during the test call

    check = check_connection(connection.platform, merged, credentials)
    if books_before and not books_before.startswith("legacy:") and check.books_id and check.books_id != books_before:
        raise CannotReplace(
            f"these credentials reach other books ({check.books_id}) than this connection syncs ({books_before}); "
            "create a new connection for them", field="credentials",
        )

    with sessions() as session:
        connection = session.get(AccountingConnection, connection_id)
        if connection is None:
            raise CannotReplace(f"no accounting connection {connection_id}")
        now = utcnow()
        if check.books_id and connection.books != check.books_id:
            relabel_books(session, connection.organization_id, connection.books, check.books_id)
        connection.credentials = dict(credentials)
        connection.settings = {**merged, **check.pinned_settings}
        connection.books_id = check.books_id or connection.books_id
        connection.errors = []
        connection.business_info = {**(connection.business_info or {}), "name": check.organization_name}
        if connection.status != ConnectionStatus.CONNECTED or connection.next_sync_at is None:
            emit(connection, session)
            connection.status = ConnectionStatus.CONNECTED.value
            connection.next_sync_at = next_slot(connection.id, now, get_settings().sync_period_seconds)
        connection.updated_at = now
        session.commit()
        return connection


def relabel_books(session: Session, organization_id: uuid.UUID, old: str, new: str) -> None:
    """A connection that predates books identity (``legacy:…``/``connection:…``) learns which books it
    reaches: what it recorded moves to those books' name."""
    for model in (AccountingSyncedRecord, AccountingTaxRate, LedgerAccount):
        session.execute(
            update(model).where(model.organization_id == organization_id, model.books_id == old).values(books_id=new)
        )


__all__ = ["CannotReplace", "DataError", "check_connection", "relabel_books", "replace_credentials"]
