"""A connection's push defaults (``models.PushDefaults``): read, changed, and resolved for a push.

The organization chooses, by booksync's ledger account ids (``GET /ledger-accounts``), the account payments
are pushed to and the one products without their own are sold with. Changing them needs no credentials and
makes no call to the accounting system: an id is accepted when it is a ledger account of the connection's
books, as the last pull saw them, and not archived. A change applies to the next push (what was pushed stays
as it was). The API (``PATCH /accounting-connections/{id}/defaults``) and the CLI (``booksync connections
defaults``) both come here.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from models import AccountingConnection, LedgerAccount, PushDefaults, utcnow

#: What each default is for, in words for messages.
PURPOSE = {
    "payment_ledger_account_id": "payments are pushed to",
    "product_ledger_account_id": "products without their own are sold with",
}


class DefaultsError(ValueError):
    """A default cannot be set as asked; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def books_account(
    session: Session, connection: AccountingConnection, account_id: uuid.UUID, *, what: str
) -> LedgerAccount:
    """The ledger account ``account_id`` if it is an active one of the connection's books; else DefaultsError."""
    account = session.get(LedgerAccount, account_id)
    if account is None or account.organization_id != connection.organization_id:
        raise DefaultsError(what, f"no ledger account {account_id} in this organization (ids come from GET "
                            "/ledger-accounts, filled by the connection's syncs)")
    if account.books_id != connection.books:
        raise DefaultsError(what, f"ledger account {account_id} ({account.name}) belongs to other books than this "
                            "connection's")
    if account.status == "archived":
        raise DefaultsError(what, f"ledger account {account_id} ({account.name}) is archived in the accounting system")
    return account


def change_defaults(
    session: Session, connection: AccountingConnection, changes: Mapping[str, uuid.UUID | None]
) -> PushDefaults:
    """Set (an id) or clear (None) the defaults named in ``changes``; the others stay. Flushes; the commit is
    the caller's."""
    unknown = sorted(set(changes) - set(PURPOSE))
    if unknown:
        raise DefaultsError(unknown[0], f"is not a push default (known: {', '.join(PURPOSE)})")
    for name, value in changes.items():
        if value is not None:
            books_account(session, connection, value, what=name)
    defaults = dataclasses.replace(connection.push_defaults, **changes)  # type: ignore[arg-type]
    connection.defaults = defaults.stored()
    connection.updated_at = utcnow()
    session.flush()
    return defaults
