"""A connection's sync lease: one atomic UPDATE takes it, a heartbeat keeps it, and a dead worker's lapses.

The lease is short (``BOOKSYNC_LEASE_SECONDS``, a minute by default) and renewed by a heartbeat thread
every third of it, each renewal its own committed transaction on its own database connection, so a
``kill -9``'d worker's lease lapses within about a minute and the next beat tick starts the sync
again (``tasks.engine.schedule``). A heartbeat that finds the lease taken by someone else (this
worker stalled past its lease) tells the sync to stop at its next clean point.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from models import AccountingConnection
from models.db import relax_durability

log = structlog.get_logger(__name__)


class LeaseLost(Exception):
    """Another sync took this connection's lease (this one stalled past it); stop without finishing."""


def acquire(session: Session, connection_id: uuid.UUID, holder: str, now: datetime, seconds: int) -> bool:
    """Take the lease (committed). Its commit does not wait for the disk: a database crash that undid it
    also drops the holder's connection, so the holder's next statement fails and its sync stops there."""
    relax_durability(session)
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


def renew(session: Session, connection_id: uuid.UUID, holder: str, now: datetime, seconds: int) -> bool:
    """Extend the lease (committed); False when it is no longer ours."""
    renewed = session.execute(
        update(AccountingConnection)
        .where(AccountingConnection.id == connection_id, AccountingConnection.lease_holder == holder)
        .values(lease_expires_at=now + timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return renewed == 1


def release(session: Session, connection_id: uuid.UUID, holder: str) -> None:
    session.execute(
        update(AccountingConnection)
        .where(AccountingConnection.id == connection_id, AccountingConnection.lease_holder == holder)
        .values(lease_holder=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


class Heartbeat:
    """Renews a lease from a background thread until stopped; ``lost`` is set if the lease was taken."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        connection_id: uuid.UUID,
        holder: str,
        seconds: int,
        now: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._connection_id = connection_id
        self._holder = holder
        self._seconds = seconds
        self._now = now
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat-{connection_id}", daemon=True)

    @property
    def interval(self) -> float:
        return self._seconds / 3

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"the lease of connection {self._connection_id} was taken by another sync")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self._sessions() as session:
                    if not renew(session, self._connection_id, self._holder, self._now(), self._seconds):
                        log.warning("sync.lease_lost", connection_id=str(self._connection_id))
                        self.lost.set()
                        return
            except SQLAlchemyError as exc:
                # The database is away: the sync itself will fail on it; keep trying while it runs.
                log.warning("sync.lease_renewal_failed", connection_id=str(self._connection_id),
                            error=type(exc).__name__)
