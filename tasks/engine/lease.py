"""A connection's sync lease: one atomic UPDATE takes it; an expired lease (a dead worker's) lapses."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from models import AccountingConnection


def acquire(session: Session, connection_id: uuid.UUID, holder: str, now: datetime, seconds: int) -> bool:
    taken = session.execute(
        update(AccountingConnection)
        .where(
            AccountingConnection.id == connection_id,
            or_(
                AccountingConnection.lease_holder.is_(None),
                AccountingConnection.lease_expires_at < now,
                AccountingConnection.lease_holder == holder,
            ),
        )
        .values(lease_holder=holder, lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return taken == 1


def renew(session: Session, connection_id: uuid.UUID, holder: str, now: datetime, seconds: int) -> None:
    session.execute(
        update(AccountingConnection)
        .where(AccountingConnection.id == connection_id, AccountingConnection.lease_holder == holder)
        .values(lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )


def release(session: Session, connection_id: uuid.UUID, holder: str) -> None:
    session.execute(
        update(AccountingConnection)
        .where(AccountingConnection.id == connection_id, AccountingConnection.lease_holder == holder)
        .values(lease_holder=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
